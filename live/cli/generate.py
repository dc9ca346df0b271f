"""`python -m live generate`: images for seeds, with NVlabs gen_images.py conventions.

z for seed s is `np.random.RandomState(s).randn(1, z_dim)` and the PNG is
`(img * 127.5 + 128).clamp(0, 255)` as uint8, so a checkpoint and seed give NVlabs'
picture. Random noise (`--noise-mode random`) is seeded by the seed too, so every
file can be made again.
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING

from live.cli.types import SEED_MAX, add_device, given, number, output_dir, threads, use_threads
from live.errors import UserError, note

if TYPE_CHECKING:
    import torch

NOISE_MODES = ("const", "random", "none")
_MAX_SEEDS = 1_000_000  # a typo like 0-99999999 would otherwise build the list until memory runs out
_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_seeds(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7] (NVlabs' parse_range), each seed once: a repeat would only
    write its picture again."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if m := _RANGE.match(part):
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise argparse.ArgumentTypeError(f"seed range {part!r} runs backwards")
            if hi > SEED_MAX or len(seeds) + hi - lo >= _MAX_SEEDS:
                raise argparse.ArgumentTypeError(f"seed range {part!r} is too large: seeds go up to {SEED_MAX}, "
                                                 f"at most {_MAX_SEEDS} in one call")
            seeds.extend(range(lo, hi + 1))
        elif part.isascii() and part.isdigit():  # '²' is a digit to isdigit, not to int
            seeds.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"{part!r} is not a seed or a range like 0-3")
    if max(seeds) > SEED_MAX:
        raise argparse.ArgumentTypeError(f"seeds go up to {SEED_MAX}")
    return list(dict.fromkeys(seeds))


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("generate", help="write PNG images for seeds from a generator checkpoint",
                            description=__doc__.splitlines()[0])
    parser.add_argument("--network", required=True, type=given, metavar="CKPT",
                        help="generator checkpoint: NVlabs .pkl, rosinality .pt or our .safetensors")
    parser.add_argument("--seeds", required=True, type=parse_seeds, metavar="LIST",
                        help="seeds, e.g. 0-3,7")
    parser.add_argument("--trunc", type=number(-2, 2), default=1.0, metavar="PSI",
                        help="truncation psi, -2..2 (default 1: none; 0: the average picture)")
    parser.add_argument("--noise-mode", choices=NOISE_MODES, default="const", help="noise mode (default const)")
    parser.add_argument("--class", dest="class_idx", type=int, metavar="IDX",
                        help="class label, for conditional networks")
    parser.add_argument("--outdir", required=True, type=output_dir, metavar="DIR", help="where to write seedNNNN.png")
    parser.add_argument("--threads", type=threads(), help="torch CPU threads (default: every core)")
    add_device(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from live.imageio import write_png
    from live.nets.checkpoints import check_truncation, load_generator
    from live.nets.stylegan2 import to_uint8

    use_threads(args.threads)
    G, info = load_generator(args.network, device=args.device)
    for said in info.notes:
        note(str(args.network), said)
    device = next(G.parameters()).device
    label = _label(G.c_dim, args.class_idx, device)
    check_truncation(G, args.trunc)
    args.outdir.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(args.seeds):
        z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim)).to(device)
        torch.manual_seed(seed)
        with torch.inference_mode():
            img = G(z, label, truncation_psi=args.trunc, noise_mode=args.noise_mode)
        path = args.outdir / f"seed{seed:04d}.png"
        pixels = to_uint8(img)[0].cpu().numpy()
        write_png(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, path)
        print(f"seed {seed} ({i + 1}/{len(args.seeds)}) -> {path}")
    return 0


def _label(c_dim: int, class_idx: int | None, device: torch.device) -> torch.Tensor | None:
    """NVlabs' one-hot class label, or None for an unconditional network."""
    import torch

    if c_dim == 0:
        if class_idx is not None:
            print("live: note: --class is ignored: the network is unconditional", file=sys.stderr)
        return None
    if class_idx is None or not 0 <= class_idx < c_dim:
        raise UserError(f"this network is conditional: give --class IDX with 0 <= IDX < {c_dim}")
    label = torch.zeros([1, c_dim], device=device)
    label[:, class_idx] = 1
    return label
