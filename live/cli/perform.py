"""`python -m live [options]`: the show. Sound in, emotion-driven frames out, on the beat.

With a display and an input device it opens a window on the default input. On a machine
with neither (a fresh server) it says so and plays the demo track headless into a video.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from contextlib import suppress
from pathlib import Path

from live.cli.common import (add_cues_argument, add_show_arguments, checked_cues, chosen_preset, given_beats,
                             open_show, output_size, show_presets, timed_cues)
from live.cli.stopping import stopped_by_signals
from live.cli.types import (at_home, beat_source, channel_span, count, cue_sheet_file, given, number, output_path,
                            threads)
from live.control.protocol import DEFAULT_COMMAND_ADDRESS, DEFAULT_TELEMETRY_ADDRESS
from live.errors import UserError, first_line, note

FRESH_SERVER_VIDEO = "live-demo.mp4"
RECORD_FPS = 30.0  # a live recording shares the CPU with the show: more frames are the offline render's job


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_show_arguments(p)
    p.add_argument("--source", type=_source_arg, help="mic, mic:DEVICE (name or index), file:PATH or demo "
                                    "(default: mic if there is an input device, else demo)")
    p.add_argument("--play", action="store_true", help="play a file: or demo source on the default output")
    p.add_argument("--output", metavar="DEVICE", help="the output device --play plays to: a name, part of one, or "
                                                      "an index (`python -m live devices` lists them)")
    p.add_argument("--beats", type=beat_source, metavar="lookahead|live|FILE",
                   help="a file: or demo source's beats. lookahead (the default): known ahead, found with the whole "
                        "track in view before the show starts (about half a second a minute of audio the first "
                        "time, kept for the next; the demo's as composed), so fades land on its beats and bars "
                        "from the first (a track with none found is followed live; two taps in time hand them over "
                        "to the taps and the beats found live); live: found as the audio plays, "
                        "as an input's are, and taps move them; FILE: your own for the file or the demo (see "
                        "render --beats). "
                        "An input's beats are always found live")
    p.add_argument("--input-channels", type=channel_span, metavar="N|A-B",
                   help="an input's channels, mixed down to what the show hears: N opens channels 1 to N, A-B "
                        "channels A to B (default 1; a stereo feed on channels 1-2 of an interface opened directly: "
                        "2; a mixer's feed on inputs 3-4: 3-4)")
    p.add_argument("--input-rate", type=count(8000, 384000), metavar="HZ",
                   help="an input's sample rate (default: the device's own, or 48000 or 44100 where it opens)")
    p.add_argument("--headless", action="store_true", help="no window (EGL offscreen)")
    p.add_argument("--fullscreen", action="store_true", help="start in fullscreen (Tab or F11 toggles it)")
    p.add_argument("--display", type=int, help="monitor index for the window (default 0)")
    p.add_argument("--no-vsync", dest="vsync", action="store_false",
                   help="in a window, show each frame when drawn instead of at the display's refresh "
                        "(the --fps cap alone paces the show; frames may tear)")
    # At least 1: the show waits out a frame's interval before it looks at the clock or a stop
    # again (--fps 1e-9 never stopped).
    p.add_argument("--fps", type=number(1, 1000),
                   help="render rate cap, 1..1000 (default: 60 in a window, 30 headless); with vsync, a display "
                        "at about the cap paces the show itself")
    p.add_argument("--duration", type=number(0, low_open=True, clock=True),
                   help="stop after this many seconds, or M:SS")
    # Checked (name, folder, an earlier recording) with the fresh server's default, in run().
    p.add_argument("--record", type=output_path, metavar="OUT.mp4",
                   help=f"also record the output with its audio (at most {RECORD_FPS:g} fps)")
    add_cues_argument(p)
    p.add_argument("--save-cues", type=cue_sheet_file, metavar="FILE.toml",
                   help="write the commands the show took (presets, parameters, cuts; from the controls or the "
                        "keys) as a cue sheet, at the seconds of the audio heard: `render AUDIO --cues FILE.toml` "
                        "plays the set again, at any size")
    p.add_argument("--control", type=given, default=DEFAULT_COMMAND_ADDRESS,
                   help=f"ROUTER address for commands (default {DEFAULT_COMMAND_ADDRESS}), or 'off': no commands "
                        "and no telemetry")
    p.add_argument("--telemetry", type=given, help=f"PUB address for telemetry (default {DEFAULT_TELEMETRY_ADDRESS})")
    p.add_argument("--keys", type=given, metavar="DIR", help="CurveZMQ keys (python -m live control keygen DIR); "
                                                 "required for a non-loopback --control or --telemetry")
    p.add_argument("--threads", type=threads(), default=1, help="torch threads for inference (default 1)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("perform", help="the live show (the default command)", description=__doc__)
    add_arguments(p)
    p.set_defaults(func=run)


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _has_input() -> bool:
    from live.audio.devices import NoSoundServer, list_devices

    try:
        return any(d.input_channels > 0 for d in list_devices())
    except NoSoundServer:
        raise  # not "no input": the show would take the demo track for the performer's input
    except UserError as e:  # PortAudio missing: said, as the demo track plays
        note("audio", first_line(e))
        return False


def parse_source(spec: str) -> tuple[str, str]:
    """'mic', 'mic:DEVICE', 'file:PATH' or 'demo' as (kind, rest), before anything opens."""
    kind, _, rest = spec.partition(":")
    if kind == "mic" or (kind == "file" and rest) or (kind == "demo" and not rest):
        return kind, at_home(rest) if kind == "file" else rest
    raise UserError(f"unknown --source {spec!r}; use mic, mic:DEVICE, file:PATH or demo")


def _source_arg(text: str) -> str:
    """--source, refused as the command line is read."""
    try:
        parse_source(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def open_source(spec: str, play: bool, channels: tuple[int, int] | None = None, rate: int | None = None,
                output: str | None = None):
    """`channels`: an input's (first, how many), 1-based (default: the first alone); `output`: the
    device `play` plays to (default: the system's)."""
    from live.audio.sources import DemoSource, FileSource, MicSource

    kind, rest = parse_source(spec)
    if kind == "mic":
        device: str | int | None = (int(rest) if rest.isdigit() else rest) if rest else None
        first, many = channels or (1, 1)
        return MicSource(device, sample_rate=rate, channels=many, first_channel=first)
    if kind == "file":
        source = FileSource(rest, play=play, output_device=output)
        if source.track.shortfall:
            note("audio", source.track.shortfall)
        return source
    return DemoSource(play=play, output_device=output)


def source_name(source, kind: str) -> str:
    return str(source.path) if kind == "file" else "the demo track"


def source_beats(choice, source, kind: str):
    """A file's or the demo's beats, known ahead (`choice` lookahead, the default, or the BeatMap
    of a FILE of them), in the stream's time, a looping track's every time round; None: found as
    they play (an input's, --beats live, or a track in which none are found: taps set them)."""
    from dataclasses import replace

    from live.audio.beatfiles import demo_beats, file_beats
    from live.audio.beatmap import BeatMap

    if kind == "mic" or choice == "live":
        return None
    if isinstance(choice, BeatMap):
        beats = choice
    elif kind == "demo":
        beats = demo_beats(source.demo)
    else:
        beats = file_beats(source.track.file, progress=True)
    if not any(len(run) > 1 for run in beats.runs):  # no grid in it: a lone beat is no tempo
        note("beats", f"no beats found in {source_name(source, kind)}: the show finds them as it plays, and taps "
                      "set them")
        return None
    return replace(beats, loop=source.duration) if source.track.loop else beats


def show_seconds(duration: float | None, source) -> float | None:
    """How long the show lasts, if known: --duration, or less when the source is a track
    played once (the show ends with it)."""
    track = getattr(source, "track", None)
    if track is None or track.loop:
        return duration
    return source.duration if duration is None else min(duration, source.duration)


def run(args: argparse.Namespace) -> int:
    from live.control.security import ServerKeys
    from live.control.server import ControlServer, check_addresses
    from live.models import bundle_dir, latent_shape
    from live.presets import DEFAULT_PRESET
    from live.files import check_distinct
    from live.render.sinks import check_new_recording, partial_path, video_work_files

    record_as_typed = args.record  # the fresh server's default below is a name that may be replaced
    headless = args.headless or not _has_display()
    _check_unused(args, headless)
    args.telemetry = args.telemetry or DEFAULT_TELEMETRY_ADDRESS
    args.display = args.display or 0
    source_spec = args.source = _source_spec(args, headless)  # as decided: a saved cue sheet names it

    # What the command line alone decides is checked before the networks load (seconds).
    if args.record:
        try:
            check_new_recording(Path(args.record), may_replace=not record_as_typed)
        except UserError as e:  # the demo's own recording: name the option that moves it
            raise UserError(str(e) if record_as_typed else f"{e} (give --record PATH)") from None
    kind, rest = parse_source(source_spec)
    if args.output is not None and not args.play:
        raise UserError("--output is the device --play plays to: add --play")
    if args.play and kind == "mic":  # accepted, and nothing was played
        raise UserError("--play plays a file: or demo source to the output; an input is not played back "
                        "(monitor it on the sound card or mixer)")
    if kind == "mic" and args.beats not in (None, "live"):
        raise UserError("--beats lookahead or FILE is for a file: or demo source, whose beats can be known ahead; "
                        "an input's are found as they come (--beats live, its default)")
    if kind != "mic" and (args.input_channels or args.input_rate):
        raise UserError("--input-channels and --input-rate are an input's (--source mic...); a file or the demo "
                        "plays at its own")
    check_distinct({"the --source file": rest if kind == "file" else None, "--record": args.record,
                    **(video_work_files(Path(args.record)) if args.record else {}), "--stats": args.stats,
                    "--cues": args.cues, "--save-cues": args.save_cues,
                    **({f"--{name}": address.partition("ipc://")[2] or None
                        for name, address in (("control", args.control), ("telemetry", args.telemetry))}
                       if args.control != "off" else {})})
    keys = None
    if args.control != "off":
        keys = ServerKeys.from_directory(Path(args.keys)) if args.keys else None
        check_addresses((args.control, args.telemetry), curve=keys is not None)
    if not headless:  # a display out of reach, or a --display it has not, is said before the networks load too
        from live.render.window import check_display

        check_display(args.display)
    chosen_preset(args)  # a preset that is not there or does not read: said in a second, not after torch loads
    # The heavy modules (torch, torchaudio, moderngl): after what the command line alone decides (review 99).
    from live.audio.bandwidth import band_note
    from live.audio.beatmap import BeatMap
    from live.audio.silence import silence_note
    from live.engine.realtime import LiveEngine, LiveOptions
    from live.render.renderer import Renderer
    from live.render.shaders import ShaderLibrary

    engine: LiveEngine | None = None

    def report(stage: str, message: str) -> None:
        # Workers (compiles, local models) report through the show once it runs: telemetry, HUD, stats.
        (engine.report if engine is not None else note)(stage, message)

    # Serving now: a port another show holds is named before the networks load, and a
    # request sent meanwhile is told the show is loading.
    server = None if args.control == "off" else ControlServer(None, args.control, args.telemetry, curve=keys).start()
    window = None
    try:
        # Sources find their device or decode their file now, and start with the show: a bad
        # file or device is named before the networks load (5-9 s here), not after.
        source = open_source(source_spec, args.play, args.input_channels, args.input_rate, args.output)
        if kind == "mic":  # the default input was chosen unsaid (review 99)
            print(f"live: listening to {source.describe()}")
        if kind == "file" and (silent := silence_note(rest, source.track.file.peak)):
            note("audio", silent)  # before the networks load, as a render says it
        cues = checked_cues(args)
        # A beat file's mistakes are said now; a file's own beats are found once the networks have
        # loaded, so that what is wrong with the preset or its bundle is said first, not after a pass
        # over an hour-long mix.
        beats = given_beats(args.beats, source_name(source, kind), source.duration) \
            if isinstance(args.beats, Path) else args.beats
        known = kind != "mic" and beats != "live"
        if not known:  # a cue that snaps is refused now
            cues = timed_cues(args, cues, None, "a show from an input finds its beats as they come" if kind == "mic"
                              else "--beats live finds them as they come: leave it out (lookahead is the default)",
                              end=show_seconds(args.duration, source), plays="show")
        presets = show_presets(args)
        # As a switch judges them: by the show's generator, when --bundle plays every preset.
        playing = latent_shape(bundle_dir(args.bundle)) if args.bundle else None
        chosen = Path(args.preset or DEFAULT_PRESET).stem  # its own error says what is wrong with it
        # Said now, not first at a switch in the show.
        for name, preset in presets.load_all(playing, bundle_config=True).items():
            if isinstance(preset, UserError) and name != chosen:
                note("presets", f"{name} cannot be played: {preset}")
        show = open_show(args, live=True, report=report, seconds=show_seconds(args.duration, source))
        if kind == "file" and (band := band_note(rest, source.track.file.top_hz, show.bundle.mel.top_hz)):
            note("audio", band)  # after: it needs the bundle's mel window
        beat_map = None
        if known:  # a track with no beats found: its cues that snap stay at their times, as between beats
            beat_map = source_beats(beats, source, kind)
            cues = timed_cues(args, cues, BeatMap(()) if beat_map is None else beat_map, "",
                              end=show_seconds(args.duration, source), plays="show")
        window, ctx, size = _open_screen(args, headless)
        if args.fps is None:
            # Headless, only a recording (at most 30 fps) sees the frames; more would take CPU
            # from the keyframes on a machine that renders in software.
            args.fps = 30.0 if headless else 60.0
        library = ShaderLibrary(ctx, args.shaders)
        renderer = Renderer(ctx, size, library, fit=args.fit, presents=window is not None)
        engine = LiveEngine(show, presets, source, renderer, library,
                            LiveOptions(fps=args.fps, duration=args.duration, torch_threads=args.threads,
                                        keep_bundle=args.bundle is not None, fixed_size=args.size is not None,
                                        beat_map=beat_map),
                            window=window)
        from live.engine.cues import CueLog, CueSheet

        engine.cues = CueSheet(cues) if cues else None
        engine.cue_log = CueLog() if args.save_cues else None
        if server is not None:
            server.on_error = lambda message: engine.report("control", message)
            server.controller = engine
            engine.publish = server.publish
            print(f"live: control on {server.command_endpoint}, telemetry on {server.telemetry_endpoint}"
                  + (" (CurveZMQ)" if keys else ""))
        try:
            if args.record:  # last of the setup, and in here: an interrupt after it leaves no empty NAME.partial
                engine.recorder = _recorder(args, size, source, engine, may_replace=not record_as_typed)
            with stopped_by_signals(engine.stopping, engine.asked_to_stop):
                stats = engine.run()
        except KeyboardInterrupt:
            partial = partial_path(Path(args.record)) if args.record else None
            if partial is not None and partial.exists():
                if partial.stat().st_size:  # the encoder writes with its first packet
                    print(f"live: the recording was not finished: {partial} plays what was written of it",
                          file=sys.stderr)
                else:  # held for the recording, which never began: no file to leave
                    partial.unlink()
            if args.save_cues:  # the second Ctrl-C leaves the recording unfinished, not the set's commands unsaved
                with suppress(UserError):
                    _save_cues(args, engine)
            raise
    finally:
        if server is not None:
            server.stop()
        if window is not None:
            window.close()
    _summarize(args, stats, engine)
    return 0


def _check_unused(args: argparse.Namespace, headless: bool) -> None:
    """Options the show would ignore without a word: refused where the command line itself
    turns their use off, said where the machine does (no display)."""
    given = [flag for flag, value in (("--telemetry", args.telemetry), ("--keys", args.keys)) if value is not None]
    if args.control == "off" and given:
        raise UserError(f"{' and '.join(given)} not used with --control off, which turns commands and telemetry off; "
                        "give --control an address (loopback, or with --keys) to have them")
    window = [flag for flag, on in (("--fullscreen", args.fullscreen), ("--display", args.display is not None),
                                    ("--no-vsync", not args.vsync)) if on]
    if window and args.headless:
        raise UserError(f"{', '.join(window)}: for a window, and --headless has none")
    if window and headless:
        note("perform", f"{', '.join(window)} not used: there is no display, so the show runs headless")


def _source_spec(args: argparse.Namespace, headless: bool) -> str:
    """--source, else the default input, else the demo track: on a machine with neither a
    display nor an input, recorded for a while into a video (the fresh server's `make run`)."""
    source = args.source if args.source is not None else "mic" if _has_input() else None
    if source is not None:
        if headless and not args.headless:  # said for the default input too: a show with nowhere to be seen
            print("live: no display found (DISPLAY is unset); running headless"
                  + ("" if args.record else " (--record FILE keeps the pictures)"))
        return source
    if headless and not _has_display():
        from live.audio.demo import demo_seconds

        args.record = args.record or FRESH_SERVER_VIDEO
        # Once through: its four sections show the picture following the music's emotion.
        args.duration = args.duration or demo_seconds()
        print(f"live: no display and no audio input here; playing the demo track headless into "
              f"{args.record} for {round(args.duration, 1):g} s (use --source, --record, --duration to change)")
    else:  # said: an audio interface not found on stage gave pictures that followed music no one heard
        note("source", "no audio input found; the picture follows the demo track, unheard (--play to hear "
                       "it, --source to choose an input: `python -m live devices` lists them)")
    return "demo"


def _open_screen(args: argparse.Namespace, headless: bool):
    """(window or None, GL context, the size frames are drawn at)."""
    if headless:
        from live.render.headless import create_headless_context

        return None, create_headless_context(), output_size(args)
    from live.render.window import Window, WindowConfig

    window = Window(WindowConfig(size=output_size(args), fullscreen=args.fullscreen, display=args.display,
                                 vsync=args.vsync))
    # --size holds in fullscreen too, the picture scaled to the display (a software
    # rasterizer, a 4K projector); without it the picture is drawn 1:1.
    size = args.size or window.size
    if args.record and (size[0] % 2 or size[1] % 2):
        window.close()
        raise UserError(f"the display is {size[0]}x{size[1]}, and a recording needs an even width and "
                        f"height: give --size {size[0] // 2 * 2}x{size[1] // 2 * 2} (the picture is scaled "
                        "to the display)")
    return window, window.ctx, size


def _recorder(args: argparse.Namespace, size: tuple[int, int], source, engine, may_replace: bool):
    from live.engine.recorder import RECORD_GAP_S, Recorder
    from live.render.sinks import AudioFormat, VideoFormat, VideoSink

    # ultrafast: a live recording shares the CPU with the show; quality is the offline render's job.
    # One encoder thread (720p at about 116 fps here alone; beside one busy Python thread 26,
    # waiting for the interpreter lock between its libav calls: on a loaded machine it falls
    # behind, and the recorder keeps a picture every half second): x264's own threads, three
    # on 2 cores, preempted the keyframes (a 20 s demo show made 6.4-10.8 keyframes/s
    # recording with them, 10.6-12.9 with one).
    channels = min(source.channels, 2)
    fps = min(args.fps, RECORD_FPS)
    if args.fps > RECORD_FPS:
        note("record", f"the recording is {RECORD_FPS:g} fps (the show draws up to {args.fps:g}); `python -m live "
                       "render` makes a video at any rate")
    sink = VideoSink(args.record, VideoFormat(size, fps, preset="ultrafast", threads=1),
                     AudioFormat(source.sample_rate, channels), kill_safe=True, may_replace=may_replace)
    return Recorder(sink, fps, source.sample_rate, channels, source.heard_until, clock=engine.clock,
                    on_error=lambda message: engine.report("recorder", message), gapless=source.gapless,
                    gap_s=max(RECORD_GAP_S, source.silence_timeout) if source.gapless else RECORD_GAP_S)


def _summarize(args: argparse.Namespace, stats, engine) -> None:
    """The show's one-line summary, then --stats; a recording or stats file that could not be
    written ends the command with both errors (a full disk's stats error hid that the
    recording was saved, and the summary with it)."""
    summary = stats.as_dict(stats.ended or 0.0)
    p95 = summary["latency_ms"]["audio_to_screen"]["p95"]  # None: no keyframe reached the screen
    recorded = ""
    if args.record and engine.recording_error is None:
        # A show that ended before its first frame leaves no file (the sink removes its empty one).
        recorded = f"; recorded {args.record}" if Path(args.record).exists() else \
            "; nothing recorded: the show ended before its first frame"
    print(f"live: {summary['frames']} frames ({summary['render_fps']} fps), {summary['keyframes']} keyframes "
          f"({summary['keyframes_per_s']}/s), audio-to-screen p95 {'n/a' if p95 is None else f'{p95} ms'}{recorded}")
    failures = []
    error = engine.recording_error
    if error is not None:
        failures.append(str(error) if isinstance(error, UserError) else f"the recording failed: {error}")
    if args.stats:
        try:
            stats.write(args.stats, now=stats.ended or 0.0)
        except UserError as e:
            failures.append(str(e))
    if args.save_cues:
        try:
            _save_cues(args, engine)
        except UserError as e:
            failures.append(str(e))
    if failures:
        raise UserError("; and ".join(failures))


def _save_cues(args: argparse.Namespace, engine) -> None:
    """The commands the show took, and the played sheet's cues it did not reach (a show that ended
    early loses none of an overdubbed set), with the render that plays them again."""
    from live.engine.cues import write_cues

    cues = engine.cue_log.cues() + (engine.cues.waiting() if engine.cues is not None else [])
    if not cues:
        print(f"live: no command came, so no cue sheet was written to {args.save_cues}")
        return
    kind, rest = parse_source(args.source)
    options = [(flag, value) for flag, value in (("--cues", args.save_cues), ("--preset", args.preset),
                                                 ("--presets-dir", args.presets_dir), ("--bundle", args.bundle),
                                                 ("--shaders", args.shaders)) if value is not None]
    render = " ".join(["python -m live render", shlex.quote(rest) if kind == "file" else "AUDIO",
                       *(f"{flag} {shlex.quote(str(value))}" for flag, value in options), "-o OUT.mp4"])
    audio = "the file" if kind == "file" else "the show's recording (--record), whose soundtrack is what it heard"
    write_cues(args.save_cues, cues, f"The commands of a show of {args.source}, at seconds of its audio.\n"
                                     f"Render it again from {audio}:\n{render}")
    print(f"live: wrote {len(cues)} cues to {args.save_cues}")
