"""`python -m live convert IN OUT.safetensors`: any generator checkpoint to our format.

Writes OUT.safetensors (fp16 unless --fp32) and OUT.json beside it; the result loads
without unpickling anything.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from live.cli.types import output_file


def _safetensors_path(text: str) -> Path:
    if Path(text).suffix != ".safetensors":
        raise argparse.ArgumentTypeError(f"{text}: name the output NAME.safetensors (NAME.json goes beside it)")
    return output_file(text)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("convert", help="convert a generator checkpoint to .safetensors + .json",
                            description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, metavar="IN",
                        help="generator checkpoint: NVlabs .pkl, rosinality .pt or our .safetensors")
    parser.add_argument("target", type=_safetensors_path, metavar="OUT.safetensors", help="file to write (and OUT.json)")
    parser.add_argument("--fp32", action="store_true", help="store float32 weights (default float16)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing OUT.safetensors")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from live.errors import UserError, one_line
    from live.nets.checkpoints import check_new_generator, load_generator, save_generator

    if args.source.exists() and args.target.exists() and args.target.samefile(args.source):
        raise UserError(f"{args.target} is the input itself; name another output")
    check_new_generator(args.target, args.force)
    G, info = load_generator(args.source)
    dtype = torch.float32 if args.fp32 else torch.float16
    path = save_generator(G, args.target, dtype=dtype)
    for note in info.notes:
        print(one_line(f"note: {note}"))
    size_mb = path.stat().st_size / 2**20
    print(one_line(f"{info.format} {info.resolution} px -> {path} ({str(dtype).removeprefix('torch.')}, "
                   f"{size_mb:.1f} MB) and {path.with_suffix('.json').name}"))
    return 0
