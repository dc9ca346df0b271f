"""The one kind of record every reader yields: an item, its VA label in [0, 1]^2, a weight,
where it came from, and the key that decides its train/test side (see split.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

import numpy as np
import torch

from live.errors import note
from live.space.data.images import ImageFile


class ClipAudio(Protocol):
    """Anything that yields a mono clip: a span of a file, or a synthesized clip."""

    def load(self, sample_rate: int) -> np.ndarray: ...


def _check_label(valence: float, arousal: float, weight: float) -> None:
    assert 0.0 <= valence <= 1.0 and 0.0 <= arousal <= 1.0, (valence, arousal)
    assert weight > 0.0, weight


@dataclass(frozen=True)
class LabelledImage:
    image: ImageFile
    valence: float  # [0, 1]
    arousal: float  # [0, 1]
    weight: float  # per-sample loss weight; see labels.py
    source: str  # data set name, e.g. "oasis"
    split_key: str  # items sharing a key always land on the same side of the split

    def __post_init__(self) -> None:
        _check_label(self.valence, self.arousal, self.weight)

    def load(self) -> torch.Tensor:
        """[3, H, W] float32 in [0, 1]."""
        return self.image.load()


@dataclass(frozen=True)
class LabelledClip:
    audio: ClipAudio
    valence: float  # [0, 1]
    arousal: float  # [0, 1]
    weight: float  # per-sample loss weight; see labels.py
    source: str  # data set name, e.g. "4q"
    split_key: str  # items sharing a key always land on the same side of the split
    quadrant: int | None = None  # 1..4 when the data set labels quadrants (for accuracy)

    def __post_init__(self) -> None:
        _check_label(self.valence, self.arousal, self.weight)
        assert self.quadrant is None or 1 <= self.quadrant <= 4, self.quadrant

    def load(self, sample_rate: int) -> np.ndarray:
        """[n] float32 mono at `sample_rate`."""
        return self.audio.load(sample_rate)


def describe(records: Iterable[LabelledImage | LabelledClip]) -> dict[str, object]:
    """Count, label statistics and quadrant counts: for model cards and sanity checks."""
    items = list(records)
    if not items:
        return {"count": 0}
    va = np.array([(r.valence, r.arousal) for r in items])
    summary: dict[str, object] = {"count": len(items)}
    for k, name in enumerate(("valence", "arousal")):
        column = va[:, k]
        summary[name] = {"mean": float(column.mean()), "std": float(column.std()),
                         "min": float(column.min()), "max": float(column.max())}
    summary["weights"] = sorted({r.weight for r in items})
    quadrants = [r.quadrant for r in items if isinstance(r, LabelledClip) and r.quadrant is not None]
    if quadrants:
        summary["quadrants"] = {f"Q{q}": quadrants.count(q) for q in range(1, 5)}
    return summary


def report_skipped(skipped: list[str], what: str) -> None:
    """One note for the records a reader skipped (each one's reason, from the first)."""
    if skipped:
        note("data", f"skipped {len(skipped)} unreadable {what}, e.g. {skipped[0]}")
