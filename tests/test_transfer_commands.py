"""`python -m live bundle new` and `train predictor`: a bundle around a user's generator, then its predictor."""
import argparse
import os
import re
import shlex

import pytest
import torch

from live.bundle import Bundle, predictor_table
from live.cli import bundle as bundle_cli
from live.cli import train as train_cli
from live.errors import UserError
from live.space.model import SpaceNet
from ckpt_factory import tiny_generator, write_nvlabs_pickle
from live.nets.checkpoints import load_generator, save_generator
from live.transfer.source import seed_latent



def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    bundle_cli.register(sub)
    train_cli.register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_bundle_new_wraps_a_checkpoint_with_another_bundles_space(random_bundle_dir, tmp_path, capsys):
    source = Bundle.load(random_bundle_dir)
    checkpoint = save_generator(source.G, tmp_path / "mine.safetensors")
    models = tmp_path / "my models"
    assert run("bundle", "new", "--network", str(checkpoint), "--space", str(random_bundle_dir),
               "--name", "mine", "--models-dir", str(models)) == 0
    # The next command, quoted so that it can be pasted (review 76).
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("next: ")]
    assert shlex.split(line.removeprefix("next: ").split(";")[0])[-2:] == ["--bundle", str(models / "mine")]
    card = (models / "mine" / "MODEL_CARD.md").read_text()  # a stub to fill in, beside the weights
    assert "# Bundle `mine`" in card and str(checkpoint.resolve()) in card and "predictor untrained" in card
    made = Bundle.load(models / "mine")
    assert made.config.predictor == predictor_table(made.predictor.cfg)  # the lambda range included
    w_o = seed_latent(made.G, 1)[None]
    with torch.no_grad():
        f = torch.randn(1, made.config.space.feature_dim)
        assert torch.equal(made.predictor(w_o, f, f, 0.5), w_o)  # untrained: the identity
    # Said before it plays: the picture would stay at the source whatever the music.
    assert "its predictor is untrained (w_m = w_o)" in made.predictor_note()
    assert shlex.split(made.predictor_note().split("it with: ")[1])[-1] == str(models / "mine")
    assert source.predictor_note() is None
    # The same command writes the same predictor: its hidden layers were an unseeded draw, which a
    # `train predictor --from-bundle` then started from (review 55).
    torch.randn(7)
    assert run("bundle", "new", "--network", str(checkpoint), "--space", str(random_bundle_dir),
               "--name", "again", "--models-dir", str(models)) == 0
    assert (models / "again" / "predictor.safetensors").read_bytes() == (models / "mine" /
                                                                         "predictor.safetensors").read_bytes()
    with pytest.raises(UserError, match="already"):
        run("bundle", "new", "--network", str(checkpoint), "--space", str(random_bundle_dir),
            "--name", "mine", "--models-dir", str(models))
    run_folder = models / "space-run"
    run_folder.mkdir()
    (run_folder / "space.safetensors").write_bytes(b"a trained space")
    with pytest.raises(UserError, match="holds files and no bundle"):
        run("bundle", "new", "--network", str(checkpoint), "--space", str(random_bundle_dir),
            "--name", "space-run", "--models-dir", str(models), "--force")
    assert (run_folder / "space.safetensors").read_bytes() == b"a trained space"
    # A bundle of that folder is found by its name, as the new one is named.
    assert run("bundle", "new", "--network", str(checkpoint), "--space", "mine",
               "--name", "second", "--models-dir", str(models)) == 0
    with pytest.raises(UserError, match="is the bundle live ships, which its presets and `make run` play"):
        run("bundle", "new", "--network", str(checkpoint), "--space", "mine", "--name", "default", "--force")
    # A name found nowhere is said with that folder and its bundles, not the project's alone (review 98).
    with pytest.raises(UserError, match=re.escape(f"--space mien: no bundle of that name in {models} (bundles "
                                                  "there: again, mine, second) or the project's models/ (default)")):
        run("bundle", "new", "--network", str(checkpoint), "--space", "mien", "--name", "third",
            "--models-dir", str(models))
    (models / "second" / "MODEL_CARD.md").write_text("my notes")
    (models / "second" / "samples.png").write_bytes(b"the replaced generator's pictures")
    assert run("bundle", "new", "--network", str(checkpoint), "--space", "mine",
               "--name", "second", "--models-dir", str(models), "--force") == 0
    assert (models / "second" / "MODEL_CARD.md").read_text() == "my notes"  # a card of one's own stays
    assert not (models / "second" / "samples.png").exists()  # another network's pictures do not (found by review)
    said = capsys.readouterr().out
    assert "removed samples.png" in said and "kept " in said  # said so; the card is to be updated


