"""Beat-tracking accuracy: the F-measure of detected against true beat times (MIREX style)."""
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
