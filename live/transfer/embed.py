"""phi(w) = f_I(G(w)): what the transfer sees of a latent, through the frozen networks.

Noise is the generator's constant noise, as on the live path, so phi is a function of w
alone and an optimized latent renders the picture it was optimized for.
"""
from __future__ import annotations

import torch

from live.bundle import Bundle
from live.transfer.objective import TransferLoss, transfer_loss

# Samples per pass when derivatives of phi are taken at one latent (the refinement's model
# builds, backward and forward mode): a pass keeps every activation of G and E_I, and the
# process never trims its heap (live/heap.py). One backward pass over 18 samples raised the
# default bundle's heap by 1.5 GB (1 thread); at 4, six builds left a 0.84 GB heap against
# 1.91 and took 7 % longer.
SAMPLES_PER_PASS = 4


def latent_features(bundle: Bundle, ws: torch.Tensor) -> torch.Tensor:
    """ws [N, num_ws, w_dim] -> f_I [N, feature_dim]; differentiable in ws."""
    return bundle.image_features(bundle.G.synthesis(ws, noise_mode="const"))


def true_transfer_loss(bundle: Bundle, w_m: torch.Tensor, w_o: torch.Tensor, f_m: torch.Tensor,
                       lam: torch.Tensor | float) -> TransferLoss:
    """L_transfer with the full G and E_I: the measure every faster path is judged by."""
    return transfer_loss(latent_features(bundle, w_m), f_m, w_m, w_o, lam)
