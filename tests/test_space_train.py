"""Training the space: augmentation, pairing, batches, config, and checkpoint + resume."""
from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
import torch

from live.bundle import BundleConfig
from live.errors import UserError
from live.files import training_in
from live.space.augment import ImageAugmentConfig, SpecAugmentConfig, augment_images, spec_augment
from live.space.batches import BatchConfig, MixedBatches
from live.space.cache import ArrayCache
from live.space.config import SpaceTrainConfig
from live.space.load import SpaceSpec, export_space, load_space
from live.space.model import SpaceNet
from live.space.pairing import nearest_partners
from live.space.pools import build_image_pool, build_music_pool
from live.space.sources import read_sources
from live.space.train import CHECKPOINT_FILE, SpaceTrainer, learning_rate
from live.space.data.split import is_held_out
from live.space.pools import listed_pairs
from tests.space_factory import tiny_config, write_data, write_imemnet



@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("space-data")
    return write_data(root), root / "cache"


def test_spec_augment_masks_bands_with_the_window_mean():
    mels = torch.randn(3, 1, 16, 40)
    config = SpecAugmentConfig(time_masks=1, max_time=10, freq_masks=1, max_freq=4)
    out = spec_augment(mels, config, torch.Generator().manual_seed(1))
    again = spec_augment(mels, config, torch.Generator().manual_seed(1))
    assert torch.equal(out, again) and out.shape == mels.shape
    changed = out != mels
    assert changed.any()
    means = mels.mean(dim=(1, 2, 3), keepdim=True).expand_as(mels)
    assert torch.allclose(out[changed], means[changed])
    none = SpecAugmentConfig(time_masks=0, freq_masks=0)
    assert torch.equal(spec_augment(mels, none, torch.Generator().manual_seed(1)), mels)


def test_image_augmentation_moves_pixels_but_keeps_colour():
    flat = torch.tensor([0.8, 0.3, 0.1]).view(1, 3, 1, 1).expand(4, 3, 80, 80).contiguous()
    out = augment_images(flat, 64, ImageAugmentConfig(max_rotation=20.0), torch.Generator().manual_seed(0))
    assert out.shape == (4, 3, 64, 64)
    assert torch.allclose(out, flat[:, :, :64, :64], atol=1e-5)  # a uniform colour stays exactly that colour
    ramp = torch.linspace(0, 1, 80).view(1, 1, 1, 80).expand(4, 3, 80, 80).contiguous()
    moved = augment_images(ramp, 64, ImageAugmentConfig(), torch.Generator().manual_seed(0))
    plain = torch.nn.functional.interpolate(ramp, size=64, mode="bilinear", align_corners=False)
    assert not torch.allclose(moved, plain, atol=1e-2)  # geometry did change


def test_partners_come_from_the_k_nearest_and_ties_are_shared():
    pool = torch.tensor([[0.1, 0.1], [0.9, 0.9], [0.85, 0.9], [0.5, 0.5]])
    anchors = torch.tensor([[1.0, 1.0]]).expand(200, 2)
    picks = nearest_partners(anchors, pool, 2, torch.Generator().manual_seed(0))
    assert set(picks.tolist()) == {1, 2}
    tied = torch.tensor([[0.75, 0.75]]).expand(30, 2)
    picks = nearest_partners(torch.tensor([[0.75, 0.75]]).expand(400, 2), tied, 1, torch.Generator().manual_seed(0))
    assert len(set(picks.tolist())) > 20  # every tied item gets its turn