def test_a_bundle_new_that_fails_part_way_leaves_the_old_bundle_whole(random_bundle_dir, tmp_path, monkeypatch):
    """A full disk at the space's file left the new generator beside the old trained predictor."""
    from live.space.model import SpaceNet

    source = Bundle.load(random_bundle_dir)
    models = tmp_path / "models"
    first = save_generator(source.G, tmp_path / "first.safetensors")
    assert run("bundle", "new", "--network", str(first), "--space", str(random_bundle_dir),
               "--name", "mine", "--models-dir", str(models)) == 0
    (models / "mine" / "notes.txt").write_text("set list")
    before = {p.name: p.read_bytes() for p in (models / "mine").iterdir()}

    def full(*args, **kwargs):
        raise UserError("cannot write space.safetensors: No space left on device")
    monkeypatch.setattr(SpaceNet, "save", full)
    with torch.no_grad():
        next(source.G.parameters()).add_(1.0)  # another generator
    other = save_generator(source.G, tmp_path / "second.safetensors")
    with pytest.raises(UserError, match="it is as it was"):
        run("bundle", "new", "--network", str(other), "--space", str(random_bundle_dir),
            "--name", "mine", "--models-dir", str(models), "--force")
    assert {p.name: p.read_bytes() for p in (models / "mine").iterdir()} == before
    assert sorted(p.name for p in models.iterdir()) == ["mine"]  # no half-written folder beside it
    monkeypatch.undo()
    assert run("bundle", "new", "--network", str(other), "--space", str(random_bundle_dir),
               "--name", "mine", "--models-dir", str(models), "--force") == 0
    assert (models / "mine" / "notes.txt").read_text() == "set list"  # a file of one's own moves over


def test_bundle_new_of_a_checkpoint_whose_name_is_not_utf8(random_bundle_dir, tmp_path, capsys):
    """A Latin-1 file name (unpacked from a zip) ended in a traceback writing bundle.toml (review)."""
    checkpoint = write_nvlabs_pickle(tmp_path / os.fsdecode(b"r\xe9seau.pkl"), G_ema=tiny_generator(0))
    assert run("bundle", "new", "--network", str(checkpoint), "--space", str(random_bundle_dir),
               "--name", "latin", "--models-dir", str(tmp_path / "models")) == 0
    made = Bundle.load(tmp_path / "models" / "latin")
    assert made.config.description.startswith("r\\udce9seau.pkl with the space of")
    assert "r\\udce9seau" in (tmp_path / "models" / "latin" / "MODEL_CARD.md").read_text()
    # safetensors opens only UTF-8 paths: said so, where it reported a damaged file
    ours = save_generator(tiny_generator(0), tmp_path / os.fsdecode(b"r\xe9seau.safetensors"))
    with pytest.raises(UserError, match="its path is not UTF-8 text, which safetensors cannot open; rename"):
        load_generator(ours)


def test_bundle_new_refuses_a_link_or_a_file_in_the_bundle_s_place(random_bundle_dir, tmp_path):
    """--force onto a link moved the linked bundle's model card into the new one and ended in
    an error; a file of the name was moved aside (found by review)."""
    models = tmp_path / "models"
    (models / "mine").mkdir(parents=True)
    (models / "mine" / "MODEL_CARD.md").write_text("mine")
    (models / "live").symlink_to(models / "mine")
    (models / "notes").write_text("a file")
    checkpoint = save_generator(tiny_generator(0), tmp_path / "g.safetensors")
    for name, words in (("live", "is a link to"), ("notes", "is a file, not a bundle's folder")):
        with pytest.raises(UserError, match=words):
            run("bundle", "new", "--network", str(checkpoint), "--space", str(random_bundle_dir),
                "--name", name, "--models-dir", str(models), "--force")
    assert (models / "mine" / "MODEL_CARD.md").read_text() == "mine" and (models / "notes").read_text() == "a file"
    assert sorted(p.name for p in models.iterdir()) == ["live", "mine", "notes"]


