import fractions
import json
import os
import signal
import threading

import pytest
import torch
from PIL import Image

from live.__main__ import main
from live.errors import UserError
from live.files import training_in
from live.gan.config import GanConfig
from live.gan.train import CHECKPOINT, LOG, GanTrainer
from live.nets.checkpoints import load_generator, save_generator

TINY = dict(resolution=32, z_dim=16, w_dim=16, channel_base=256, channel_max=32, batch=4,
            snapshot_kimg=0.008, r1_interval=2, seed=3)


def _params(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_training_moves_the_generator_and_writes_snapshots(tmp_path):
    trainer = GanTrainer(GanConfig(total_kimg=0.016, **TINY), tmp_path)
    before = _params(trainer.G_ema).clone()
    state = trainer.run()
    assert state.images_seen == 16 and state.d_steps == 4
    assert not torch.equal(before, _params(trainer.G_ema))
    assert (tmp_path / CHECKPOINT).is_file()
    assert len(list(tmp_path.glob("samples-*.png"))) == 2
    assert [round(h["kimg"], 3) for h in state.history] == [0.008, 0.016]
    assert all(torch.isfinite(torch.tensor(h["loss_G"])) for h in state.history)
    logged = [json.loads(line) for line in (tmp_path / LOG).read_text().splitlines()]
    assert logged == state.history  # readable without unpickling the checkpoint
    with pytest.raises(UserError, match=f"a `train gan` run's state, not a generator; .* --outdir {tmp_path} --kimg 0"):
        load_generator(tmp_path / CHECKPOINT)  # bundle new --network RUN/training-state.pt


def test_a_run_folder_another_training_holds_is_refused_until_it_ends(tmp_path):
    """Two runs on one folder saved over each other's checkpoints in turns, and one died on
    the other's temporary file with a line about permissions."""
    trainer = GanTrainer(GanConfig(total_kimg=0.004, **TINY), tmp_path)
    with training_in(tmp_path):  # another run, training
        with pytest.raises(UserError, match=f"{tmp_path} is in use by another training run"):
            trainer.run()
        assert not (tmp_path / CHECKPOINT).exists()
    assert trainer.run().images_seen == 4  # its end frees the folder


def test_the_progress_bar_ends_at_its_total(tmp_path, recwarn, capsys):
    GanTrainer(GanConfig(total_kimg=0.04, **TINY), tmp_path).run()  # ten batches of 0.004 kimg sum past 0.04
    assert not [w for w in recwarn if "clamping frac" in str(w.message)]
    assert "0.04/0.04 kimg [" in capsys.readouterr().err


def test_no_mirror_on_the_procedural_corpus_is_said_to_do_nothing_and_does_not_bind_the_resume(tmp_path, capsys):
    # Taken without a word, then compared: `--mirror` refused the run's resume (review 54).
    GanTrainer(GanConfig(total_kimg=0.004, mirror=False, **TINY), tmp_path).run()
    assert "--no-mirror applies to a --data folder's pictures" in capsys.readouterr().err
    assert GanTrainer(GanConfig(total_kimg=0.008, **TINY), tmp_path).run().images_seen == 8


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    straight = GanTrainer(GanConfig(total_kimg=0.016, **TINY), tmp_path / "a")
    straight.run()
    GanTrainer(GanConfig(total_kimg=0.008, **TINY), tmp_path / "b").run()
    resumed = GanTrainer(GanConfig(total_kimg=0.016, **TINY), tmp_path / "b")
    assert resumed.state.images_seen == 8
    resumed.run()
    assert torch.equal(_params(straight.G_ema), _params(resumed.G_ema))
    assert torch.equal(_params(straight.D), _params(resumed.D))
    logged = {run: [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
                    for line in (tmp_path / run / LOG).read_text().splitlines()] for run in "ab"}
    assert [row["kimg"] for row in logged["b"]] == [0.008, 0.016]
    assert logged["b"] == logged["a"]  # the losses' moving averages too (they started again at a resume)


def test_a_stop_between_snapshots_saves_the_run_where_it_stopped(tmp_path):
    # Ctrl-C kept only the last snapshot's state: up to an hour at the defaults.
    straight = GanTrainer(GanConfig(total_kimg=0.016, **TINY), tmp_path / "a")
    straight.run()
    stop = threading.Event()
    stopped = GanTrainer(GanConfig(total_kimg=0.016, **TINY), tmp_path / "b")
    step = stopped.step

    def step_then_ask_to_stop():
        stats = step()
        if stopped.state.images_seen == 12:  # between the snapshots at 8 and 16 images
            stop.set()
        return stats

    stopped.step = step_then_ask_to_stop
    assert stopped.run(stop=stop).images_seen == 12
    resumed = GanTrainer(GanConfig(total_kimg=0.016, **TINY), tmp_path / "b")
    assert resumed.state.images_seen == 12
    resumed.run()
    assert torch.equal(_params(straight.G_ema), _params(resumed.G_ema))
    assert torch.equal(_params(straight.D), _params(resumed.D))
    assert sorted(p.name for p in (tmp_path / "b").glob("samples-*")) == sorted(
        p.name for p in (tmp_path / "a").glob("samples-*"))
    rows = {run: [json.loads(line)["loss_D"] for line in (tmp_path / run / LOG).read_text().splitlines()]
            for run in "ab"}
    assert rows["b"] == rows["a"]


def test_a_stop_signal_ends_train_gan_with_its_state_saved(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 40), (80 * i, 40, 200)).save(data / f"{i}.png")
    stop_at = [2]

    def interrupt_after_two_steps(trainer_step):
        def step():
            stats = trainer_step()
            stop_at[0] -= 1
            if stop_at[0] == 0:
                os.kill(os.getpid(), signal.SIGINT)
            return stats
        return step

    original = GanTrainer.step
    try:
        GanTrainer.step = lambda self: interrupt_after_two_steps(lambda: original(self))()
        code = main(["train", "gan", "--outdir", str(tmp_path / "run"), "--data", str(data), "--res", "32",
                     "--batch", "4", "--kimg", "1", "--snapshot-kimg", "0.1", "--channel-base", "256",
                     "--channel-max", "32", "--threads", "1"])
    finally:
        GanTrainer.step = original
    err = capsys.readouterr().err
    assert code == 130
    assert f"stopped at 0.008 kimg, its state saved in {tmp_path / 'run'}; the same command goes on" in err
    assert GanTrainer(GanConfig(resolution=32, batch=4, data=str(data), channel_base=256, channel_max=32),
                      tmp_path / "run").state.images_seen == 8