def test_batches_follow_the_mix_and_pair_by_va(data):
    root, cache_dir = data
    config = tiny_config(root, cache_dir)
    sources = read_sources(config.data, config.net.mel.sample_rate, held_out=False)
    cache = ArrayCache(cache_dir)
    images = build_image_pool(sources, config.image_size, cache, progress=False)
    music = build_music_pool(sources, config.net.mel, cache, progress=False)
    assert set(images.ranges) == {"oasis", "procedural"} and set(music.ranges) == {"4q", "synth-music"}
    only_real = BatchConfig(pairs=8, partner_k=1, image_mix={"oasis": 1.0}, music_mix={"4q": 1.0},
                            image_anchor_fraction=1.0)
    batches = MixedBatches(images, music, only_real, config.image_size, config.net.mel.frames)
    image_rows, music_rows = batches.rows(torch.Generator().manual_seed(3))
    lo, hi = images.ranges["oasis"]
    assert ((image_rows >= lo) & (image_rows < hi)).all()
    first, stop = music.ranges["4q"]
    assert ((music_rows >= first) & (music_rows < stop)).all()
    nearest = torch.cdist(images.va[image_rows], music.va[first:stop]).min(dim=1).values
    assert torch.allclose(torch.cdist(images.va[image_rows], music.va[music_rows]).diagonal(), nearest)
    batch = MixedBatches(images, music, config.batch, config.image_size, config.net.mel.frames).draw(
        torch.Generator().manual_seed(0))
    assert batch.images.shape == (6, 3, 64, 64) and batch.mels.shape == (6, 1, 16, config.net.mel.frames)
    assert batch.images.min() >= -1 and batch.images.max() <= 1
    with pytest.raises(UserError, match="no share"):
        MixedBatches(images, music, BatchConfig(image_mix={"naps": 1.0}), 64, config.net.mel.frames)
    for share in (-1.0, float("inf"), float("nan")):  # an infinite share made every draw NaN
        with pytest.raises(UserError, match="finite shares >= 0"):
            BatchConfig(music_mix={"4q": share})


def test_imemnet_lists_give_the_pairs_of_train_side_items(data, tmp_path):
    root, cache_dir = data
    paths = write_imemnet(tmp_path)
    config = tiny_config(root, cache_dir).with_overrides(
        [f'data.{key}="{value}"' for key, value in paths.items()] + ["batch.listed_fraction=1.0"])
    sources = read_sources(config.data, config.net.mel.sample_rate, held_out=False)
    listed = [line.split() for line in (tmp_path / "pairs.txt").read_text().splitlines()]
    kept = [(clip, image) for clip, image, _ in listed
            if not is_held_out(f"deam/{clip.split('-')[0]}") and not is_held_out(f"naps/{image}")]
    assert len(sources.pairs) == len(kept) > 0
    for (image, clip), (clip_id, image_id) in zip(sources.pairs, kept):
        assert image.image.path.stem == image_id and clip.split_key == f"deam/{clip_id.split('-')[0]}"
        assert clip.audio.start == 2.0 * int(clip_id.split("-")[1]) and clip.audio.duration == 2.0
    cache = ArrayCache(cache_dir)
    images = build_image_pool(sources, config.image_size, cache, progress=False)
    music = build_music_pool(sources, config.net.mel, cache, progress=False)
    pairs = listed_pairs(sources, images, music)
    batches = MixedBatches(images, music, config.batch, config.image_size, config.net.mel.frames, pairs)
    image_rows, music_rows = batches.rows(torch.Generator().manual_seed(0))
    drawn = set(zip(image_rows.tolist(), music_rows.tolist()))
    assert drawn <= set(map(tuple, pairs.tolist()))


