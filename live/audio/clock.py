"""The clock that paces file and demo playback, injected so tests and renders need no waiting."""
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
