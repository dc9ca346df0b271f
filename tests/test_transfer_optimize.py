"""The seed's optimization on a tiny random bundle."""
import pytest
import torch

from live.bundle import random_bundle
from live.transfer.embed import true_transfer_loss
from live.transfer.optimize import OptimizeConfig, learning_rate, optimize_transfer
from live.transfer.source import seed_latent



@pytest.fixture(scope="module")
def bundle():
    return random_bundle()


def test_schedule_warms_up_holds_and_ramps_down():
    rates = [learning_rate(s, 300, 0.1) for s in range(300)]
    assert rates[0] == 0.0 and rates[7] == pytest.approx(0.1 * 7 / 15)
    assert rates[15] == pytest.approx(0.1) and rates[200] == pytest.approx(0.1)
    assert rates[225] == pytest.approx(0.1)  # the ramp-down covers the last 25%
    assert rates[262] == pytest.approx(0.05, rel=0.03) and 0 < rates[299] < 0.001


def _sources_and_targets(bundle):
    """Two source latents, and as the music's embedding the image features of two others."""
    w_o = torch.stack([seed_latent(bundle.G, s) for s in (1, 2)])
    with torch.no_grad():
        target = bundle.image_features(bundle.G.synthesis(torch.stack([seed_latent(bundle.G, s) for s in (8, 9)]),
                                                          noise_mode="const"))
    return w_o, target


def test_loss_decreases_in_w_plus(bundle):
    w_o, target = _sources_and_targets(bundle)
    result = optimize_transfer(bundle, w_o, target, 0.001, OptimizeConfig(steps=25))
    assert result.losses.shape == (26, 2)
    assert (result.losses[-1] < result.losses[0] - 1e-3).all()
    assert result.w_m.shape == w_o.shape and not torch.equal(result.w_m, w_o)


def test_w_mode_keeps_the_layers_tied(bundle):
    w_o = seed_latent(bundle.G, 3)[None]
    f_m = torch.randn(1, bundle.config.space.feature_dim)
    result = optimize_transfer(bundle, w_o, f_m, 0.001, OptimizeConfig(steps=5, space="w"))
    assert torch.equal(result.w_m, result.w_m[:, :1].expand_as(result.w_m))
    assert not torch.equal(result.w_m, w_o)


def test_w_mode_starts_at_the_mean_of_the_source_s_layers(bundle):
    w_o = torch.stack([seed_latent(bundle.G, s)[0] for s in range(bundle.G.num_ws)])[None]  # its layers differ
    f_m = torch.randn(1, bundle.config.space.feature_dim)
    result = optimize_transfer(bundle, w_o, f_m, 0.001, OptimizeConfig(steps=1, space="w"))  # step 0's rate is 0
    torch.testing.assert_close(result.w_m[0], w_o[0].mean(dim=0).expand_as(w_o[0]))


def test_a_larger_lambda_keeps_w_m_nearer_its_source(bundle):
    """lambda weighs ||w_o - w_m||: the same music and source, lambda 0 and 0.1."""
    w_o = seed_latent(bundle.G, 4)[None]
    with torch.no_grad():
        target = bundle.image_features(bundle.G.synthesis(seed_latent(bundle.G, 10)[None], noise_mode="const"))
    moves = [float((optimize_transfer(bundle, w_o, target, lam, OptimizeConfig(steps=25)).w_m - w_o).norm())
             for lam in (0.0, 0.1)]
    assert moves[1] < 0.5 * moves[0], moves


def test_where_the_source_is_the_optimum_the_result_is_no_worse_than_it(bundle):
    """At lambda 1 the norm's kink holds w_m at w_o: the steps' last iterate was worse than
    the source, and `transfer --mode full` wrote it."""
    w_o = torch.stack([seed_latent(bundle.G, s) for s in (5, 6)])
    f_m = torch.randn(2, bundle.config.space.feature_dim, generator=torch.Generator().manual_seed(0))
    result = optimize_transfer(bundle, w_o, f_m, 1.0, OptimizeConfig(steps=10))
    assert (result.losses[-1] <= result.losses[0]).all()
    with torch.no_grad():
        at_w_m = true_transfer_loss(bundle, result.w_m, w_o, f_m, 1.0).total
    assert torch.allclose(at_w_m, result.losses[-1])


def test_the_last_step_s_result_is_kept(bundle):
    # Step 0's rate is 0, so two steps move once: a result taken before the last step was
    # the source itself (and, over 3 steps, a worse iterate than the last).
    w_o, target = _sources_and_targets(bundle)
    two = optimize_transfer(bundle, w_o, target, 0.001, OptimizeConfig(steps=2))
    assert not torch.equal(two.w_m, w_o) and (two.losses[-1] < two.losses[0]).all()
    three = optimize_transfer(bundle, w_o, target, 0.001, OptimizeConfig(steps=3))
    assert (three.losses[-1] < two.losses[-1]).all()
