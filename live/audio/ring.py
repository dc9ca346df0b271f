"""A preallocated ring of audio frames: one producer (the audio callback), one consumer.

Thread safety without locks. The producer must never block, so there is no lock at all;
instead two counters order the accesses:

- `_claimed`: frames the producer has started writing (set before copying a block),
- `_written`: frames the producer has finished writing (set after copying it).

Each counter only grows, is written by the producer alone and is a single attribute store,
which CPython makes atomic. The consumer snapshots `_written` first: every frame below it
is complete. It copies what it wants, then reads `_claimed`: a frame f is still intact if
the producer has not started on frame f + capacity, i.e. f >= _claimed - capacity. Frames
older than that may have been overwritten during the copy; they are dropped and counted as
an overflow, exactly like frames the consumer was too slow to read at all. So a torn frame
is never returned, and the producer never waits.
"""
from __future__ import annotations

import numpy as np


class RingBuffer:
    """`capacity` frames of `channels` float32 samples; `written` is the audio clock."""

    def __init__(self, capacity: int, channels: int = 1) -> None:
        assert capacity > 0 and channels > 0, (capacity, channels)
        self.capacity = capacity
        self.channels = channels
        self._data = np.zeros((capacity, channels), np.float32)
        self._claimed = 0
        self._written = 0
        self._overflows = 0     # consumer-side: times frames were lost
        self._frames_lost = 0

    # -- producer (the audio callback): copies and counts; no array is allocated -------

    def write(self, block: np.ndarray) -> None:
        """Append `block` [frames, channels]; if it is longer than the ring, keep its end."""
        skip = max(0, len(block) - self.capacity)
        block = block[skip:]
        n = len(block)
        start = self._written + skip
        self._claimed = start + n
        offset = start % self.capacity
        first = min(n, self.capacity - offset)
        np.copyto(self._data[offset:offset + first], block[:first])
        np.copyto(self._data[:n - first], block[first:])
        self._written = start + n

    # -- consumer --------------------------------------------------------------------------

    @property
    def written(self) -> int:
        """Total frames written since creation: a monotonic sample counter."""
        return self._written

    @property
    def overflows(self) -> int:
        """How many reads found frames already overwritten (the consumer fell behind)."""
        return self._overflows

    @property
    def frames_lost(self) -> int:
        return self._frames_lost

    def read_since(self, position: int) -> tuple[np.ndarray, int]:
        """Frames from `position` on, and the position after them.

        If the consumer fell more than `capacity` behind, the lost frames are skipped and
        counted; the returned block then starts later than `position`.
        """
        end = self._written
        assert 0 <= position <= end, (position, end)
        start = max(position, end - self.capacity)
        block, start = self._copy(start, end)
        lost = start - position
        if lost > 0:
            self._overflows += 1
            self._frames_lost += lost
        return block, end

    def latest(self, frames: int) -> np.ndarray:
        """The last `frames` frames [frames, channels]; zeros stand in for time before the start."""
        assert 0 < frames <= self.capacity, (frames, self.capacity)
        for _attempt in range(3):
            end = self._written
            wanted = max(0, end - frames)
            block, start = self._copy(wanted, end)
            if start == wanted:
                break
        # After three laps by the producer during a copy, the overwritten head stays zero.
        out = np.zeros((frames, self.channels), np.float32)
        out[frames - len(block):] = block
        return out

    def _copy(self, start: int, end: int) -> tuple[np.ndarray, int]:
        """Copy frames [start, end); return the intact tail and where it starts."""
        n = end - start
        offset = start % self.capacity
        first = min(n, self.capacity - offset)
        block = np.concatenate([self._data[offset:offset + first], self._data[:n - first]])
        safe_start = min(end, max(start, self._claimed - self.capacity))
        return block[safe_start - start:], safe_start
