"""Clocks: the one that paces file and demo playback, injected so tests and renders need no
waiting, and the capture times of a device's blocks."""
from __future__ import annotations

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
    """Time that moves only when told: simulated runs and tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self._t += seconds


class CaptureTimes:
    """When each block from an input device was captured, from the times its callbacks ran.

    A callback runs after its block's last sample was captured: later by the host's
    buffering, a steady amount, and later still, by tens of milliseconds, when the process
    is busy or the host delivers blocks in bursts. So `callback time - samples so far / rate`
    is an upper bound of one steady offset, and the smallest bound seen estimates it without
    the jitter. The estimate may rise by `drift` seconds per second, since the device's
    sample clock can run slower than ours. PortAudio's ADC times would count the buffering
    too, but through ALSA's PulseAudio plugin they jumped by 350 ms within seconds.
    """

    def __init__(self, sample_rate: int, drift: float = 1e-3) -> None:
        assert sample_rate > 0 and drift >= 0, (sample_rate, drift)
        self.sample_rate, self.drift = sample_rate, drift
        self._offset: float | None = None
        self._last = 0.0

    def reset(self) -> None:
        """After lost samples (an overflow) or a reopened stream, the count no longer keeps time."""
        self._offset = None

    def block_end(self, samples: int, now: float) -> float:
        """The capture time of sample `samples` (the end of the block whose callback runs at `now`)."""
        bound = now - samples / self.sample_rate
        if self._offset is None:
            self._offset = bound
        else:
            self._offset = min(bound, self._offset + self.drift * (now - self._last))
        self._last = now
        return self._offset + samples / self.sample_rate