def test_bundle_new_refuses_a_generator_of_grey_pictures(random_bundle_dir, tmp_path):
    """NVlabs trains 1-channel generators on grey data sets; E_I reads RGB, so every later
    command on such a bundle died with a traceback."""
    from ckpt_factory import tiny_generator

    checkpoint = save_generator(tiny_generator(0, img_channels=1), tmp_path / "grey.safetensors")
    with pytest.raises(UserError, match="draws 1-channel pictures"):
        run("bundle", "new", "--network", str(checkpoint), "--space", str(random_bundle_dir),
            "--name", "grey", "--models-dir", str(tmp_path / "models"))
    assert not (tmp_path / "models" / "grey").exists()


def test_train_predictor_command(random_bundle_dir, tmp_path, capsys):
    bundle_dir = tmp_path / "bundle"
    untrained = Bundle.load(random_bundle_dir)
    untrained.predictor.reset_to_identity()  # as bundle new makes it
    untrained.save(bundle_dir)
    assert Bundle.load(bundle_dir).predictor_note() is not None
    assert run("train", "predictor", "--bundle", str(bundle_dir), "--outdir", str(tmp_path / "run"),
               "--steps", "1", "--batch", "2", "--music", "synthetic", "--synthetic-clips", "2", "--quiet") == 0
    printed = capsys.readouterr().out
    assert "held-out mean L_transfer (32 pairs): source" in printed  # how many: a rerun may score others (review 53)
    assert (tmp_path / "run" / "state.pt").is_file()
    assert Bundle.load(bundle_dir).predictor_note() is None


def test_a_predictor_trained_through_other_networks_is_named_before_a_show(random_bundle_dir, tmp_path):
    """A space exported into a bundle (train space --export) left its trained predictor
    aiming where the old space led, and no show said so."""
    bundle_dir = tmp_path / "bundle"
    Bundle.load(random_bundle_dir).save(bundle_dir)
    assert run("train", "predictor", "--bundle", str(bundle_dir), "--outdir", str(tmp_path / "run"),
               "--steps", "1", "--batch", "2", "--music", "synthetic", "--synthetic-clips", "2", "--quiet") == 0
    trained = Bundle.load(bundle_dir)
    assert set(trained.config.trained_with) == {"generator", "space"}
    assert trained.predictor_note() is None
    save_generator(trained.G, bundle_dir / trained.config.generator_weights, torch.float32)  # the same network
    assert Bundle.load(bundle_dir).predictor_note() is None  # a file digest took it for another (review)
    other = SpaceNet(trained.config.space)  # freshly drawn weights of the same shape
    other.save(bundle_dir / trained.config.space_weights, trained.config.image_size)
    note = Bundle.load(bundle_dir).predictor_note()
    assert "trained through another space than the bundle now holds" in note
    assert "train predictor --bundle" in note


def test_a_bundle_toml_with_a_malformed_trained_with_is_refused_in_one_line(random_bundle_dir, tmp_path):
    bundle_dir = tmp_path / "bundle"
    Bundle.load(random_bundle_dir).save(bundle_dir)
    toml = bundle_dir / "bundle.toml"
    toml.write_text(toml.read_text() + "\n[predictor.trained_with]\ngenerator = 3\n")
    with pytest.raises(UserError, match="trained_with.*digests as strings"):
        Bundle.load(bundle_dir)


def test_a_generator_keeping_no_average_w_gets_one_estimated_in_its_bundle(random_bundle_dir, tmp_path, capsys):
    """NVlabs allows w_avg_beta null; the bundle's presets truncate toward w_avg, so a bundle made
    around such a network loaded, then every show and training run on it ended in a traceback."""
    untracked = tiny_generator(0, mapping_kwargs=dict(num_layers=2, w_avg_beta=None, lr_multiplier=1.0))
    pkl = write_nvlabs_pickle(tmp_path / "untracked.pkl", G_ema=untracked)
    models = tmp_path / "models"
    assert run("bundle", "new", "--network", str(pkl), "--space", str(random_bundle_dir),
               "--name", "untracked", "--models-dir", str(models)) == 0
    assert "w_avg estimated from" in capsys.readouterr().out
    made = Bundle.load(models / "untracked")
    with torch.no_grad():
        mapped = untracked.mapping(torch.randn(4096, untracked.z_dim, generator=torch.Generator().manual_seed(1)), None)
        assert (made.G.mapping.w_avg - mapped[:, 0].mean(0)).norm() < 0.1 * mapped[:, 0].std(0).norm()
        z = torch.randn(2, untracked.z_dim)
        assert torch.allclose(made.G.mapping(z, None), untracked.mapping(z, None), atol=1e-2)  # the same network
        assert made.G.mapping(z, None, truncation_psi=0.5).shape == (2, made.G.num_ws, made.G.w_dim)
    assert load_generator(pkl)[0].mapping.w_avg_beta is None  # the network itself is read as it is