def test_config_reads_toml_takes_overrides_and_rejects_mistakes(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('steps = 7\n[net]\nimage_backbone = "resnet18"\n[net.mel]\nn_mels = 32\n'
                    '[batch.music_mix]\n4q = 1\n[loss.weights]\nva_image = 10\n')
    config = SpaceTrainConfig.read(path)
    assert (config.steps, config.net.image_backbone, config.net.mel.n_mels) == (7, "resnet18", 32)
    assert config.batch.music_mix == {"4q": 1.0} and config.loss.weights.va_image == 10.0
    changed = config.with_overrides(["batch.pairs=12", "data.root=/somewhere", "loss.alpha=0.5"])
    assert (changed.batch.pairs, changed.data.root, changed.loss.alpha) == (12, "/somewhere", 0.5)
    config.write(tmp_path / "again.toml")
    assert SpaceTrainConfig.read(tmp_path / "again.toml") == config
    assert config.differences(changed) == ["batch.pairs", "data.root", "loss.alpha"]
    assert changed.differences(config) == ["batch.pairs", "loss.alpha"]  # its /somewhere is gone: given anew
    assert config.with_overrides(["steps=99"]).differences(config) == []  # run length may change on resume
    spelt_out = str(Path(config.data.root).resolve())  # the same folder, written another way
    assert config.with_overrides([f"data.root={spelt_out!r}"]).differences(config) == []
    with pytest.raises(UserError, match="unknown key"):
        config.with_overrides(["batch.pears=3"])
    with pytest.raises(UserError, match="must be int"):
        config.with_overrides(["batch.pairs=3.5"])
    with pytest.raises(UserError, match="music_mix"):
        config.with_overrides(["batch.music_mix.beethoven=1"])
    # TOML has nan and inf, which no check of the form `value <= 0` refuses.
    for typo in ("loss.alpha=nan", "optim.lr=inf", "batch.music_mix.4q=nan", "loss.weights.sim=-inf",
                 "optim.lr=1" + "0" * 400):  # an integer float() cannot hold
        with pytest.raises(UserError, match="must be a finite number"):
            config.with_overrides([typo])
    with pytest.raises(UserError, match=r"loss.weights must be >= 0, got \{'cfr': -5.0\}"):  # would maximize L_CFR
        config.with_overrides(["loss.weights.cfr=-5"])
    for seed in (-1, 1 << 64):
        with pytest.raises(UserError, match=r"seed must be (in 0..2\*\*32-1|a 64-bit integer)"):
            config.with_overrides([f"seed={seed}"])
    with pytest.raises(UserError, match="batch.pairs must be a 64-bit integer"):
        config.with_overrides([f"batch.pairs={1 << 70}"])
    with pytest.raises(UserError, match="far too large"):
        config.with_overrides(["batch.pairs=1" + "0" * 5000])
    # A setting out of its range is named with its value, not the whole section's dataclass.
    with pytest.raises(UserError, match=r"^optim: lr = -1.0 \(need > 0\), grad_clip = 0.0 \(need > 0\)$"):
        config.with_overrides(["optim.lr=-1", "optim.grad_clip=0"])
    with pytest.raises(UserError, match=r"^loss: eps = 0.0 \(need > 0\)$"):
        config.with_overrides(["loss.eps=0.0"])
    with pytest.raises(UserError, match=r"^batch.spec_augment: max_time = -2 \(need >= 0\)$"):
        config.with_overrides(["batch.spec_augment.max_time=-2"])
    with pytest.raises(UserError, match=r"^batch.image_augment: min_scale = 2.0 \(need 0 < min_scale <= 1\)$"):
        config.with_overrides(["batch.image_augment.min_scale=2.0"])


def test_a_run_keeps_its_folders_as_absolute_paths(tmp_path, monkeypatch):
    """A relative data.root names another folder from another working folder: a resume
    there would train on other data without a word."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    config = SpaceTrainConfig().with_overrides(["data.root='data'", "init='default'"]).with_absolute_paths()
    assert config.data.root == str(tmp_path / "data")
    assert config.init == "default"  # a bundle's name stays a name
    assert config.data.midi_renders == SpaceTrainConfig().data.midi_renders  # no such folder here: as given


def test_learning_rate_warms_up_then_decays():
    optim = SpaceTrainConfig().optim
    rates = [learning_rate(s, optim, 1000) for s in range(1000)]
    assert rates[0] < rates[optim.warmup_steps - 1] == pytest.approx(optim.lr)
    assert rates[-1] == pytest.approx(optim.lr * optim.final_lr_fraction, rel=1e-3)


def _checkpoint(run) -> dict:
    return torch.load(run / CHECKPOINT_FILE, weights_only=True)


def test_resumed_training_matches_uninterrupted_training(data, tmp_path):
    root, cache = data
    config = tiny_config(root, cache)
    straight = SpaceTrainer(config, tmp_path / "straight", progress=False).run()
    assert straight.step == 4
    SpaceTrainer(config, tmp_path / "resumed", progress=False).run(stop_at=2)
    assert _checkpoint(tmp_path / "resumed")["step"] == 2
    assert not (tmp_path / "resumed" / "space.safetensors").exists()  # not finished yet
    with training_in(tmp_path / "resumed"), pytest.raises(UserError, match="in use by another training run"):
        SpaceTrainer(config, tmp_path / "resumed", progress=False).run()  # while another run trains there
    SpaceTrainer(config, tmp_path / "resumed", progress=False).run()
    a, b = _checkpoint(tmp_path / "straight"), _checkpoint(tmp_path / "resumed")
    assert a["step"] == b["step"] == 4
    for name, tensor in a["net"].items():
        assert torch.equal(tensor, b["net"][name]), name
    assert a["optimizer"]["state"][0]["exp_avg"].abs().sum() > 0
    first = next(iter(a["net"]))
    fresh = SpaceNet(config.net).state_dict()[first]
    assert not torch.equal(a["net"][first], fresh)  # training moved the weights

    net, spec = load_space(tmp_path / "straight")
    assert spec == SpaceSpec(config.net, config.image_size)
    assert tomllib.loads((tmp_path / "straight" / "config.toml").read_text())["steps"] == 4
    with pytest.raises(UserError, match=r"other settings \(batch.pairs \d+ there, 5 here\)"):
        SpaceTrainer(config.with_overrides(["batch.pairs=5"]), tmp_path / "straight", progress=False)


def test_export_updates_only_the_space_section_of_a_bundle(random_bundle_dir, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(random_bundle_dir, bundle)
    before = BundleConfig.read(bundle / "bundle.toml")
    config = tiny_config(tmp_path, tmp_path / "cache")
    spec = SpaceSpec(config.net, 80)
    message = export_space(SpaceNet(config.net), spec, bundle)
    after = BundleConfig.read(bundle / "bundle.toml")
    assert "updated [space]" in message and "--from-bundle --outdir NEW" in message
    assert (after.space, after.image_size) == (config.net, 80)
    assert (after.generator_weights, after.predictor, after.name) == (before.generator_weights, before.predictor,
                                                                       before.name)
    net, loaded = load_space(bundle)
    assert loaded == spec and net.config.mel == config.net.mel


def test_continued_training_from_a_space_can_keep_the_image_side(data, tmp_path):
    root, cache = data
    config = tiny_config(root, cache, steps=2)
    SpaceTrainer(config, tmp_path / "first", progress=False).run()
    start, _ = load_space(tmp_path / "first")
    SpaceTrainer(config.with_overrides([f"init={str(tmp_path / 'first')!r}", "freeze_image=true"]),
                 tmp_path / "music", progress=False).run()
    continued = _checkpoint(tmp_path / "music")["net"]
    for name, tensor in start.state_dict().items():
        image_side = name.startswith(("image_encoder.", "image_va."))
        # fp16 storage of the first run's export: continued weights start from its rounding
        same = torch.equal(continued[name], tensor)
        assert same == image_side or (not image_side and not tensor.is_floating_point()), name
    # Refused as the run is set up, before its data loads (tens of seconds on the real sets).
    with pytest.raises(UserError, match=r"other settings than this run \(image_size \d+ there, 80 here\)"):
        SpaceTrainer(config.with_overrides([f"init={str(tmp_path / 'first')!r}", "image_size=80"]),
                     tmp_path / "other", progress=False)
    with pytest.raises(UserError, match="init"):
        config.with_overrides(["freeze_image=true"])
    # init's weights replaced the backbone file's, which the run's config still named (review 54);
    # refused for a new run only: a run that began so resumes (review 59).
    both = config.with_overrides([f"init={str(tmp_path / 'first')!r}", "image_backbone_weights=resnet18.pth"])
    with pytest.raises(UserError, match="image_backbone_weights and init both give E_I its starting weights"):
        SpaceTrainer(both, tmp_path / "both", progress=False)
    SpaceTrainer(config.with_overrides([f"init={str(tmp_path / 'first')!r}"]), tmp_path / "old",
                 progress=False).run(stop_at=1)
    both.with_absolute_paths().write(tmp_path / "old" / "config.toml")  # as a run begun so before kept it
    assert SpaceTrainer(both, tmp_path / "old", progress=False).run().step == 2


def test_a_run_that_never_saved_a_step_takes_corrected_settings(data, tmp_path):
    root, cache = data
    config = tiny_config(root, cache)
    with pytest.raises(UserError):
        SpaceTrainer(config.with_overrides([f'data.root="{tmp_path / "nodata"}"']), tmp_path / "run",
                     progress=False).run()
    assert SpaceTrainer(config, tmp_path / "run", progress=False).run(stop_at=1).step == 1


@pytest.mark.parametrize("content", [b"", b"text", "foreign"])
def test_an_unreadable_space_checkpoint_is_one_line(data, tmp_path, content):
    root, cache = data
    config = tiny_config(root, cache)
    (tmp_path / "run").mkdir()
    config.write(tmp_path / "run" / "config.toml")
    path = tmp_path / "run" / CHECKPOINT_FILE
    if content == "foreign":
        torch.save({"net": {}, "optimizer": {}}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match="cannot resume from .*delete it to start over"):
        SpaceTrainer(config, tmp_path / "run", progress=False).run()


def test_an_unavailable_device_is_one_line(data):
    root, cache = data
    with pytest.raises(UserError, match="not available on this machine"):
        SpaceTrainer(tiny_config(root, cache).with_overrides(['device="cuda"']), "unused", progress=False)


def test_a_space_of_another_width_is_not_exported_into_a_bundle_whose_predictor_reads_the_old(
        random_bundle_dir, data, tmp_path, capsys):
    from dataclasses import replace

    from live.__main__ import main

    bundle = tmp_path / "bundle"
    shutil.copytree(random_bundle_dir, bundle)
    before = (bundle / "bundle.toml").read_text()
    config = tiny_config(tmp_path, tmp_path / "cache")
    wider = replace(config.net, feature_dim=BundleConfig.read(bundle / "bundle.toml").space.feature_dim * 2)
    with pytest.raises(UserError, match="predictor reads"):
        export_space(SpaceNet(wider), SpaceSpec(wider, 80), bundle)
    root, cache = data
    config_file = tmp_path / "wide.toml"
    tiny_config(root, cache).with_overrides([f"net.feature_dim={wider.feature_dim}"]).write(config_file)
    assert main(["train", "space", "--outdir", str(tmp_path / "run"), "--config", str(config_file),
                 "--export", str(bundle), "--quiet"]) == 2  # refused before it trains
    assert "predictor reads" in capsys.readouterr().err and not (tmp_path / "run").exists()
    assert (bundle / "bundle.toml").read_text() == before


def test_a_resumed_run_s_log_has_each_step_once(data, tmp_path):
    import json

    root, cache = data
    config = tiny_config(root, cache).with_overrides(["log_every=1", "checkpoint_every=2"])
    SpaceTrainer(config, tmp_path / "run", progress=False).run(stop_at=2)
    log = tmp_path / "run" / "log.jsonl"
    # A kill after step 3 was logged, before its checkpoint: rows past the checkpoint, one cut short.
    log.write_text(log.read_text() + json.dumps({"step": 3, "loss": 1.0}) + "\n" + '{"step": 4, "lo')
    SpaceTrainer(config, tmp_path / "run", progress=False).run()
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_a_config_asking_for_more_threads_than_cores_runs_on_the_cores(data, tmp_path, monkeypatch, capsys):
    # threads = 16 in a config (a workstation's run resumed here) ran 16 threads on 2 cores (review 54).
    import live.space.train as space_train

    root, cache = data
    seen = []
    monkeypatch.setattr(space_train, "cores", lambda: 1)
    monkeypatch.setattr(space_train.torch, "set_num_threads", seen.append)
    SpaceTrainer(tiny_config(root, cache, threads=16), tmp_path / "run", progress=False).run(stop_at=1)
    assert seen == [1] and "threads = 16, on 1 cores here: runs 1" in capsys.readouterr().err


def test_a_run_resumed_on_another_number_of_replicas_is_refused(data, tmp_path):
    # Each replica draws its own batches: resumed without torchrun, a 2-replica run went on as
    # neither run, and its summary said one replica (review 55).
    root, cache = data
    SpaceTrainer(tiny_config(root, cache), tmp_path / "run", progress=False).run(stop_at=2)
    checkpoint = tmp_path / "run" / CHECKPOINT_FILE
    state = torch.load(checkpoint, weights_only=True)
    assert state["replicas"] == 1
    torch.save(state | {"replicas": 2}, checkpoint)
    with pytest.raises(UserError, match=r"trained on 2 replica\(s\), this command runs 1; resume it with "
                                        r"torchrun --nproc_per_node=2"):
        SpaceTrainer(tiny_config(root, cache), tmp_path / "run", progress=False).run()


def test_a_run_begun_from_backbone_weights_resumes_when_that_file_is_gone(data, tmp_path):
    # A resumed run reads its checkpoint, not the file it began from; refused, it needed the
    # file put back (review 60).
    import torchvision

    root, cache = data
    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    config = tiny_config(root, cache).with_overrides([f"image_backbone_weights={str(weights)!r}"])
    SpaceTrainer(config, tmp_path / "run", progress=False).run(stop_at=2)
    weights.unlink()
    assert SpaceTrainer(config, tmp_path / "run", progress=False).run().step == 4


def test_a_log_row_of_a_diverged_run_is_strict_json():
    import json

    from live.files import log_line

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    line = log_line({"step": 7, "loss": float("nan"), "l_s": float("inf"), "l_o": 0.5})
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line, parse_constant=refuse) == {"step": 7, "loss": None, "l_s": None, "l_o": 0.5}


def test_a_run_whose_data_folder_moved_resumes_from_its_new_place(data, tmp_path):
    import shutil

    root, cache = data
    first = shutil.copytree(root, tmp_path / "data", ignore=shutil.ignore_patterns("cache"))
    config = tiny_config(first, cache)
    SpaceTrainer(config, tmp_path / "run", progress=False).run(stop_at=2)
    moved = first.rename(tmp_path / "moved")
    with pytest.raises(UserError, match=f"data.root {first}, which is gone; give its new place with --data"):
        SpaceTrainer(config, tmp_path / "run", progress=False)
    # Before: refused as other settings ("data.root ... there, ... here").
    elsewhere = config.with_overrides([f'data.root="{moved}"'])
    trainer = SpaceTrainer(elsewhere, tmp_path / "run", progress=False)
    assert trainer.notes == [f"note: data.root {first} is gone; continuing on {moved} "
                             "(the same training only if it holds the same files)"]
    assert trainer.run().step == config.steps
    assert SpaceTrainConfig.read(tmp_path / "run" / "config.toml").data.root == str(moved)


def test_resuming_with_another_step_count_says_the_schedule_moves(data, tmp_path):
    root, cache = data
    config = tiny_config(root, cache).with_overrides(["checkpoint_every=2"])
    SpaceTrainer(config, tmp_path / "run", progress=False).run(stop_at=2)
    assert SpaceTrainer(config, tmp_path / "run", progress=False).notes == []
    longer = config.with_overrides([f"steps={config.steps + 6}"])
    notes = SpaceTrainer(longer, tmp_path / "run", progress=False).notes
    assert len(notes) == 1 and f"from {config.steps} to {config.steps + 6}" in notes[0]
    with pytest.raises(UserError, match="has trained 2 steps, past --steps 1: nothing to train"):
        SpaceTrainer(config.with_overrides(["steps=1"]), tmp_path / "run", progress=False)  # no note first
    assert SpaceTrainConfig.read(tmp_path / "run" / "config.toml").steps == config.steps  # the refusal wrote nothing


def test_a_run_whose_data_is_missing_leaves_no_folder_and_a_file_is_no_export_folder(tmp_path, capsys):
    from live.__main__ import main

    run = tmp_path / "run"
    assert main(["train", "space", "--outdir", str(run), "--steps", "1", "--data", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert f"data folder {tmp_path / 'none'} does not exist" in err and not run.exists()  # it held config.toml
    (tmp_path / "some").mkdir()  # a data folder without one of the default sets: how to go on without it
    assert main(["train", "space", "--outdir", str(run), "--steps", "1", "--data", str(tmp_path / "some")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "(or train without it: --set data.oasis=false)" in err
    (tmp_path / "song.wav").write_bytes(b"")
    with pytest.raises(SystemExit):  # found after the training's hours, when the space was written into it
        main(["train", "space", "--outdir", str(run), "--export", str(tmp_path / "song.wav")])
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_diverged_run_stops_and_keeps_its_last_good_checkpoint(data, tmp_path):
    root, cache = data
    config = tiny_config(root, cache).with_overrides(["checkpoint_every=2"])
    SpaceTrainer(config, tmp_path / "run", progress=False).run(stop_at=2)
    good = _checkpoint(tmp_path / "run")["net"]
    blown = config.with_overrides(["optim.lr=1e30"])
    with pytest.raises(UserError, match="diverged before step 2 .*no step was saved"):
        SpaceTrainer(blown, tmp_path / "blown", progress=False).run()
    assert not (tmp_path / "blown" / CHECKPOINT_FILE).exists()
    shutil.copytree(tmp_path / "run", tmp_path / "resumed")
    (tmp_path / "resumed" / "config.toml").write_text((tmp_path / "blown" / "config.toml").read_text())
    with pytest.raises(UserError, match="diverged before step 4 .*keeps step 2"):
        SpaceTrainer(blown, tmp_path / "resumed", progress=False).run()
    kept = _checkpoint(tmp_path / "resumed")
    assert kept["step"] == 2 and all(torch.equal(t, good[k]) for k, t in kept["net"].items())
    calmer = SpaceTrainer(config, tmp_path / "resumed", progress=False)  # as the message says: a lower rate
    assert any("optim.lr changed" in note for note in calmer.notes)
    assert calmer.run().step == config.steps


def test_a_run_stopped_at_stop_at_says_its_export_is_still_to_come(random_bundle_dir, data, tmp_path, capsys):
    # It exported nothing and said nothing; the help says "at the end".
    from live.__main__ import main

    bundle = tmp_path / "bundle"
    shutil.copytree(random_bundle_dir, bundle)
    weights = (bundle / "space.safetensors").read_bytes()
    root, cache = data
    config_file = tmp_path / "space.toml"
    tiny_config(root, cache).write(config_file)
    assert main(["train", "space", "--outdir", str(tmp_path / "run"), "--config", str(config_file), "--stop-at", "1",
                 "--export", str(bundle), "--quiet"]) == 0
    assert "nothing exported yet" in capsys.readouterr().err
    assert (bundle / "space.safetensors").read_bytes() == weights


def test_seed_losses_take_each_modality_s_features_labels_alpha_and_eps():
    # The trainer could drop [loss] alpha or fit L_SFR_M to the images' labels with every
    # training test passing: each part is checked against its loss on the right inputs.
    from live.space.batches import Batch
    from live.space.config import LossConfig
    from live.space.losses import (cfm_loss, cfr_loss, draw_cross_modal_triples, draw_pairs,
                                   draw_single_modal_triples, sfr_loss, va_similarity, weighted_mse)
    from live.space.train import seed_losses

    n, width = 6, 8
    g = torch.Generator().manual_seed(0)
    f_i, f_m = torch.randn(n, width, generator=g), torch.randn(n, width, generator=g)
    va_i, va_m, s_hat = torch.rand(n, 2, generator=g), torch.rand(n, 2, generator=g), torch.rand(2 * n, generator=g)
    batch = Batch(torch.zeros(n, 3, 4, 4), torch.zeros(n, 1, 4, 4), torch.rand(n, 2, generator=g),
                  torch.rand(n, 2, generator=g), torch.rand(n, generator=g), torch.rand(n, generator=g))
    config = LossConfig(alpha=0.3, triples_per_anchor=2, eps=0.02)
    parts = seed_losses(lambda *inputs: (f_i, f_m, va_i, va_m, s_hat), batch, config, 0.4,
                        torch.Generator().manual_seed(5))
    draws = torch.Generator().manual_seed(5)   # the same draws, in the same order
    extra_i, extra_m = draw_pairs(n, n, n, draws)
    cross = draw_cross_modal_triples(n, 2, draws), draw_cross_modal_triples(n, 2, draws)
    single = draw_single_modal_triples(n, 2, draws), draw_single_modal_triples(n, 2, draws)
    y_i, y_m = batch.image_va, batch.music_va
    sim_i, sim_m = torch.cat([torch.arange(n), extra_i]), torch.cat([torch.arange(n), extra_m])
    expected = {
        "cfr": cfr_loss(f_i, y_i, f_m, y_m, *cross, 0.4, 0.02),
        "cfm": cfm_loss(f_i, f_m, 0.3),
        "sfr_image": sfr_loss(f_i, y_i, single[0], 0.02),
        "sfr_music": sfr_loss(f_m, y_m, single[1], 0.02),
        "sim": weighted_mse(s_hat, va_similarity(y_i[sim_i], y_m[sim_m], 0.4)),
        "va_image": weighted_mse(va_i, y_i, batch.image_weight),
        "va_music": weighted_mse(va_m, y_m, batch.music_weight),
    }
    assert parts.keys() == expected.keys()
    for name, value in expected.items():
        assert parts[name].item() == pytest.approx(value.item(), rel=1e-6), name


def test_the_trainer_weighs_the_parts_with_the_configured_weights(data, tmp_path, monkeypatch):
    # A trainer that summed with the default weights passed every test: space.toml's
    # [loss.weights] would have had no effect.
    import live.space.train as train

    root, cache = data
    config = tiny_config(root, cache).with_overrides(["loss.weights.va_image=10", "loss.weights.cfr=0.25"])
    seen = []
    real_total = train.total
    monkeypatch.setattr(train, "total", lambda parts, weights: (seen.append(weights), real_total(parts, weights))[1])
    SpaceTrainer(config, tmp_path / "run", progress=False).run(stop_at=1)
    assert seen and all(w == config.loss.weights for w in seen)
    assert config.loss.weights.va_image == 10 and config.loss.weights.cfr == 0.25


def test_a_finished_run_trained_on_is_an_unfinished_run_until_its_new_space_is_written(data, tmp_path):
    """Its earlier end's space stayed, and `bundle new --space RUN` and `eval space` took it for
    the run's, steps behind its checkpoint (review 53)."""
    import dataclasses

    root, cache = data
    config = tiny_config(root, cache)
    run = tmp_path / "run"
    SpaceTrainer(config, run, progress=False).run()
    assert load_space(str(run))
    longer = dataclasses.replace(config, steps=config.steps + 2)
    SpaceTrainer(longer, run, progress=False).run(stop_at=config.steps + 1)
    with pytest.raises(UserError, match="a `train space` run that has not reached its last step"):
        load_space(str(run))
    SpaceTrainer(longer, run, progress=False).run()
    assert load_space(str(run))
