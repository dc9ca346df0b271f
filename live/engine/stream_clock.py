"""Where in the audio stream the show is, read from the input's ring.

Engine time (the clock the render loop reads) maps to stream time (seconds of audio since
the input started) through the newest sample's capture stamp. Stream time is what beats,
fades and keyframes are placed on, so it must neither run ahead of an input that stalls
nor step back when a callback stamps its block late.
"""
from __future__ import annotations

import math

from live.audio.sources import Source

PROJECTION_S = 0.25      # stream time runs on past the newest sample by at most this (blocks are ~10-50 ms)
INPUT_STALL_S = 0.5      # no sample for this long: the input is gone (a device lost), and nothing is heard


class StreamClock:
    def __init__(self, source: Source):
        self.source = source
        self._last_picture_t = -math.inf  # the stream time the last frame was drawn at

    def newest_sample(self, now: float) -> tuple[int, float] | None:
        """(samples written, seconds from the newest one's capture to engine time `now`),
        read together; None before any."""
        written = self.source.ring.written
        try:
            return written, now - self.source.capture_time(written)
        except RuntimeError:  # no audio yet
            return None

    def stream_time(self, now: float) -> float | None:
        """Seconds of the audio stream being heard at engine time `now`. It runs on past the
        newest sample by at most PROJECTION_S: when the input stalls, the picture's timing
        waits with it, rather than running ahead and falling back when the audio returns."""
        newest = self.newest_sample(now)
        if newest is None:
            return None
        written, since = newest
        return written / self.source.sample_rate + min(since, PROJECTION_S)

    def stalled(self, now: float, started: float | None) -> bool:
        """No sample for INPUT_STALL_S, or none yet that long after the show `started` (an
        input lost before its first block)."""
        newest = self.newest_sample(now)
        if newest is not None:
            return newest[1] > INPUT_STALL_S
        return started is not None and now - started > INPUT_STALL_S

    def picture_time(self, now: float) -> float | None:
        """`stream_time` that never steps back: a callback that runs late stamps its block
        late, and burst deliveries (two or three blocks back to back) move the newest stamp
        around, which would make pulses and fades stutter."""
        stream_t = self.stream_time(now)
        if stream_t is None:
            return None
        self._last_picture_t = max(stream_t, self._last_picture_t)
        return self._last_picture_t
