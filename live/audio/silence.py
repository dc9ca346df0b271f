"""Audio less its silences, as the show's mel window takes it: quiet that lasts past a short
gap (a break, a hidden track's wait, padding) is left out, rests between notes are kept."""
from __future__ import annotations

import numpy as np

from live.audio.analyzer import SILENT_GAP_S
from live.audio.beats import BeatConfig

GATE_HOP_S = 0.02  # the level is judged this often


def silence_note(name: object, peak: float | None, silence_db: float = BeatConfig.silence_db) -> str | None:
    """What to say of a file whose loudest sample is `peak`, if a show hears none of it as sound."""
    if peak is None or peak >= 10 ** (silence_db / 20):
        return None
    why = (f"its loudest sample is at {20 * np.log10(peak):.0f} dBFS, below the {silence_db:g} dBFS a show takes "
           "for sound" if peak > 0 else "every sample is zero")
    return f"{name} is silent ({why}): the picture moves toward what the space reads in silence, not toward music"


class SilenceGate:
    """`audible(samples)` returns the samples to keep, a block at a time, and `finish()` those
    of the last part of a hop; `heard` says whether any hop so far was above `silence_db`."""

    def __init__(self, sample_rate: int, silence_db: float = BeatConfig.silence_db, gap_s: float = SILENT_GAP_S):
        self.hop = max(1, round(GATE_HOP_S * sample_rate))
        self._quiet = 10 ** (silence_db / 10)  # a hop's mean square below this is silence
        self._gap_hops = gap_s * sample_rate / self.hop
        self._since = float("inf")  # hops since the last audible one
        self._carry = np.zeros(0, np.float32)
        self.heard = False

    def audible(self, samples: np.ndarray) -> np.ndarray:
        assert samples.ndim == 1, samples.shape
        joined = np.concatenate([self._carry, samples.astype(np.float32, copy=False)])
        whole = len(joined) // self.hop * self.hop
        self._carry = joined[whole:]
        return self._judged(joined[:whole].reshape(-1, self.hop))

    def finish(self) -> np.ndarray:
        """The last part of a hop left at the end, judged as a hop of its own (a loud file
        shorter than a hop was called silent)."""
        last, self._carry = self._carry, np.zeros(0, np.float32)
        return self._judged(last[None]) if len(last) else last

    def _judged(self, hops: np.ndarray) -> np.ndarray:
        loud = np.mean(np.square(hops, dtype=np.float64), axis=1) >= self._quiet
        keep = np.empty(len(hops), bool)
        for i, sounding in enumerate(loud):  # 50 hops a second of audio
            self._since = 0 if sounding else self._since + 1
            keep[i] = self._since < self._gap_hops
        self.heard = self.heard or bool(loud.any())
        return hops[keep].reshape(-1)