def test_init_starts_from_a_trained_generator_and_checks_its_architecture(tmp_path, capsys, monkeypatch):
    args = ["train", "gan", "--res", "32", "--z-dim", "16", "--w-dim", "16", "--channel-base", "256",
            "--channel-max", "32", "--batch", "4", "--snapshot-kimg", "0.008", "--seed", "3", "--threads", "1"]
    first = tmp_path / "first.safetensors"
    assert main([*args, "--outdir", str(tmp_path / "a"), "--kimg", "0.008", "--export", str(first)]) == 0
    G_first, _ = load_generator(first)
    tuned = GanTrainer(GanConfig(total_kimg=0, init=str(first), **TINY), tmp_path / "b")
    assert torch.allclose(_params(tuned.G), _params(G_first)) and torch.allclose(_params(tuned.G_ema), _params(G_first))
    capsys.readouterr()
    assert main([*args[:-6], "--channel-max", "16", "--outdir", str(tmp_path / "c"), "--kimg", "0",
                 "--init", str(first)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "architecture" in err[0] and "--init" in err[0]
    # A run from --init resumes with it written another way (it is not read again).
    assert main([*args, "--outdir", str(tmp_path / "d"), "--kimg", "0.008", "--init", str(first)]) == 0
    (tmp_path / "x").mkdir()
    assert main(["train", "gan", "--outdir", str(tmp_path / "d"), "--kimg", "0.016", "--threads", "1",
                 "--init", str(tmp_path / "x" / ".." / "first.safetensors")]) == 0
    # Started with a path relative to its folder of then, resumed from another folder.
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--outdir", str(tmp_path / "e"), "--kimg", "0.008", "--init", "first.safetensors"]) == 0
    monkeypatch.chdir(tmp_path / "x")
    assert main(["train", "gan", "--outdir", str(tmp_path / "e"), "--kimg", "0.016", "--threads", "1",
                 "--init", "../first.safetensors"]) == 0


def test_init_takes_a_generator_of_the_same_shape_whatever_settings_shape_no_weight(tmp_path):
    from live.nets.stylegan2 import Generator

    # As NVlabs' pickles carry them: conv_clamp and fp16 layers, a default written out.
    kwargs = GanConfig(**TINY).generator_kwargs()
    kwargs["synthesis_kwargs"] |= {"conv_clamp": 256, "num_fp16_res": 4}
    path = save_generator(Generator(**kwargs), tmp_path / "theirs.safetensors", dtype=torch.float32)
    tuned = GanTrainer(GanConfig(total_kimg=0, init=str(path), **TINY), tmp_path / "run")
    assert torch.allclose(_params(tuned.G), _params(load_generator(path)[0]))


@pytest.mark.parametrize("part, option", [("mapping_kwargs", {"lr_multiplier": 1.0}),
                                          ("synthesis_kwargs", {"resample_filter": [1, 2, 1]}),
                                          ("synthesis_kwargs", {"activation": "linear"})])
def test_init_refuses_a_generator_that_computes_otherwise_from_its_weights(tmp_path, part, option):
    """The run built its own defaults and took the weights over: a mapping at another
    lr_multiplier gave w 1000 times smaller, a 3-tap filter was grown into a 4-tap one."""
    from live.nets.stylegan2 import Generator

    kwargs = GanConfig(**TINY).generator_kwargs()
    kwargs[part] = {**kwargs[part], **option}
    path = save_generator(Generator(**kwargs), tmp_path / "theirs.safetensors", dtype=torch.float32)
    with pytest.raises(UserError, match=f"compute otherwise than this run's .*{next(iter(option))}"):
        GanTrainer(GanConfig(total_kimg=0, init=str(path), **TINY), tmp_path / "run")


def test_init_takes_a_generator_whose_w_avg_decays_at_another_rate(tmp_path):
    from live.nets.stylegan2 import Generator

    kwargs = GanConfig(**TINY).generator_kwargs()
    kwargs["mapping_kwargs"] = {**kwargs["mapping_kwargs"], "w_avg_beta": 0.998}  # NVlabs' later code base's
    path = save_generator(Generator(**kwargs), tmp_path / "theirs.safetensors", dtype=torch.float32)
    tuned = GanTrainer(GanConfig(total_kimg=0, init=str(path), **TINY), tmp_path / "run")
    assert torch.allclose(_params(tuned.G), _params(load_generator(path)[0]))


def test_path_length_regularization_runs_lazily_and_its_mean_is_kept(tmp_path):
    trainer = GanTrainer(GanConfig(total_kimg=0.016, pl_interval=2, **TINY), tmp_path)
    steps = [trainer.step() for _ in range(4)]
    assert ["pl" in s for s in steps] == [True, False, True, False]
    assert trainer.state.pl_mean > 0
    trainer.save()
    assert GanTrainer(GanConfig(total_kimg=0.016, pl_interval=2, **TINY), tmp_path).state.pl_mean == \
        trainer.state.pl_mean
    off = GanTrainer(GanConfig(total_kimg=0.016, pl_weight=0.0, **TINY), tmp_path / "off")
    assert "pl" not in off.step() and off.opt_G.param_groups[0]["lr"] == off.cfg.lr


def test_a_run_from_a_generator_file_starts_its_path_length_mean_at_that_generator_s(tmp_path):
    # Started at 0, the penalty would shrink a trained G's lengths, and W's hold with them.
    first = GanTrainer(GanConfig(total_kimg=0, **TINY), tmp_path / "a")
    means = []
    for gain in (1.0, 3.0):
        with torch.no_grad():
            for p in first.G_ema.synthesis.parameters():
                p.mul_(gain)  # the second G's pictures move more per unit of W
        path = tmp_path / f"g{gain}.safetensors"
        save_generator(first.G_ema, path)
        runs = [GanTrainer(GanConfig(total_kimg=0.016, init=str(path), **{**TINY, "seed": seed}), tmp_path / f"{gain}{seed}")
                for seed in (3, 4)]
        # Two estimates from other latents agree, and a training step keeps the mean there.
        assert runs[1].state.pl_mean == pytest.approx(runs[0].state.pl_mean, rel=0.3)
        runs[0].step()
        assert runs[0].state.pl_mean == pytest.approx(runs[1].state.pl_mean, rel=0.3)
        means.append(runs[1].state.pl_mean)
    assert 0 < means[0] < means[1] / 2


def test_during_the_d_warmup_only_d_trains(tmp_path):
    trainer = GanTrainer(GanConfig(total_kimg=0.016, d_warmup_kimg=0.008, **TINY), tmp_path)
    G, D = _params(trainer.G).clone(), _params(trainer.D).clone()
    warm = [trainer.step() for _ in range(2)]  # 8 images
    assert torch.equal(G, _params(trainer.G)) and torch.equal(G, _params(trainer.G_ema))
    assert not torch.equal(D, _params(trainer.D))
    assert all("loss_G" not in s and "loss_D" in s for s in warm)
    assert "loss_G" in trainer.step() and not torch.equal(G, _params(trainer.G))


def test_noise_above_noise_max_res_is_silenced_and_stays_silent(tmp_path):
    first = GanTrainer(GanConfig(total_kimg=0, **TINY), tmp_path / "a")
    with torch.no_grad():
        for name, p in first.G_ema.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    path = tmp_path / "noisy.safetensors"
    save_generator(first.G_ema, path)
    tuned = GanTrainer(GanConfig(total_kimg=0.016, init=str(path), noise_max_res=8, **TINY), tmp_path / "b")

    def strengths(net):
        return {name.split(".")[1] + name.split(".")[2]: float(p.detach()) for name, p in net.named_parameters()
                if name.endswith("noise_strength")}

    fine = {"b16conv0", "b16conv1", "b32conv0", "b32conv1"}
    for net in (tuned.G, tuned.G_ema):
        assert {k for k, v in strengths(net).items() if v == 0.0} == fine
    tuned.run()
    for net in (tuned.G, tuned.G_ema):
        s = strengths(net)
        assert all(s[k] == 0.0 for k in fine)
        assert s["b8conv1"] != 0.5  # the coarse ones still train
    for bad in (-1, 100, 256):  # not a block resolution of the 128 px default
        with pytest.raises(UserError, match="noise-max-res"):
            GanConfig(noise_max_res=bad)
    with pytest.raises(UserError, match="held-out"):
        GanConfig(seed=1000)
    for seed in (-1, 1 << 64):  # a folder of images had no check of its own; torch takes 64 bits
        with pytest.raises(UserError, match=r"--seed must be in 0..2\*\*32-1"):
            GanConfig(seed=seed, data="images")
    with pytest.raises(UserError, match="--style-mixing must be in 0..1; got 5"):  # a probability
        GanConfig(style_mixing=5.0)


def test_compiled_training_computes_the_eager_losses_and_keeps_its_regularizers(tmp_path):
    """Step 1 starts from the same weights and draws: its losses must agree. Steps 1 and 3
    run R1 and path length, whose double backward compiled graphs could not take, so
    running them at all checks that they stay eager."""
    def first_step(compile: bool) -> tuple[GanTrainer, dict]:
        trainer = GanTrainer(GanConfig(total_kimg=0.016, pl_interval=2, compile=compile, **TINY), tmp_path / str(compile))
        return trainer, trainer.step()  # the trainer seeds torch's generator: each draws the same

    _, eager = first_step(False)
    with torch._inductor.config.patch(fallback_random=True):  # the noise inputs drawn as eager draws them
        compiled, first = first_step(True)
    # R1 and path length call the eager modules on the same weights: only G's and D's
    # losses go through the compiled graphs.
    assert "r1" in first and "pl" in first
    assert abs(eager["loss_G"] - first["loss_G"]) <= 1e-4 * abs(eager["loss_G"])
    # D's step follows G's first update, which Adam's normalized steps make differ in the
    # last digits: its loss agrees less tightly.
    assert abs(eager["loss_D"] - first["loss_D"]) < 1e-2
    assert compiled._synthesis._orig_mod is compiled.G.synthesis and compiled._discriminator._orig_mod is compiled.D
    later = [compiled.step() for _ in range(2)]
    assert "r1" in later[1] and all(torch.isfinite(torch.tensor(s["loss_D"])) for s in later)


@pytest.mark.parametrize("change, words", [({"batch": 0}, "--batch must be at least 1"),
                                           ({"total_kimg": -1.0}, "--kimg must be a finite number"),
                                           ({"snapshot_kimg": 0.0}, "--snapshot-kimg")])
def test_settings_that_cannot_train_are_refused_before_anything_is_built(change, words):
    with pytest.raises(UserError, match=words):
        GanConfig(**{**TINY, **change})


def test_a_resumed_run_refuses_changed_training_flags_and_takes_changed_schedules(tmp_path):
    GanTrainer(GanConfig(total_kimg=0.008, **TINY), tmp_path).run()
    for change, named in ((dict(lr=0.01), "--lr 0.0025"), (dict(seed=7), "--seed 3"), (dict(resolution=64), "--res 32"),
                          (dict(init=str(tmp_path / "other.pt")), r"--init \(unset\);")):  # not "--init ;" or '""'
        with pytest.raises(UserError, match=f"was trained with {named}.*choose a new --outdir"):
            GanTrainer(GanConfig(total_kimg=0.016, **{**TINY, **change}), tmp_path)
    # A flag as typed, on a folder's pictures (the procedural corpus has no sides to mirror).
    _pictures(tmp_path / "pictures", 2)
    GanTrainer(GanConfig(total_kimg=0.004, data=str(tmp_path / "pictures"), **TINY), tmp_path / "folder").run()
    with pytest.raises(UserError, match="was trained with --mirror; this command gives --no-mirror"):
        GanTrainer(GanConfig(total_kimg=0.008, data=str(tmp_path / "pictures"), mirror=False, **TINY),
                   tmp_path / "folder")
    resumed = GanTrainer(GanConfig(total_kimg=0.024, **{**TINY, "snapshot_kimg": 0.016}), tmp_path)
    assert resumed.state.images_seen == 8
    automatic = GanConfig(**TINY).resolved_ema_kimg()  # typed out, it is no change
    assert GanTrainer(GanConfig(total_kimg=0.024, **{**TINY, "ema_kimg": automatic}), tmp_path).state.images_seen == 8
    refused = r"was trained with --ema-kimg \(unset\) \(automatic: 1.25\); this command gives --ema-kimg 5.0\."
    with pytest.raises(UserError, match=refused):
        GanTrainer(GanConfig(total_kimg=0.024, **{**TINY, "ema_kimg": 5.0}), tmp_path)
    with pytest.raises(UserError, match=r"was trained with --batch 4; this command gives --batch 8\."):  # alone
        GanTrainer(GanConfig(total_kimg=0.024, **{**TINY, "batch": 8}), tmp_path)


@pytest.mark.parametrize("content, why", [(b"", "not a torch checkpoint"),
                                          (b"not a checkpoint", "not a torch checkpoint"),
                                          ("foreign", "KeyError"), ("unsafe", "objects that a safe load refuses")])
def test_a_state_file_that_is_not_a_gan_run_s_is_one_line(tmp_path, content, why):
    path = tmp_path / CHECKPOINT
    if content == "foreign":
        torch.save({"a": 1}, path)
    elif content == "unsafe":
        torch.save({"a": fractions.Fraction(1, 2)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match="is not a readable `train gan` state.*move it away") as caught:
        GanTrainer(GanConfig(total_kimg=0.016, **TINY), tmp_path)
    assert why in str(caught.value) and "weights_only" not in str(caught.value)  # torch's advice is an unsafe load


def test_exporting_from_a_folder_without_a_run_is_refused(tmp_path, capsys):
    assert main(["train", "gan", "--outdir", str(tmp_path / "typo"), "--kimg", "0",
                 "--export", str(tmp_path / "G.safetensors")]) == 2
    assert "holds no training-state.pt" in capsys.readouterr().err
    assert not (tmp_path / "G.safetensors").exists()


def test_an_unknown_device_is_one_line(tmp_path):
    with pytest.raises(UserError, match="unknown device 'bogus'"):
        GanTrainer(GanConfig(total_kimg=0.016, device="bogus", **TINY), tmp_path)


def test_an_export_takes_the_run_s_own_settings(tmp_path, capsys):
    import shutil

    args = ["--res", "32", "--z-dim", "16", "--w-dim", "16", "--channel-base", "256", "--channel-max", "32",
            "--batch", "4", "--snapshot-kimg", "0.008", "--seed", "3", "--threads", "1"]
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "0.008", *args]) == 0
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "0",
                 "--export", str(tmp_path / "G.safetensors")]) == 0
    assert f"G_ema in {tmp_path / 'G.safetensors'}" in capsys.readouterr().out  # the file is named
    G, _ = load_generator(tmp_path / "G.safetensors")
    assert G.img_resolution == 32 and G.z_dim == 16
    # The run's own export, which its command run again (a resume) replaces at each snapshot; another run's not.
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "0",
                 "--export", str(tmp_path / "G.safetensors")]) == 0
    capsys.readouterr()
    assert main(["train", "gan", "--outdir", str(tmp_path / "other"), "--kimg", "0.008", *args,
                 "--export", str(tmp_path / "G.safetensors")]) == 2
    assert "G.safetensors exists; pass --force" in capsys.readouterr().err
    shutil.move(tmp_path / "run", tmp_path / "kept")  # its folder thrown away; a new run starts at its path
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "0.008", *args, "--seed", "9",
                 "--export", str(tmp_path / "G.safetensors")]) == 2
    assert "G.safetensors exists; pass --force" in capsys.readouterr().err
    shutil.move(tmp_path / "kept", tmp_path / "run")
    # Another generator there (a mistyped path onto a bundle's) is kept without --force.
    (tmp_path / "G.safetensors").write_bytes(b"someone's generator")
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "0",
                 "--export", str(tmp_path / "G.safetensors")]) == 2
    assert (tmp_path / "G.safetensors").read_bytes() == b"someone's generator"
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "0", "--force",
                 "--export", str(tmp_path / "G.safetensors")]) == 0


