"""Offline render: the live stages stepped by a simulated clock, so a song becomes a video.

Time is the audio's own: frame i is drawn at t = i / fps, the analyzer has heard the audio
up to t and the few hops past it that aubio takes to report an onset (about 58 ms), and a
keyframe is due every 1 / keyframe_rate seconds from the mel window ending where it has
heard. Keyframes are ready the instant they are due, so the same inputs give the same video,
whatever the machine's speed.

Live, inference makes every keyframe due, and the screen takes the newest when a fade
starts (one a beat); the others are passed over. Offline, a due keyframe is made only when
the screen wants one (`ScreenDirector.wants`; a cut or a short fade waits for its beat
first): the same pictures, from the same windows, at a fraction of the cost.
(The refinement's warm start, and the lightness floor's first guess, then carry from shown
keyframe to shown keyframe.)

A cue sheet (`live.engine.cues`) changes the preset, the settings or cuts at moments of the
song, as a VJ's commands would in a show.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from live.audio.analyzer import AudioAnalyzer
from live.audio.beatfiles import file_beats
from live.audio.beatmap import BeatMap
from live.audio.beats import ONSET_LAG_HOPS
from live.audio.channels import mix_channels
from live.audio.decode import AudioFile
from live.audio.mel import LogMel
from live.engine.cues import Cue, CueSheet
from live.engine.screen import HudInfo, ScreenDirector
from live.engine.show import Show
from live.engine.stats import KeyframeFlow, RunStats
from live.errors import UserError
from live.render.headless import create_headless_context
from live.render.renderer import Fit, Renderer
from live.render.shaders import ShaderLibrary
from live.render.sinks import (VIDEO_SUFFIXES, AudioFormat, FrameSink, PngSink, VideoFormat, VideoSink,
                               check_video_name, exact_rate)


# Audio before --start the analyzer hears first: its mel window (3 s in the default bundle)
# and, with the show's tracker (`--beats live`), time for it to lock on (a 120 bpm track cold:
# no beat for 1.6 s, then 2 s at 187 bpm).
PREROLL_SECONDS = 10.0


@dataclass(frozen=True)
class RenderOptions:
    fps: float = 30.0
    size: tuple[int, int] = (1280, 720)
    fit: Fit = "cover"              # the square picture on a screen of another shape (Renderer)
    start: float = 0.0              # seconds into the audio
    duration: float | None = None   # None: to the end
    progress: bool = True
    shaders: Path | None = None     # the folder of the GLSL passes (None: the project's)
    cues: tuple[Cue, ...] = ()      # changes at moments of the audio file
    # "lookahead": found with the whole song in view (beatmap.py); "live": as a show finds them
    # while the audio arrives (to see how a show would follow the song); or the beats given,
    # in seconds of the audio file.
    beats: str | BeatMap = "lookahead"


def excerpt(audio: AudioFile, start: float, duration: float | None) -> tuple[int, int]:
    """The samples [first, end) of the [start, start + duration) stretch of `audio`."""
    if start < 0 or (duration is not None and duration <= 0):
        raise UserError(f"--start must be >= 0 and --duration > 0 (got {start}, {duration})")
    if start >= audio.duration:  # in seconds: the sample index of a huge --start would overflow
        raise UserError(f"--start {start:g} s is past the end of the audio ({audio.length_text()})")
    first = round(start * audio.sample_rate)
    if first >= audio.frames:  # within half a sample of the end: no --duration can help
        raise UserError(f"--start {start:g} s leaves no audio sample of {audio.length_text()}; give an earlier --start")
    end = min(audio.frames, first + round(min(duration or audio.duration, audio.duration) * audio.sample_rate))
    if end <= first:
        raise UserError(f"--start {start:g} s and --duration {duration:g} s leave no audio sample; "
                        "give a longer --duration or an earlier --start")
    return first, end


OTHER_VIDEO_SUFFIXES = {".avi", ".webm", ".gif", ".mpg", ".mpeg", ".wmv", ".flv", ".m4v", ".ts"}  # not written


def is_video(out: Path) -> bool:
    """A video file's name; otherwise `out` is a folder for PNG frames."""
    return out.suffix.lower() in VIDEO_SUFFIXES


