"""Image-music pairs by valence-arousal proximity, for the paired losses (L_CFM, paired L_CFR).

Real image and music sets share no items, so a pair is an anchor from one modality and a
partner from the other whose label lies near the anchor's: one of the `k` nearest,
uniformly. Picking among k rather than the single nearest spreads the pairs over many
items; ties (quadrant labels put whole data sets on four points) are broken at random,
so every tied item gets its turn.
"""
from __future__ import annotations

import torch

_TIE_BREAK = 1e-6  # far below any label difference that matters, above float32 rounding of ~1


def nearest_partners(anchor_va: torch.Tensor, pool_va: torch.Tensor, k: int,
                     generator: torch.Generator) -> torch.Tensor:
    """[A, 2] anchors, [P, 2] candidates -> [A] long indices into the candidates."""
    assert anchor_va.ndim == 2 and anchor_va.shape[1] == 2, anchor_va.shape
    assert pool_va.ndim == 2 and pool_va.shape[1] == 2 and len(pool_va) > 0, pool_va.shape
    k = max(1, min(k, len(pool_va)))
    distance = torch.cdist(anchor_va.double(), pool_va.double())
    distance = distance + _TIE_BREAK * torch.rand(distance.shape, generator=generator, dtype=torch.float64)
    nearest = distance.topk(k, dim=1, largest=False).indices
    pick = torch.randint(0, k, (len(anchor_va),), generator=generator)
    return nearest[torch.arange(len(anchor_va)), pick]
