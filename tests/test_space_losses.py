from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from live.space.losses import (
    EPS, LossWeights, Triples, cfm_loss, cfr_loss, cross_feature_ratio_loss, draw_cross_modal_triples,
    draw_pairs, draw_single_modal_triples, sfr_loss, total, va_sigma, va_similarity, weighted_mse,
)


def _triple(i: int, j: int, k: int) -> Triples:
    return Triples(torch.tensor([i]), torch.tensor([j]), torch.tensor([k]))


def _padded(rows: list[list[float]], width: int = 8) -> torch.Tensor:
    t = torch.zeros(len(rows), width, dtype=torch.float64)
    t[:, :len(rows[0])] = torch.tensor(rows, dtype=torch.float64)
    return t


def _isometric_embedding(y: torch.Tensor, width: int = 512) -> torch.Tensor:
    """Labels placed in feature space by orthonormal rows plus a shift: distances kept."""
    torch.manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(width, 2, dtype=torch.float64))
    return y @ basis.T + torch.randn(width, dtype=torch.float64)


# --- S and sigma -------------------------------------------------------------------

def test_sigma_is_the_mean_distance_over_all_image_music_combinations():
    y_images = np.array([[0.0, 0.0], [1.0, 0.0]])
    y_music = np.array([[0.0, 0.0], [0.0, 1.0]])
    # distances: 0, 1, 1, sqrt(2)
    assert va_sigma(y_images, y_music) == pytest.approx((2 + math.sqrt(2)) / 4)
    rng = np.random.default_rng(0)
    many_images, many_music = rng.random((50, 2)), rng.random((7, 2))
    assert va_sigma(many_images, many_music, chunk_rows=3) == pytest.approx(
        va_sigma(many_images, many_music))
    with pytest.raises(ValueError, match="sigma would be 0"):
        va_sigma(np.full((2, 2), 0.5), np.full((3, 2), 0.5))


def test_similarity_at_known_values():
    y_a = torch.tensor([[0.0, 0.0], [0.2, 0.2]])
    y_b = torch.tensor([[0.3, 0.4], [0.2, 0.2]])
    assert torch.allclose(va_similarity(y_a, y_b, sigma=0.5), torch.tensor([math.exp(-1), 1.0]))


# --- drawing triples and pairs --------------------------------------------------------

def test_single_modal_triples_are_distinct_deterministic_and_cover_all_choices():
    triples = draw_single_modal_triples(5, per_anchor=400, generator=torch.Generator().manual_seed(3))
    i, j, k = triples.anchor, triples.first, triples.second
    assert i.shape == j.shape == k.shape == (2000,)
    assert ((i != j) & (i != k) & (j != k)).all()
    assert torch.equal(i, torch.arange(5).repeat_interleave(400))
    # Uniform over the 3 values left for k: each close to a third.
    picked = torch.bincount(k[(i == 1) & (j == 3)], minlength=5)
    assert picked[1] == picked[3] == 0
    assert (picked[[0, 2, 4]].float() / picked.sum() - 1 / 3).abs().max() < 0.12
    again = draw_single_modal_triples(5, per_anchor=400, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again.second, k)
    with pytest.raises(ValueError, match="at least 3"):
        draw_single_modal_triples(2, per_anchor=1, generator=torch.Generator())


def test_cross_modal_triples_pair_each_anchor_with_its_partner():
    generator = torch.Generator().manual_seed(0)
    paired = draw_cross_modal_triples(4, per_anchor=3, generator=generator)
    assert torch.equal(paired.first, paired.anchor) and (paired.second != paired.first).all()
    with pytest.raises(ValueError, match="at least 2"):
        draw_cross_modal_triples(1, per_anchor=1, generator=generator)


def test_pairs_are_in_range_and_deterministic():
    images, music = draw_pairs(3, 7, count=100, generator=torch.Generator().manual_seed(1))
    assert images.max() <= 2 and music.max() <= 6 and len(torch.unique(music)) == 7
    again = draw_pairs(3, 7, count=100, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again[0], images) and torch.equal(again[1], music)


# --- L_CFR --------------------------------------------------------------------------

# One image anchor at VA (0, 0); music j at VA distance 0.5, music k at 1.0; sigma 0.5.
Y_ANCHOR = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
Y_MUSIC = torch.tensor([[0.0, 0.5], [0.0, 1.0]], dtype=torch.float64)
F_ANCHOR = torch.zeros(1, 8, dtype=torch.float64)


