"""The procedural image corpus (live.corpus.procedural) with colour-emotion labels.

Each painting is labelled by color_emotion.valdez_mehrabian_va, so the labels move with
the grade the corpus draws (brightness and saturation cover their whole range). Labels
need the pixels, so this is a source of labelled batches rather than a list of records;
a held-out procedural set is another seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from live.corpus.procedural import ProceduralConfig, ProceduralImages
from live.space.data.color_emotion import valdez_mehrabian_va
from live.space.data.labels import RULE_WEIGHT


@dataclass(frozen=True)
class LabelledBatch:
    images: torch.Tensor  # [N, 3, R, R] float32 in [0, 1]
    va: torch.Tensor  # [N, 2] (valence, arousal) in [0, 1]
    weight: float  # per-sample loss weight, the same for the whole batch


class ProceduralVAImages:
    """Paintings index0 .. index0 + n - 1 of a procedural corpus, with their VA labels."""

    def __init__(self, config: ProceduralConfig, device: torch.device | str = "cpu") -> None:
        self.corpus = ProceduralImages(config, device)

    def batch(self, n: int, index0: int) -> LabelledBatch:
        images = self.corpus.batch(n, index0).add_(1.0).mul_(0.5)  # [-1, 1] -> [0, 1]
        return LabelledBatch(images, valdez_mehrabian_va(images), RULE_WEIGHT)
