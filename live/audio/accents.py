"""Accents: where in the beat the music's onsets fall, to hold the beat grid on them.

aubio's tracker loses the beat's phase on steady music: on a 120 bpm drum loop its tempo
read 121.8, its beats drifted 7 ms a beat from 51 s on and then sat half a beat off for
20 s; on four-on-the-floor music it moves to the off-beat (bass, open hi-hat) after a
breakdown and stays there. The onsets themselves do not drift: most of their energy falls
on the beat. So each tracker beat is moved to where a histogram of recent onset energy over
the beat's phase peaks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AccentConfig:
    bins: int = 16                # phase bins of the histogram over one beat
    memory_beats: float = 12.0    # onsets older than this many beats are left out
    decay_beats: float = 4.0      # an onset's weight falls by e every this many beats back
    # The histogram's peak (with its neighbours) over its mean: below this the onsets spread
    # over the beat (a pad, a rubato piano) and say nothing of its phase; the tracker's
    # beat stands. Steady drums read 3-5, band arrangements 2-4.
    min_peak: float = 1.5
    min_hops: int = 32            # hops of descriptor in the memory before the histogram counts


def accent_offset(times: np.ndarray, weights: np.ndarray, beat: float, period: float,
                  config: AccentConfig = AccentConfig()) -> float:
    """Seconds to move `beat` by so that it falls where the accents' phase histogram peaks,
    in [-period/2, period/2); 0 when the accents do not agree on a phase.

    `times` and `weights`: the onset descriptor's rise above its recent mean, hop by hop,
    at the times it sounded (earlier entries may be older than the memory; they are left
    out). The histogram is taken over the phase relative to `beat`, recent hops counting
    most; the peak is refined by the weighted circular mean of the hops within a bin and a
    half of the peak bin's centre.
    """
    assert times.shape == weights.shape and times.ndim == 1, (times.shape, weights.shape)
    keep = (times >= beat - config.memory_beats * period) & (weights > 0)
    if np.count_nonzero(keep) < config.min_hops:
        return 0.0
    t = times[keep]
    w = weights[keep] * np.exp(np.minimum(0.0, t - beat) / (config.decay_beats * period))
    phase = ((t - beat) / period) % 1.0
    n = config.bins
    histogram = np.bincount((phase * n).astype(np.int64) % n, w, n)
    smooth = histogram + 0.5 * (np.roll(histogram, 1) + np.roll(histogram, -1))
    peak = int(np.argmax(smooth))
    if smooth[peak] < config.min_peak * smooth.mean():
        return 0.0
    near = np.abs((phase - (peak + 0.5) / n + 0.5) % 1.0 - 0.5) <= 1.5 / n
    mean = np.angle(np.sum(w[near] * np.exp(2j * np.pi * phase[near]))) / (2 * np.pi)
    return float((mean + 0.5) % 1.0 - 0.5) * period


class AccentMemory:
    """The last `size` hops' accent times and weights, in preallocated arrays."""

    def __init__(self, size: int) -> None:
        self.times = np.full(size, -np.inf)
        self.weights = np.zeros(size)
        self._next = 0

    def add(self, t: float, weight: float) -> None:
        self.times[self._next] = t
        self.weights[self._next] = weight
        self._next = (self._next + 1) % len(self.times)

    def clear(self) -> None:
        self.times.fill(-np.inf)
        self.weights.fill(0.0)
