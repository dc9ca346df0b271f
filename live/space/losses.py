"""The seed's losses for the shared valence-arousal space (eqs. 1-5), as pure functions.

Notation: a batch of images with VA labels y_I [B_I, 2] in [0, 1] and features
f_I [B_I, F]; a batch of music with y_M [B_M, 2] and f_M [B_M, F]; when the batch is
paired, image i goes with music i. D(a, b) = ||a - b||^2 (squared Euclidean) and
S(a, b) = exp(-||y_a - y_b|| / sigma), sigma being the mean VA distance over all
image-music combinations of the training data (`va_sigma`).

Triples (i, j, k) and pairs are drawn within the batch from an explicit
`torch.Generator`, so a seeded run draws the same ones; the draws are vectorized.
Every ratio is taken as a difference of logs with `eps` added to each distance, so
identical embeddings (D = 0) give finite values and gradients.

Reductions: every loss is a mean over its triples, pairs or samples, so the weights in
`LossWeights` do not change meaning with the batch size.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

EPS = 1e-3  # well below the squared VA distance of two distinguishable ratings (~0.05^2)


@dataclass(frozen=True)
class Triples:
    """Index triples (i, j, k): i into the anchors, j and k into the compared samples."""
    anchor: Tensor  # [T] long
    first: Tensor   # [T] long, j
    second: Tensor  # [T] long, k, never equal to j


def _check_batch(name: str, t: Tensor, width: int | None = None, rows: int | None = None) -> None:
    if t.ndim != 2 or (width is not None and t.shape[1] != width) or (
            rows is not None and t.shape[0] != rows):
        want = f"[{rows if rows is not None else 'B'}, {width if width is not None else 'F'}]"
        raise ValueError(f"{name}: expected {want}, got {list(t.shape)}")


def va_distance(y_a: Tensor, y_b: Tensor) -> Tensor:
    """||y_a - y_b||_2 row by row: [B, 2], [B, 2] -> [B]."""
    return (y_a - y_b).square().sum(dim=1).sqrt()


def squared_distance(a: Tensor, b: Tensor) -> Tensor:
    """D(a, b) = ||a - b||^2 row by row: [B, F], [B, F] -> [B]."""
    return (a - b).square().sum(dim=1)


def va_similarity(y_a: Tensor, y_b: Tensor, sigma: float) -> Tensor:
    """S(a, b) = exp(-||y_a - y_b|| / sigma) row by row, in (0, 1]."""
    return torch.exp(-va_distance(y_a, y_b) / sigma)


def va_sigma(y_images: Tensor | np.ndarray, y_music: Tensor | np.ndarray,
             chunk_rows: int = 4096) -> float:
    """Mean VA distance over all image-music combinations of the training labels.

    Computed in chunks of image rows, so tens of thousands of labels on each side stay
    within a few hundred MB.
    """
    y_i = torch.as_tensor(y_images, dtype=torch.float64)
    y_m = torch.as_tensor(y_music, dtype=torch.float64)
    _check_batch("va_sigma image labels", y_i, width=2)
    _check_batch("va_sigma music labels", y_m, width=2)
    if len(y_i) == 0 or len(y_m) == 0:
        raise ValueError("va_sigma: need at least one image label and one music label")
    total = sum(torch.cdist(chunk, y_m).sum() for chunk in y_i.split(chunk_rows))
    sigma = float(total) / (len(y_i) * len(y_m))
    if sigma <= 0:
        raise ValueError("va_sigma: every image label equals every music label; sigma would be 0")
    return sigma


def _draw_excluding(excluded: list[Tensor], n: int, generator: torch.Generator) -> Tensor:
    """Uniform indices in [0, n) that avoid each row's excluded indices (distinct per row).

    A draw among the n - m allowed values is shifted past each excluded index in
    ascending order, which maps it one to one onto the allowed set.
    """
    count = len(excluded[0])
    pick = torch.randint(0, n - len(excluded), (count,), generator=generator,
                         device=generator.device)
    for skip in torch.stack(excluded, dim=1).sort(dim=1).values.unbind(dim=1):
        pick = pick + (pick >= skip).long()
    return pick


def draw_single_modal_triples(n: int, per_anchor: int, generator: torch.Generator) -> Triples:
    """`per_anchor` triples for every sample i of one modality, with i, j, k all distinct."""
    if n < 3:
        raise ValueError(f"single-modal triples need at least 3 samples, got {n}")
    anchor = torch.arange(n, device=generator.device).repeat_interleave(per_anchor)
    first = _draw_excluding([anchor], n, generator)
    second = _draw_excluding([anchor, first], n, generator)
    return Triples(anchor, first, second)


def draw_cross_modal_triples(n: int, per_anchor: int, generator: torch.Generator) -> Triples:
    """`per_anchor` triples for each of a paired batch's n anchors, in eq. 1's printed form:
    j is the anchor's own partner (index i in the other modality), k another sample of it."""
    if n < 2:
        raise ValueError(f"cross-modal triples need at least 2 samples to compare, got {n}")
    anchor = torch.arange(n, device=generator.device).repeat_interleave(per_anchor)
    return Triples(anchor, anchor, _draw_excluding([anchor], n, generator))


