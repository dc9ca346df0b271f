"""`python -m live eval space|gan`: held-out metrics of a trained space, or of a generator against its corpus."""
from __future__ import annotations

import argparse

from live.cli.types import add_device, count, given, json_file, number, seed, threads, use_threads

DEFAULT_MIDI_RENDERS = "runs/midi-cache"


def _add_space(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="evaluate a trained VA space on held-out data",
                       description="VA MSE, Pearson and CCC per data set, music quadrant and sign accuracy, "
                                   "image-from-music recall@10, on the held-out splits only. Needs only the "
                                   "space of the bundle, not its generator or predictor.")
    p.add_argument("--bundle", type=given, default="default",
                   help="bundle name or folder, or a training run folder (scored on what that run held out, its "
                        "data.test_fraction; a bundle on the default 0.15)")
    p.add_argument("--json", required=True, type=json_file, metavar="PATH", help="write the report here")
    p.add_argument("--data", default="../shared/data",
                   help="shared data folder (oasis/, 4q/, ...; default ../shared/data, from the current folder)")
    p.add_argument("--midi-renders", type=given,
                   help="fluidsynth renderings of EMOPIA and VGMIDI (sets without renderings are skipped, with a "
                        f"note; default {DEFAULT_MIDI_RENDERS}, from the current folder)")
    p.add_argument("--cache", help="folder for precomputed spectrograms (default: a training run's own, else "
                                   "runs/space-cache, from the current folder)")
    p.add_argument("--threads", type=threads(), help="torch CPU threads (default: every core)")
    add_device(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_space)


def _run_space(args: argparse.Namespace) -> int:
    from pathlib import Path

    from live.errors import UserError, note
    from live.files import check_distinct, write_json
    from live.space.cache import ArrayCache
    from live.space.evaluate import evaluate_space, evaluation_data, format_report, held_out_fraction, run_cache
    from live.space.load import load_space

    # A run folder's own: another copy of its spectrograms was made in the working folder (review 98).
    args.cache = args.cache or run_cache(Path(args.bundle)) or "runs/space-cache"
    check_distinct({"--json": args.json, "--cache": args.cache})  # found after the evaluation, the report lost
    # A run folder's own split: at the default 0.15, a run that held out less was scored on what it trained on.
    renders = Path(args.midi_renders or DEFAULT_MIDI_RENDERS)
    if args.midi_renders is not None and not renders.is_dir():  # a typo left two sets out of the report silently
        raise UserError(f"--midi-renders {renders} is not a folder; give the folder of the EMOPIA and VGMIDI "
                        "renderings (python -m live.space.data.midi makes them)")
    data = evaluation_data(Path(args.data), renders, held_out_fraction(Path(args.bundle)))
    if not (data.oasis or data.fourq):  # else only the generated sets would be scored, and it would look complete
        raise UserError(f"--data {args.data} holds neither oasis/ nor 4q/; point it at the shared data folder")
    left_out = [name for name, there in (("EMOPIA", data.emopia), ("VGMIDI", data.vgmidi)) if not there]
    if left_out:
        note("eval", f"{' and '.join(left_out)} left out: no renderings under {renders} "
                     "(python -m live.space.data.midi makes them; --midi-renders names their folder)")
    use_threads(args.threads)
    net, spec = load_space(args.bundle, args.device)
    report = evaluate_space(net, spec, data, ArrayCache(args.cache), progress=not args.quiet)
    report = {"bundle": str(args.bundle), "data": str(args.data), **report}
    write_json(args.json, report)
    print(format_report(report))
    print(f"wrote {args.json}")
    return 0


def _add_gan(sub: argparse._SubParsersAction) -> None:
    from live.gan.config import GanEvalConfig

    p = sub.add_parser("gan", help="compare a generator's pictures with the procedural corpus or its pictures",
                       description="Frechet distance in a space's f_I features, colour-distribution distances "
                                   "and fine-detail energy of the generator's pictures against held-out corpus "
                                   "pictures (or, with --data, draws of the folder it was trained on), beside "
                                   "the same measures between two such sets (the floor).")
    p.add_argument("--data", type=given, default="procedural",
                   help="'procedural' (default: the held-out corpus) or the folder of pictures the generator "
                        "was trained on (train gan --data)")
    p.add_argument("--network", required=True, type=given, help="generator checkpoint (.pkl, .pt or .safetensors)")
    p.add_argument("--space", default="default", help="bundle whose image encoder gives the features (default: default)")
    p.add_argument("--count", type=count(2, 1_000_000), default=GanEvalConfig.count,
                   help=f"pictures per set, at least 2 for a covariance (default {GanEvalConfig.count})")
    p.add_argument("--trunc", type=number(0, 2), default=GanEvalConfig.truncation,
                   help=f"truncation psi (default {GanEvalConfig.truncation})")
    p.add_argument("--seed", type=seed, default=GanEvalConfig.seed,
                   help=f"seed of the latents and pictures drawn (default {GanEvalConfig.seed})")
    p.add_argument("--json", required=True, type=json_file, metavar="PATH", help="write the report here")
    p.add_argument("--threads", type=threads(), help="torch CPU threads")
    add_device(p)
    p.set_defaults(func=_run_gan)


def _run_gan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from live.errors import UserError
    from live.files import check_distinct, write_json
    from live.gan.config import GanEvalConfig
    from live.gan.evaluate import check_scorable, evaluate_generator, format_report
    from live.nets.checkpoints import load_generator
    from live.space.load import load_space
    from live.space.probe import SpaceProbe

    network = Path(args.network)
    if not network.is_file():
        raise UserError(f"--network {args.network} is not a checkpoint file")
    check_distinct({"--network": network, "--json": args.json})
    use_threads(args.threads)
    G, _ = load_generator(args.network, device=args.device)
    pictures = None
    check_scorable(G, args.trunc, procedural=args.data == "procedural")  # before the space loads
    if args.data != "procedural":
        from live.gan.data import FolderImages

        pictures = FolderImages(args.data, G.img_resolution, args.seed, mirror=False)  # no pictures: one line, now
    net, spec = load_space(args.space, args.device)
    report = evaluate_generator(G, SpaceProbe(net, spec),
                                GanEvalConfig(count=args.count, seed=args.seed, truncation=args.trunc), pictures)
    report = {"network": str(args.network), "space": str(args.space), **report}
    write_json(args.json, report)
    print(format_report(report))
    print(f"wrote {args.json}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="evaluate a model on held-out data")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    _add_space(kinds)
    _add_gan(kinds)
