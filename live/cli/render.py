"""`python -m live render AUDIO -o OUT.mp4`: a music video from a song, offline."""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from live.cli.common import (add_cues_argument, add_show_arguments, bundle_folder, checked_cues, given_beats,
                             load_bundle, open_show, output_size, show_presets, timed_cues)
from live.cli.types import beat_source, number, output_path, threads, use_threads
from live.errors import UserError, note


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a music video offline (deterministic)",
                       description="Render AUDIO through the live pipeline on a simulated clock into a "
                                   "video with the audio muxed in (or PNG frames when OUT is a folder).")
    p.add_argument("audio", help="audio file (wav, flac, mp3, ogg, m4a, ...)")
    p.add_argument("-o", "--out", required=True, type=output_path, help="OUT.mp4|.mkv|.mov, or a folder for PNG frames")
    p.add_argument("--fps", type=number(1, 240), default=30.0, help="frames per second, 1..240 (default 30)")
    p.add_argument("--start", type=number(0, clock=True), default=0.0,
                   help="seconds into the audio, or M:SS (default 0)")
    p.add_argument("--duration", type=number(0, low_open=True, clock=True),
                   help="seconds to render, or M:SS (default: to the end)")
    p.add_argument("--threads", type=threads(), help="torch CPU threads (default: every core); the same inputs and "
                                                     "threads give the same frames")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--beats", type=beat_source, default="lookahead", metavar="lookahead|live|FILE",
                   help="lookahead: the beats found with the whole song in view, right from its first beat and "
                        "at once after a tempo change (default); live: as a show finds them while the audio "
                        "arrives, seconds late after a change (to see how a show would follow the song); FILE: "
                        "your own, one time in seconds a line, its place in the bar after it if you like (1 on "
                        "the downbeat), as `python -m live beats SONG` writes them, or an Audacity label track; a "
                        "file named live or lookahead: ./live)")
    add_cues_argument(p)
    add_show_arguments(p)
    p.set_defaults(func=run)


def decibels_over(peak: float) -> str:
    """How far over full scale a peak > 1 is; a hair over is not '0.0 dB'."""
    over = 20 * math.log10(peak)
    return f"{over:.1f} dB" if over >= 0.05 else "under 0.1 dB"


def run(args: argparse.Namespace) -> int:
    from live.audio.bandwidth import band_note
    from live.audio.beatfiles import file_beats
    from live.audio.decode import scan_audio
    from live.audio.silence import silence_note
    from live.engine.offline import RenderOptions, check_output, excerpt, is_video, render
    from live.files import check_distinct, check_writable
    from live.render.sinks import (FRAME_NAME, PNG_AUDIO_NAME, check_no_frames, check_no_unfinished,
                                   video_work_files)

    # Bad input fails before the networks load: the output, the statistics, the audio and
    # the excerpt asked of it.
    check_output(args.out)
    if is_video(args.out):
        check_writable(args.out)
        check_no_unfinished(args.out, playing_only=True)  # a show's, its only copy: a render replaces a video
    else:
        check_writable(args.out / FRAME_NAME.format(0))
        check_no_frames(args.out)
    work = video_work_files(args.out) if is_video(args.out) else {}
    check_distinct({"the audio": args.audio, "-o": args.out, **work, "--stats": args.stats})
    audio = scan_audio(args.audio)
    if shortfall := audio.shortfall():
        note("audio", shortfall)
    excerpt(audio, args.start, args.duration)
    if isinstance(args.beats, Path):
        args.beats = given_beats(args.beats, args.audio, audio.duration)
    cues = checked_cues(args)
    if args.beats == "lookahead" and any(cue.snap is not None for cue in cues):  # for them to snap to, at once
        args.beats = file_beats(audio, progress=not args.quiet)
    cues = timed_cues(args, cues, None if isinstance(args.beats, str) else args.beats,
                      "--beats live finds the beats as the video plays: give --beats lookahead (the default) or FILE",
                      end=min(audio.duration, args.start + (args.duration or audio.duration)), plays="render")
    if args.duration is not None and args.start + args.duration > audio.duration:
        note("audio", f"--start {args.start:g} s and --duration {args.duration:g} s go past the end of "
                      f"{args.audio} ({audio.length_text()}): the video ends with the audio")
    if silent := silence_note(args.audio, audio.peak):
        note("audio", silent)
    if audio.channels > 2:  # as the README says; a surround mix folded without a word surprised (review 97)
        note("audio", f"{args.audio} has {audio.channels} channels: the video's sound is their mix at equal "
                      "weights, the same on both sides")
    use_threads(args.threads)  # sums split over other threads round differently: a level or two in some frames
    show = open_show(args, live=False)
    if band := band_note(args.audio, audio.top_hz, show.bundle.mel.top_hz):
        note("audio", band)
    options = RenderOptions(fps=args.fps, size=output_size(args), fit=args.fit, start=args.start,
                            duration=args.duration, progress=not args.quiet, shaders=args.shaders, cues=tuple(cues),
                            beats=args.beats)
    started = time.monotonic()
    try:
        stats = render(show, audio, args.out, options, on_clipped=lambda peak: note(
            "audio", f"{args.audio} peaks at {peak:.6g}, {decibels_over(peak)} over full scale: the video's "
                     "soundtrack is clipped at full scale (normalize the file to keep its peaks)"),
            shows=cue_shows(args, show, cues))
    finally:
        if show.maker.refiner is not None:
            show.maker.refiner.close()
    if args.stats:
        stats.write(args.stats, now=stats.ended or 0.0)
    summary = stats.as_dict(stats.ended or 0.0)
    took = time.monotonic() - started
    # A name without .mp4 is a folder of frames: said, in case the suffix was forgotten (review 97).
    written = args.out if is_video(args.out) else f"{args.out}/ (PNG frames, their sound in {PNG_AUDIO_NAME})"
    print(f"wrote {written}: {summary['frames']} frames, {summary['keyframes']} keyframes, "
          f"{len(summary['beats'])} beats in {took:.1f} s ({summary['frames'] / max(took, 1e-9):.1f} frames a second)")
    return 0


def cue_shows(args: argparse.Namespace, show, cues: list) -> dict:
    """A show of each preset the cues switch to, by name (the render's own where the name is its
    file's); a bundle the render does not play already is loaded once, and drawn as the render's
    own (its fast path built first)."""
    from live.engine.cues import presets_named
    from live.engine.show import Show

    library = show_presets(args)
    drawing = {show.bundle.root: (show.bundle, show.maker.image)}
    shows = {}
    for name in presets_named(cues):
        try:
            if library.path(name).resolve() == show.preset.path.resolve():
                shows[name] = show
                continue
            preset = library.load(name)
            folder = show.bundle.root if args.bundle else bundle_folder(args, preset)
            if folder not in drawing:
                bundle = load_bundle(folder, args.device)
                synthesizer = show.maker.image.for_generator(bundle.G, lambda message: note("synthesis", message))
                if synthesizer.options is not None:
                    synthesizer.wait()  # a render's frames must not depend on when the compile finished
                drawing[folder] = bundle, synthesizer
            bundle, synthesizer = drawing[folder]
            shows[name] = Show.open(preset, bundle, show.maker.refiner, synthesizer)
        except UserError as e:
            raise UserError(f"--cues {args.cues}: preset {name!r}: {e}") from None
    return shows
