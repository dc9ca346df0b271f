"""Channel counts: one mixdown rule for everything that hears audio as mono (the show's
analysis, `va`, `transfer`, training clips) and for outputs with fewer channels."""
from __future__ import annotations

import numpy as np


def mixdown(samples: np.ndarray) -> np.ndarray:
    """[n] or [n, channels] -> [n]: the channels' mean, or the first channel where the mean
    cancels them (20 dB below the channels: one is polarity-inverted, as a miswired balanced
    cable makes it), which the analysis heard as silence: no beats, a silent mel window."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    mono = samples.mean(axis=1, dtype=np.float32)
    if samples.shape[1] > 1 and np.mean(np.square(mono)) < 0.01 * np.mean(np.square(samples)):
        return np.ascontiguousarray(samples[:, 0], dtype=np.float32)
    return mono


def mix_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """[frames, C] -> [frames, channels]: equal channel counts pass, mono is spread, anything
    else is mixed down to mono first (`mixdown`; no surround matrix)."""
    have = samples.shape[1]
    if have == channels:
        return samples
    mono = mixdown(samples)[:, None]
    return np.ascontiguousarray(np.repeat(mono, channels, axis=1), dtype=np.float32)
