"""What a run measures about itself, written as JSON at exit (`--stats PATH`).

All times are seconds on one clock: the engine's (wall clock live, simulated offline).
Samples live in bounded windows, so a show of any length keeps flat memory.
"""
from __future__ import annotations

import statistics
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from live.errors import UserError
from live.files import write_json

if TYPE_CHECKING:
    from live.engine.keyframes import Keyframe

WINDOW = 20_000  # samples kept per latency series: over 10 minutes of frames at 30 fps
KEYFRAME_RATE_S = 3.0    # the keyframe rate shown is measured over this span
KEYFRAMES_STALE_S = 2.0  # no keyframe for this long (or 2 intervals): no keyframe rate or latency to show


def events_per_second(times: list[float]) -> float:
    """Events a second over `times` (increasing)."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def frame_rate(times: list[float], now: float) -> float:
    """Frames a second over the drawn frames' `times`, counted up to `now` once the newest is
    over a second old: telemetry said 30 fps through seconds of frames that all failed."""
    if len(times) > 1 and now - times[-1] > 1.0:
        return (len(times) - 1) / (now - times[0])
    return events_per_second(times)


class KeyframeFlow:
    """The keyframes' recent pace, for the HUD and telemetry: added by one thread (a show's
    inference), read by another (its render loop)."""

    def __init__(self) -> None:
        self._times: deque[float] = deque(maxlen=30)

    def add(self, ready_time: float) -> None:
        self._times.append(ready_time)

    def flowing(self, now: float) -> bool:
        """The newest keyframe is recent for the pace they come at: within KEYFRAMES_STALE_S,
        or two intervals when they come slower (a low keyframe_rate, a large generator), whose
        rate and latencies describe now too."""
        times = list(self._times)[-6:]
        if not times:
            return False
        # The median interval: one keyframe after a long gap (an outage) is not the pace.
        pace = statistics.median(b - a for a, b in zip(times, times[1:])) if len(times) > 1 else 0.0
        return now - times[-1] < max(KEYFRAMES_STALE_S, 2 * pace)

    def rate(self, now: float) -> float:
        """Over the last KEYFRAME_RATE_S (at least two keyframes): a change of rate shows
        within seconds, where the 30 kept took 30 s at 1 a second."""
        if not self.flowing(now):
            return 0.0
        times = list(self._times)
        recent = [t for t in times if now - t <= KEYFRAME_RATE_S]
        return events_per_second(recent if len(recent) >= 2 else times[-2:])


def _percentiles(values: deque[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    arr = np.fromiter(values, dtype=np.float64) * 1000
    return {"p50": round(float(np.percentile(arr, 50)), 2), "p95": round(float(np.percentile(arr, 95)), 2),
            "n": len(arr)}


class RunStats:
    """Counters and latency windows, fed from several threads (hence the lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started: float | None = None
        self.ended: float | None = None
        self.keyframes = 0
        self.keyframes_shown = 0  # that reached the screen: a fade shows one, those made during it none
        self.frames = 0
        self._frame_span: tuple[float, float] | None = None  # first and last frame's time
        self.dropped_keyframes = 0
        self.audio_overflows = 0
        self.errors: deque[str] = deque(maxlen=50)
        self.audio_to_keyframe: deque[float] = deque(maxlen=WINDOW)
        self.audio_to_screen: deque[float] = deque(maxlen=WINDOW)
        self.keyframe_seconds: deque[float] = deque(maxlen=WINDOW)
        self.frame_intervals: deque[float] = deque(maxlen=WINDOW)
        self._longest_interval = 0.0  # over the whole run: one stall is what a show remembers
        self.beats: deque[float] = deque(maxlen=WINDOW)
        self.emotion: deque[tuple[float, float, float]] = deque(maxlen=WINDOW)  # each shown: (audio's time, v, a)

    def start(self, now: float) -> None:
        with self._lock:
            self.started = now

    def stop(self, now: float) -> None:
        with self._lock:
            self.ended = now

    def keyframe(self, capture_time: float, ready_time: float, compute_seconds: float) -> None:
        with self._lock:
            self.keyframes += 1
            self.audio_to_keyframe.append(ready_time - capture_time)
            self.keyframe_seconds.append(compute_seconds)

    def frame(self, shown: Keyframe | None, shown_time: float) -> None:
        """A frame was presented; `shown` is set on the first frame that shows a new keyframe,
        else None."""
        with self._lock:
            self.frames += 1
            if self._frame_span:
                interval = shown_time - self._frame_span[1]
                self.frame_intervals.append(interval)
                self._longest_interval = max(self._longest_interval, interval)
            first = self._frame_span[0] if self._frame_span else shown_time
            self._frame_span = (first, shown_time)
            if shown is not None:
                self.keyframes_shown += 1
                self.audio_to_screen.append(shown_time - shown.capture_time)
                self.emotion.append((shown.audio_time, shown.valence, shown.arousal))

    def beat(self, stream_time: float) -> None:
        with self._lock:
            self.beats.append(stream_time)

    def error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def set_counts(self, dropped_keyframes: int, audio_overflows: int) -> None:
        with self._lock:
            self.dropped_keyframes, self.audio_overflows = dropped_keyframes, audio_overflows

    def as_dict(self, now: float) -> dict:
        with self._lock:
            end = self.ended if self.ended is not None else now
            duration = max(end - (self.started if self.started is not None else end), 1e-9)
            return {
                "duration_s": round(duration, 3),
                "keyframes": self.keyframes,
                "keyframes_shown": self.keyframes_shown,
                "frames": self.frames,
                "keyframes_per_s": round(self.keyframes / duration, 2),
                "render_fps": round(self._render_rate(duration), 2),
                "frame_interval_ms": {**_percentiles(self.frame_intervals),
                                      "max": round(self._longest_interval * 1000, 2) if self.frame_intervals
                                      else None},
                "keyframe_compute_ms": _percentiles(self.keyframe_seconds),
                "latency_ms": {"audio_to_keyframe": _percentiles(self.audio_to_keyframe),
                               "audio_to_screen": _percentiles(self.audio_to_screen)},
                "dropped_keyframes": self.dropped_keyframes,
                "audio_overflows": self.audio_overflows,
                "beats": [round(b, 3) for b in self.beats],
                "emotion": [[round(t, 3), round(v, 3), round(a, 3)] for t, v, a in self.emotion],
                "errors": list(self.errors),
            }

    def _render_rate(self, duration: float) -> float:
        """Frame intervals over their span: counting frames over the run's length would
        read a steady 30 fps as 29.99 when the run ends just after a frame was due."""
        if self.frames >= 2 and self._frame_span[1] > self._frame_span[0]:
            return (self.frames - 1) / (self._frame_span[1] - self._frame_span[0])
        return self.frames / duration

    def write(self, path: str | Path, now: float) -> None:
        try:
            write_json(path, self.as_dict(now))
        except UserError as e:
            raise UserError(f"{e}; the run itself finished") from None
