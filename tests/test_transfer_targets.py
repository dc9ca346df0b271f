"""Optimized targets for the predictor: the set grows resumably, and training pulls toward it."""
import pytest
import torch

from live.bundle import Bundle, random_bundle
from live.transfer.amortize import TARGET_MIN_MOVE, TARGETS_FILE, PredictorTrainer, PredictorTraining, target_distance
from live.transfer.embed import latent_features
from live.transfer.optimize import OptimizeConfig
from live.transfer.targets import TargetSet, grow_targets

TINY = PredictorTraining(steps=2, batch=2, checkpoint_every=2, music=("synthetic",), synthetic_clips=4,
                         windows_per_clip=1, held_out_pairs=2)
QUICK = OptimizeConfig(steps=3)


@pytest.fixture()
def bundle(tmp_path):
    return Bundle.load(random_bundle().save(tmp_path / "bundle"))


def test_the_distance_is_zero_at_the_target_and_one_at_the_source():
    w_o, w_t = torch.zeros(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.allclose(target_distance(w_t, w_o, w_t), torch.zeros(2))
    assert torch.allclose(target_distance(w_o, w_o, w_t), torch.ones(2))
    assert torch.allclose(target_distance(2 * w_t, w_o, w_t), torch.ones(2))
    # A target next to its source: distances in W+ units, not in a ratio to that tiny move.
    near = torch.full((1, 3, 4), 1e-4)
    assert torch.allclose(target_distance(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4), near),
                          near.square().sum().reshape(1) / TARGET_MIN_MOVE ** 2)


def test_targets_are_the_optimization_of_their_draws_and_resume_chunk_by_chunk(bundle, tmp_path):
    trainer = PredictorTrainer(bundle, TINY, tmp_path / "run", progress=False)
    path = tmp_path / "targets.safetensors"
    first = grow_targets(bundle, trainer.draw, path, 2, seed=5, chunk=2, config=QUICK, progress=False)
    assert len(first) == 2 and path.is_file()
    # The optimization moved every target from its source.
    assert (first.w_target - first.w_source).abs().flatten(1).sum(1).min() > 0
    grown = grow_targets(bundle, trainer.draw, path, 4, seed=5, chunk=2, config=QUICK, progress=False)
    in_one_go = grow_targets(bundle, trainer.draw, tmp_path / "other.safetensors", 4, seed=5, chunk=2,
                             config=QUICK, progress=False)
    assert len(grown) == 4 and torch.equal(grown.w_source[:2], first.w_source)
    for name, tensor in vars(grown).items():
        assert torch.allclose(tensor, getattr(in_one_go, name), atol=1e-6), name
    assert len(TargetSet.load(path)) == 4


def test_training_with_targets_pulls_the_predictor_toward_them(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr("live.transfer.amortize.grow_targets",
                        lambda *a, **k: grow_targets(*a, **{**k, "config": QUICK}))
    pulled = PredictorTraining(**{**TINY.__dict__, "steps": 6, "batch": 4, "targets": 2, "target_weight": 1000.0,
                                  "lr": 0.05})
    trainer = PredictorTrainer(bundle, pulled, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / TARGETS_FILE).is_file() and len(trainer.targets) == 2
    t = trainer.targets

    def distance() -> float:
        with torch.no_grad():
            w_m = trainer.predictor(t.w_source, latent_features(bundle, t.w_source), t.f_music, t.lam)
        return float(target_distance(w_m, t.w_source, t.w_target).mean())

    before = distance()
    trainer.run()
    assert distance() < before
