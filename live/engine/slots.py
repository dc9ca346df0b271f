"""Latest-value slots: how live stages hand work on without ever waiting for each other.

A slot holds one value; `put` replaces it (the replaced value counts as dropped if no
reader saw it), `take` waits with a timeout for a value newer than the last one seen,
`peek` returns the newest at once (for readers that poll once a frame). A slow consumer
so drops stale work instead of building a backlog.
"""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: T | None = None
        self._version = 0        # bumped by every put
        self._seen_version = 0   # version of the last value handed out by take() or peek()
        self.dropped = 0         # values replaced before any reader saw them

    def put(self, value: T) -> None:
        with self._cond:
            if self._version != self._seen_version:
                self.dropped += 1
            self._value = value
            self._version += 1
            self._cond.notify_all()

    def take(self, timeout: float) -> T | None:
        """The newest value not yet seen, waiting up to `timeout` s; None if none came."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._version != self._seen_version, timeout):
                return None
            self._seen_version = self._version
            return self._value

    def peek(self) -> T | None:
        """The newest value, seen before or not, without waiting (for readers that poll per frame)."""
        with self._cond:
            self._seen_version = self._version
            return self._value
