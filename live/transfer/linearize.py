"""The local model of phi(w) = f_I(G(w)) at an anchor: phi there, its Jacobian along U,
(for `transfer`'s stills) corrected by phi measured where the model puts the optimum, and how
far from the anchor it holds.

J = dphi/dw U takes k forward-mode passes (torch.func.jvp), run as batches of the anchor
repeated with one direction as each sample's tangent: the networks treat samples
independently, so sample i's output tangent is the directional derivative along u_i.
Forward mode suits the shape: k directions in, D features out, k < D.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import jvp

from live.bundle import Bundle
from live.transfer.arrays import array_module, from_torch, to_torch
from live.transfer.embed import SAMPLES_PER_PASS, latent_features, true_transfer_loss
from live.transfer.subspace import LocalModel, gauss_newton_point, minimize, subspace_problem

RADIUS_PROBES = 6  # halving radii tried by validity_radius
MEASURE_STEPS = 10  # Gauss-Newton steps to the corrected model's optimum before each measurement
# How far from the anchor the measurements may go, in first radii: at 1 the corrected model
# kept 82.7 % of session 21's optimization's gain (50 pairs, 3 measurements), at 2 83.7 % (5).
MEASURE_REACH = 2.0


@dataclass(frozen=True)
class Anchor:
    model: LocalModel
    radius: float  # distance from the anchor (in W+) within which the model is trusted
    music: torch.Tensor  # [D] the f_M the radius was tested for


def jacobian_along(bundle: Bundle, w_anchor: torch.Tensor, directions: torch.Tensor,
                   chunk: int = SAMPLES_PER_PASS,
                   check: Callable[[], None] = lambda: None) -> tuple[torch.Tensor, torch.Tensor]:
    """phi(w_anchor) [D] and dphi/dw along each direction, [D, k].

    w_anchor [num_ws, w_dim], directions [k, num_ws, w_dim]; `chunk` directions per pass
    bounds the memory. `check` runs before each pass and raises to stop a build no longer
    wanted.
    """
    G = bundle.G
    assert w_anchor.shape == (G.num_ws, G.w_dim) and directions.shape[1:] == w_anchor.shape, \
        (w_anchor.shape, directions.shape)
    columns, phi0 = [], None
    with torch.inference_mode(False), torch.no_grad():
        # Clones made outside inference mode: forward AD cannot take inference tensors.
        anchor, directions = w_anchor.clone(), directions.clone()
        for tangents in directions.split(chunk):
            check()
            primals = anchor.expand_as(tangents).contiguous()
            out, out_tangents = jvp(lambda ws: latent_features(bundle, ws), (primals,), (tangents,))
            phi0 = out[0] if phi0 is None else phi0
            columns.append(out_tangents)
    return phi0, torch.cat(columns).T.contiguous()


def validity_radius(bundle: Bundle, model: LocalModel, w_anchor: torch.Tensor, w_source: torch.Tensor,
                    music: torch.Tensor, lam: float, acceptance: float) -> float:
    """How far a step on the model can be trusted, by the trust-region test on the step the
    refinement itself takes: along the Gauss-Newton step from the anchor for this music and
    lambda, the largest of RADIUS_PROBES halving radii at which the full networks realize at
    least `acceptance` of the decrease of L_transfer the model predicts; half the smallest
    radius tried when none passes.

    Radii start at the anchor's distance from the generator's average w (the scale of W
    around it), or at the step's own length when that is shorter; one batched forward
    pass measures them all. Tested along the steepest descent of L_S for the music basis'
    mean instead, the radius came out 1.8 times as long on the default bundle's benchmark
    pairs (4.7 against 2.6 W+ units), and one refinement step then raised the true loss on
    10 of 50: a Gauss-Newton step also moves along directions where J is small and the
    model least sure, and the music of the keyframe sets where it goes.
    """
    xp = array_module(model.basis)
    problem, a0 = subspace_problem(model, model.anchor, from_torch(w_source.reshape(-1)), from_torch(music), lam)
    scale = float((w_anchor - bundle.G.mapping.w_avg).norm()) or float(w_anchor.norm()) or 1.0
    step = gauss_newton_point(problem, a0, scale) - a0
    length = float(xp.linalg.norm(step))
    if length == 0:  # the anchor is the model's optimum for this music: no step to test
        return scale
    radii = min(scale, length) * 0.5 ** np.arange(RADIUS_PROBES)
    points = [a0 + step * (r / length) for r in radii]
    predicted = np.array([float(problem.loss(a)) for a in points])
    moves = to_torch(xp.stack([model.basis @ (a - a0).astype(model.basis.dtype) for a in points]), w_anchor.device)
    ws = w_anchor + moves.reshape(len(radii), *w_anchor.shape).to(w_anchor)
    with torch.no_grad():
        actual = true_transfer_loss(bundle, ws, w_source.expand_as(ws), music.expand(len(radii), -1), lam).total
    before = float(problem.loss(a0))
    realized = (before - actual.double().cpu().numpy()) / np.maximum(before - predicted, 1e-30)
    passing = radii[realized >= acceptance]
    return float(passing.max()) if len(passing) else float(radii[-1]) / 2


def measured_model(bundle: Bundle, model: LocalModel, w_anchor: torch.Tensor, w_source: torch.Tensor,
                   music: torch.Tensor, lam: float, reach: float, measurements: int,
                   check: Callable[[], None] = lambda: None) -> LocalModel:
    """`model` passed through phi measured at its own optimum for this music and lambda, again
    and again: each measurement (one forward pass) corrects J there (LocalModel.through), and
    the next goes to the corrected model's optimum, never farther than `reach` from the anchor.

    The Jacobian is exact at the anchor and off by a quarter to more than the whole of phi's
    change where the steps end (MODEL_CARD.md, session 36): the steps stopped at the tangent
    model's optimum. Richer models fitted to phi around the anchor (curvature along each
    direction, a full quadratic from 300 points) lost, their optimum sitting where their own
    errors promised most; measured where the steps go, the model is right there. On the
    benchmark's 50 pairs, k = 3 kept 83.0 % of the optimization's gain with 5 measurements,
    81.2 % without (session 37; refine.STILL_MEASUREMENTS says where they are used).
    """
    xp = array_module(model.basis)
    source, f = from_torch(w_source.reshape(-1)), from_torch(music)
    points, phis, current = [], [], model
    for _ in range(measurements):
        check()
        problem, a0 = subspace_problem(current, current.anchor, source, f, lam)
        a = minimize(problem, a0, MEASURE_STEPS, reach)
        move = to_torch(current.basis @ a.astype(current.basis.dtype), w_anchor.device).reshape(w_anchor.shape)
        with torch.no_grad():
            phis.append(from_torch(latent_features(bundle, (w_anchor + move.to(w_anchor))[None])[0]))
        points.append(a)
        current = model.through(xp.stack(points), xp.stack(phis))
    return current


def build_anchor(bundle: Bundle, w_anchor: torch.Tensor, directions: torch.Tensor, w_source: torch.Tensor,
                 music: torch.Tensor, lam: float, acceptance: float = 0.5, measurements: int = 0,
                 chunk: int = SAMPLES_PER_PASS, check: Callable[[], None] = lambda: None) -> Anchor:
    """The local model at w_anchor along `directions` (orthonormal when flattened), corrected by
    `measurements` forward passes (`measured_model`), with its radius tested on the refinement
    of source w_source toward `music` [D] at `lam`; `check` as for `jacobian_along`."""
    phi0, jac = jacobian_along(bundle, w_anchor, directions, chunk, check)
    check()
    basis = directions.reshape(directions.shape[0], -1).T.contiguous()
    model = LocalModel.create(from_torch(w_anchor.reshape(-1).clone()), from_torch(basis),
                              from_torch(phi0), from_torch(jac))
    music = music.to(phi0)
    radius = validity_radius(bundle, model, w_anchor, w_source, music, lam, acceptance)
    if measurements:
        model = measured_model(bundle, model, w_anchor, w_source, music, lam, MEASURE_REACH * radius, measurements,
                               check)
        check()
        radius = validity_radius(bundle, model, w_anchor, w_source, music, lam, acceptance)
    return Anchor(model, radius, music.clone())
