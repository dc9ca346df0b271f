"""Training the amortized predictor: steps, checkpoints, resume, the music it trains on."""
import dataclasses
import json
import math
import os
import shutil

import pytest
import torch

from live.__main__ import main
from live.bundle import Bundle, random_bundle
from live.errors import UserError
from live.files import training_in
from live.nets.predictor import LatentPredictor, PredictorConfig
from live.transfer import amortize
from live.transfer.amortize import PredictorTrainer
from live.transfer.config import HEADS_WAIT, PredictorTraining
from live.transfer.music import music_records

TINY = PredictorTraining(steps=4, batch=2, checkpoint_every=2, music=("synthetic",), synthetic_clips=4,
                         windows_per_clip=1, held_out_pairs=2)



@pytest.fixture()
def bundle(tmp_path):
    return Bundle.load(random_bundle().save(tmp_path / "bundle"))


def test_training_checkpoints_writes_the_predictor_and_resumes(bundle, tmp_path):
    run = tmp_path / "run"
    with training_in(run), pytest.raises(UserError, match="in use by another training run"):
        PredictorTrainer(bundle, TINY, run, progress=False).run()
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
    fresh = PredictorTrainer(Bundle.load(bundle.root), TINY, tmp_path / "fresh", progress=False, replace=True)
    tuned = PredictorTrainer(Bundle.load(bundle.root), PredictorTraining(**{**TINY.__dict__, "from_bundle": True}),
                             tmp_path / "tuned", progress=False)
    assert all(head.weight.abs().sum() == 0 for head in fresh.predictor.mappers[-1].output_layers())  # the identity
    assert tuned.predictor.mappers[-1].output_layers()[0].weight.abs().sum() > 0
    for name, tensor in tuned.predictor.state_dict().items():
        assert torch.equal(tensor, trained[name]), name


def test_a_new_run_from_the_identity_does_not_replace_a_trained_predictor_unasked(bundle, tmp_path, capsys):
    """A 1-step run replaced the shipped 4,000-step predictor at its first checkpoint (review 98)."""
    args = ["train", "predictor", "--bundle", str(bundle.root), "--steps", "2", "--batch", "2", "--checkpoint-every",
            "2", "--held-out", "2", "--music", "synthetic", "--synthetic-clips", "4", "--quiet"]
    assert main([*args, "--outdir", str(tmp_path / "first")]) == 0  # `bundle new`'s identity: nothing to keep
    trained = (bundle.root / "predictor.safetensors").read_bytes()
    assert main([*args, "--outdir", str(tmp_path / "second")]) == 2
    assert f"{bundle.root} holds a trained predictor, which a new run from the identity would replace at its first " \
           "checkpoint: give --from-bundle" in capsys.readouterr().err
    assert (bundle.root / "predictor.safetensors").read_bytes() == trained and not (tmp_path / "second").exists()
    assert main([*args, "--outdir", str(tmp_path / "second"), "--force", "--seed", "1"]) == 0
    assert (bundle.root / "predictor.safetensors").read_bytes() != trained  # the same seed would write the same


def test_a_run_with_other_settings_is_not_resumed(bundle, tmp_path, monkeypatch):
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
    # Refused before the music banks are made (with 4Q music, about 8 s before the refusal).
    monkeypatch.setattr(amortize, "music_bank", lambda *a, **k: pytest.fail("a music bank was made"))
    with pytest.raises(UserError, match="lr"):
        PredictorTrainer(Bundle.load(bundle.root), changed, tmp_path / "run", progress=False)


def test_a_resumed_run_binds_the_data_folder_it_read_not_its_spelling(bundle, tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "c").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    with_4q = {**TINY.__dict__, "music": ("4q", "synthetic")}  # no 4Q clips there: synthetic music, with a note
    typed = PredictorTraining(**{**with_4q, "data_root": ".."})
    PredictorTrainer(bundle, typed, tmp_path / "run", progress=False).run()
    spelt_out = PredictorTraining(**{**with_4q, "steps": 6, "data_root": str(tmp_path)})
    assert PredictorTrainer(Bundle.load(bundle.root), spelt_out, tmp_path / "run", progress=False).step == 4
    monkeypatch.chdir(tmp_path / "b" / "c")  # the same `..` names another folder from here
    with pytest.raises(UserError, match=f"--data '{tmp_path}' there, '{tmp_path / 'b'}' here"):
        PredictorTrainer(Bundle.load(bundle.root), typed, tmp_path / "run", progress=False)
    # Synthetic music alone reads no folder: a run of it resumes from anywhere.
    PredictorTrainer(bundle, PredictorTraining(**{**TINY.__dict__, "data_root": ".."}), tmp_path / "synthetic",
                     progress=False, replace=True).run()
    monkeypatch.chdir(tmp_path / "a")
    synthetic = PredictorTraining(**{**TINY.__dict__, "steps": 6, "data_root": ".."})
    assert PredictorTrainer(Bundle.load(bundle.root), synthetic, tmp_path / "synthetic", progress=False).step == 4