def test_a_resume_takes_the_run_s_settings_for_the_flags_not_given(tmp_path, capsys):
    # Only --kimg: the run's --res, --z-dim, ... were compared with a new run's defaults
    # ("this command gives --res 128"), so every one of them had to be typed again.
    args = ["--res", "32", "--z-dim", "16", "--w-dim", "16", "--channel-base", "256", "--channel-max", "32",
            "--batch", "4", "--snapshot-kimg", "0.004", "--seed", "3", "--threads", "1"]
    run = tmp_path / "run"
    assert main(["train", "gan", "--outdir", str(run), "--kimg", "0.004", *args]) == 0
    assert main(["train", "gan", "--outdir", str(run), "--kimg", "0.008"]) == 0
    assert "done: 0.008 kimg" in capsys.readouterr().out
    assert main(["train", "gan", "--outdir", str(run), "--kimg", "0.012", "--seed", "4"]) == 2
    assert "was trained with --seed 3; this command gives --seed 4" in capsys.readouterr().err
    assert main(["train", "gan", "--outdir", str(run), "--kimg", "0.004"]) == 0
    err = capsys.readouterr().err
    assert "has seen 0.008 kimg already, as many as --kimg 0.004 or more: nothing to train" in err
    assert "kimg [" not in err  # no progress bar after it
    assert json.loads((run / "config.json").read_text())["total_kimg"] == 0.008  # what it was trained to


