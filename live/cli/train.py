"""`python -m live train KIND`: train a model (gan; space and predictor as they land)."""
from __future__ import annotations

import argparse
from dataclasses import fields


def _add_gan(sub: argparse._SubParsersAction) -> None:
    from live.gan.train import GanConfig  # light: dataclass only, torch is imported anyway by run

    p = sub.add_parser("gan", help="train a StyleGAN2 generator (resumable)",
                       description="Train a StyleGAN2 generator on the procedural corpus or a folder of "
                                   "images. Re-running with the same --outdir resumes.")
    p.add_argument("--outdir", required=True, help="run folder: checkpoint, samples, config (resumes if present)")
    p.add_argument("--data", default="procedural", help="'procedural' or a folder of images")
    p.add_argument("--res", dest="resolution", type=int, default=GanConfig.resolution)
    p.add_argument("--kimg", dest="total_kimg", type=float, default=GanConfig.total_kimg,
                   help="stop after this many thousand real images")
    p.add_argument("--export", metavar="PATH.safetensors",
                   help="also write G_ema here (fp16, with its .json) at every snapshot")
    skip = {"data", "resolution", "total_kimg"}
    for f in fields(GanConfig):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            kind = {"int": int, "float": float, "str": str, "float | None": float}[f.type]
            p.add_argument(flag, dest=f.name, type=kind, default=f.default)
    p.set_defaults(func=_run_gan)


def _run_gan(args: argparse.Namespace) -> int:
    import torch

    from live.gan.train import GanConfig, GanTrainer

    config = GanConfig(**{f.name: getattr(args, f.name) for f in fields(GanConfig)})
    trainer = GanTrainer(config, args.outdir)

    def export(t: GanTrainer) -> None:
        from live.nets.checkpoints import save_generator

        save_generator(t.G_ema, args.export, dtype=torch.float16)

    state = trainer.run(on_snapshot=export if args.export else None)
    print(f"done: {state.images_seen / 1000:.1f} kimg in {state.wall_seconds / 3600:.2f} h; run folder {args.outdir}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a model")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    _add_gan(kinds)
