"""`python -m live train KIND`: train a model (gan; space and predictor as they land)."""
from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import asdict, fields
from pathlib import Path

from live.cli.stopping import stopped_by_signals
from live.cli.types import add_device, count, given, number, output_dir, output_path, seed, threads, use_threads
from live.errors import UserError, note
from live.files import check_distinct, check_writable, file_stamp, real_path


def _add_gan(sub: argparse._SubParsersAction) -> None:
    from live.gan.config import GanConfig, flag

    p = sub.add_parser("gan", help="train a StyleGAN2 generator (resumable)",
                       description="Train a StyleGAN2 generator on the procedural corpus or a folder of "
                                   "images. Re-running with the same --outdir resumes, with the run's "
                                   "settings for every flag not given (defaults are a new run's).")
    p.add_argument("--outdir", required=True, type=output_dir,
                   help="run folder: checkpoint, samples, config (resumes if present)")
    p.add_argument("--export", type=output_path, metavar="PATH.safetensors",
                   help="also write G_ema here (fp16, with its .json) at every snapshot and at the end")
    p.add_argument("--force", action="store_true", help="replace an --export file that exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    for f in fields(GanConfig):
        shown = "" if f.default in (None, "") else f" (default {f.default})"
        # Unset unless given (SUPPRESS): a resume takes the run's value for a flag not given.
        if f.type == "bool":
            p.add_argument(flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS, help=f.metadata["help"])
        else:
            kind = threads(0) if f.name == "threads" else {"int": int, "float": float, "str": given,
                                                           "float | None": float}[f.type]
            p.add_argument(flag(f.name), dest=f.name, type=kind, default=argparse.SUPPRESS,
                           help=f.metadata["help"] + shown)
    p.set_defaults(func=_run_gan)


# How this command computes: never taken from the run it resumes (its device may not be here).
THIS_MACHINE = ("device", "threads", "bf16", "compile")


def _run_gan(args: argparse.Namespace) -> int:
    import torch

    from live.gan.config import GanConfig
    from live.gan.train import CHECKPOINT, LOG, GanTrainer, read_run
    from live.nets.checkpoints import check_new_generator

    given = {f.name: getattr(args, f.name) for f in fields(GanConfig) if hasattr(args, f.name)}
    run = Path(args.outdir) / CHECKPOINT
    if args.export:  # now, not at the first snapshot
        if Path(args.export).suffix != ".safetensors":
            raise UserError(f"--export {args.export}: generators are written as NAME.safetensors (NAME.json beside it)")
        # The run's own export, which a resume writes again; a new run at that folder's path is another run.
        for path in (Path(args.export), Path(args.export).with_suffix(".json")):
            if path.name in (CHECKPOINT, LOG, "config.json") and real_path(path).parent == real_path(args.outdir):
                raise UserError(f"--export {args.export} would write over the run's own {path.name}; export it "
                                "under another name or elsewhere")
        check_new_generator(Path(args.export), args.force, run=Path(args.outdir) if run.is_file() else None)
        for path in (Path(args.export), Path(args.export).with_suffix(".json")):
            check_writable(path)
    if run.is_file():  # a resume: the run's settings, but this command's machine and those given
        here = GanConfig()
        config = GanConfig(**{**asdict(read_run(run)[1]), **{name: getattr(here, name) for name in THIS_MACHINE},
                              **given})
    elif given.get("total_kimg") == 0 and not given.get("init"):
        raise UserError(f"{args.outdir} holds no {CHECKPOINT}: --kimg 0 trains nothing and there is no run to "
                        "export; check --outdir")
    else:
        config = GanConfig(**given)
    if args.export and config.init and not run.is_file():
        # A new fine-tune's own start, replaced by a few steps' G_ema (review 44); a run under way
        # read it when it began, and its export may take that file's place (--force: the model card's step).
        check_distinct({"--init": config.init, "--export": args.export})
    if config.data != "procedural" and real_path(args.outdir).is_relative_to(real_path(config.data)):
        raise UserError(f"--outdir {args.outdir} lies inside --data {config.data}: the run's sample grids would "
                        "become training pictures; choose an --outdir outside it")
    trainer = GanTrainer(config, args.outdir, progress=not args.quiet)
    if 0 < config.total_kimg * 1000 <= trainer.state.images_seen:
        note("train", f"{args.outdir} has seen {trainer.state.images_seen / 1000:.6g} kimg already, as many as "
                      f"--kimg {config.total_kimg:g} or more: nothing to train (give a larger --kimg to go on)")

    exported = False  # the last export wrote G_ema into --export
    files = (Path(args.export), Path(args.export).with_suffix(".json")) if args.export else ()
    written = None  # the files' stamps as this command's last export left them

    def export(t: GanTrainer) -> None:
        from live.nets.checkpoints import save_generator

        nonlocal exported, written
        # Checked again at each snapshot: another command may have written the file since (review 66).
        # A file this command exported, then moved or deleted, is no other command's (review 67).
        now = tuple(file_stamp(path) for path in files)
        if written is None or any(stamp not in (None, mine) for stamp, mine in zip(now, written)):
            try:
                check_new_generator(Path(args.export), args.force, run=Path(args.outdir))
            except UserError as e:
                note("train gan", f"not exported: {e} (another command wrote it since this run began); this "
                                  f"run's G_ema stays in {Path(args.outdir) / CHECKPOINT}")
                exported = False
                return
        save_generator(t.G_ema, args.export, dtype=torch.float16, run=Path(args.outdir))
        exported, written = True, tuple(file_stamp(path) for path in files)

    stopping = threading.Event()
    with stopped_by_signals(stopping, threading.Event()):   # a second Ctrl-C stops at once
        state = trainer.run(on_snapshot=export if args.export else None, stop=stopping)
    if stopping.is_set() and state.images_seen < int(config.total_kimg * 1000):
        note("train gan", f"stopped at {state.images_seen / 1000:.6g} kimg, its state saved in {args.outdir}"
                          + (f" and G_ema in {args.export}" if exported else "") + "; the same command goes on")
        raise KeyboardInterrupt
    if args.export:  # also when the run was already complete: --kimg 0 just exports
        export(trainer)
    print(f"done: {state.images_seen / 1000:.6g} kimg in {state.wall_seconds / 3600:.2f} h; run folder {args.outdir}"
          + (f"; G_ema in {args.export}" if exported else ""))
    return 0


def _add_space(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("space", help="train the shared valence-arousal space (resumable, torchrun-ready)",
                       description="Train E_I, E_M and their heads on labelled images and music. Re-running "
                                   "with the same --outdir resumes; under torchrun it trains data-parallel.")
    p.add_argument("--outdir", required=True, type=output_dir, help="run folder: config, checkpoint, log, final space")
    p.add_argument("--config", metavar="TOML", help="settings (default: the run folder's config.toml, if any)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set batch.pairs=16 --set net.image_backbone=resnet18")
    p.add_argument("--steps", type=count(1), help="optimizer steps in all")
    p.add_argument("--seed", type=seed, help="seed of the initialization and the batches (default: the config's)")
    p.add_argument("--data", help="shared data folder (oasis/, 4q/, emopia/, vgmidi/)")
    p.add_argument("--cache", help="folder for precomputed spectrograms and images")
    p.add_argument("--threads", type=threads(), help="torch CPU threads per process")
    add_device(p, default=None, what="the networks (default: the config's)")
    p.add_argument("--stop-at", type=count(1), metavar="STEP", help="stop at this step (checkpointed; resume later)")
    p.add_argument("--export", type=output_dir, metavar="BUNDLE_DIR",
                   help="at the end, write space.safetensors into this bundle folder and update its bundle.toml")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_space)


def _run_space(args: argparse.Namespace) -> int:
    import json

    from live.space.config import SpaceTrainConfig
    from live.space.load import check_export, export_space
    from live.space.train import CONFIG_FILE, SpaceTrainer

    stored = Path(args.outdir) / CONFIG_FILE
    source = Path(args.config) if args.config else stored if stored.is_file() else None
    config = SpaceTrainConfig.read(source) if source else SpaceTrainConfig()
    flags = {"steps": args.steps, "seed": args.seed, "data.root": args.data and json.dumps(args.data),
             "cache": args.cache and json.dumps(args.cache), "threads": args.threads,
             "device": args.device and json.dumps(args.device)}
    config = config.with_overrides([f"{k}={v}" for k, v in flags.items() if v is not None] + args.overrides)
    if args.export:
        check_export(config.net, Path(args.export))  # before the training's hours, not after
    messages: list[str] = []

    def export(net, spec) -> None:
        messages.append(export_space(net, spec, Path(args.export)))

    trainer = SpaceTrainer(config, args.outdir, progress=not args.quiet)
    for line in trainer.notes:
        print(f"live: {line}", file=sys.stderr)  # as every other note
    try:
        state = trainer.run(stop_at=args.stop_at, on_finish=export if args.export else None)
    except KeyboardInterrupt:
        if trainer.lead:
            note("train space", f"stopped; the same command goes on from the run's last checkpoint in {args.outdir} "
                                f"(one every {config.checkpoint_every} steps)")
        raise
    if not trainer.lead:  # torchrun's processes each ran this: one says how it went
        return 0
    for message in messages:
        print(message)
    if args.export and state.step < config.steps:  # the run stopped at --stop-at: not exported, and said so
        note("train space", f"--export {args.export}: nothing exported yet; the space goes there when the run "
                            f"reaches its last step ({config.steps}): run the command again without --stop-at")
    print(f"step {state.step}/{config.steps} after {state.wall_seconds / 60:.1f} min of training; run folder {args.outdir}")
    return 0


def _add_predictor(sub: argparse._SubParsersAction) -> None:
    from live.transfer.config import HEADS_WAIT, PredictorTraining

    d = PredictorTraining()
    p = sub.add_parser("predictor", help="train a bundle's amortized transfer predictor (resumable)",
                       description="Fit the bundle's predictor to the seed's transfer objective through its "
                                   "frozen G and E_I, over random sources, music of the music data and "
                                   "lambdas across the predictor's range; writes predictor.safetensors into "
                                   "the bundle. Re-running with the same --outdir resumes.")
    p.add_argument("--bundle", type=given, required=True, metavar="NAME_OR_DIR",
                   help="bundle (name under models/ or folder)")
    p.add_argument("--outdir", type=output_dir,
                   help="run folder: music banks, state, config, log (default: runs/predictor-NAME)")
    p.add_argument("--steps", type=count(1), default=d.steps, help=f"optimizer steps in all (default {d.steps})")
    p.add_argument("--batch", type=count(1, 4096), default=d.batch,
                   help=f"sources per step, 1..4096 (default {d.batch})")
    # Bounded: past float32's range the first step raised (the layers scale it by 0.01).
    p.add_argument("--lr", type=number(0, 100, low_open=True), default=d.lr, help=f"Adam's (default {d.lr:g})")
    p.add_argument("--seed", type=seed, default=d.seed, help=f"seed of the sources, music and lambdas drawn "
                                                           f"(default {d.seed})")
    p.add_argument("--music", action="append", metavar="KIND",
                   help="music to train on: 4q (under --data) or synthetic; repeat for several "
                        "(default: 4q and synthetic; synthetic alone when 4Q is absent)")
    p.add_argument("--data", default=d.data_root, help=f"shared data folder holding 4q/ (default {d.data_root})")
    p.add_argument("--synthetic-clips", type=count(1), default=d.synthetic_clips,
                   help=f"synthetic cue-rule clips rendered into the music bank, with --music synthetic "
                        f"(default {d.synthetic_clips})")
    p.add_argument("--checkpoint-every", type=count(1), default=d.checkpoint_every,
                   help=f"steps between checkpoints, each scored on the held-out pairs (default {d.checkpoint_every})")
    p.add_argument("--held-out", type=count(1, 10_000), default=d.held_out_pairs, metavar="PAIRS",
                   help=f"held-out (source, music) pairs scored at each checkpoint, a pass through G and E_I each "
                        f"(default {d.held_out_pairs}; fewer for a large generator on a CPU)")
    p.add_argument("--from-bundle", action="store_true",
                   help="fine-tune the bundle's predictor instead of starting from the identity (w_m = w_o)")
    p.add_argument("--force", action="store_true",
                   help="let a new run from the identity replace a trained predictor the bundle holds")
    p.add_argument("--bf16", action="store_true",
                   help="bf16 autocast through G and E_I in training steps (evaluations stay fp32)")
    p.add_argument("--layer-heads", action="store_true",
                   help="give a predictor without per-layer output heads (bundles up to version 0.4) its heads, "
                        "at zero; bundle.toml records them")
    p.add_argument("--layer-heads-from", type=count(0), default=d.layer_heads_from,
                   help=f"step at which the heads start to train (default: {HEADS_WAIT} from the identity, "
                        "0 with --from-bundle; a resumed run keeps its own)")
    p.add_argument("--lambda-high", type=number(0, low_open=True),
                   help="draw training lambdas up to this, not the predictor's whole range (default: its lambda_max); "
                        "the held-out check scores lambdas up to sqrt(lambda_min * lambda_max) either way")
    add_device(p)
    p.add_argument("--threads", type=threads(), help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_predictor)


def _run_predictor(args: argparse.Namespace) -> int:
    from live.bundle import Bundle
    from live.transfer.amortize import PredictorTrainer
    from live.transfer.config import PredictorTraining
    from live.transfer.music import has_4q_clips

    use_threads(args.threads)
    if args.music and "4q" in args.music and not has_4q_clips(args.data):
        raise UserError(f"--music 4q: no 4Q clips at {Path(args.data) / '4q'}; give the shared data folder with --data")
    bundle = Bundle.load(args.bundle, device=args.device)
    config = PredictorTraining(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                               checkpoint_every=args.checkpoint_every, held_out_pairs=args.held_out,
                               music=tuple(args.music or PredictorTraining.music), data_root=args.data,
                               synthetic_clips=args.synthetic_clips, from_bundle=args.from_bundle,
                               bf16=args.bf16, layer_heads=args.layer_heads,
                               layer_heads_from=args.layer_heads_from, lambda_high=args.lambda_high)
    outdir = args.outdir or f"runs/predictor-{bundle.label}"
    trainer = PredictorTrainer(bundle, config, outdir, progress=not args.quiet, replace=args.force)
    trained = trainer.step < config.steps
    stopping = threading.Event()
    with stopped_by_signals(stopping, threading.Event()):  # a second Ctrl-C stops at once
        record = trainer.run(stop=stopping)
    path = bundle.root / bundle.config.predictor_weights
    if stopping.is_set() and trainer.step < config.steps:
        note("train predictor", f"stopped at step {trainer.step}, its state saved in {outdir} and its predictor in "
                                f"{path}; the same command goes on")
        raise KeyboardInterrupt
    if trained:
        written = f"wrote {path}"
    elif trainer.wrote:
        written = f"the run had reached step {trainer.step} but stopped before writing its predictor: wrote {path}"
    elif trainer.superseded:
        written = (f"the run had already reached step {trainer.step}, and {path} holds a predictor written since "
                   "(another run's): left as it is")
    else:
        written = f"the run had already reached step {trainer.step}: nothing trained or written (raise --steps)"
    # With the pairs' count: a finished run scored again with another --held-out is not its log's last row.
    print(f"held-out mean L_transfer ({len(trainer.pairs)} pairs): source {record['heldout_source']:.4f}, "
          f"predictor {record['heldout_predicted']:.4f}; {written}; run folder {outdir}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="train a model")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    _add_gan(kinds)
    _add_space(kinds)
    _add_predictor(kinds)
