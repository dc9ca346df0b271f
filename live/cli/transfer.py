"""`python -m live transfer`: a preset's picture moved toward each audio file's emotion, as PNGs.

One mel window of each file (the bundle's window, 3 s in the default one, ending at --at
seconds, the middle by default) gives f_M and the VA on its label; `fast` is the predictor,
then --refine-steps steps on a local model built where the predictor lands, for this music
(what `bench transfer`'s (c) rows measure), `full` the seed's 300-step optimization. Each
result is written as OUTDIR/<audio stem>.png; --sheet adds one image with the source and
every result side by side, labelled with the music's valence and arousal.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from live.cli.common import chosen_preset, preset_and_bundle
from live.cli.types import add_device, count, given, number, output_dir, output_file, threads, use_threads
from live.errors import UserError, note
from live.files import check_distinct, check_writable, npy_bytes, real_path, write_whole
from live.settings import PARAMS
from live.transfer.config import MIN_OPTIMIZATION_STEPS

if TYPE_CHECKING:
    import numpy as np

    from live.audio.decode import AudioFile

MODES = ("fast", "full")
FULL_STEPS = 300
FAST_STEPS = 3  # bench transfer's (c) rows: k = 3 keeps 83.0 % of the optimization's gain, 10 no more


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transfer", help="move a preset's picture toward audio files' emotion (PNGs)",
                       description=__doc__.splitlines()[0] + " The method's w_m: of the preset, its source and "
                       "lambda; a show's own look (intensity, the lightness floor) is not applied.")
    p.add_argument("--preset", required=True, type=given, help="preset name (presets/NAME.toml) or path to a .toml")
    p.add_argument("--presets-dir", type=given, help="folder of presets (default: the project's presets/)")
    p.add_argument("--bundle", type=given, help="bundle (name under models/ or a folder); default: the preset's")
    p.add_argument("--audio", required=True, nargs="+", type=Path, metavar="FILE", help="audio files")
    p.add_argument("--outdir", required=True, type=output_dir, help="where <audio stem>.png go")
    p.add_argument("--mode", choices=MODES, default="fast",
                   help="fast: predictor + refinement (the default); full: the 300-step optimization")
    p.add_argument("--at", type=number(0, low_open=True, clock=True), metavar="TIME",
                   help="the mel window (3 s in the default bundle) ends here, in seconds or M:SS (default: the "
                        "middle of each file, or the end of its first window in a short file)")
    p.add_argument("--lambda", dest="lam", type=number(PARAMS["lambda"].low, PARAMS["lambda"].high), metavar="L",
                   help="weight of staying near the source (default: the preset's)")
    p.add_argument("--refine-steps", type=count(0, PARAMS["refine_steps"].high),
                   help=f"fast mode: refinement steps on a model built where the predictor lands "
                        f"(default {FAST_STEPS}; 0: the predictor alone, as shows and renders draw unless a preset "
                        "sets refine_steps)")
    p.add_argument("--steps", type=count(MIN_OPTIMIZATION_STEPS),
                   help=f"full mode: optimization steps, at least {MIN_OPTIMIZATION_STEPS} (default {FULL_STEPS})")
    p.add_argument("--sheet", type=output_file, metavar="PATH", help="also write the source and all results in one PNG")
    p.add_argument("--save-w", action="store_true",
                   help="also write each result's latent w_m as <audio stem>.npy ([num_ws, w_dim] float32): a "
                        "preset's source (preset new NAME --w FILE), or your own tools'")
    p.add_argument("--threads", type=threads(), help="torch CPU threads (default: every core); the same inputs and "
                                                     "threads give the same pictures (full mode: 300 optimizer "
                                                     "steps carry other threads' rounding to tens of levels)")
    add_device(p)
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> list[AudioFile]:
    """Before the networks load (and a full-mode run's minutes): the options, the outputs,
    and every input decoded once through, so a bad file stops the run before any result.
    Returns what the inputs hold (their lengths, rates, bands); none of their samples is kept
    (the run decodes each again up to its window), so many long files fit in memory."""
    listed = [real_path(path) for path in args.audio]
    again = sorted({str(path) for path, resolved in zip(args.audio, listed) if listed.count(resolved) > 1})
    if again:
        raise UserError(f"{', '.join(again)} is listed more than once in --audio; give each file once")
    stems = [a.stem for a in args.audio]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise UserError(f"audio files share the name(s) {', '.join(twice)}; outputs are named after "
                        "the audio file, so rename one")
    results = [args.outdir / f"{stem}.png" for stem in stems]
    if args.sheet is not None and real_path(args.outdir).is_relative_to(real_path(args.sheet)):
        raise UserError(f"--sheet {args.sheet} is --outdir {args.outdir}'s folder or holds it; name a file")
    source = chosen_preset(args).source  # a result named like the preset's own picture replaced it
    check_distinct({**{f"--audio {path}": path for path in args.audio},
                    "the preset's picture": source.image, "the preset's latent": source.w,
                    **{f"the result {path}": path for path in results}, "--sheet": args.sheet})
    if args.sheet is not None and args.sheet.suffix.lower() != ".png":
        raise UserError(f"--sheet {args.sheet}: the sheet is a PNG picture; name it NAME.png")
    for option, applies in (("--steps", "full"), ("--refine-steps", "fast")):
        if getattr(args, option[2:].replace("-", "_")) is not None and args.mode != applies:
            note("options", f"{option} applies to --mode {applies}; ignored")
    from live.audio.decode import scan_audio

    for path in results:
        check_writable(path)
    audios = [scan_audio(path) for path in args.audio]
    for audio in audios:
        if args.at is not None and args.at > audio.duration:
            raise UserError(f"--at {args.at:g} s is past the end of {audio.path} ({audio.length_text()})")
        if shortfall := audio.shortfall():
            note("audio", shortfall)
    return audios


def _window_before(path: Path, end: int, sample_rate: int, length: int) -> np.ndarray:
    """The `length` mono samples at `sample_rate` before sample `end` of a file (fewer at its
    start), decoding no further than that."""
    import numpy as np

    from live.audio.decode import stream_converted

    kept, done = np.zeros(0, np.float32), 0
    for block in stream_converted(path, sample_rate, channels=1, quiet=True):  # scanned first
        block = block[:max(0, end - done), 0]
        kept, done = np.concatenate([kept, block])[-length:], done + len(block)
        if done >= end:
            break
    return kept


def run(args: argparse.Namespace) -> int:
    audios = _check(args)
    import torch
    from tqdm import tqdm

    from live.audio.bandwidth import band_note
    from live.audio.beats import BeatConfig
    from live.bundle import retrain_advice
    from live.audio.mel import LogMel
    from live.audio.silence import SilenceGate
    from live.engine.show import source_latent
    from live.nets.stylegan2 import to_uint8
    from live.transfer.embed import latent_features, true_transfer_loss
    from live.transfer.optimize import OptimizeConfig, optimize_transfer
    from live.transfer.refine import STILL_MEASUREMENTS, LocalRefiner, RefineConfig
    from live.imageio import write_png
    from live.transfer.sheet import contact_sheet

    use_threads(args.threads)
    preset, bundle = preset_and_bundle(args, uses_predictor=args.mode != "full")
    G, mel = bundle.G, bundle.mel
    lam = preset.settings.lambda_ if args.lam is None else args.lam
    refine_steps = FAST_STEPS if args.refine_steps is None else args.refine_steps
    w_o = source_latent(preset, bundle)
    with torch.no_grad():
        f_o = latent_features(bundle, w_o[None])
        source = to_uint8(G.synthesis(w_o[None], noise_mode="const"))[0].cpu().numpy()
    refiner = LocalRefiner(RefineConfig(background=False, measurements=STILL_MEASUREMENTS))
    tiles = [(source, f"source\n{preset.name}")]
    for path, audio in zip(args.audio, audios):
        if band := band_note(path, audio.top_hz, mel.top_hz):
            note("audio", band)
        duration = audio.duration
        # By default the middle; in a file under two windows long, its first whole window
        # (the middle would leave the window's start to silence and the file's end unheard).
        at = args.at if args.at is not None else min(duration, max(duration / 2, mel.window_seconds))
        window = _window_before(path, round(at * mel.sample_rate), mel.sample_rate, mel.samples)
        if not SilenceGate(mel.sample_rate).audible(window).size:  # every hop silent: the picture would move to it
            note("audio", f"{path}: its window ending at {at:.3g} s is silent (below {BeatConfig.silence_db:g} "
                          "dBFS); the picture moves toward what the space reads in silence: give --at where the "
                          "music plays")
        log_mel = LogMel(mel, mel.sample_rate)(window)
        with torch.no_grad():
            f_m, va = bundle.music_features(log_mel.to(bundle.device))
        if args.mode == "full":
            config = OptimizeConfig(steps=args.steps or FULL_STEPS)
            # Minutes a file on a CPU: a bar tells a long run from a hung one.
            with tqdm(total=config.steps, desc=path.name, unit="step", leave=False) as bar:
                w_m = optimize_transfer(bundle, w_o[None], f_m, lam, config, lambda *_: bar.update(1)).w_m[0]
        else:
            with torch.no_grad():
                w_m = bundle.predictor(w_o[None], f_o, f_m, lam)[0]
            if not torch.isfinite(w_m).all():  # drawn, a black picture that says nothing
                raise UserError(f"{path.name}: the predictor's latent is not finite; its weights were edited or "
                                f"its training diverged: {retrain_advice(bundle.root)}")
            if refine_steps:
                session = refiner.open(bundle, w_o)
                w_m = session.refine(w_m, f_m[0], lam, refine_steps).to(w_o)
        with torch.no_grad():
            picture = to_uint8(G.synthesis(w_m[None], noise_mode="const"))[0].cpu().numpy()
            before = true_transfer_loss(bundle, w_o[None], w_o[None], f_m, lam).total.item()
            after = true_transfer_loss(bundle, w_m[None], w_o[None], f_m, lam).total.item()
        valence, arousal = (float(v) for v in va[0])
        out = write_png(picture, args.outdir / f"{path.stem}.png")
        if args.save_w:
            write_whole(args.outdir / f"{path.stem}.npy", npy_bytes(w_m.float().cpu().numpy()))
        said = ""
        if after > before:  # the fast path's; the full one keeps its best iterate, the source included
            said = "  (worse than the source)"
        elif args.mode == "full" and torch.equal(w_m, w_o):  # few steps of the schedule's warm-up lowered nothing
            said = "  (no step lowered it: the source is kept; more --steps or a lower --lambda)"
        when = f"@ {at:.1f} s" if at >= 1 else f"@ {at:.3g} s"  # a short file's window ends before 0.05 s
        print(f"{out}  V {valence:.2f} A {arousal:.2f} {when}  L_transfer {before:.4f} -> {after:.4f}{said}")
        tiles.append((picture, f"{path.stem}\nV {valence:.2f} A {arousal:.2f} {when}"))
    refiner.close()
    if args.sheet:
        print(f"{write_png(contact_sheet(tiles), args.sheet)}  (source and {len(tiles) - 1} result(s))")
    return 0
