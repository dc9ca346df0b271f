"""`python -m live inspect CKPT`: what a generator checkpoint holds (rendering only for `--directions`)."""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import TYPE_CHECKING

from live.cli.types import count
from live.errors import UserError, one_line

if TYPE_CHECKING:
    from live.nets.checkpoints import CheckpointInfo


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("inspect", help="show a generator checkpoint's format and architecture",
                            description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", metavar="CKPT",
                        help="generator checkpoint: NVlabs .pkl, rosinality .pt or our .safetensors")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--directions", type=count(0), default=0, metavar="K",
                        help="also measure how far W's first K principal directions move brightness, "
                             "saturation and hue of the pictures (renders a few dozen; default 0: none)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from live.nets.checkpoints import load_generator

    G, info = load_generator(args.checkpoint)
    result = dataclasses.asdict(info)
    effects = []
    if args.directions > G.w_dim:
        raise UserError(f"--directions {args.directions}: W of this generator has only {G.w_dim} dimensions")
    if args.directions and (G.img_channels != 3 or G.mapping.w_avg_beta is None or G.c_dim):
        raise UserError("--directions measures colour around the average w: it needs an unconditional RGB "
                        "generator that keeps w_avg")
    if args.directions:
        from live.gan.directions import color_effects

        effects = color_effects(G, components=args.directions)
        result["directions"] = [dataclasses.asdict(e) for e in effects]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(format_info(info))
    if effects:
        print("\nW principal direction (+-2 std, 16 pictures): mean change")
        print("  pc  var%  brightness  saturation  hue(deg)  L*    chroma")
        for e in effects:
            print(f"  {e.component:2d}  {100 * e.explained:4.1f}  {e.brightness:10.3f}  {e.saturation:10.3f}  "
                  f"{e.hue_degrees:8.1f}  {e.lightness:4.1f}  {e.chroma:6.1f}")
    return 0


def format_info(info: CheckpointInfo) -> str:
    rows = [
        ("checkpoint", one_line(str(info.path))),  # a downloaded file's name: no forged lines
        ("format", info.format),
        ("resolution", f"{info.resolution} px"),
        ("image channels", str(info.img_channels)
         + ("" if info.img_channels == 3 else " (bundles, shows and eval gan take only 3: RGB)")),
        ("z_dim", str(info.z_dim)),
        ("c_dim", str(info.c_dim)),
        ("w_dim", str(info.w_dim)),
        ("num_ws", str(info.num_ws)),
        ("mapping layers", str(info.mapping_layers)),
        ("parameters", f"{info.parameter_count:,}"),
        ("stored dtype", info.stored_dtype),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines += ["", "resolution  channels"]
    lines += [f"{res:>10}  {channels:>8}" for res, channels in sorted(info.channels.items())]
    lines += [f"note: {note}" for note in info.notes]
    return "\n".join(lines)
