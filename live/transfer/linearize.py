"""The local model of phi(w) = f_I(G(w)) at an anchor: phi there, its Jacobian along U, and
how far from the anchor it holds.

J = dphi/dw U takes k forward-mode passes (torch.func.jvp), run as batches of the anchor
repeated with one direction as each sample's tangent: the networks treat samples
independently, so sample i's output tangent is the directional derivative along u_i.
Forward mode suits the shape: k directions in, D features out, k < D.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import jvp

from live.bundle import Bundle
from live.transfer.arrays import from_torch
from live.transfer.embed import latent_features
from live.transfer.subspace import LocalModel

RADIUS_PROBES = 6  # halving radii tried by validity_radius


@dataclass(frozen=True)
class Anchor:
    model: LocalModel
    radius: float  # distance from the anchor (in W+) within which the model is trusted


def jacobian_along(bundle: Bundle, w_anchor: torch.Tensor, directions: torch.Tensor,
                   chunk: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """phi(w_anchor) [D] and dphi/dw along each direction, [D, k].

    w_anchor [num_ws, w_dim], directions [k, num_ws, w_dim]; `chunk` directions per pass
    bounds the memory.
    """
    G = bundle.G
    assert w_anchor.shape == (G.num_ws, G.w_dim) and directions.shape[1:] == w_anchor.shape, \
        (w_anchor.shape, directions.shape)
    columns, phi0 = [], None
    with torch.inference_mode(False), torch.no_grad():
        # Clones made outside inference mode: forward AD cannot take inference tensors.
        anchor, directions = w_anchor.clone(), directions.clone()
        for tangents in directions.split(chunk):
            primals = anchor.expand_as(tangents).contiguous()
            out, out_tangents = jvp(lambda ws: latent_features(bundle, ws), (primals,), (tangents,))
            phi0 = out[0] if phi0 is None else phi0
            columns.append(out_tangents)
    return phi0, torch.cat(columns).T.contiguous()


def validity_radius(bundle: Bundle, w_anchor: torch.Tensor, directions: torch.Tensor, phi0: torch.Tensor,
                    jac: torch.Tensor, music: torch.Tensor, acceptance: float) -> float:
    """How far a step on the model can be trusted, by the trust-region test: the largest of
    RADIUS_PROBES halving radii at which the full networks realize at least `acceptance`
    of the decrease of L_S the model predicts, along the model's steepest descent of L_S
    for `music`; half the smallest radius tried when none passes.

    Radii start at the anchor's distance from the generator's average w, the scale of W
    around it; one batched forward pass measures them all.
    """
    phi0, jac, f = phi0.double(), jac.double(), F.normalize(music.double(), dim=0)

    def semantic(phi: torch.Tensor) -> torch.Tensor:
        return 1 - F.cosine_similarity(phi, f.expand_as(phi), dim=-1)

    cos0, norm0 = 1 - semantic(phi0), phi0.norm()
    descent = F.normalize(jac.T @ (f - cos0 * phi0 / norm0), dim=0)  # -grad_a L_S at the anchor, unit
    scale = float((w_anchor - bundle.G.mapping.w_avg).norm()) or float(w_anchor.norm()) or 1.0
    radii = scale * 0.5 ** torch.arange(RADIUS_PROBES, dtype=torch.float64)
    step = (descent.to(directions) @ directions.flatten(1)).reshape(w_anchor.shape)
    with torch.no_grad():
        actual = semantic(latent_features(bundle, w_anchor + radii.to(step)[:, None, None] * step).double())
    predicted = semantic(phi0 + radii[:, None].to(jac) * (jac @ descent))
    realized = (semantic(phi0) - actual) / (semantic(phi0) - predicted).clamp_min(1e-30)
    passing = radii[(realized >= acceptance).cpu()]
    return float(passing.max()) if len(passing) else float(radii[-1]) / 2


def build_anchor(bundle: Bundle, w_anchor: torch.Tensor, directions: torch.Tensor, music: torch.Tensor,
                 acceptance: float = 0.5, chunk: int = 16) -> Anchor:
    """The local model at w_anchor along `directions` (orthonormal when flattened), with its
    radius tested on `music` [D]."""
    phi0, jac = jacobian_along(bundle, w_anchor, directions, chunk)
    radius = validity_radius(bundle, w_anchor, directions, phi0, jac, music.to(phi0), acceptance)
    basis = directions.reshape(directions.shape[0], -1).T.contiguous()
    model = LocalModel.create(from_torch(w_anchor.reshape(-1).clone()), from_torch(basis),
                              from_torch(phi0), from_torch(jac))
    return Anchor(model, radius)