def test_a_run_on_4q_clips_alone_resumes_whatever_its_synthetic_clip_count(bundle, tmp_path):
    # Unread with 4Q clips alone, the count still refused the resume (review 54); with 4Q absent
    # synthetic clips take their place, and their count binds.
    from tests.space_factory import write_4q

    write_4q(tmp_path / "data")
    only_4q = dataclasses.replace(TINY, music=("4q",), data_root=str(tmp_path / "data"))
    PredictorTrainer(bundle, only_4q, tmp_path / "run", progress=False).run()
    other = dataclasses.replace(only_4q, steps=6, synthetic_clips=8)
    assert PredictorTrainer(Bundle.load(bundle.root), other, tmp_path / "run", progress=False).step == 4
    absent = dataclasses.replace(only_4q, data_root=str(tmp_path / "none"))
    PredictorTrainer(bundle, absent, tmp_path / "fallback", progress=False, replace=True).run()
    with pytest.raises(UserError, match="--synthetic-clips 4 there, 8 here"):
        PredictorTrainer(bundle, dataclasses.replace(absent, steps=6, synthetic_clips=8), tmp_path / "fallback",
                         progress=False)


def test_the_music_kinds_are_a_set(bundle, tmp_path):
    # Typed in another order (or twice), they were "other settings" for a resume (review 55).
    typed = dataclasses.replace(TINY, music=("synthetic", "4q", "synthetic"), data_root=str(tmp_path / "none"))
    assert typed.music == ("4q", "synthetic")
    PredictorTrainer(bundle, typed, tmp_path / "run", progress=False).run()
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    state["config"]["music"] = ["synthetic", "4q"]  # as a run from before kept them
    torch.save(state, tmp_path / "run" / "state.pt")
    again = dataclasses.replace(typed, steps=6, music=("4q", "synthetic"))
    assert PredictorTrainer(Bundle.load(bundle.root), again, tmp_path / "run", progress=False).step == 4


def test_a_predictor_the_bundle_refuses_is_not_kept_to_resume_from(bundle, tmp_path):
    trainer = PredictorTrainer(bundle, TINY, tmp_path / "run", progress=False)
    trainer.run()
    with torch.no_grad():
        trainer.predictor.mappers[-1].output_layers()[0].weight.fill_(1e6)  # past float16's range
    trainer.step += 2
    with pytest.raises(UserError, match="not finite in float16"):
        trainer.checkpoint({"loss": 0.0})
    assert torch.load(tmp_path / "run" / "state.pt", weights_only=True)["step"] == 4


def test_a_fine_tune_killed_in_its_first_checkpoint_resumes_as_if_it_had_not_been(bundle, tmp_path, monkeypatch):
    PredictorTrainer(bundle, TINY, tmp_path / "first", progress=False).run()  # a trained predictor to tune
    other = Bundle.load(shutil.copytree(bundle.root, tmp_path / "other"))
    tune = PredictorTraining(**{**TINY.__dict__, "from_bundle": True})
    PredictorTrainer(Bundle.load(bundle.root), tune, tmp_path / "straight", progress=False).run()
    weights = other.root / other.config.predictor_weights
    started_from = weights.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(torch, "save", killed)  # as the run's first state is written
    with pytest.raises(KeyboardInterrupt):
        PredictorTrainer(Bundle.load(other.root), tune, tmp_path / "killed", progress=False).run()
    assert weights.read_bytes() == started_from
    monkeypatch.undo()
    PredictorTrainer(Bundle.load(other.root), tune, tmp_path / "killed", progress=False).run()
    assert (weights.read_bytes() == (bundle.root / bundle.config.predictor_weights).read_bytes())


def test_a_run_stopped_before_its_last_write_into_the_bundle_writes_it_when_run_again(bundle, tmp_path, capsys,
                                                                                     monkeypatch):
    from live.__main__ import main

    args = ["train", "predictor", "--bundle", str(bundle.root), "--steps", "2", "--batch", "2",
            "--checkpoint-every", "2", "--music", "synthetic", "--synthetic-clips", "4", "--quiet",
            "--outdir", str(tmp_path / "run")]
    weights = bundle.root / bundle.config.predictor_weights
    untrained = weights.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(amortize, "write_safetensors", killed)  # after the state, before the bundle's file
    assert main(args) == 130 and weights.read_bytes() == untrained
    monkeypatch.undo()
    capsys.readouterr()
    assert main(args) == 0
    assert "stopped before writing its predictor: wrote" in capsys.readouterr().out
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert not Bundle.load(bundle.root).predictor.is_identity() and state["step"] == 2
    for name, tensor in Bundle.load(bundle.root).predictor.state_dict().items():
        assert torch.equal(tensor, state["predictor"][name].half().float()), name
    assert main(args) == 0 and "nothing trained or written" in capsys.readouterr().out


