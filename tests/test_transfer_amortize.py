"""Training the amortized predictor: steps, checkpoints, resume, the music it trains on."""
import json

import pytest
import torch

from live.bundle import Bundle, random_bundle
from live.errors import UserError
from live.transfer.amortize import PredictorTrainer, PredictorTraining
from live.transfer.music import music_records

TINY = PredictorTraining(steps=4, batch=2, checkpoint_every=2, music=("synthetic",), synthetic_clips=4,
                         windows_per_clip=1, held_out_pairs=2)



@pytest.fixture()
def bundle(tmp_path):
    return Bundle.load(random_bundle().save(tmp_path / "bundle"))


def test_training_checkpoints_writes_the_predictor_and_resumes(bundle, tmp_path):
    run = tmp_path / "run"
    record = PredictorTrainer(bundle, TINY, run, progress=False).run()
    assert set(record) == {"loss", "heldout_source", "heldout_predicted"}
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [2, 4]
    assert json.loads((run / "config.json").read_text())["steps"] == 4
    trained = Bundle.load(bundle.root)
    # Training starts at the identity and moves away from it.
    with torch.no_grad():
        last = trained.predictor.mappers[-1].net[-1].weight
    assert last.abs().sum() > 0

    resumed = PredictorTrainer(Bundle.load(bundle.root), PredictorTraining(**{**TINY.__dict__, "steps": 6}), run,
                               progress=False)
    assert resumed.step == 4
    resumed.run()
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [2, 4, 6]


def test_fine_tuning_starts_from_the_bundle_predictor(bundle, tmp_path):
    PredictorTrainer(bundle, TINY, tmp_path / "first", progress=False).run()
    trained = {k: v.clone() for k, v in Bundle.load(bundle.root).predictor.state_dict().items()}
    fresh = PredictorTrainer(Bundle.load(bundle.root), TINY, tmp_path / "fresh", progress=False)
    tuned = PredictorTrainer(Bundle.load(bundle.root), PredictorTraining(**{**TINY.__dict__, "from_bundle": True}),
                             tmp_path / "tuned", progress=False)
    assert fresh.predictor.mappers[-1].net[-1].weight.abs().sum() == 0  # the identity
    assert tuned.predictor.mappers[-1].net[-1].weight.abs().sum() > 0
    for name, tensor in tuned.predictor.state_dict().items():
        assert torch.equal(tensor, trained[name]), name


def test_a_run_with_other_settings_is_not_resumed(bundle, tmp_path):
    PredictorTrainer(bundle, TINY, tmp_path / "run", progress=False).run()
    # Precision may change on resume, and a run stored before a setting existed resumes
    # when the setting is at its default.
    state_path = tmp_path / "run" / "state.pt"
    state = torch.load(state_path, weights_only=True)
    del state["config"]["bf16"]
    torch.save(state, state_path)
    resumed = PredictorTrainer(Bundle.load(bundle.root), PredictorTraining(**{**TINY.__dict__, "bf16": True}),
                               tmp_path / "run", progress=False)
    assert resumed.step == 4
    changed = PredictorTraining(**{**TINY.__dict__, "lr": 0.1})
    with pytest.raises(UserError, match="lr"):
        PredictorTrainer(Bundle.load(bundle.root), changed, tmp_path / "run", progress=False)


def test_a_bundle_without_a_folder_is_refused(tmp_path):
    with pytest.raises(UserError, match="folder"):
        PredictorTrainer(random_bundle(), TINY, tmp_path / "run", progress=False)


def test_music_falls_back_to_synthetic_when_4q_is_absent(tmp_path, capsys):
    records = music_records(["4q"], tmp_path, 3, held_out=False)
    assert len(records) == 3 and {r.source for r in records} == {"synth-music"}
    assert "no 4Q clips" in capsys.readouterr().err
    held_out = music_records(["synthetic"], tmp_path, 3, held_out=True)
    assert {r.split_key for r in held_out}.isdisjoint({r.split_key for r in records})
    with pytest.raises(UserError, match="unknown music"):
        music_records(["deam"], tmp_path, 3, held_out=False)


def test_bf16_steps_follow_the_fp32_loss(bundle, tmp_path):
    full = PredictorTrainer(bundle, TINY, tmp_path / "fp32", progress=False)
    half = PredictorTrainer(Bundle.load(bundle.root), PredictorTraining(**{**TINY.__dict__, "bf16": True}),
                            tmp_path / "bf16", progress=False)
    for trainer in (full, half):
        trainer.predictor.train().requires_grad_(True)  # as run() does
    losses = [full.train_step(), half.train_step()]  # the same first batch, from the identity
    assert losses[1] == pytest.approx(losses[0], rel=0.05) and losses[0] > 0
    assert losses[1] != losses[0]  # the networks did run in bf16
    assert half.predictor.mappers[-1].net[-1].weight.abs().sum() > 0
