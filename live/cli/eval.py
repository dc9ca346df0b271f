"""`python -m live eval space`: held-out metrics of a trained space, as a table and JSON."""
from __future__ import annotations

import argparse


def _add_space(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="evaluate a trained VA space on held-out data",
                       description="VA MSE, Pearson and CCC per data set, music quadrant and sign accuracy, "
                                   "image-from-music recall@10, on the held-out splits only. Needs only the "
                                   "space of the bundle, not its generator or predictor.")
    p.add_argument("--bundle", default="default", help="bundle name or folder, or a training run folder")
    p.add_argument("--json", required=True, metavar="PATH", help="write the report here")
    p.add_argument("--data", default="../shared/data", help="shared data folder (oasis/, 4q/, ...)")
    p.add_argument("--midi-renders", default="runs/midi-cache",
                   help="fluidsynth renderings of EMOPIA and VGMIDI (sets without renderings are skipped)")
    p.add_argument("--cache", default="runs/space-cache", help="folder for precomputed spectrograms")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_space)


def _run_space(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from live.space.cache import ArrayCache
    from live.space.evaluate import evaluate_space, evaluation_data, format_report
    from live.space.load import load_space

    net, spec = load_space(args.bundle, args.device)
    data = evaluation_data(Path(args.data), Path(args.midi_renders))
    report = evaluate_space(net, spec, data, ArrayCache(args.cache), progress=not args.quiet)
    report = {"bundle": str(args.bundle), "data": str(args.data), **report}
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(format_report(report))
    print(f"wrote {args.json}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="evaluate a model on held-out data")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    _add_space(kinds)