def test_a_run_of_a_bundle_remade_under_its_name_is_not_resumed(bundle, tmp_path):
    PredictorTrainer(bundle, TINY, tmp_path / "run", progress=False).run()
    remade = Bundle.load(bundle.root)
    with torch.no_grad():
        next(remade.G.parameters()).add_(1.0)  # another generator of the same shapes
    remade.save(bundle.root)
    with pytest.raises(UserError, match="trained the predictor of another generator or space"):
        PredictorTrainer(Bundle.load(bundle.root), PredictorTraining(**{**TINY.__dict__, "steps": 6}),
                         tmp_path / "run", progress=False)


def test_a_run_does_not_write_into_a_bundle_remade_while_it_trains(bundle, tmp_path):
    """`bundle new --force` during a run: the run's next checkpoint put a predictor trained for
    the old generator into the new bundle, which then no longer said it was untrained (review)."""
    trainer = PredictorTrainer(bundle, TINY, tmp_path / "run", progress=False)
    remade = Bundle.load(bundle.root)
    with torch.no_grad():
        next(remade.G.parameters()).add_(1.0)
    remade.save(bundle.root)
    held = (bundle.root / bundle.config.predictor_weights).read_bytes()
    with pytest.raises(UserError, match="holds another generator or space than this run trains through"):
        trainer.run()
    assert (bundle.root / bundle.config.predictor_weights).read_bytes() == held
    assert (tmp_path / "run" / "state.pt").is_file()  # the run's own result is kept


def test_a_run_goes_on_over_its_bundle_s_networks_saved_again_unchanged(bundle, tmp_path):
    """`convert --fp32` over the generator: the same network, and the run stopped (review)."""
    from live.nets.checkpoints import save_generator

    trainer = PredictorTrainer(bundle, TINY, tmp_path / "run", progress=False)
    save_generator(bundle.G, bundle.root / bundle.config.generator_weights, torch.float32)
    trainer.run()
    assert Bundle.load(bundle.root).predictor_note() is None


def test_a_run_from_the_identity_depends_on_its_seed_not_on_the_bundle_s_predictor(tmp_path):
    base = random_bundle()
    roots = [base.save(tmp_path / name) for name in ("a", "b")]
    other = Bundle.load(roots[1])
    with torch.no_grad():
        for parameter in other.predictor.parameters():
            parameter.normal_()  # hidden layers as another `bundle new`, or an earlier training, left them
    other.save(roots[1])
    trained = []
    for root in roots:
        PredictorTrainer(Bundle.load(root), TINY, tmp_path / f"run-{root.name}", progress=False).run()
        trained.append(Bundle.load(root).predictor.state_dict())
    assert all(torch.equal(trained[0][name], trained[1][name]) for name in trained[0])


def test_training_steps_lower_the_transfer_loss_of_a_batch(bundle, tmp_path):
    """On one batch held fixed, at lambdas where moving pays (near the range's low end), each
    step lowers L_transfer: the trainer descends the objective it names."""
    config = PredictorTraining(**{**TINY.__dict__, "batch": 4, "lambda_high": 0.002, "layer_heads_from": 0})
    trainer = PredictorTrainer(bundle, config, tmp_path / "run", progress=False)
    batch = trainer.batch()
    trainer.batch = lambda: batch
    trainer.predictor.train().requires_grad_(True)
    losses = [trainer.train_step() for _ in range(8)]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses


def test_a_checkpoint_changes_only_the_predictor_s_table_of_the_bundle_toml(bundle, tmp_path):
    trainer = PredictorTrainer(bundle, TINY, tmp_path / "run", progress=False)
    toml = bundle.root / "bundle.toml"
    toml.write_text(toml.read_text().replace(f'description = "{bundle.config.description}"',
                                             'description = "my own words"'))  # while it trains
    trainer.run()
    assert Bundle.load(bundle.root).config.description == "my own words"


def test_a_negative_seed_is_refused_at_once():
    with pytest.raises(UserError, match=r"seed must be in 0..2\*\*32-1"):
        PredictorTraining(seed=-1)


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


def test_the_predictor_can_move_the_layers_of_one_group_apart():
    # A source made from one w repeats it in every layer: only the position tells them apart.
    torch.manual_seed(0)
    w_o = torch.randn(2, 1, 16).expand(2, 12, 16).contiguous()
    f = torch.randn(2, 32)
    for heads in (True, False):
        predictor = LatentPredictor(PredictorConfig(num_ws=12, w_dim=16, feature_dim=32, hidden=32, layer_heads=heads))
        moves = predictor(w_o, f, f, 0.1) - w_o
        for a, b in predictor.cfg.groups():
            spread = (moves[:, a:b] - moves[:, a:a + 1]).abs().max()
            assert (spread > 1e-4) == heads, (heads, a, b, spread)