def test_an_export_path_of_another_format_is_refused_before_training(tmp_path, capsys):
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "0.008", "--res", "32",
                 "--export", str(tmp_path / "G.pt")]) == 2
    assert "NAME.safetensors" in capsys.readouterr().err and not (tmp_path / "run").exists()
    (tmp_path / "afile").write_text("x")
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "0.008", "--res", "32",
                 "--export", str(tmp_path / "afile" / "G.safetensors")]) == 2
    assert "afile" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_a_diverged_run_stops_and_keeps_its_last_good_state(tmp_path):
    run = tmp_path / "run"
    trainer = GanTrainer(GanConfig(total_kimg=0.008, **TINY), run)
    trainer.run()
    good = (run / CHECKPOINT).read_bytes()
    diverging = GanTrainer(GanConfig(total_kimg=0.024, **TINY), run)
    real_step = diverging.step

    def step():
        stats = real_step()
        with torch.no_grad():
            next(diverging.G.parameters()).fill_(float("nan"))  # as a too-large --lr leaves it
        return stats
    diverging.step = step
    with pytest.raises(UserError, match=r"diverged before 0.016 kimg .*keeps the state of 0.008 kimg.*lower --lr in a new run: --init "):
        diverging.run()
    assert (run / CHECKPOINT).read_bytes() == good


