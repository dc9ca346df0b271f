"""Held until heard: what the audio thread finds, handed out when its audio is heard.

A show that plays its track (`--play`) analyses each block as the output device takes it,
a buffer (about 0.3 s) before the block sounds: beat messages and the state's beat phase
sent then reached a lighting desk that far ahead of the music. An input's audio, and a
track paced without sound, is heard before it is analysed, so what it gives passes at once.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

HOLD_S = 2.0  # a stamp further ahead than this is a device's nonsense: nothing waits longer


class HeardLine(Generic[T]):
    """Items in the order put, each handed out once the clock reaches the time it is heard.
    One thread puts and takes."""

    def __init__(self, limit: int = 1024) -> None:
        self._items: deque[tuple[float, T]] = deque(maxlen=limit)

    def put(self, item: T, heard_at: float, now: float) -> None:
        self._items.append((min(heard_at, now + HOLD_S), item))

    @property
    def waiting(self) -> bool:
        return bool(self._items)

    def revise(self, change: Callable[[T], T]) -> None:
        """Each item still waiting replaced by `change` of it."""
        self._items = deque(((at, change(item)) for at, item in self._items), maxlen=self._items.maxlen)

    def due(self, now: float, late_s: float = math.inf) -> list[T]:
        """The items heard by `now`, oldest first: each once; those heard more than `late_s`
        before `now` are dropped instead."""
        out = []
        while self._items and self._items[0][0] <= now:
            at, item = self._items.popleft()
            if now - at <= late_s:
                out.append(item)
        return out
