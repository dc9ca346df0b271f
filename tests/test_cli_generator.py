import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image

from ckpt_factory import max_diff, one_torch_thread, outputs, tiny_generator, to_rosinality, write_nvlabs_pickle
from live.cli import convert, generate
from live.cli import inspect as inspect_cli
from live.errors import UserError
from live.nets.checkpoints import load_generator, save_generator
from live.nets.stylegan2 import to_uint8

pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)


def cli(*argv: object) -> int:
    """What `python -m live ...` does with these three commands registered."""
    parser = argparse.ArgumentParser(prog="live")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (generate, inspect_cli, convert):
        module.register(sub)
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


@pytest.fixture(scope="module")
def G():
    return tiny_generator(0)


@pytest.fixture(scope="module")
def pkl(G, tmp_path_factory):
    return write_nvlabs_pickle(tmp_path_factory.mktemp("nets") / "network.pkl", G_ema=G)


@pytest.fixture(scope="module")
def pt(G, tmp_path_factory):
    path = tmp_path_factory.mktemp("nets") / "network.pt"
    torch.save({"g_ema": to_rosinality(G), "latent_avg": G.mapping.w_avg.clone()}, path)
    return path


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def direct(G, seed: int, psi: float, c: torch.Tensor | None = None) -> np.ndarray:
    """NVlabs gen_images.py's picture for a seed, computed here without the CLI."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim))
    with torch.no_grad():
        return to_uint8(G(z, c, truncation_psi=psi, noise_mode="const"))[0].numpy()


@pytest.mark.parametrize("text, seeds", [("0-3,7", [0, 1, 2, 3, 7]), ("5", [5]), ("2-2, 9", [2, 9]),
                                         ("0,0", [0]), ("3,0-4", [3, 0, 1, 2, 4])])  # each picture once, in order given
def test_parse_seeds(text, seeds):
    assert generate.parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["3-1", "a", "", "1,,2", "-1", str(2**32), "\u00b2"])  # '²' is a digit to isdigit
def test_parse_seeds_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        generate.parse_seeds(text)


def test_generate_writes_the_nvlabs_picture_for_each_seed(G, pkl, tmp_path, monkeypatch):
    import torch

    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    assert cli("generate", "--network", pkl, "--seeds", "0-1,7", "--trunc", "0.7", "--outdir", tmp_path,
               "--threads", "1") == 0
    assert threads == [1]  # a machine shared with other work (review 98)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0000.png", "seed0001.png", "seed0007.png"]
    for seed in (0, 1, 7):
        assert np.array_equal(png(tmp_path / f"seed{seed:04d}.png"), direct(G, seed, 0.7))
    assert not np.array_equal(png(tmp_path / "seed0000.png"), png(tmp_path / "seed0001.png"))


@pytest.mark.parametrize("noise_mode", ["const", "random"])
def test_generate_is_repeatable(pkl, tmp_path, noise_mode):
    for run in ("a", "b"):
        cli("generate", "--network", pkl, "--seeds", "3", "--noise-mode", noise_mode, "--outdir", tmp_path / run)
    assert np.array_equal(png(tmp_path / "a" / "seed0003.png"), png(tmp_path / "b" / "seed0003.png"))


def test_generate_conditional_network_needs_a_class(tmp_path):
    G = tiny_generator(2, c_dim=4)
    net = save_generator(G, tmp_path / "cond.safetensors", dtype=torch.float32)
    cli("generate", "--network", net, "--seeds", "4", "--class", "2", "--outdir", tmp_path / "out")
    label = torch.zeros([1, 4])
    label[0, 2] = 1
    assert np.array_equal(png(tmp_path / "out" / "seed0004.png"), direct(G, 4, 1.0, label))
    with pytest.raises(UserError, match="--class"):
        cli("generate", "--network", net, "--seeds", "4", "--outdir", tmp_path / "out")


def test_generate_missing_network_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        cli("generate", "--network", tmp_path / "nope.pkl", "--seeds", "0", "--outdir", tmp_path)


def test_inspect_prints_the_architecture(G, pkl, capsys):
    cli("inspect", pkl)
    lines = capsys.readouterr().out.splitlines()
    fields = {line[:16].strip(): line[16:].strip() for line in lines if line[:1].isalpha()}
    assert fields["format"] == "nvlabs-pkl"
    assert fields["resolution"] == "32 px" and fields["image channels"] == "3"
    assert (fields["z_dim"], fields["w_dim"], fields["num_ws"], fields["mapping layers"]) == ("32", "32", "8", "2")
    assert fields["parameters"] == f"{sum(p.numel() for p in G.parameters()):,}"
    assert [line.split() for line in lines if line.strip()[:1].isdigit()] == [
        ["4", "64"], ["8", "64"], ["16", "32"], ["32", "16"]]


def test_inspect_json(G, pkl, capsys):
    cli("inspect", pkl, "--json")
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "nvlabs-pkl" and info["resolution"] == 32 and info["num_ws"] == 8
    assert info["img_channels"] == 3
    assert info["channels"] == {"4": 64, "8": 64, "16": 32, "32": 16}
    assert info["parameter_count"] == sum(p.numel() for p in G.parameters())


@pytest.mark.parametrize("source", ["pkl", "pt"])
def test_convert_round_trips_fp32_exactly_and_fp16_within_tolerance(G, source, tmp_path, request):
    """A rosinality file's filters became one tensor shared by every layer, which safetensors
    refused to write in fp32."""
    network = request.getfixturevalue(source)
    expected = outputs(G)
    cli("convert", network, tmp_path / "g32.safetensors", "--fp32")
    cli("convert", network, tmp_path / "g16.safetensors")
    g32, info32 = load_generator(tmp_path / "g32.safetensors")
    g16, info16 = load_generator(tmp_path / "g16.safetensors")
    assert (info32.stored_dtype, info16.stored_dtype) == ("float32", "float16")
    assert max_diff(outputs(g32), expected) == 0
    assert max_diff(outputs(g16), expected) < 2e-2
    assert g32.init_kwargs == G.init_kwargs
    cli("generate", "--network", tmp_path / "g32.safetensors", "--seeds", "5", "--outdir", tmp_path / "out")
    assert np.array_equal(png(tmp_path / "out" / "seed0005.png"), direct(G, 5, 1.0))


def test_convert_wants_a_safetensors_name(pkl, tmp_path):
    with pytest.raises(SystemExit):
        cli("convert", pkl, tmp_path / "g.pt")


def test_parse_seeds_refuses_a_huge_range_before_building_it():
    with pytest.raises(argparse.ArgumentTypeError, match="too large"):
        generate.parse_seeds("0-99999999999")  # building this list would exhaust memory
    many = ",".join(f"{k * 900_000}-{k * 900_000 + 899_999}" for k in range(200))  # each range allowed alone
    with pytest.raises(argparse.ArgumentTypeError, match="too large"):
        generate.parse_seeds(many)
    assert len(generate.parse_seeds("0-499999,500000-999999")) == 1_000_000


@pytest.mark.parametrize("trunc", ["nan", "inf", "x"])
def test_generate_refuses_a_truncation_that_is_not_a_finite_number(pkl, tmp_path, trunc):
    with pytest.raises(SystemExit):
        cli("generate", "--network", pkl, "--seeds", "1", f"--trunc={trunc}", "--outdir", tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_generate_refuses_an_outdir_that_is_a_file(pkl, tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(SystemExit):
        cli("generate", "--network", pkl, "--seeds", "1", "--outdir", tmp_path / "f.txt")
    assert "is a file, not a folder" in capsys.readouterr().err


def test_convert_never_overwrites_its_input_and_asks_before_overwriting(pkl, tmp_path):
    out = tmp_path / "g.safetensors"
    cli("convert", pkl, out)
    before = out.read_bytes()
    with pytest.raises(UserError, match="is the input itself"):
        cli("convert", out, out, "--force")
    with pytest.raises(UserError, match="--force"):
        cli("convert", pkl, out, "--fp32")
    assert out.read_bytes() == before
    cli("convert", pkl, out, "--fp32", "--force")
    assert out.read_bytes() != before
    (tmp_path / "g.json").unlink()
    (tmp_path / "g.json").mkdir()  # its config's name taken by a folder: found before the weights are replaced
    changed = out.read_bytes()
    with pytest.raises(UserError, match="g.json is a folder"):
        cli("convert", pkl, out, "--force")
    assert out.read_bytes() == changed


def test_written_weights_follow_the_umask_and_a_bad_folder_is_one_line(G, tmp_path):
    import os
    import stat

    path = save_generator(G, tmp_path / "g.safetensors")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # safetensors' own writer makes 0600
    assert not list(tmp_path.glob("*.partial"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="cannot write"):
        save_generator(G, tmp_path / "file" / "g.safetensors")


def test_inspect_refuses_a_negative_direction_count(pkl):
    with pytest.raises(SystemExit):
        cli("inspect", pkl, "--directions", "-1")


def test_inspect_refuses_more_directions_than_w_has(G, pkl):
    with pytest.raises(UserError, match=f"only {G.w_dim} dimensions"):
        cli("inspect", pkl, "--directions", G.w_dim + 1)


def test_a_path_the_system_refuses_is_one_line_from_the_command_line(pkl, tmp_path, capsys):
    from live.__main__ import main

    (tmp_path / "seed0000.png").mkdir()  # where the first picture would go
    assert main(["generate", "--network", str(pkl), "--seeds", "0", "--outdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed0000.png" in err and "Traceback" not in err


def test_a_network_without_w_avg_or_rgb_is_told_what_it_cannot_do(tmp_path):
    """NVlabs allows w_avg_beta null (no average kept) and grey networks: truncation and the
    colour measure of `inspect --directions` ended in tracebacks."""
    untracked = tiny_generator(0, mapping_kwargs=dict(num_layers=2, w_avg_beta=None))
    grey = tiny_generator(0, img_channels=1)
    save_generator(untracked, tmp_path / "untracked.safetensors")
    save_generator(grey, tmp_path / "grey.safetensors")
    with pytest.raises(UserError, match="truncation needs one; use --trunc 1"):
        cli("generate", "--network", tmp_path / "untracked.safetensors", "--seeds", "1", "--trunc", "0.7",
            "--outdir", tmp_path / "out")
    cli("generate", "--network", tmp_path / "untracked.safetensors", "--seeds", "1", "--outdir", tmp_path / "out")
    cli("generate", "--network", tmp_path / "grey.safetensors", "--seeds", "1", "--outdir", tmp_path / "grey")
    assert png(tmp_path / "grey" / "seed0001.png").ndim == 2
    save_generator(tiny_generator(0, c_dim=4), tmp_path / "conditional.safetensors")
    for network in ("untracked", "grey", "conditional"):
        with pytest.raises(UserError, match="needs an unconditional RGB generator that keeps w_avg"):
            cli("inspect", tmp_path / f"{network}.safetensors", "--directions", "2")