def test_a_picture_too_large_to_open_is_skipped_and_16_bit_grey_keeps_its_levels(tmp_path, capsys):
    """A header claiming 20000 x 20000 pixels (a huge scan, or a few flipped bytes) is not an
    OSError to Pillow; a 16-bit ramp was read clipped to white."""
    import struct
    import zlib

    import numpy as np
    from PIL import Image

    from live.gan.data import FolderImages

    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.linspace(0, 65535, 40 * 40).reshape(40, 40).astype(np.uint16)).save(folder / "a.png")
    header = b"IHDR" + struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + header
                                   + struct.pack(">I", zlib.crc32(header)) + b"\0" * 64)
    batch = FolderImages(folder, 8, seed=0).next_batch(8)
    said = capsys.readouterr().err
    assert "skipping" in said and "b.png" in said
    assert abs(float(batch.mean())) < 0.1  # the ramp's middle grey, not white (1.0)


@pytest.mark.parametrize("damaged", [0, 1])
def test_a_picture_pillow_fails_on_with_other_errors_than_os_errors_is_skipped(tmp_path, capsys, damaged_pngs,
                                                                              damaged):
    import shutil

    import numpy as np
    from PIL import Image

    from live.gan.data import FolderImages

    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(folder / "a.png")
    keep = folder / damaged_pngs[damaged].name
    shutil.copy(damaged_pngs[damaged], keep)
    batch = FolderImages(folder, 8, seed=0).next_batch(8)
    said = capsys.readouterr().err
    assert "skipping" in said and keep.name in said and len(said.strip().splitlines()) == 1
    assert float(batch.min()) > 0.5  # every picture drawn is the readable one