def test_a_generator_with_weights_past_float16_s_range_is_kept_in_float32(random_bundle_dir, tmp_path):
    big = tiny_generator(0)
    with torch.no_grad():
        big.mapping.fc0.weight[0, 0] = 70000.0  # float16 ends at 65504
    network = save_generator(big, tmp_path / "big.safetensors", dtype=torch.float32)
    models = tmp_path / "models"
    assert run("bundle", "new", "--network", str(network), "--space", str(random_bundle_dir),
               "--name", "big", "--models-dir", str(models)) == 0
    assert Bundle.load(models / "big").G.mapping.fc0.weight[0, 0] == 70000.0


def test_a_remade_bundle_s_next_step_names_a_run_folder_the_old_predictor_run_does_not_hold(
        random_bundle_dir, tmp_path, capsys, monkeypatch):
    # `train predictor` refuses runs/predictor-NAME when it trained the replaced bundle's predictor.
    monkeypatch.chdir(tmp_path)
    checkpoint = save_generator(Bundle.load(random_bundle_dir).G, tmp_path / "mine.safetensors")
    argv = ("bundle", "new", "--network", str(checkpoint), "--space", str(random_bundle_dir), "--name", "mine",
            "--models-dir", str(tmp_path / "models"), "--force")
    assert run(*argv) == 0
    assert "--outdir" not in capsys.readouterr().out
    (tmp_path / "runs" / "predictor-mine").mkdir(parents=True)
    (tmp_path / "runs" / "predictor-mine-2").mkdir()
    assert run(*argv) == 0
    assert f"--bundle {tmp_path / 'models' / 'mine'} --outdir runs/predictor-mine-3;" in capsys.readouterr().out


def test_bundle_new_into_a_models_folder_it_cannot_write_names_the_flag_before_loading(tmp_path, monkeypatch):
    """An installed live's models folder is its package's, often read-only (review 63)."""
    (tmp_path / "blocker").write_text("a file")
    monkeypatch.setattr("live.models.models_dir", lambda: tmp_path / "blocker" / "models")
    monkeypatch.setattr("live.nets.checkpoints.load_generator", lambda *a: pytest.fail("loaded first"))
    with pytest.raises(UserError, match=r"blocker is a file, not a folder.*\(--models-dir DIR keeps bundles"):
        run("bundle", "new", "--network", str(tmp_path / "g.pkl"), "--space", "default", "--name", "mine")
    with pytest.raises(UserError, match=r"blocker is a file, not a folder; choose another path$"):
        run("bundle", "new", "--network", str(tmp_path / "g.pkl"), "--space", "default", "--name", "mine",
            "--models-dir", str(tmp_path / "blocker" / "m"))


def test_bundle_new_keeps_a_bundle_of_its_name_made_while_it_loaded(random_bundle_dir, tmp_path, monkeypatch):
    """Checked only at the start, a bundle another `bundle new` made meanwhile was replaced without --force
    (review 66)."""
    import shutil

    from live.nets import checkpoints

    source = Bundle.load(random_bundle_dir)
    checkpoint = save_generator(source.G, tmp_path / "mine.safetensors")
    models = tmp_path / "models"
    load = checkpoints.load_generator

    def another_makes_it_meanwhile(path):
        shutil.copytree(random_bundle_dir, models / "mine")
        return load(path)

    monkeypatch.setattr(checkpoints, "load_generator", another_makes_it_meanwhile)
    args = ("bundle", "new", "--network", str(checkpoint), "--space", str(random_bundle_dir), "--name", "mine",
            "--models-dir", str(models))
    with pytest.raises(UserError, match="holds a bundle another command made while this one ran, which is kept"):
        run(*args)
    assert (models / "mine" / "bundle.toml").read_bytes() == (random_bundle_dir / "bundle.toml").read_bytes()
    assert sorted(p.name for p in models.iterdir()) == ["mine"]  # no partial folder left
    monkeypatch.setattr(checkpoints, "load_generator", load)
    assert run(*args, "--force") == 0