def test_a_bundle_table_from_before_layer_heads_reads_as_one_output_per_group(bundle, tmp_path):
    assert "layer_heads = true" in (bundle.root / "bundle.toml").read_text()  # new bundles record it
    bundle.predictor = LatentPredictor(dataclasses.replace(bundle.predictor.cfg, layer_heads=False))
    toml = bundle.save(tmp_path / "blind") / "bundle.toml"
    toml.write_text(toml.read_text().replace("layer_heads = false\n", ""))  # as versions <= 0.4 wrote it
    assert Bundle.load(tmp_path / "blind").predictor.cfg.layer_heads is False


def test_layer_heads_grow_at_zero_and_wait_for_their_step(tmp_path):
    blind = random_bundle()
    blind.predictor = LatentPredictor(dataclasses.replace(blind.predictor.cfg, layer_heads=False))
    bundle = Bundle.load(blind.save(tmp_path / "blind"))
    torch.manual_seed(1)
    for layer in bundle.predictor.mappers[0].output_layers():  # a trained predictor moves its sources
        torch.nn.init.normal_(layer.weight)
    w_o = torch.randn(2, bundle.G.num_ws, bundle.G.w_dim)
    f = torch.randn(2, bundle.config.space.feature_dim)
    before = bundle.predictor(w_o, f, f, 0.01)
    assert not torch.equal(before, w_o)
    config = PredictorTraining(**{**TINY.__dict__, "from_bundle": True, "layer_heads": True, "layer_heads_from": 2})
    trainer = PredictorTrainer(bundle, config, tmp_path / "run", progress=False)
    assert trainer.predictor.cfg.layer_heads and torch.equal(trainer.predictor(w_o, f, f, 0.01), before)
    heads = [p.detach().clone() for p in trainer.heads]
    for _ in range(2):
        trainer.train_step()
    assert all(torch.equal(a, b) for a, b in zip(heads, trainer.heads))  # still waiting
    trainer.train_step()
    assert not all(torch.equal(a, b) for a, b in zip(heads, trainer.heads))
    trainer.run()  # its checkpoints rewrite bundle.toml with the heads
    assert Bundle.load(bundle.root).predictor.cfg.layer_heads


def test_a_fine_tune_trains_the_heads_it_was_given_from_its_first_step(bundle, tmp_path):
    assert bundle.predictor.cfg.layer_heads
    config = PredictorTraining(**{**TINY.__dict__, "from_bundle": True})
    trainer = PredictorTrainer(bundle, config, tmp_path / "run", progress=False)
    trainer.predictor.train().requires_grad_(True)  # as run() does
    heads = [p.detach().clone() for p in trainer.heads]
    trainer.train_step()
    assert not all(torch.equal(a, b) for a, b in zip(heads, trainer.heads))
    from_identity = PredictorTrainer(bundle, TINY, tmp_path / "identity", progress=False)
    assert from_identity.heads_from == HEADS_WAIT  # heads at zero wait for the shared move


def test_a_run_that_grew_heads_resumes_with_the_wait_it_started_with(tmp_path):
    blind = random_bundle()
    blind.predictor = LatentPredictor(dataclasses.replace(blind.predictor.cfg, layer_heads=False))
    root = blind.save(tmp_path / "blind")
    config = PredictorTraining(**{**TINY.__dict__, "steps": 2, "from_bundle": True, "layer_heads": True})
    PredictorTrainer(Bundle.load(root), config, tmp_path / "run", progress=False).run()
    # The checkpoint gave the bundle its heads; resuming must not read them as a fine-tune's.
    assert Bundle.load(root).predictor.cfg.layer_heads
    resumed = PredictorTrainer(Bundle.load(root), dataclasses.replace(config, steps=4), tmp_path / "run",
                               progress=False)
    assert resumed.step == 2 and resumed.heads_from == 0


def test_training_lambdas_can_be_drawn_from_the_lower_part_of_the_range(bundle, tmp_path):
    cfg = bundle.predictor.cfg
    config = PredictorTraining(**{**TINY.__dict__, "batch": 64, "lambda_high": 0.01})
    trainer = PredictorTrainer(Bundle.load(bundle.root), config, tmp_path / "low", progress=False)
    lam = trainer.batch()[2]
    assert cfg.lambda_min <= lam.min() and lam.max() <= 0.01 and lam.max() > 0.005
    # Log-uniform, as the predictor reads them: drawn uniformly, the lambdas where transfers move
    # would nearly vanish from training (review 49). Median here 0.0032, uniform's 0.0055.
    assert lam.median() == pytest.approx((cfg.lambda_min * 0.01) ** 0.5, rel=0.35)
    for high in (cfg.lambda_min, 2 * cfg.lambda_max):
        with pytest.raises(UserError, match="the range this predictor reads"):
            PredictorTrainer(Bundle.load(bundle.root), PredictorTraining(**{**TINY.__dict__, "lambda_high": high}),
                             tmp_path / "bad", progress=False)