def _music_at(norm_j: float, norm_k: float) -> torch.Tensor:
    return _padded([[norm_j, 0.0], [0.0, norm_k]])


def test_cross_feature_ratio_at_a_hand_computed_value():
    # D_ij = 1, D_ik = 4: log ratio -1.386; label side (0.5 - 1.0) / 0.5 = -1.
    loss = cross_feature_ratio_loss(F_ANCHOR, Y_ANCHOR, _music_at(1.0, 2.0), Y_MUSIC,
                                    _triple(0, 0, 1), sigma=0.5, eps=0.0)
    assert loss.item() == pytest.approx((math.log(1 / 4) + 1) ** 2)


def test_cross_feature_ratio_is_zero_when_the_relation_holds():
    # log D_ij / D_ik = (d_ij - d_ik) / sigma = -1  <=>  D_ik = e * D_ij.
    loss = cross_feature_ratio_loss(F_ANCHOR, Y_ANCHOR, _music_at(1.0, math.exp(0.5)), Y_MUSIC,
                                    _triple(0, 0, 1), sigma=0.5, eps=0.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-12)


def test_cross_feature_ratio_prefers_distances_that_follow_the_labels():
    # Eq. 1 as printed would favour the reversed embedding (near label, far feature).
    following = cross_feature_ratio_loss(F_ANCHOR, Y_ANCHOR, _music_at(1.0, 2.0), Y_MUSIC,
                                         _triple(0, 0, 1), sigma=0.5)
    reversed_ = cross_feature_ratio_loss(F_ANCHOR, Y_ANCHOR, _music_at(2.0, 1.0), Y_MUSIC,
                                         _triple(0, 0, 1), sigma=0.5)
    assert following < reversed_

    # Gradient descent from equal distances brings the label-near music closer.
    f_music = _music_at(1.0, 1.0).requires_grad_()
    optimizer = torch.optim.SGD([f_music], lr=0.05)
    for _ in range(20):
        optimizer.zero_grad()
        cross_feature_ratio_loss(F_ANCHOR, Y_ANCHOR, f_music, Y_MUSIC, _triple(0, 0, 1),
                                 sigma=0.5).backward()
        optimizer.step()
    near, far = f_music.detach().norm(dim=1)
    assert near < 0.9 < 1.1 < far


def test_cfr_sums_both_directions():
    torch.manual_seed(0)
    f_image, f_music = torch.randn(4, 8), torch.randn(4, 8)
    y_image, y_music = torch.rand(4, 2), torch.rand(4, 2)
    generator = torch.Generator().manual_seed(0)
    image_triples = draw_cross_modal_triples(4, 2, generator)
    music_triples = draw_cross_modal_triples(4, 2, generator)
    both = cfr_loss(f_image, y_image, f_music, y_music, image_triples, music_triples, sigma=0.4)
    one = cross_feature_ratio_loss(f_image, y_image, f_music, y_music, image_triples, 0.4)
    other = cross_feature_ratio_loss(f_music, y_music, f_image, y_image, music_triples, 0.4)
    assert both.item() == pytest.approx((one + other).item())
    assert one.item() > 0 and other.item() > 0


# --- L_CFM ---------------------------------------------------------------------------

def test_cfm_at_a_hand_computed_value():
    f_image = torch.zeros(2, 2, dtype=torch.float64)
    f_music = torch.tensor([[3.0, 4.0], [0.0, 1.0]], dtype=torch.float64)
    # distances 5 and 1, margin 2: hinges 3 and 0, mean 1.5.
    assert cfm_loss(f_image, f_music, alpha=2.0).item() == pytest.approx(1.5, abs=1e-6)
    assert cfm_loss(f_image, f_music, alpha=6.0).item() == 0.0


# --- L_SFR ---------------------------------------------------------------------------

