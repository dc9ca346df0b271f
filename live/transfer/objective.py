"""The transfer objective of the seed (eqs. 6-7), batched, on embeddings and latents only.

    L_S = 1 - cos(f_I(G(w_m)), f_M)        the image should point where the music points
    L_O = ||w_o - w_m||_2                   over the whole W+ tensor of one sample
    L_transfer = L_S + lambda * L_O

L_O is the L2 norm, as the seed writes it, not the sum of squares of the sound-guided
manipulation work it follows: its pull toward w_o does not fade as w_m comes close,
so a small lambda already keeps the source recognizable. Its gradient at w_m = w_o is
torch's subgradient 0, so an optimization may start at the source.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class TransferLoss:
    semantic: torch.Tensor  # L_S [N]
    origin: torch.Tensor    # L_O [N]
    total: torch.Tensor     # L_S + lambda * L_O [N]


def semantic_loss(f_i: torch.Tensor, f_m: torch.Tensor) -> torch.Tensor:
    """f_I and f_M [N, D] -> 1 - cos [N], in [0, 2]."""
    assert f_i.ndim == 2 and f_i.shape == f_m.shape, (f_i.shape, f_m.shape)
    return 1 - F.cosine_similarity(f_i, f_m, dim=1)


def origin_loss(w_m: torch.Tensor, w_o: torch.Tensor) -> torch.Tensor:
    """w_m and w_o [N, num_ws, w_dim] -> ||w_o - w_m||_2 [N]."""
    assert w_m.ndim == 3 and w_m.shape == w_o.shape, (w_m.shape, w_o.shape)
    return (w_m - w_o).flatten(1).norm(dim=1)


def transfer_loss(f_i: torch.Tensor, f_m: torch.Tensor, w_m: torch.Tensor, w_o: torch.Tensor,
                  lam: torch.Tensor | float) -> TransferLoss:
    """The seed's objective per sample; `lam` is a scalar or one lambda per sample [N]."""
    semantic, origin = semantic_loss(f_i, f_m), origin_loss(w_m, w_o)
    return TransferLoss(semantic, origin, semantic + torch.as_tensor(lam).to(origin) * origin)