def check_output(out: Path) -> None:
    """A video file name or a folder (PNG frames); anything else is a UserError."""
    # An existing folder may have a dot in its name; an existing file without one is no folder.
    if not is_video(out) and (out.suffix != "" or out.exists()) and not out.is_dir():
        why = ("is a file" if out.exists() else f"ends in {out.suffix}" if out.suffix.lower() in OTHER_VIDEO_SUFFIXES
               else "has a dot: a new folder for PNG frames has none in its name, or make it first (mkdir)")
        raise UserError(f"output {out} must end in .mp4, .mkv or .mov (a video), or be a folder (PNG frames); "
                        f"it {why}")
    if is_video(out):
        check_video_name(out)


def open_sink(out: Path, options: RenderOptions, sample_rate: int, channels: int) -> FrameSink:
    """A video file with the audio muxed in, or numbered PNGs and their audio.wav when `out` is a folder."""
    check_output(out)
    audio = AudioFormat(sample_rate, min(channels, 2))
    if is_video(out):
        return VideoSink(out, VideoFormat(options.size, options.fps), audio)
    return PngSink(out, audio=audio)


def render(show: Show, audio: AudioFile, out: str | Path, options: RenderOptions,
           on_clipped: Callable[[float], None] | None = None, shows: Mapping[str, Show] | None = None) -> RunStats:
    """`audio` is read front to back as the frames need it: an hour-long file is never held.
    `on_clipped(peak)` is called once at the end if the video's soundtrack was clipped.
    `shows`: a show of each preset the cues switch to, by name; each switch opens it anew from
    that one (its bundle, synthesis and source), as a live show's switch does."""
    shows = shows or {}
    settings = show.preset.settings
    cues = CueSheet(options.cues)
    first, end = excerpt(audio, options.start, options.duration)
    sr = audio.sample_rate
    fps = exact_rate(options.fps)
    # Rounded up: the last frame covers the excerpt's tail, so all of its audio is muxed.
    n_frames = math.ceil((end - first) * fps / sr)

    def sample_at(frame: int) -> int:
        return min(end - first, round(frame * sr / fps))

    # Its own pass over the audio, before the render's reader holds a block and the pre-roll.
    beats = (options.beats.shifted(-first / sr) if isinstance(options.beats, BeatMap)
             else file_beats(audio, first, options.progress) if options.beats == "lookahead" else None)
    # The analyzer hears the audio before --start first (its stream time is negative there),
    # so the excerpt's first frames have a mel window and a tempo, as a full render's do.
    reader = audio.reader()
    reader.skip(max(0, first - round(PREROLL_SECONDS * sr)))
    preroll = reader.read(min(first, round(PREROLL_SECONDS * sr)))
    # Audio for the longest mel window of the bundles played: a switch may bring another window.
    longest = max(s.bundle.mel.window_seconds for s in (show, *shows.values()))
    analyzer = AudioAnalyzer(sr, show.bundle.mel, start_index=-len(preroll), hears_ahead=True,
                             history_seconds=longest, beat_map=beats)
    log_mel = analyzer.log_mel
    if len(preroll):
        analyzer.feed(preroll)  # its beats lie before the video
    # The analyzer hears ahead of the frame by the hops aubio takes to report an onset: a
    # render knows the future, so a frame's onset pulse starts with its sound, not ~50 ms
    # after it (a show's reports come when they come).
    ahead = (ONSET_LAG_HOPS + 2) * analyzer.tracker.hop
    # Read once for both: samples [held_at, held_at + len(held)) after --start, from the
    # analyzer's or the frame's, whichever is behind, to the furthest either needs.
    held, held_at, heard_to = np.zeros((0, audio.channels), np.float32), 0, 0
    director = ScreenDirector(fade_in=False)  # a video (an excerpt to cut into an edit) starts on its picture
    stats = RunStats()
    stats.start(0.0)
    flow = KeyframeFlow()
    sink = open_sink(Path(out), options, sr, audio.channels)
    ctx = renderer = None
    newest = None
    due = None  # the newest keyframe due and not yet made: (version, its audio window, its time)
    keyframes = 0  # due so far
    # Keyframes are due at the rate from this frame and count on: the next at frame + (keyframes - count) / rate
    # seconds (a running sum of 1 / rate drifts). A new rate, or a new show, starts the count again.
    rate, since = None, (0, 0)
    show_from = 0  # keyframes from this version on are the show now chosen
    finished = False
    try:
        ctx = create_headless_context()
        renderer = Renderer(ctx, options.size, ShaderLibrary(ctx, options.shaders), fit=options.fit)
        for i in tqdm(range(n_frames), unit="frame", disable=not options.progress, desc="render"):
            t = i / options.fps
            frame_from, frame_to = sample_at(i), sample_at(i + 1)
            hear_to = min(end - first, frame_from + 1 + ahead)
            if (wanted := max(frame_to, hear_to) - held_at - len(held)) > 0:
                held = np.concatenate([held, reader.read(wanted)])
            heard = held[heard_to - held_at:hear_to - held_at]
            samples = held[frame_from - held_at:frame_to - held_at]  # the audio of frame i
            heard_to = max(heard_to, hear_to)
            held, held_at = held[min(heard_to, frame_to) - held_at:], min(heard_to, frame_to)
            features = analyzer.feed(heard) if len(heard) else analyzer.features
            for beat in features.beats:
                if beat >= 0:  # the hop across t = 0 can report one a few ms before the video
                    stats.beat(beat)
            for cue in cues.due(options.start + t):
                if cue.preset is not None:
                    chosen = shows[cue.preset]
                    show = Show.open(chosen.preset, chosen.bundle, chosen.maker.refiner, chosen.maker.image,
                                     chosen.maker.w_source)
                    settings = show.preset.settings.keeping_show_state(settings)
                    show_from, rate = keyframes + 1, None
                    if show.bundle.mel != log_mel.window:
                        log_mel = LogMel(show.bundle.mel, sr)
                settings = settings.with_values(dict(cue.values))
                if cue.cut:
                    director.cut(t)
            if exact_rate(settings.keyframe_rate) != rate:
                rate, since = exact_rate(settings.keyframe_rate), (i, keyframes)
            if (i - since[0]) * rate >= (keyframes - since[1]) * fps:
                keyframes += 1
                due = (keyframes, analyzer.window(log_mel.source_samples), t)
            if due is not None and director.wants(t, due[0], settings, features, show_from):
                version, window, due_t = due
                try:
                    newest = show.maker.make(log_mel(window), settings, capture_time=due_t,
                                             clock=lambda: due_t, version=version, preset=show.preset.name)
                except ValueError as e:  # not finite: a show keeps its last picture, a render would hold it black
                    raise UserError(f"the keyframe at {due_t:.1f} s cannot be made: {e}") from None
                stats.keyframe(newest.capture_time, newest.ready_time, newest.compute_seconds)
                flow.add(due_t)
                due = None
            # The rate of keyframes made, as a show's HUD says: a synced preset makes fewer than it asks for.
            hud = HudInfo(fps=options.fps, keyframes_per_s=flow.rate(t), latency_ms=0.0, preset=show.preset.name)
            decision = director.frame(t, features, newest, settings, hud, show_from)
            if decision.upload is not None:
                renderer.upload_keyframe(decision.upload.image)
            renderer.draw(decision.state)
            sink.write(renderer.read())
            sink.write_audio(np.ascontiguousarray(mix_channels(samples, min(audio.channels, 2))))
            stats.frame(decision.shows_new, t)
        finished = True
    finally:
        try:
            sink.close() if finished else sink.discard()
        finally:
            if renderer is not None:
                renderer.release()
            if ctx is not None:
                ctx.release()
    if on_clipped is not None and isinstance(sink, VideoSink) and sink.clipped_peak:
        on_clipped(sink.clipped_peak)
    stats.stop(n_frames / options.fps)
    return stats