def draw_pairs(n_images: int, n_music: int, count: int,
               generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """`count` uniformly drawn (image index, music index) pairs, e.g. for L_SIM."""
    images = torch.randint(0, n_images, (count,), generator=generator, device=generator.device)
    music = torch.randint(0, n_music, (count,), generator=generator, device=generator.device)
    return images, music


def _log_ratio(d_first: Tensor, d_second: Tensor, eps: float) -> Tensor:
    return torch.log(d_first + eps) - torch.log(d_second + eps)


def cross_feature_ratio_loss(f_anchor: Tensor, y_anchor: Tensor, f_other: Tensor,
                             y_other: Tensor, triples: Triples, sigma: float,
                             eps: float = EPS) -> Tensor:
    """One direction of L_CFR (eq. 1): anchors from one modality, j and k from the other.

    With a = anchor features and b = the other modality's, the mean over triples of
        ( log D(a_i, b_j) / D(a_i, b_k)  -  log S(i, k) / S(i, j) )^2.
    Eq. 1 as printed sets the feature ratio equal to S(i, j) / S(i, k), which would push
    the pair with the MORE similar labels FARTHER apart. We implement the intended
    relation: the feature-distance ratio equals the INVERSE similarity ratio, so feature
    distances grow with VA dissimilarity (log D = ||y_i - y_j|| / sigma + const).
    log S(i, k) / S(i, j) = (||y_i - y_j|| - ||y_i - y_k||) / sigma is used in closed form.
    """
    _check_batch("L_CFR anchor features", f_anchor)
    _check_batch("L_CFR anchor labels", y_anchor, width=2, rows=len(f_anchor))
    _check_batch("L_CFR other features", f_other, width=f_anchor.shape[1])
    _check_batch("L_CFR other labels", y_other, width=2, rows=len(f_other))
    i, j, k = (t.to(f_anchor.device) for t in (triples.anchor, triples.first, triples.second))
    feature = _log_ratio(squared_distance(f_anchor[i], f_other[j]),
                         squared_distance(f_anchor[i], f_other[k]), eps)
    label = (va_distance(y_anchor[i], y_other[j]) - va_distance(y_anchor[i], y_other[k])) / sigma
    return (feature - label).square().mean()


def cfr_loss(f_image: Tensor, y_image: Tensor, f_music: Tensor, y_music: Tensor,
             image_triples: Triples, music_triples: Triples, sigma: float,
             eps: float = EPS) -> Tensor:
    """L_CFR: image anchors against music plus music anchors against images (a sum)."""
    return (cross_feature_ratio_loss(f_image, y_image, f_music, y_music, image_triples, sigma, eps)
            + cross_feature_ratio_loss(f_music, y_music, f_image, y_image, music_triples, sigma, eps))


def cfm_loss(f_image: Tensor, f_music: Tensor, alpha: float) -> Tensor:
    """L_CFM (eq. 2): mean over matched pairs of max(0, ||f_I_i - f_M_i|| - alpha).

    The paper sums over the pairs; the mean is that sum divided by the batch size, so
    its weight does not depend on the batch size.
    """
    _check_batch("L_CFM image features", f_image)
    _check_batch("L_CFM music features", f_music, width=f_image.shape[1], rows=len(f_image))
    # sqrt of D + eps^2 keeps the gradient finite where a pair coincides.
    distance = (squared_distance(f_image, f_music) + EPS**2).sqrt()
    return torch.relu(distance - alpha).mean()


def sfr_loss(f: Tensor, y: Tensor, triples: Triples, eps: float = EPS) -> Tensor:
    """L_SFR_I / L_SFR_M (eqs. 4-5): single-modal feature ratio against label ratio.

    Mean over triples (i, j, k) within one modality of
        ( log D(f_i, f_j) / D(f_i, f_k)  -  log D(y_i, y_j) / D(y_i, y_k) )^2,
    with the same D (squared Euclidean) on features and labels: our reading of "ratio of
    feature distances vs ratio of label distances". With one D on both sides, any
    embedding that is an isometry of VA space satisfies the relation exactly.
    """
    _check_batch("L_SFR features", f)
    _check_batch("L_SFR labels", y, width=2, rows=len(f))
    i, j, k = (t.to(f.device) for t in (triples.anchor, triples.first, triples.second))
    feature = _log_ratio(squared_distance(f[i], f[j]), squared_distance(f[i], f[k]), eps)
    label = _log_ratio(squared_distance(y[i], y[j]), squared_distance(y[i], y[k]), eps)
    return (feature - label).square().mean()


def weighted_mse(prediction: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """L_SIM, L_VA_I, L_VA_M: mean over samples of weight * squared error.

    The squared error is averaged over a sample's values (valence and arousal). Weights
    are absolute, not renormalized: a batch of soft quadrant labels with weight 0.3
    counts 0.3 times as much as one of rated labels.
    """
    if prediction.shape != target.shape or prediction.ndim not in (1, 2):
        raise ValueError(f"weighted_mse: prediction {list(prediction.shape)} and target "
                         f"{list(target.shape)} must be the same [B] or [B, C]")
    error = (prediction - target).square()
    if error.ndim == 2:
        error = error.mean(dim=1)
    if weight is None:
        return error.mean()
    if weight.shape != error.shape:
        raise ValueError(f"weighted_mse: expected one weight per sample {list(error.shape)}, "
                         f"got {list(weight.shape)}")
    return (weight * error).mean()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the seed's total loss; the paper's total is the plain sum."""
    cfr: float = 1.0
    cfm: float = 1.0
    sfr_image: float = 1.0
    sfr_music: float = 1.0
    sim: float = 1.0
    va_image: float = 1.0
    va_music: float = 1.0


def total(parts: Mapping[str, Tensor], weights: LossWeights) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted sum of the loss parts present (named like `LossWeights`' fields).

    A part may be absent, e.g. L_CFM in a batch without pairs. Returns the total and the
    detached parts for logging.
    """
    known = {f.name for f in fields(LossWeights)}
    unknown = sorted(parts.keys() - known)
    if unknown or not parts:
        raise ValueError(f"total: unknown loss parts {unknown}; expected some of {sorted(known)}")
    not_scalar = [name for name, part in parts.items() if part.ndim != 0]
    if not_scalar:
        raise ValueError(f"total: loss parts {not_scalar} are not scalars")
    value = sum(getattr(weights, name) * part for name, part in parts.items())
    return value, {name: part.detach() for name, part in parts.items()}
