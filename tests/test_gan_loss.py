import math

import torch

from live.gan.loss import discriminator_loss, generator_loss, r1_penalty


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
