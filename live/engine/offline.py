"""Offline render: the live stages stepped by a simulated clock, so a song becomes a video.

Time is the audio's own: frame i is drawn at t = i / fps, the analyzer has heard exactly
the audio up to t, and a keyframe is made every 1 / keyframe_rate seconds from the mel
window ending at t. Keyframes are ready the instant they are asked for, so the same
inputs give the same video, whatever the machine's speed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from live.audio.analyzer import AudioAnalyzer
from live.audio.decode import Audio, mix_channels
from live.engine.screen import HudInfo, ScreenDirector
from live.engine.show import Show
from live.engine.stats import RunStats
from live.errors import UserError
from live.render.headless import create_headless_context
from live.render.renderer import Renderer
from live.render.shaders import ShaderLibrary
from live.render.sinks import AudioFormat, FrameSink, PngSink, VideoFormat, VideoSink, exact_rate
from live.settings import Settings


# Audio before --start the analyzer hears first: its mel window (3 s in the default bundle)
# and time for the beat tracker to lock on (a 120 bpm track cold: no beat for 1.6 s, then
# 2 s at 187 bpm).
PREROLL_SECONDS = 10.0


@dataclass(frozen=True)
class RenderOptions:
    fps: float = 30.0
    size: tuple[int, int] = (1280, 720)
    start: float = 0.0              # seconds into the audio
    duration: float | None = None   # None: to the end
    progress: bool = True


def excerpt(audio: Audio, start: float, duration: float | None) -> np.ndarray:
    """The [start, start + duration) stretch of `audio` as [frames, channels] float32."""
    if start < 0 or (duration is not None and duration <= 0):
        raise UserError(f"--start must be >= 0 and --duration > 0 (got {start}, {duration})")
    if start >= audio.duration:  # in seconds: the sample index of a huge --start would overflow
        raise UserError(f"--start {start:.1f} s is past the end of the audio ({audio.duration:.1f} s)")
    a = round(start * audio.sample_rate)
    duration = audio.duration if duration is None else min(duration, audio.duration)
    samples = audio.samples[a:min(len(audio.samples), a + round(duration * audio.sample_rate))]
    if not len(samples):
        raise UserError(f"--start {start:g} s and --duration {duration:g} s leave no audio sample; "
                        "give a longer --duration or an earlier --start")
    return samples


VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")


def is_video(out: Path) -> bool:
    """A video file's name; otherwise `out` is a folder for PNG frames."""
    return out.suffix.lower() in VIDEO_SUFFIXES


def check_output(out: Path) -> None:
    """A video file name or a folder (PNG frames); anything else is a UserError."""
    if not is_video(out) and out.suffix != "" and not out.is_dir():  # an existing folder may have a dot in its name
        raise UserError(f"output {out} must end in .mp4, .mkv or .mov (a video), or be a folder (PNG frames)")


def open_sink(out: Path, options: RenderOptions, sample_rate: int, channels: int) -> FrameSink:
    """A video file with the audio muxed in, or numbered PNGs when `out` is a folder."""
    check_output(out)
    if is_video(out):
        return VideoSink(out, VideoFormat(options.size, options.fps), AudioFormat(sample_rate, min(channels, 2)))
    return PngSink(out)


def render(show: Show, audio: Audio, out: str | Path, options: RenderOptions,
           settings: Settings | None = None) -> RunStats:
    settings = settings or show.preset.settings
    samples = excerpt(audio, options.start, options.duration)
    sr = audio.sample_rate
    keyframe_rate, fps = exact_rate(settings.keyframe_rate), exact_rate(options.fps)
    # Rounded up: the last frame covers the excerpt's tail, so all of its audio is muxed.
    n_frames = math.ceil(len(samples) * fps / sr)

    def sample_at(frame: int) -> int:
        return min(len(samples), round(frame * sr / fps))

    stereo = mix_channels(samples, min(samples.shape[1], 2))
    mono = samples.mean(axis=1, dtype=np.float32)

    # The analyzer hears the audio before --start first (its stream time is negative there),
    # so the excerpt's first frames have a mel window and a tempo, as a full render's do.
    start = round(options.start * sr)
    preroll = audio.samples[max(0, start - round(PREROLL_SECONDS * sr)):start]
    analyzer = AudioAnalyzer(sr, show.bundle.mel, start_index=-len(preroll))
    if len(preroll):
        analyzer.feed(preroll)  # its beats lie before the video
    director = ScreenDirector()
    stats = RunStats()
    stats.start(0.0)
    sink = open_sink(Path(out), options, sr, stereo.shape[1])
    ctx = renderer = None
    newest = None
    keyframes = 0  # made so far; the next is due at t = keyframes / rate (a running sum of 1 / rate drifts)
    fed = 0
    finished = False
    try:
        ctx = create_headless_context()
        renderer = Renderer(ctx, options.size, ShaderLibrary(ctx))
        for i in tqdm(range(n_frames), unit="frame", disable=not options.progress, desc="render"):
            t = i / options.fps
            end = min(len(mono), sample_at(i) + 1)
            features = analyzer.feed(mono[fed:end]) if end > fed else analyzer.features
            fed = end
            for beat in features.beats:
                if beat >= 0:  # the hop across t = 0 can report one a few ms before the video
                    stats.beat(beat)
            if i * keyframe_rate >= keyframes * fps:  # t >= keyframes / rate
                newest = show.maker.make(analyzer.mel(), settings, capture_time=t, clock=lambda: t)
                stats.keyframe(newest.capture_time, newest.ready_time, newest.compute_seconds)
                keyframes += 1
            hud = HudInfo(fps=options.fps, keyframes_per_s=settings.keyframe_rate, latency_ms=0.0,
                          preset=show.preset.name)
            decision = director.frame(t, features, newest, settings, hud)
            if decision.upload is not None:
                renderer.upload_keyframe(decision.upload.image)
            renderer.draw(decision.state)
            sink.write(renderer.read())
            if isinstance(sink, VideoSink):
                sink.write_audio(np.ascontiguousarray(stereo[sample_at(i):sample_at(i + 1)]))
            stats.frame(decision.shows_new.capture_time if decision.shows_new else None, t)
        finished = True
    finally:
        try:
            sink.close() if finished else sink.discard()
        finally:
            if renderer is not None:
                renderer.release()
            if ctx is not None:
                ctx.release()
    stats.stop(n_frames / options.fps)
    return stats
