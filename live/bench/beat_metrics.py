"""Beat-tracking accuracy: the F-measure of detected against true beat times (MIREX style),
and where the downbeats found fall in the true bars."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BeatScore:
    f_measure: float
    precision: float
    recall: float
    matched: int
    detected: int
    reference: int


def score_beats(detected: np.ndarray, reference: np.ndarray, tolerance: float = 0.07,
                skip: float = 0.0) -> BeatScore:
    """Match each true beat to at most one detection within `tolerance` seconds.

    Beats before `skip` seconds are left out (a tracker's warm-up). Detections count from
    the earlier of `skip` and the first counted beat's window, up to the last true beat's
    window: after the music ends a beat clock rings on for a beat or two, which says
    nothing about tracking.
    """
    detected = np.sort(np.asarray(detected, float))
    reference = np.sort(np.asarray(reference, float))
    reference = reference[reference >= skip]
    if len(reference):
        detected = detected[(detected >= min(skip, reference[0] - tolerance))
                            & (detected <= reference[-1] + tolerance)]
    matched, j = 0, 0
    for r in reference:
        while j < len(detected) and detected[j] < r - tolerance:
            j += 1
        if j < len(detected) and detected[j] <= r + tolerance:
            matched += 1
            j += 1
    precision = matched / len(detected) if len(detected) else 0.0
    recall = matched / len(reference) if len(reference) else 0.0
    f = 2 * precision * recall / (precision + recall) if matched else 0.0
    return BeatScore(f, precision, recall, matched, len(detected), len(reference))


def downbeat_shares(downbeats: np.ndarray, reference: np.ndarray, beats_per_bar: int = 4,
                    tolerance: float = 0.07) -> tuple[float, float] | None:
    """Of the `downbeats` found on a true beat (`reference`, its first a downbeat), the share on a
    true downbeat, and on its first or middle beat (a kick-and-snare loop does not tell them
    apart); None if none is on a true beat (a tempo read at another level)."""
    downbeats, reference = np.asarray(downbeats, float), np.asarray(reference, float)
    if not len(downbeats) or not len(reference):
        return None

    def near(ref: np.ndarray) -> np.ndarray:
        return np.abs(downbeats[:, None] - ref[None, :]).min(axis=1) <= tolerance

    on_beat = near(reference)
    if not on_beat.any():
        return None
    half = beats_per_bar // 2
    return float(np.mean(near(reference[::beats_per_bar])[on_beat])), float(np.mean(near(reference[::half])[on_beat]))