def test_a_run_on_an_image_folder_resumes_exactly_and_skips_an_unreadable_image(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = torch.Generator().manual_seed(0)
    for i in range(6):
        pixels = (torch.rand(40, 48, 3, generator=rng) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"{i}.png")
    (folder / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    config = dict(TINY, data=str(folder))
    straight = GanTrainer(GanConfig(total_kimg=0.016, **config), tmp_path / "a")
    straight.run()
    GanTrainer(GanConfig(total_kimg=0.008, **config), tmp_path / "b").run()
    resumed = GanTrainer(GanConfig(total_kimg=0.016, **dict(config, data=str(folder) + "/")), tmp_path / "b")
    resumed.run()  # the same folder, written another way
    assert torch.equal(_params(straight.G_ema), _params(resumed.G_ema))
    assert "skipping" in capsys.readouterr().err
    for i in range(6):
        (folder / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(UserError, match="none of the 6 images can be read"):
        GanTrainer(GanConfig(total_kimg=0.016, **config), tmp_path / "c").run()
    assert not (tmp_path / "c").exists()  # a run that cannot start leaves no folder
    with pytest.raises(UserError, match="is a file, not a folder"):
        GanTrainer(GanConfig(total_kimg=0.016, **dict(config, data=str(folder / "0.png"))), tmp_path / "d")


def test_a_stored_folder_is_shown_without_its_control_characters(tmp_path):
    GanTrainer(GanConfig(total_kimg=0.008, **TINY), tmp_path / "run").run()
    path = tmp_path / "run" / CHECKPOINT
    state = torch.load(path, weights_only=True)
    state["config"]["data"] = "/gone\nlive: error: all is fine\x1b[2J"  # a state is a file like any other
    torch.save(state, path)
    with pytest.raises(UserError, match="was trained with --data '/gone\\\\nlive: error: all is fine\\\\x1b") as caught:
        GanTrainer(GanConfig(total_kimg=0.016, **TINY), tmp_path / "run")
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


def test_a_run_follows_its_image_folder_when_it_moved_but_not_to_another_folder(tmp_path, capsys):
    from PIL import Image

    folder, other = tmp_path / "images", tmp_path / "other"
    for place in (folder, other):
        place.mkdir()
        for i in range(4):
            Image.new("RGB", (40, 40), (60 * i, 20, 200)).save(place / f"{i}.png")
    GanTrainer(GanConfig(total_kimg=0.008, **dict(TINY, data=str(folder))), tmp_path / "run").run()
    with pytest.raises(UserError, match="was trained with --data"):
        GanTrainer(GanConfig(total_kimg=0.016, **dict(TINY, data=str(other))), tmp_path / "run")
    moved = tmp_path / "moved"
    folder.rename(moved)
    with pytest.raises(UserError, match=f"trained on {folder}, which is gone; give its new place with --data"):
        GanTrainer(GanConfig(total_kimg=0.016, **dict(TINY, data=str(folder))), tmp_path / "run")
    finished = GanTrainer(GanConfig(total_kimg=0.008, **dict(TINY, data=str(folder))), tmp_path / "run")
    assert finished.run().images_seen == 8  # nothing left to train (an export): its pictures are not needed
    resumed = GanTrainer(GanConfig(total_kimg=0.016, **dict(TINY, data=str(moved))), tmp_path / "run")
    assert resumed.state.images_seen == 8 and "which is gone; continuing on" in capsys.readouterr().err
    resumed.run()
    assert GanTrainer(GanConfig(total_kimg=0.024, **dict(TINY, data=str(moved))), tmp_path / "run").state.images_seen == 16


def test_a_relative_data_folder_is_the_same_folder_from_anywhere(tmp_path, monkeypatch):
    from PIL import Image

    for place in ("a/images", "b/images"):
        (tmp_path / place).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (40, 40), (60 * i, 20, 200)).save(tmp_path / place / f"{i}.png")
    monkeypatch.chdir(tmp_path / "a")
    GanTrainer(GanConfig(total_kimg=0.008, **dict(TINY, data="images")), tmp_path / "run").run()
    monkeypatch.chdir(tmp_path / "b")  # "images" here is another folder, and a/images is not gone
    with pytest.raises(UserError, match="was trained with --data"):
        GanTrainer(GanConfig(total_kimg=0.016, **dict(TINY, data="images")), tmp_path / "run")


# Lazy regularization every `interval` steps scales lr and beta2 by interval / (interval + 1).
def test_lazy_adam_corrects_lr_and_betas():
    from live.gan.train import _lazy_adam
    group = _lazy_adam(torch.nn.Linear(2, 2), 0.0025, 16).param_groups[0]
    assert group["lr"] == pytest.approx(0.0025 * 16 / 17)
    assert group["betas"][0] == 0.0 and group["betas"][1] == pytest.approx(0.99 ** (16 / 17))
    plain = _lazy_adam(torch.nn.Linear(2, 2), 0.0025, 0).param_groups[0]
    assert plain["lr"] == pytest.approx(0.0025) and plain["betas"] == (0.0, 0.99)


def test_a_full_disk_at_a_snapshot_is_one_line_and_keeps_the_last_state(tmp_path, monkeypatch):
    """torch's writer raised its own RuntimeError, a traceback, and left its partial file."""
    import errno
    from pathlib import Path

    run = tmp_path / "run"
    GanTrainer(GanConfig(total_kimg=0.008, **TINY), run).run()
    good = (run / CHECKPOINT).read_bytes()
    real = Path.write_bytes

    def full(self, data):
        if CHECKPOINT in self.name:
            real(self, data[:1000])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)
    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(UserError, match="No space left on device; the last state written is kept"):
        GanTrainer(GanConfig(total_kimg=0.016, **TINY), run).run()
    assert (run / CHECKPOINT).read_bytes() == good
    assert sorted(p.name for p in run.iterdir() if CHECKPOINT in p.name) == [CHECKPOINT]


def test_a_command_that_read_a_state_another_run_then_replaced_does_not_train_over_it(tmp_path):
    run = tmp_path / "run"
    GanTrainer(GanConfig(total_kimg=0.008, **TINY), run).run()
    stale = GanTrainer(GanConfig(total_kimg=0.024, **TINY), run)  # has read 0.008 kimg
    GanTrainer(GanConfig(total_kimg=0.016, **TINY), run).run()  # the other command goes on meanwhile
    with pytest.raises(UserError, match="written by another run while this command started"):
        stale.run()
    assert GanTrainer(GanConfig(total_kimg=0.024, **TINY), run).state.images_seen == 16


def test_a_picture_past_pillow_s_warning_size_is_read_without_its_warning(tmp_path, monkeypatch):
    import warnings

    import numpy as np
    from PIL import Image

    from live.gan.data import FolderImages

    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray((np.random.default_rng(0).random((200, 240, 3)) * 255).astype(np.uint8)).save(folder / "a.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30_000)  # 48,000 pixels: Pillow warns (it refuses at twice)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Python warning is two lines of a library's source, not ours
        batch = FolderImages(folder, 16, seed=0).next_batch(2)
    assert batch.shape == (2, 3, 16, 16)


def test_a_long_run_s_kimg_is_printed_in_full(tmp_path, capsys, monkeypatch):
    # To three significant digits a run at 1,234.56 kimg read "1.23e+03", and moved once per 10 kimg.
    from live.gan.train import TrainState

    monkeypatch.setattr(GanTrainer, "run", lambda self, on_snapshot=None, stop=None: TrainState(images_seen=1234560))
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "5000", "--res", "32", "--z-dim", "16",
                 "--w-dim", "16", "--channel-base", "256", "--channel-max", "32", "--batch", "4",
                 "--threads", "1"]) == 0
    assert "done: 1234.56 kimg" in capsys.readouterr().out


