"""Options shared by the commands that run a show (perform, render)."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from live.cli.types import add_device, given, json_file, shader_dir
from live.errors import UserError, first_line, note

if TYPE_CHECKING:
    from live.audio.beatmap import BeatMap


FAST_SYNTHESIS_MIN_SECONDS = 120.0
MIN_SIDE, MAX_SIDE = 16, 8192  # output sides; past 8K, H.264 (level 6.2 stops at 8192 wide) and many GPUs refuse


DEFAULT_SIZE = (1280, 720)


def output_size(args: argparse.Namespace) -> tuple[int, int]:
    return args.size or DEFAULT_SIZE


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, got {text!r}") from None
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE) or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT with even sides from {MIN_SIDE} to {MAX_SIDE}, "
                                         f"got {text!r}")
    return w, h


def add_show_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", type=given, help="preset name (presets/NAME.toml) or path to a .toml (default: default)")
    p.add_argument("--presets-dir", type=given, help="folder of presets (default: the project's presets/)")
    p.add_argument("--bundle", type=given,
                   help="use this bundle (name under models/ or a folder) instead of the preset's")
    add_device(p)
    p.add_argument("--size", type=parse_size,
                   help=f"output size WxH (default {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}; a live show in a window "
                        "without it draws at the window's size, fullscreen the display's)")
    p.add_argument("--fit", choices=("cover", "contain"), default="cover",
                   help="how the square picture meets a screen of another shape: 'cover' (the default) fills it, "
                        "cropping what overflows the long side (a 16:9 screen shows the middle 56 %% of the "
                        "picture's height); 'contain' shows all of it, between black bars")
    p.add_argument("--stats", type=json_file, metavar="PATH", help="write run statistics as JSON here at exit")
    p.add_argument("--shaders", type=shader_dir, metavar="DIR",
                   help="folder of the GLSL passes (default: the project's shaders/); a copy of it to edit live "
                        "without changing the project's")
    p.add_argument("--synthesis", choices=("auto", "fast", "reference"), default="auto",
                   help="how keyframes are drawn: 'fast' draws with a faster path (bf16 where native), compiled once "
                        "per generator (and CPU thread count) in the background (about a minute; kept in "
                        "~/.cache/live/synthesis) and "
                        "switched to when ready (a render waits for it); 'reference' is exact float32; "
                        "'auto' (the default) is fast in live shows of at least "
                        f"{FAST_SYNTHESIS_MIN_SECONDS:.0f} s (or open-ended), fast in shorter ones only if "
                        "already compiled for this generator, and reference in renders")


def add_cues_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cues", type=given, metavar="FILE.toml",
                   help="a cue sheet to play: [[cue]] tables, each with at = SECONDS or \"M:SS\" into the audio and "
                        "any of preset = NAME, set = { PARAM = VALUE, ... }, cut = true; snap = \"bar\" or \"beat\" "
                        "moves it to the nearest downbeat or beat known ahead (see README)")


def chosen_preset(args: argparse.Namespace):
    """The preset named by --preset (in --presets-dir), or the default one."""
    from live.presets import DEFAULT_PRESET, PresetLibrary

    library = PresetLibrary(args.presets_dir)
    names = library.names()
    if args.preset is None and DEFAULT_PRESET not in names and library.directory.is_dir():
        remedy = (f"choose one with --preset ({', '.join(names)})" if names
                  else f"it holds no presets; make one with: {library.new_preset_command()}")
        raise UserError(f"{library.directory} has no {DEFAULT_PRESET}.toml: {remedy}")
    return library.load(args.preset or DEFAULT_PRESET)


def show_presets(args: argparse.Namespace):
    """The presets a show chooses among: the presets folder's, and the one --preset names by path
    (by its stem, unless the folder has a preset of that name)."""
    from live.presets import PresetLibrary

    opening = Path(args.preset) if args.preset and Path(args.preset).suffix == ".toml" else None
    return PresetLibrary(args.presets_dir, opening)


def preset_and_bundle(args: argparse.Namespace, uses_predictor: bool = True):
    """The preset named by --preset and the bundle it plays on (--bundle, else its own); what
    is wrong with its predictor is said unless the command does not use it."""
    preset = chosen_preset(args)
    bundle = load_bundle(bundle_folder(args, preset), args.device)
    if uses_predictor and (about := bundle.predictor_note()):
        note("bundle", about)
    return preset, bundle


def bundle_folder(args: argparse.Namespace, preset):
    """The bundle `preset` plays on: --bundle, else its own."""
    try:
        return args.bundle or preset.bundle_folder()
    except UserError as e:  # the preset's, not one typed: say whose
        raise UserError(f"preset {preset.path}: bundle = {preset.bundle!r}: {e}") from None


def load_bundle(folder, device):
    from live.bundle import Bundle

    try:
        return Bundle.load(folder, device=device)
    except RuntimeError as e:  # torch: a device that fails once in use; on the CPU, the bundle's fault
        bundle_fault = str(device).startswith("cpu") or isinstance(e, RecursionError)
        what = f"cannot load bundle {folder}" if bundle_fault else f"cannot use device {device!r}"
        raise UserError(f"{what}: {first_line(e)}") from None


def checked_cues(args: argparse.Namespace) -> list:
    """The cue sheet --cues names (none without it), its presets found playable (their bundle.toml
    read too), before the networks load."""
    from live.engine.cues import read_cues
    from live.presets import check_playable

    if args.cues is None:
        return []
    cues = read_cues(args.cues)
    library = show_presets(args)
    checked: set[str] = set()
    for index, cue in enumerate(cues, start=1):
        if cue.preset is not None and cue.preset not in checked:
            try:
                preset = library.load(cue.preset)
                if args.bundle is None:  # on --bundle's generator, its latent is checked as the show opens
                    check_playable(preset, bundle_config=True)
            except UserError as e:
                raise UserError(f"--cues {args.cues}: cue {index} (at {cue.at:g} s): preset {cue.preset!r}: {e}") \
                    from None
            checked.add(cue.preset)
    return cues


def timed_cues(args: argparse.Namespace, cues: list, beats, unknown: str, end: float | None, plays: str) -> list:
    """--cues' `cues` at the times they act: those that snap moved onto `beats` (the beats known
    ahead; None if they are found as they come: a snap is refused, `unknown` says why and what
    to do), and what snapping could not do or changed said; a cue at or past `end` (seconds into
    the audio, where the `plays` ends) is said to do nothing."""
    from live.engine.cues import acting_order, snapped

    snapping = [(number, cue) for number, cue in enumerate(cues, start=1) if cue.snap is not None]
    if snapping and beats is None:
        number, cue = snapping[0]
        raise UserError(f"--cues {args.cues}: cue {number} (at {cue.at:g} s) snaps to the {cue.snap}, but {unknown}")
    moved, lines = snapped(cues, beats) if snapping else (cues, [])
    for line in lines:
        note("cues", line)
    for number, cue in enumerate(moved, start=1):
        if end is not None and cue.at >= end:
            note("cues", f"cue {number} at {cue.at:g} s comes after the {plays}'s end ({end:g} s): it does nothing")
    return acting_order(cues, moved)


def given_beats(path: Path, audio: str | Path, seconds: float) -> BeatMap:
    """The beats in file `path`, for `audio` of `seconds`: none of them in it is a mistake
    (another song's file, times in ms); those past its end are said. An excerpt may have none
    (an intro, a break)."""
    import numpy as np

    from live.audio.beatfiles import read_beats

    beats = read_beats(path)
    times = beats.beats
    if not np.any(times <= seconds):
        raise UserError(f"none of the {len(times)} beats in {path} ({times[0]:g}-{times[-1]:g} s) falls in "
                        f"{audio} (0-{seconds:g} s); give its beats, in seconds")
    if past := int(np.count_nonzero(times > seconds)):
        note("beats", f"{past} of the {len(times)} beats in {path} lie past the end of {audio} ({seconds:.1f} s)")
    return beats


def synthesis_mode(choice: str, live: bool, seconds: float | None) -> str:
    """How keyframes are drawn: "fast" (its package built if need be), "reference", or
    "cached": the fast path only if its package is already on disk. `auto` is fast in a live
    show of `seconds` (None: open-ended) long enough to see a first build through (about a
    minute of a core, see live.nets.packaged), cached in a shorter one (it would leave the
    build to finish behind it), and reference in a render (its frames must not depend on
    what the cache holds)."""
    if choice != "auto":
        return choice
    if not live:
        return "reference"
    return "fast" if seconds is None or seconds >= FAST_SYNTHESIS_MIN_SECONDS else "cached"


def open_show(args: argparse.Namespace, live: bool, report: Callable[[str, str], None] | None = None,
              seconds: float | None = None):
    """The preset named on the command line, loaded onto its bundle, with the per-keyframe
    refinement: its local models are rebuilt on a worker thread live, and in line offline
    (so a render does not depend on the machine's speed). A live show lasts `seconds`
    (None: open-ended). `report(stage, message)` hears what fails on the workers (the fast
    path's compile, a local model's build) and goes on: a live engine's report; by
    default a line on stderr."""
    report = report or note
    from live.engine.show import Show
    from live.engine.synthesizer import Synthesizer, live_fast_options
    from live.nets.packaged import default_packages_dir, has_compiler
    from live.transfer.refine import LocalRefiner, RefineConfig

    preset, bundle = preset_and_bundle(args)
    mode = synthesis_mode(args.synthesis, live, seconds)
    synthesizer = Synthesizer(bundle.G, None if mode == "reference" else live_fast_options(bundle.device,
                                                                                          default_packages_dir()),
                              on_error=lambda message: report("synthesis", message), build=mode == "fast")
    if mode == "fast" and not live:
        # Minutes of silence looked like a hang; without a compiler the synthesizer says the fast path is unavailable.
        if not synthesizer.packaged and has_compiler():
            report("synthesis", f"compiling the fast synthesis for this generator before the first frame (a minute "
                                f"or more, once: kept in {default_packages_dir()})")
        synthesizer.wait()  # a render's frames must not depend on when the compile finished
    refiner = LocalRefiner(RefineConfig(background=live), on_error=lambda message: report("refinement", message))
    return Show.open(preset, bundle, refiner, synthesizer)
