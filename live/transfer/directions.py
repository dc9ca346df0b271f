"""The k latent directions the refinement moves along: where L_transfer can change at the anchor.

At a latent w the gradient of L_S = 1 - cos(phi(w), f) is

    grad_w L_S = -J_full^T (f/|f| - cos * phi/|phi|) / |phi|,    J_full = dphi/dw,

so for every music embedding f in the span of a music basis F (the mean and the leading
principal directions of f_M over music) it lies in span(J_full^T [F, phi(w)]); the
gradient of L_O lies along w - w_o. The refinement's directions U are an orthonormal
basis of J_full^T [F, phi(w_a)] and w_a - w_o at the anchor w_a: there the local model's
gradient is the full gradient for any such music, and a step along U is the step the
full-space optimization would start with. One backward pass over len(F) + 1 copies of
the anchor gives them; the local model then takes k forward-mode passes (linearize.py).

The alternative, principal directions of W per layer group (GANSpace), was measured on the
development bundle (live.bundle.random_bundle): 48 of them (16 per group of 10 x 64 W+)
held 20-28% of the norm of grad_w L_S at the source, what as many random directions hold,
so the projected gradient stayed below lambda and the norm's kink held every step at the
source, while the full-space optimization moved. Directions chosen by what E_I responds to
do not have that problem; they are also what the reference optimization follows.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from live.bundle import Bundle
from live.transfer.embed import SAMPLES_PER_PASS, latent_features

RANK_TOLERANCE = 1e-6  # a direction adding less than this (relative) is dependent on the others


def music_basis(f_music: torch.Tensor, components: int) -> torch.Tensor:
    """The mean of f_M [M, D] and its first `components` principal directions: [1 + components, D]."""
    assert f_music.ndim == 2 and 1 <= components < f_music.shape[0], (f_music.shape, components)
    mean = f_music.mean(dim=0)
    _, _, vh = torch.linalg.svd((f_music - mean).double(), full_matrices=False)
    return torch.cat([mean[None], vh[:components].to(f_music.dtype)])


def feature_gradients(bundle: Bundle, w: torch.Tensor, features: torch.Tensor,
                      chunk: int = SAMPLES_PER_PASS, check: Callable[[], None] = lambda: None) -> torch.Tensor:
    """J_full^T f for each row f of `features` [m, D] at w [num_ws, w_dim]: [m, num_ws, w_dim].

    Backward passes over the anchor repeated `chunk` times (which bounds the memory),
    sample i weighted by row i. `check` runs before each pass and raises to stop a build
    no longer wanted.
    """
    grads = []
    with torch.inference_mode(False), torch.enable_grad():
        for rows in features.split(chunk):
            check()
            ws = w.clone().expand(rows.shape[0], *w.shape).clone().requires_grad_(True)
            phi = latent_features(bundle, ws)
            grads.append(torch.autograd.grad((phi * rows.clone()).sum(), ws)[0])
    return torch.cat(grads)


def sensitive_directions(bundle: Bundle, w_anchor: torch.Tensor, w_source: torch.Tensor,
                         basis: torch.Tensor, chunk: int = SAMPLES_PER_PASS,
                         check: Callable[[], None] = lambda: None) -> torch.Tensor:
    """U at w_anchor as [k, num_ws, w_dim], orthonormal when flattened, k <= len(basis) + 2."""
    with torch.no_grad():
        phi = latent_features(bundle, w_anchor[None])
    spans = feature_gradients(bundle, w_anchor, torch.cat([basis.to(phi), phi]), chunk, check).flatten(1)
    spans = torch.cat([spans, (w_anchor - w_source).reshape(1, -1)]).double()
    # Unit rows first, so the rank test compares directions, not magnitudes (the offset
    # from the source is far longer than a gradient); a zero row (anchor at the source) goes.
    norms = spans.norm(dim=1, keepdim=True)
    spans = spans[norms[:, 0] > 0] / norms[norms[:, 0] > 0]
    q, r = torch.linalg.qr(spans.T)
    keep = r.diagonal().abs() > RANK_TOLERANCE
    return q.T[keep].to(w_anchor.dtype).reshape(-1, *w_anchor.shape).contiguous()