def test_hidden_files_are_not_scanned_and_an_unreadable_picture_s_draws_spread_over_the_others(tmp_path, capsys):
    # A folder copied from a Mac holds `._NAME.png` beside each picture: each unreadable one
    # handed its draws to the next path, and the first picture was drawn 53 % of the time.
    import collections

    import numpy as np
    from PIL import Image

    from live.gan.data import FolderImages

    for k in range(4):
        Image.fromarray(np.full((32, 32, 3), 40 + 50 * k, np.uint8)).save(tmp_path / f"p{k}.png")
        (tmp_path / f"._p{k}.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\0" * 64)
    (tmp_path / "p1b.png").write_bytes(b"not a picture")  # sorted between p1 and p2
    (tmp_path / ".thumbnails").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / ".thumbnails" / "t.png")
    images = FolderImages(tmp_path, 32, seed=0)
    assert [p.name for p in images.paths] == ["p0.png", "p1.png", "p1b.png", "p2.png", "p3.png"]
    levels = ((images.next_batch(1000).mean(dim=(1, 2, 3)).numpy() + 1) * 127.5).round().astype(int)
    counts = collections.Counter(levels.tolist())
    assert sorted(counts) == [40, 90, 140, 190] and max(counts.values()) < 1.3 * min(counts.values())
    assert capsys.readouterr().err.count("skipping") == 1
    resumed = FolderImages(tmp_path, 32, seed=0, position=600)  # a resumed run draws what this one did
    again = FolderImages(tmp_path, 32, seed=0)
    again.next_batch(600)
    assert torch.equal(resumed.next_batch(8), again.next_batch(8))


def _pictures(folder, count, level=100):
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        Image.fromarray(np.full((32, 32, 3), level + k, np.uint8)).save(folder / f"p{k}.png")


def test_symlinked_folders_are_followed_once_and_a_link_up_the_tree_ends(tmp_path):
    # pathlib's rglob does not enter symlinked folders: a data set put together from links
    # trained on the real folders only, without a word.
    from live.gan.data import FolderImages

    _pictures(tmp_path / "elsewhere", 3)
    _pictures(tmp_path / "data" / "real", 2)
    (tmp_path / "data" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "data" / "real" / "loop").symlink_to(tmp_path / "data")
    images = FolderImages(tmp_path / "data", 32, seed=0)
    assert sorted(p.relative_to(tmp_path / "data").as_posix() for p in images.paths) == [
        "linked/p0.png", "linked/p1.png", "linked/p2.png", "real/p0.png", "real/p1.png"]


def test_a_folder_reached_twice_is_listed_under_the_same_path_whatever_the_listing_order(tmp_path, monkeypatch):
    # Reached first through the link on one file system and through its own name on another,
    # its pictures took other places in the list, and a seed drew other pictures (review 55).
    import os

    from live.gan import data

    _pictures(tmp_path / "pics" / "photos", 2)
    _pictures(tmp_path / "pics" / "scans", 2, level=100)
    (tmp_path / "pics" / "tour").symlink_to(tmp_path / "pics" / "photos")
    walk = os.walk

    def listed_backwards(top, **kwargs):
        for folder, subfolders, files in walk(top, **kwargs):
            subfolders.sort(reverse=True)  # in place, as a file system may list them
            yield folder, subfolders, files
    monkeypatch.setattr(data.os, "walk", listed_backwards)
    assert [p.relative_to(tmp_path / "pics").as_posix() for p in data.pictures_under(tmp_path / "pics")] == [
        "photos/p0.png", "photos/p1.png", "scans/p0.png", "scans/p1.png"]


def test_a_data_folder_gone_mid_run_is_one_line_and_broken_pictures_are_noted_ten_times_at_most(tmp_path, capsys):
    from live.gan.data import NOTED_UNREADABLE, FolderImages

    _pictures(tmp_path / "data", 1)
    for k in range(30):
        (tmp_path / "data" / f"broken{k:02}.png").write_bytes(b"not a picture")
    images = FolderImages(tmp_path / "data", 32, seed=0)
    images.next_batch(400)
    err = capsys.readouterr().err
    assert err.count("skipping") == NOTED_UNREADABLE
    assert err.count("more such pictures are skipped without a note") == 1
    (tmp_path / "data").rename(tmp_path / "unplugged")
    with pytest.raises(UserError, match=r"the --data folder .*/data is gone \(unplugged or unmounted\?\); the run "
                                        "keeps its last saved state: run the same command once the folder is back"):
        images.next_batch(8)
    assert capsys.readouterr().err.count("skipping") == 0


def test_a_kimg_below_one_image_is_refused():
    refused = r"--kimg must be 0 \(export only\) or at least 0.001 \(one image\); got 0.0004"
    with pytest.raises(UserError, match=refused):
        GanConfig(total_kimg=0.0004, **TINY)