@pytest.mark.parametrize("heads", [False, True])
def test_a_predictor_with_its_source_fixed_gives_the_predictors_outputs(heads):
    from live.nets.predictor import SourcePredictor

    torch.manual_seed(0)
    predictor = LatentPredictor(PredictorConfig(num_ws=12, w_dim=16, feature_dim=32, hidden=32, layer_heads=heads))
    for p in predictor.parameters():  # away from the identity, at the scale of the stored init (x 1/lr_multiplier)
        p.data.normal_(std=1 / predictor.cfg.lr_multiplier)
    w_o, f_i, f_m = torch.randn(1, 12, 16), torch.randn(1, 32), torch.randn(1, 32)
    fixed = SourcePredictor(predictor, w_o, f_i)
    with torch.no_grad():
        moves = []
        for lam in (1e-3, 0.02, 0.5):
            expected = predictor(w_o, f_i, f_m, lam) - w_o
            assert torch.allclose(fixed(f_m, lam) - w_o, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
            moves.append(expected)
        assert (moves[0] - moves[2]).abs().max() > 0.1 * moves[0].abs().max()  # lambda counts


def test_a_music_bank_made_under_other_settings_is_not_reused(bundle, tmp_path):
    """A run stopped before its first checkpoint keeps its banks; a changed setting must not meet them."""
    PredictorTrainer(bundle, TINY, tmp_path / "run", progress=False)
    more = PredictorTrainer(Bundle.load(bundle.root), PredictorTraining(**{**TINY.__dict__, "synthetic_clips": 6}),
                            tmp_path / "run", progress=False)
    assert len(more.train_bank) == 6 and len(list((tmp_path / "run").glob("music-train-*.safetensors"))) == 2


@pytest.mark.parametrize("content", [b"", b"text", "foreign"])
def test_an_unreadable_predictor_state_is_one_line(bundle, tmp_path, content):
    from live.transfer.amortize import STATE_FILE

    (tmp_path / "run").mkdir()
    path = tmp_path / "run" / STATE_FILE
    if content == "foreign":
        torch.save({"a": 1}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match="not a readable predictor training state.*move it away"):
        PredictorTrainer(bundle, TINY, tmp_path / "run", progress=False)


def test_asking_for_4q_music_without_its_data_is_refused(bundle, tmp_path, capsys):
    from live.__main__ import main

    assert main(["train", "predictor", "--bundle", str(bundle.root), "--music", "4q", "--data", str(tmp_path),
                 "--outdir", str(tmp_path / "run")]) == 2
    assert "no 4Q clips" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_a_finished_run_run_again_says_it_wrote_nothing(bundle, tmp_path, capsys):
    from live.__main__ import main

    args = ["train", "predictor", "--bundle", str(bundle.root), "--steps", "2", "--batch", "2",
            "--checkpoint-every", "2", "--music", "synthetic", "--synthetic-clips", "4", "--quiet",
            "--outdir", str(tmp_path / "run")]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(args) == 0
    assert "nothing trained or written" in capsys.readouterr().out


def test_the_default_run_folder_is_named_after_the_bundle_s_folder(bundle, tmp_path, monkeypatch):
    # A copied bundle keeps bundle.toml's name: named by that, it trained in the original's run folder.
    import shutil

    from live.__main__ import main

    monkeypatch.chdir(tmp_path)
    shutil.copytree(bundle.root, tmp_path / "mine")
    assert Bundle.load(tmp_path / "mine").config.name != "mine"
    assert main(["train", "predictor", "--bundle", str(tmp_path / "mine"), "--steps", "1", "--batch", "2",
                 "--checkpoint-every", "1", "--music", "synthetic", "--synthetic-clips", "4", "--quiet"]) == 0
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["predictor-mine"]


def test_a_finished_run_run_again_leaves_a_predictor_trained_since_in_the_bundle(bundle, tmp_path, capsys):
    # A script run again put the first run's predictor back over a fine-tune made since, and
    # said the first run "stopped before writing".
    from live.__main__ import main

    args = ["train", "predictor", "--bundle", str(bundle.root), "--steps", "2", "--batch", "2",
            "--checkpoint-every", "2", "--music", "synthetic", "--synthetic-clips", "4", "--quiet"]
    assert main([*args, "--outdir", str(tmp_path / "first")]) == 0
    assert main([*args, "--outdir", str(tmp_path / "tune"), "--from-bundle", "--lr", "0.15"]) == 0
    weights = bundle.root / bundle.config.predictor_weights
    tuned = weights.read_bytes()
    capsys.readouterr()
    assert main([*args, "--outdir", str(tmp_path / "first")]) == 0
    assert "holds a predictor written since (another run's): left as it is" in capsys.readouterr().out
    assert weights.read_bytes() == tuned
    # A state from before the bundle's predictor was recorded writes the one it may have missed, as it did.
    state = torch.load(tmp_path / "first" / "state.pt", weights_only=True)
    del state["bundle_before"]
    torch.save(state, tmp_path / "first" / "state.pt")
    assert main([*args, "--outdir", str(tmp_path / "first")]) == 0
    assert "stopped before writing its predictor: wrote" in capsys.readouterr().out


@pytest.mark.parametrize("theirs", ["training-state.pt", "checkpoint.pt"])
def test_a_folder_of_another_trainer_s_run_is_refused_before_the_music_banks_go_into_it(bundle, tmp_path, theirs):
    run = tmp_path / "run"
    run.mkdir()
    (run / theirs).write_bytes(b"their state")
    with pytest.raises(UserError, match=f"holds a `train (gan|space)` run \\({theirs}\\)"):
        PredictorTrainer(bundle, TINY, run, progress=False)
    assert sorted(p.name for p in run.iterdir()) == [theirs]


def test_a_bundle_whose_table_and_weights_disagree_only_about_layer_heads_still_loads(bundle):
    """A kill between the grown weights and bundle.toml's update (train predictor --layer-heads)."""
    from live.models import BUNDLE_FILE
    from live.nets.weights import save_weights

    assert bundle.predictor.cfg.layer_heads  # random bundles have heads
    table = (bundle.root / BUNDLE_FILE).read_text()
    without = table.replace("layer_heads = true", "layer_heads = false")
    assert without != table
    (bundle.root / BUNDLE_FILE).write_text(without)
    assert Bundle.load(bundle.root).predictor.cfg.layer_heads  # the weights have them: they are used
    headless = LatentPredictor(dataclasses.replace(bundle.predictor.cfg, layer_heads=False))
    save_weights(headless, bundle.root / bundle.config.predictor_weights)
    (bundle.root / BUNDLE_FILE).write_text(table)
    loaded = Bundle.load(bundle.root).predictor  # the table says heads, the weights have none: heads at zero
    assert loaded.cfg.layer_heads and all(float(p.abs().sum()) == 0 for p in loaded.layer_head_parameters())


def test_a_run_scores_the_held_out_pairs_at_its_checkpoints_only(bundle, tmp_path, monkeypatch, capsys):
    from live.transfer.embed import true_transfer_loss

    # 4Q asked for where there is none: one note for the run, not one per side of the split.
    config = dataclasses.replace(TINY, music=("4q", "synthetic"), data_root=str(tmp_path / "nowhere"))
    trainer = PredictorTrainer(bundle, config, tmp_path / "run", progress=False)
    assert capsys.readouterr().err.count("no 4Q clips") == 1
    p = trainer.pairs
    at_source = true_transfer_loss(bundle, p.w_source, p.w_source, p.f_music, p.lam).total.mean()
    assert trainer.evaluate()["heldout_source"] == pytest.approx(float(at_source), abs=1e-5)
    scored = []
    evaluate = PredictorTrainer.evaluate
    monkeypatch.setattr(PredictorTrainer, "evaluate", lambda self, *a: (scored.append(self.step), evaluate(self))[1])
    trainer.run()
    assert scored == [2, 4]  # not before the first step: a pass through G and E_I per pair, minutes at 256 px
    # The predictor's score is its own outputs', which have moved: it could have been the source's (review 49).
    with torch.no_grad():
        w_m = trainer.predictor.eval()(p.w_source, p.f_source, p.f_music, p.lam)
    trainer.predictor.train()
    predicted = float(true_transfer_loss(bundle, w_m, p.w_source, p.f_music, p.lam).total.mean())
    assert trainer.evaluate()["heldout_predicted"] == pytest.approx(predicted, abs=1e-5)
    assert abs(predicted - float(at_source)) > 1e-5
    # Fewer pairs on resume: they only score the run.
    fewer = dataclasses.replace(config, steps=6, held_out_pairs=1)
    resumed = PredictorTrainer(bundle, fewer, tmp_path / "run", progress=False)
    assert len(resumed.pairs) == 1
    resumed.run()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["heldout_pairs"]) for r in log] == [(2, 2), (4, 2), (6, 1)]  # which set scored each


