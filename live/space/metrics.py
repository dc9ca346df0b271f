"""Held-out metrics of the shared space, as pure functions of predictions and labels.

Regression (per dimension): mean squared error, Pearson's r, and Lin's concordance
correlation coefficient CCC = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2), with
population moments; CCC is 1 only for predictions equal to the labels, r for any
increasing linear relation. Classification: the Russell quadrant and the sign of each
dimension of a prediction in [0, 1]^2, 0.5 being neutral (labels.quadrant_of).
Retrieval: recall@k of images for a music query, where the relevant images are the k
whose VA labels lie nearest the query's and the retrieved ones the k nearest in feature
space (squared Euclidean, the space's D); chance is k / gallery size.
"""
from __future__ import annotations

import math

import numpy as np

from live.space.data.labels import quadrant_of

DIMENSIONS = ("valence", "arousal")


def _pair(prediction: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(prediction, np.float64), np.asarray(target, np.float64)
    assert x.shape == y.shape and x.ndim == 1 and len(x) > 0, (x.shape, y.shape)
    return x, y


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    x, y = _pair(prediction, target)
    return float(np.mean((x - y) ** 2))


def pearson(prediction: np.ndarray, target: np.ndarray) -> float:
    """NaN when either side is constant: no correlation is defined then."""
    x, y = _pair(prediction, target)
    dx, dy = x - x.mean(), y - y.mean()
    norm = math.sqrt(float(np.sum(dx * dx)) * float(np.sum(dy * dy)))
    return float(np.sum(dx * dy) / norm) if norm > 0 else math.nan


def ccc(prediction: np.ndarray, target: np.ndarray) -> float:
    x, y = _pair(prediction, target)
    covariance = float(np.mean((x - x.mean()) * (y - y.mean())))
    denominator = float(x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    return 2.0 * covariance / denominator if denominator > 0 else math.nan


def regression_report(prediction: np.ndarray, target: np.ndarray) -> dict[str, dict[str, float]]:
    """[N, 2] predicted and labelled (valence, arousal) -> {metric: {dimension: value}}."""
    assert prediction.shape == target.shape and prediction.shape[1:] == (2,), (prediction.shape, target.shape)
    return {name: {dim: metric(prediction[:, k], target[:, k]) for k, dim in enumerate(DIMENSIONS)}
            for name, metric in (("mse", mse), ("pearson", pearson), ("ccc", ccc))}


def quadrant_accuracy(prediction: np.ndarray, quadrants: np.ndarray) -> float:
    """[N, 2] predictions, [N] quadrants 1..4 -> share predicted in the right quadrant."""
    assert prediction.shape == (len(quadrants), 2), (prediction.shape, np.shape(quadrants))
    predicted = np.array([quadrant_of(float(v), float(a)) for v, a in prediction])
    return float(np.mean(predicted == np.asarray(quadrants)))


def sign_accuracy(prediction: np.ndarray, target: np.ndarray) -> float:
    """Share of items on the same side of the neutral 0.5 (one dimension)."""
    x, y = _pair(prediction, target)
    return float(np.mean((x >= 0.5) == (y >= 0.5)))


def recall_at_k(query_features: np.ndarray, gallery_features: np.ndarray,
                query_va: np.ndarray, gallery_va: np.ndarray, k: int = 10) -> float:
    """Mean over queries of |k nearest by features  &  k nearest by labels| / k."""
    assert query_features.shape[0] == query_va.shape[0] and gallery_features.shape[0] == gallery_va.shape[0]
    assert query_features.shape[1] == gallery_features.shape[1], (query_features.shape, gallery_features.shape)
    k = min(k, len(gallery_va))

    def k_nearest(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
        distance = ((queries[:, None, :].astype(np.float64) - gallery[None, :, :]) ** 2).sum(axis=2)
        return np.argsort(distance, axis=1, kind="stable")[:, :k]

    retrieved, relevant = k_nearest(query_features, gallery_features), k_nearest(query_va, gallery_va)
    hits = [len(set(r) & set(t)) for r, t in zip(retrieved.tolist(), relevant.tolist())]
    return float(np.mean(hits)) / k