def test_the_automatic_r1_gamma_typed_out_resumes_and_a_refusal_shows_the_value_used(tmp_path):
    GanTrainer(GanConfig(total_kimg=0.004, **TINY), tmp_path).run()
    automatic = GanConfig(**TINY).resolved_r1_gamma()
    assert GanTrainer(GanConfig(total_kimg=0.008, r1_gamma=automatic, **TINY), tmp_path).state.images_seen == 4
    # As printed (6 digits): at batch 12 the value 0.0170667 was refused as another setting.
    twelve = tmp_path / "twelve"
    GanTrainer(GanConfig(total_kimg=0.012, **{**TINY, "batch": 12}), twelve).run()
    printed = float(f"{GanConfig(**{**TINY, 'batch': 12}).resolved_r1_gamma():g}")
    assert GanTrainer(GanConfig(total_kimg=0.024, r1_gamma=printed, **{**TINY, "batch": 12}),
                      twelve).state.images_seen == 12
    with pytest.raises(UserError, match=r"trained with --r1-gamma \(unset\) \(automatic: 0.0512\); this command "
                                        r"gives --r1-gamma 0.1\."):
        GanTrainer(GanConfig(total_kimg=0.008, r1_gamma=0.1, **TINY), tmp_path)


@pytest.mark.parametrize("mirror", [True, False])
def test_folder_pictures_are_mirrored_half_the_time_unless_asked_not_to(tmp_path, mirror):
    import numpy as np

    from live.gan.data import FolderImages

    picture = np.full((32, 32, 3), 255, np.uint8)
    picture[:, :8] = (255, 0, 0)  # a red bar on the left
    Image.fromarray(picture).save(tmp_path / "bar.png")
    batch = FolderImages(tmp_path, 32, seed=0, mirror=mirror).next_batch(64)
    on_the_right = int(sum(bool((x[1, :, -8:] < 0).all()) for x in batch))
    assert (20 < on_the_right < 44) if mirror else on_the_right == 0


def test_quiet_trains_without_a_progress_bar(tmp_path, capsys):
    """As train space and train predictor take it (review 65)."""
    args = ["--res", "32", "--z-dim", "16", "--w-dim", "16", "--channel-base", "256", "--channel-max", "32",
            "--batch", "4", "--snapshot-kimg", "0.008", "--seed", "3", "--threads", "1"]
    assert main(["train", "gan", "--outdir", str(tmp_path / "loud"), "--kimg", "0.004", *args]) == 0
    assert "kimg/min" in capsys.readouterr().err
    assert main(["train", "gan", "--outdir", str(tmp_path / "quiet"), "--kimg", "0.004", "--quiet", *args]) == 0
    assert "kimg" not in capsys.readouterr().err


def test_an_export_written_by_another_command_during_the_run_is_kept_and_said(tmp_path, monkeypatch, capsys):
    """Two runs exporting to one path replaced each other's generator at each snapshot, both saying they
    wrote it: the file was checked once, at the start (review 66)."""
    args = ["--res", "32", "--z-dim", "16", "--w-dim", "16", "--channel-base", "256", "--channel-max", "32",
            "--batch", "4", "--snapshot-kimg", "0.004", "--seed", "3", "--threads", "1", "--quiet"]
    export = tmp_path / "G.safetensors"
    run = GanTrainer.run

    def another_writes_meanwhile(self, on_snapshot=None, stop=None):
        export.write_bytes(b"another run's generator")
        return run(self, on_snapshot=on_snapshot, stop=stop)

    monkeypatch.setattr(GanTrainer, "run", another_writes_meanwhile)
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "0.008", "--export", str(export),
                 *args]) == 0
    captured = capsys.readouterr()
    assert export.read_bytes() == b"another run's generator"
    assert f"not exported: {export} exists; pass --force" in captured.err and "G_ema in" not in captured.out


def test_a_run_exports_again_over_its_own_export_moved_away(tmp_path, monkeypatch, capsys):
    """Its own .json left behind, without the weights it describes, read as another command's file, and every
    later snapshot went unexported (review 67)."""
    args = ["--res", "32", "--z-dim", "16", "--w-dim", "16", "--channel-base", "256", "--channel-max", "32",
            "--batch", "4", "--snapshot-kimg", "0.004", "--seed", "3", "--threads", "1", "--quiet"]
    export = tmp_path / "G.safetensors"

    def snapshots(self, on_snapshot=None, stop=None):
        on_snapshot(self)
        export.rename(tmp_path / "tried elsewhere.safetensors")
        on_snapshot(self)
        return self.state

    monkeypatch.setattr(GanTrainer, "run", snapshots)
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--kimg", "0.008", "--export", str(export),
                 *args]) == 0
    captured = capsys.readouterr()
    assert "not exported" not in captured.err and f"G_ema in {export}" in captured.out and export.is_file()


def test_a_later_command_exports_over_the_run_s_own_export_moved_away(tmp_path, capsys):
    """Its own .json, left without the weights, refused every later export of the run (review 68)."""
    args = ["--res", "32", "--z-dim", "16", "--w-dim", "16", "--channel-base", "256", "--channel-max", "32",
            "--batch", "4", "--snapshot-kimg", "0.004", "--seed", "3", "--threads", "1", "--quiet"]
    export, run = tmp_path / "G.safetensors", str(tmp_path / "run")
    assert main(["train", "gan", "--outdir", run, "--kimg", "0.004", "--export", str(export), *args]) == 0
    export.rename(tmp_path / "tried elsewhere.safetensors")
    assert main(["train", "gan", "--outdir", run, "--kimg", "0", "--export", str(export)]) == 0
    assert export.is_file() and f"G_ema in {export}" in capsys.readouterr().out
    export.unlink()  # another run's .json, without its weights, is still another's
    other = str(tmp_path / "other")
    assert main(["train", "gan", "--outdir", other, "--kimg", "0.004", "--export", str(export), *args]) == 2