# Held-out pairs are scored over the LOWER half (log scale) of the lambda range.
def test_evaluation_lambdas_span_the_lower_half_of_the_range(bundle):
    from live.transfer.amortize import evaluation_lambdas
    cfg = bundle.predictor.cfg
    lams = evaluation_lambdas(bundle)
    assert lams[0] == pytest.approx(cfg.lambda_min)
    assert lams[-1] == pytest.approx(math.sqrt(cfg.lambda_min * cfg.lambda_max))


def test_an_unreadable_clip_among_the_music_is_skipped_with_a_note(bundle, tmp_path, capsys):
    """As the space's trainer does: one damaged file among the 4Q set stopped the run after
    minutes of encoding the clips before it."""
    import soundfile as sf

    from live.space.data.audio import AudioSpan
    from live.space.data.records import LabelledClip
    from live.transfer.music import encode_clips

    sf.write(tmp_path / "good.wav", 0.1 * torch.randn(22050 * 3).numpy(), 22050)
    (tmp_path / "bad.mp3").write_bytes(b"not audio" * 500)
    clips = [LabelledClip(AudioSpan(tmp_path / name), 0.5, 0.5, 1.0, "4q", name) for name in ("good.wav", "bad.mp3")]
    bank = encode_clips(bundle, clips, windows_per_clip=2, progress=False)
    assert "skipped 1 unreadable clips, e.g. " in capsys.readouterr().err
    assert torch.equal(bank.features, encode_clips(bundle, clips[:1], windows_per_clip=2, progress=False).features)