def test_sfr_at_a_hand_computed_value():
    y = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    f = _padded([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # features: D_ij = D_ik = 1, log ratio 0; labels: D_ij = 1, D_ik = 4, log ratio -1.386.
    assert sfr_loss(f, y, _triple(0, 1, 2), eps=0.0).item() == pytest.approx(math.log(4) ** 2)


def test_sfr_is_zero_for_an_isometric_embedding_and_not_for_a_distorted_one():
    torch.manual_seed(0)
    y = torch.rand(16, 2, dtype=torch.float64)
    triples = draw_single_modal_triples(16, per_anchor=4, generator=torch.Generator().manual_seed(0))
    assert sfr_loss(_isometric_embedding(y), y, triples).item() == pytest.approx(0.0, abs=1e-12)
    distorted = _isometric_embedding(y * torch.tensor([1.0, 4.0], dtype=torch.float64))
    assert sfr_loss(distorted, y, triples).item() > 0.05


# --- gradients at degenerate inputs --------------------------------------------------

def test_gradients_stay_finite_for_identical_embeddings_and_labels():
    f_image = torch.zeros(4, 8, requires_grad=True)
    f_music = torch.zeros(4, 8, requires_grad=True)
    y = torch.full((4, 2), 0.75)  # e.g. four soft labels of the same quadrant
    generator = torch.Generator().manual_seed(0)
    cross = draw_cross_modal_triples(4, 2, generator)
    single = draw_single_modal_triples(4, 2, generator)
    loss = (cfr_loss(f_image, y, f_music, y, cross, cross, sigma=0.3)
            + cfm_loss(f_image, f_music, alpha=0.0)
            + sfr_loss(f_image, y, single) + sfr_loss(f_music, y, single))
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(f_image.grad).all() and torch.isfinite(f_music.grad).all()


# --- MSE parts and the total --------------------------------------------------------

def test_weighted_mse_at_known_values_and_weights():
    prediction = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    target = torch.tensor([[0.5, 0.0], [0.0, 0.0]])
    # per-sample errors: 0.125 and 0.5
    assert weighted_mse(prediction, target).item() == pytest.approx(0.3125)
    assert weighted_mse(prediction, target, torch.tensor([1.0, 0.0])).item() == pytest.approx(0.0625)
    assert weighted_mse(prediction, target, torch.tensor([1.0, 0.5])).item() == pytest.approx(0.1875)
    similarity = weighted_mse(torch.tensor([0.2, 0.9]), torch.tensor([0.0, 1.0]))
    assert similarity.item() == pytest.approx((0.04 + 0.01) / 2)
    with pytest.raises(ValueError, match="one weight per sample"):
        weighted_mse(prediction, target, torch.ones(3))
    with pytest.raises(ValueError, match="must be the same"):
        weighted_mse(prediction, target[:, :1])


def test_total_applies_the_weights_and_reports_the_parts():
    parts = {"cfr": torch.tensor(2.0, requires_grad=True), "sim": torch.tensor(3.0)}
    value, logged = total(parts, LossWeights(cfr=0.5, sim=2.0))
    assert value.item() == pytest.approx(7.0)
    assert value.requires_grad and not logged["cfr"].requires_grad
    assert set(logged) == {"cfr", "sim"}
    assert total(parts, LossWeights())[0].item() == pytest.approx(5.0)
    with pytest.raises(ValueError, match="unknown loss parts"):
        total({"l_cfr": torch.tensor(1.0)}, LossWeights())


def _repeated(triple: Triples, times: int) -> Triples:
    return Triples(triple.anchor.repeat(times), triple.first.repeat(times), triple.second.repeat(times))


def test_the_ratio_losses_are_means_over_their_triples_and_use_eps_on_both_distances():
    # Summed, they would outweigh L_SIM and L_VA by the number of triples; the [loss.weights]
    # would change meaning with the batch.
    music = _music_at(1.0, 2.0)
    one = cross_feature_ratio_loss(F_ANCHOR, Y_ANCHOR, music, Y_MUSIC, _triple(0, 0, 1), sigma=0.5)
    three = cross_feature_ratio_loss(F_ANCHOR, Y_ANCHOR, music, Y_MUSIC, _repeated(_triple(0, 0, 1), 3), sigma=0.5)
    assert three.item() == pytest.approx(one.item())
    assert one.item() == pytest.approx((math.log((1 + EPS) / (4 + EPS)) + 1) ** 2)
    y = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    f = _padded([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert sfr_loss(f, y, _repeated(_triple(0, 1, 2), 3)).item() == pytest.approx(
        math.log((1 + EPS) / (4 + EPS)) ** 2)
    # The same distances on both sides: zero, with eps added to each alike.
    y_isometric = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    assert sfr_loss(f, y_isometric, _triple(0, 1, 2)).item() == pytest.approx(0.0, abs=1e-12)


def test_a_total_of_no_parts_is_refused():
    with pytest.raises(ValueError):
        total({}, LossWeights())
