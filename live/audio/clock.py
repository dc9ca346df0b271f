"""Clocks: the one that paces file and demo playback, injected so tests need no waiting,
and the capture times of a device's blocks."""
from __future__ import annotations

import math
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic time line; only differences matter."""
        ...


class MonotonicClock:
    """Wall time for live use."""

    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """Time that moves only when told (tests drive the engine's schedule with it)."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self._t += seconds


class CaptureTimes:
    """When each block from an input device was captured, from the times its callbacks ran,
    up to the host's steady buffering delay, which no callback time shows.

    A callback runs after its block's last sample was captured: later by the host's
    buffering, a steady amount, and later still, by tens of milliseconds, when the process
    is busy or the host delivers blocks in bursts. So `callback time - samples so far / rate`
    is an upper bound of one steady offset, and the smallest bound of about the last `window`
    seconds estimates it without the jitter. The window lets the estimate follow a device
    clock that runs slower than ours, or samples lost without an overflow flag, within
    seconds. PortAudio's ADC times would count the buffering too, but through ALSA's
    PulseAudio plugin they jumped by 350 ms within seconds.
    """

    def __init__(self, sample_rate: int, window: float = 4.0) -> None:
        assert sample_rate > 0, sample_rate
        self.sample_rate = sample_rate
        self._bounds = RecentMinimum(window)

    def reset(self) -> None:
        """After lost samples (an overflow) or a reopened stream, the count no longer keeps time."""
        self._bounds.reset()

    def block_end(self, samples: int, now: float) -> float:
        """The capture time of sample `samples` (the end of the block whose callback runs at `now`)."""
        return self._bounds.add(now - samples / self.sample_rate, now) + samples / self.sample_rate


class RecentMinimum:
    """The smallest of the values added over about the last `window` seconds: that of the
    current half-window span and of the one before it, in a few floats (it runs in audio
    callbacks, which must not allocate or loop)."""

    def __init__(self, window: float) -> None:
        assert window > 0, window
        self._span_seconds = window / 2
        self._span: int | None = None
        self._current = self._previous = math.inf

    def reset(self) -> None:
        self._span = None

    def add(self, value: float, now: float) -> float:
        """`value`, added at time `now`; returns the minimum."""
        span = int(now // self._span_seconds)
        if span == self._span:
            self._current = min(self._current, value)
        else:  # a new span: the last one's minimum counts one span more, if it was the one just before
            self._previous = self._current if self._span is not None and span == self._span + 1 else math.inf
            self._current, self._span = value, span
        return min(self._current, self._previous)