def test_a_second_run_on_a_bundle_whose_predictor_is_being_trained_is_refused(bundle, tmp_path):
    """Two runs (two --outdir) on one bundle wrote its predictor in turns, and the first to end said it wrote
    what the other then replaced (review 66)."""
    from live.files import lock_alone

    held = lock_alone(bundle.root)  # another command's run, under way
    try:
        with pytest.raises(UserError, match="another `train predictor` run is training the predictor of"):
            PredictorTrainer(bundle, TINY, tmp_path / "second", progress=False).run()
    finally:
        os.close(held)
    assert not list((tmp_path / "second").glob("*"))  # refused at once: no music banks encoded first (review 67)
    PredictorTrainer(Bundle.load(bundle.root), TINY, bundle.root, progress=False).run()  # its own folder: one lock


def test_a_second_command_on_a_running_folder_writes_nothing_there_and_never_resumes_a_stale_state(bundle, tmp_path):
    run = tmp_path / "run"
    PredictorTrainer(bundle, TINY, run, progress=False).run()  # to step 4
    config, log = (run / "config.json").read_text(), (run / "log.jsonl").read_text()
    more = PredictorTraining(**{**TINY.__dict__, "steps": 8})
    with training_in(run):  # another command's run, under way
        second = PredictorTrainer(Bundle.load(bundle.root), more, run, progress=False)
        with pytest.raises(UserError, match="in use by another training run"):
            second.run()
    assert (run / "config.json").read_text() == config and (run / "log.jsonl").read_text() == log
    stale = PredictorTrainer(Bundle.load(bundle.root), more, run, progress=False)  # has read step 4
    PredictorTrainer(Bundle.load(bundle.root), PredictorTraining(**{**TINY.__dict__, "steps": 6}), run,
                     progress=False).run()  # the first command goes on to step 6 meanwhile
    with pytest.raises(UserError, match="written by another run while this command started"):
        stale.run()
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 6


def test_a_run_stopped_at_its_last_checkpoint_ends_with_every_row_of_its_log(bundle, tmp_path, monkeypatch):
    """Stopped between the last state and its log row, the finished run had lost the row for good."""
    run = tmp_path / "run"
    real = amortize.log_line

    def stopped_at_the_last(row):
        if row["step"] == TINY.steps:
            raise KeyboardInterrupt
        return real(row)
    monkeypatch.setattr(amortize, "log_line", stopped_at_the_last)
    with pytest.raises(KeyboardInterrupt):
        PredictorTrainer(bundle, TINY, run, progress=False).run()
    monkeypatch.undo()
    PredictorTrainer(Bundle.load(bundle.root), TINY, run, progress=False).run()
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [2, 4]


def test_a_clip_s_windows_end_evenly_from_one_window_in_to_its_end():
    """Ends from 0, a third of a bank's windows were silence fed to E_M as music (review 49)."""
    from live.transfer.music import window_ends

    assert window_ends(220_500, 66_150, 3) == [66_150, 143_325, 220_500]
    assert window_ends(50_000, 66_150, 3) == [50_000]  # shorter than a window: the one, padded
    assert window_ends(220_500, 66_150, 1) == [220_500]


