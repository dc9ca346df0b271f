import math

import torch

from live.gan.loss import discriminator_loss, generator_loss, path_length_penalty, r1_penalty


def test_logistic_losses_at_known_points():
    zero = torch.zeros(4, 1)
    assert math.isclose(generator_loss(zero).item(), math.log(2), rel_tol=1e-6)
    assert math.isclose(discriminator_loss(zero, zero).item(), 2 * math.log(2), rel_tol=1e-6)
    # A confident, correct discriminator has a small loss; the generator then a large one.
    assert discriminator_loss(torch.full((4, 1), 10.0), torch.full((4, 1), -10.0)).item() < 1e-3
    assert generator_loss(torch.full((4, 1), -10.0)).item() > 9.9


def test_r1_matches_analytic_gradient():
    # logit = sum(a * x) has gradient a everywhere, so R1 = ||a||^2.
    a = torch.randn(1, 3, 4, 4)
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    logits = (x * a).sum(dim=[1, 2, 3])
    assert torch.allclose(r1_penalty(x, logits), a.square().sum(), rtol=1e-5)


def test_path_length_matches_a_linear_generator():
    # img = M^T (sum over layers of w): J^T y = M y for every layer, so each length is |M y|.
    torch.manual_seed(0)
    n, layers, dim, side = 3, 4, 5, 4
    m = torch.randn(dim, 3 * side * side)
    ws = torch.randn(n, layers, dim, requires_grad=True)
    img = (ws.sum(dim=1) @ m).reshape(n, 3, side, side)
    noise = torch.randn_like(img)
    penalty, mean = path_length_penalty(img, ws, noise, torch.tensor(1.0), decay=0.5)
    lengths = ((noise.reshape(n, -1) / side) @ m.T).norm(dim=1)
    expected_mean = 1.0 + 0.5 * (lengths.mean() - 1.0)
    assert torch.allclose(mean, expected_mean, atol=1e-5)
    assert torch.allclose(penalty, (lengths - expected_mean).square().mean(), atol=1e-5)


def test_path_length_is_zero_when_every_direction_moves_the_picture_equally():
    ws = torch.randn(2, 3, 4, requires_grad=True)
    img = ws.sum(dim=(1, 2)).reshape(2, 1, 1, 1).expand(2, 3, 2, 2) * 1.0  # same gradient magnitude per sample
    noise = torch.ones(2, 3, 2, 2)
    penalty, mean = path_length_penalty(img, ws, noise, torch.tensor(0.0), decay=1.0)
    assert float(penalty) < 1e-10 and float(mean) > 0