def test_a_stopped_run_is_checkpointed_at_the_step_it_stopped_after_and_goes_on_from_there(bundle, tmp_path):
    """Ctrl-C lost every step since the last checkpoint, where `train gan` keeps them (review 53)."""
    import threading

    config = dataclasses.replace(TINY, steps=6, checkpoint_every=4)
    PredictorTrainer(bundle, config, tmp_path / "straight", progress=False).run()
    run, stop = tmp_path / "run", threading.Event()
    trainer = PredictorTrainer(Bundle.load(bundle.root), config, run, progress=False, replace=True)
    step = trainer.train_step

    def stepped():
        loss = step()
        if trainer.step == 3:
            stop.set()  # as the signal handler does, mid-step
        return loss
    trainer.train_step = stepped
    scored = []
    trainer.evaluate = lambda: scored.append(trainer.step)
    assert trainer.run(stop=stop) == {} and scored == []  # a score no row keeps: minutes for a large G (review 59)
    assert trainer.step == 3 and not (run / "log.jsonl").exists()  # no row a straight run has not
    written = (bundle.root / bundle.config.predictor_weights).read_bytes()
    resumed = PredictorTrainer(Bundle.load(bundle.root), dataclasses.replace(TINY, steps=6, checkpoint_every=4), run,
                               progress=False)
    assert resumed.step == 3 and written == (bundle.root / bundle.config.predictor_weights).read_bytes()
    resumed.run()
    # Its rows are a straight run's, the loss at step 4 over steps 1-4 (review 55: over step 4 alone).
    assert (run / "log.jsonl").read_text() == (tmp_path / "straight" / "log.jsonl").read_text()


def test_a_run_resumed_over_a_predictor_another_run_wrote_since_is_refused(bundle, tmp_path):
    """Trained on, its checkpoints replaced a fine-tune written into the bundle since, unsaid (review 53)."""
    PredictorTrainer(bundle, TINY, tmp_path / "first", progress=False).run()
    PredictorTrainer(Bundle.load(bundle.root), dataclasses.replace(TINY, from_bundle=True, steps=2),
                     tmp_path / "fine-tune", progress=False).run()
    fine_tuned = (bundle.root / bundle.config.predictor_weights).read_bytes()
    more = PredictorTrainer(Bundle.load(bundle.root), dataclasses.replace(TINY, steps=6), tmp_path / "first",
                            progress=False)
    with pytest.raises(UserError, match="holds a predictor another run wrote since this run's last checkpoint"):
        more.run()
    assert (bundle.root / bundle.config.predictor_weights).read_bytes() == fine_tuned


def test_a_training_run_keeps_the_notes_written_above_the_bundle_s_tables(bundle, tmp_path):
    # The bundle.toml rewrite with the predictor's table dropped them (review 53).
    toml = bundle.root / "bundle.toml"
    toml.write_text("# trained on my photos, 2026-12; do not ship\n\n" + toml.read_text())
    PredictorTrainer(bundle, dataclasses.replace(TINY, steps=2), tmp_path / "run", progress=False).run()
    assert toml.read_text().startswith("# trained on my photos, 2026-12; do not ship\n\n")
    assert Bundle.load(bundle.root).config.trained_with


def test_a_run_folder_of_another_bundle_of_the_same_name_is_named_as_such(bundle, tmp_path):
    """Two bundles named B (two models folders) share runs/predictor-B: the refusal said the bundle was remade
    and to delete the folder, the other bundle's resumable run (review 66)."""
    run = tmp_path / "run"
    PredictorTrainer(bundle, TINY, run, progress=False).run()
    other = Bundle.load(random_bundle(seed=1).save(tmp_path / "elsewhere" / bundle.root.name))
    with pytest.raises(UserError, match=rf"{run} is the run of another bundle, {bundle.root}; give this one its own"):
        PredictorTrainer(other, TINY, run, progress=False)


def test_a_run_resumes_into_its_bundle_made_again_around_the_same_networks(bundle, tmp_path):
    """`bundle new --force` with the same generator and space leaves an untrained predictor: the resume was refused
    as if another run had written it, and the advice (--from-bundle) started over from the identity (review 66)."""
    run = tmp_path / "run"
    PredictorTrainer(bundle, TINY, run, progress=False).run()
    remade = Bundle.load(bundle.root)
    remade.predictor.reset_to_identity()
    remade.config = dataclasses.replace(remade.config, trained_with={})
    remade.save(bundle.root)
    resumed = PredictorTrainer(Bundle.load(bundle.root), dataclasses.replace(TINY, steps=6), run, progress=False)
    resumed.run()
    assert resumed.step == 6 and resumed._bundle_holds() == "this run's"


def test_a_run_of_a_bundle_moved_since_says_where_it_was(bundle, tmp_path):
    """It was called another bundle's run, and the advice (a new --outdir) started over (review 68)."""
    run = tmp_path / "run"
    PredictorTrainer(bundle, TINY, run, progress=False).run()
    moved = shutil.move(bundle.root, tmp_path / "moved")
    with pytest.raises(UserError, match=rf"trained the bundle at {bundle.root} \(moved since\?\): put it back there"):
        PredictorTrainer(Bundle.load(moved), dataclasses.replace(TINY, steps=6), run, progress=False)
