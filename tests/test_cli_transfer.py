"""`python -m live transfer` on a tiny random bundle."""
import argparse
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from live.cli import transfer as transfer_cli
from live.errors import UserError



def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    transfer_cli.register(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture()
def songs(tmp_path):
    """Two short tones, a low soft one and a high loud one."""
    paths = []
    for name, hz, gain in (("low", 110.0, 0.1), ("high", 880.0, 0.8)):
        t = np.arange(22050 * 2) / 22050
        path = tmp_path / "audio" / f"{name}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, (gain * np.sin(2 * np.pi * hz * t)).astype(np.float32), 22050)
        paths.append(str(path))
    return paths


def test_fast_transfer_writes_a_png_and_a_sheet(preset_dir, songs, tmp_path, capsys, monkeypatch, random_bundle_dir):
    import torch

    from live.__main__ import main
    from live.models import latent_shape

    out, sheet = tmp_path / "out", tmp_path / "sheet.png"
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    assert run("transfer", "--preset", "test", "--presets-dir", str(preset_dir), "--audio", songs[0],
               "--outdir", str(out), "--lambda", "0.001", "--refine-steps", "1", "--sheet", str(sheet),
               "--threads", "1", "--save-w") == 0
    assert threads[:1] == [1]  # a full transfer's picture is the threads' (review 55)
    assert np.asarray(Image.open(out / "low.png")).shape == (64, 64, 3)
    # Its latent, for a preset or one's own tools (review 98).
    w_m = np.load(out / "low.npy")
    assert w_m.dtype == np.float32 and w_m.shape == latent_shape(random_bundle_dir)
    assert main(["preset", "--presets-dir", str(preset_dir), "new", "found", "--w", str(out / "low.npy"),
                 "--bundle", str(random_bundle_dir)]) == 0
    assert Image.open(sheet).size[0] > 2 * 128  # source and result, each enlarged to 128 px
    printed = capsys.readouterr().out
    assert "low.png  V " in printed and "L_transfer" in printed


def test_a_silent_window_is_named_before_the_picture_moves_to_it(preset_dir, songs, tmp_path, capsys):
    # A picture "moved to the music" of nothing, with no word.
    quiet = tmp_path / "audio" / "quiet.wav"
    sf.write(quiet, np.concatenate([np.zeros(22050 * 4), 0.5 * np.ones(22050)]).astype(np.float32), 22050)
    assert run("transfer", "--preset", "test", "--presets-dir", str(preset_dir), "--audio", str(quiet), songs[1],
               "--at", "2", "--outdir", str(tmp_path / "out"), "--refine-steps", "1") == 0
    err = capsys.readouterr().err
    assert err.count("is silent") == 1 and "quiet.wav: its window ending at 2 s is silent (below -60 dBFS)" in err


def test_full_transfer_names_each_picture_after_its_audio_and_shows_its_progress(preset_dir, songs, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("transfer", "--preset", "test", "--presets-dir", str(preset_dir), "--audio", *songs,
               "--outdir", str(out), "--mode", "full", "--steps", "2", "--at", "1.5") == 0
    assert sorted(p.name for p in out.iterdir()) == ["high.png", "low.png"]
    err = capsys.readouterr().err  # minutes a file on a CPU: a bar, not silence
    assert "low.wav: " in err and "high.wav: " in err and "/2 [" in err
    with pytest.raises(UserError, match="past the end"):
        run("transfer", "--preset", "test", "--presets-dir", str(preset_dir), "--audio", songs[1],
            "--outdir", str(out), "--at", "9")


def test_transfer_refuses_clashing_names_and_bad_audio(preset_dir, songs, tmp_path):
    twin = tmp_path / "other" / "low.wav"
    twin.parent.mkdir()
    twin.write_bytes(open(songs[0], "rb").read())
    with pytest.raises(UserError, match="low"):
        run("transfer", "--preset", "test", "--presets-dir", str(preset_dir), "--audio", songs[0], str(twin),
            "--outdir", str(tmp_path / "out"))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF nonsense")
    with pytest.raises(UserError, match="broken.wav"):
        run("transfer", "--preset", "test", "--presets-dir", str(preset_dir), "--audio", str(broken),
            "--outdir", str(tmp_path / "out"))


def test_a_preset_s_missing_bundle_is_said_as_the_preset_s(preset_dir, songs, tmp_path):
    # "no bundle 'mine'" for `--preset gig`: a name the user never typed (review 61).
    (preset_dir / "gig.toml").write_text('bundle = "mine"\n[source]\nseed = 1\n')
    with pytest.raises(UserError, match=rf"preset {preset_dir / 'gig.toml'}: bundle = 'mine': no bundle 'mine'"):
        run("transfer", "--preset", "gig", "--presets-dir", str(preset_dir), "--audio", songs[0],
            "--outdir", str(tmp_path / "out"))


def test_transfer_checks_its_inputs_and_outputs_before_the_networks_load(preset_dir, songs, tmp_path, monkeypatch):
    monkeypatch.setattr("live.bundle.Bundle.load", lambda *a, **k: pytest.fail("the networks loaded first"))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    common = ("transfer", "--preset", "test", "--presets-dir", str(preset_dir), "--mode", "full")
    with pytest.raises(UserError, match="audio file not found"):
        run(*common, "--audio", str(tmp_path / "none.wav"), "--outdir", str(tmp_path / "out"))
    with pytest.raises(SystemExit):  # a_file is a file, not a folder
        run(*common, "--audio", songs[0], "--outdir", str(tmp_path / "out"), "--sheet", str(blocker / "sheet.png"))
    with pytest.raises(SystemExit):
        run(*common, "--audio", songs[0], "--outdir", str(blocker))
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio at all" * 50)
    with pytest.raises(UserError, match="broken.mp3"):  # decoded now, not after the first result
        run(*common, "--audio", songs[0], str(broken), "--outdir", str(tmp_path / "out"))
    with pytest.raises(UserError, match="past the end of .*low.wav"):
        run(*common, "--audio", songs[0], songs[1], "--outdir", str(tmp_path / "out"), "--at", "9")
    out = tmp_path / "out"
    for sheet in (out / "low.png", songs[0]):  # a result, or an input: either would be lost
        with pytest.raises(UserError, match="name the same file"):
            run(*common, "--audio", songs[0], "--outdir", str(out), "--sheet", str(sheet))
    with pytest.raises(UserError, match="name it NAME.png"):  # PNG bytes under a .jpg name
        run(*common, "--audio", songs[0], "--outdir", str(out), "--sheet", str(tmp_path / "sheet.jpg"))
    for outdir in (out, out / "sub"):  # --sheet the folder the run makes, or one above it: found after the run
        with pytest.raises(UserError, match="folder or holds it"):
            run(*common, "--audio", songs[0], "--outdir", str(outdir), "--sheet", str(out))
    with pytest.raises(UserError, match="listed more than once"):
        run(*common, "--audio", songs[0], songs[0], "--outdir", str(out))
    assert not out.exists()  # nothing was written, not even the folder
    photo = tmp_path / Path(songs[0]).with_suffix(".png").name  # the photo and the song share a name
    Image.new("RGB", (8, 8)).save(photo)
    (preset_dir / "photo.toml").write_text((preset_dir / "test.toml").read_text().replace(
        "seed = 5", f'image = "{photo}"'))
    with pytest.raises(UserError, match="the preset's picture and the result .* name the same file"):
        run("transfer", "--preset", "photo", "--presets-dir", str(preset_dir), "--audio", songs[0],
            "--outdir", str(tmp_path))


def test_transfer_refuses_more_refinement_steps_than_a_show_takes_and_a_non_finite_lambda(preset_dir, songs, tmp_path):
    for bad in (("--lambda", "nan"), ("--lambda", "1e39"), ("--at", "nan"), ("--at", "0"),
                ("--refine-steps", "100000000"), ("--mode", "full", "--steps", "1")):  # step 1 has rate 0
        with pytest.raises(SystemExit):
            run("transfer", "--preset", "test", "--audio", songs[0], "--outdir", str(tmp_path / "out"), *bad)


def test_a_short_file_s_window_is_its_first_whole_window_and_the_label_says_where(preset_dir, songs, tmp_path, capsys):
    assert run("transfer", "--preset", "test", "--presets-dir", str(preset_dir), "--audio", songs[0],
               "--outdir", str(tmp_path / "out"), "--refine-steps", "0") == 0
    assert "@ 2.0 s" in capsys.readouterr().out  # a 2 s file under a 3 s window: its end, not its middle


def test_sheet_labels_stop_at_their_tile():
    from live.transfer.sheet import contact_sheet, fit

    assert fit("a" * 30, 10, len) == "aaaaaaa..." and fit("short", 10, len) == "short"
    tile = np.full((128, 128, 3), 90, np.uint8)
    sheet = np.asarray(contact_sheet([(tile, "x" * 300 + "\nV 0.50 A 0.50"), (tile, "")]))
    second_label = sheet[128 + 4:, 4 + 128 + 4:]
    assert second_label.max() == 0  # nothing of the first label ran into it


@pytest.mark.parametrize("end_s", [0.5, 7.3, 30.0])
def test_the_window_is_cut_from_a_file_decoded_in_blocks(tmp_path, end_s):
    from live.audio.decode import read_audio

    path = tmp_path / "song.wav"
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, (44100 * 30, 2)).astype(np.float32), 44100)
    end, length = round(end_s * 22050), 3 * 22050
    window = transfer_cli._window_before(path, end, 22050, length)
    whole = read_audio(path, 22050, channels=1).samples[:end, 0]
    assert len(window) == min(end, length)
    np.testing.assert_allclose(window, whole[-length:], atol=1e-6)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_lambda_decides_how_far_the_picture_moves(preset_dir, songs, tmp_path, mode, capsys):
    # A transfer that ignored --lambda drew the same picture at 0 and at 1 without a failing test.
    pictures = {}
    for lam in ("0", "1"):
        out = tmp_path / lam
        assert run("transfer", "--preset", "test", "--presets-dir", str(preset_dir), "--audio", songs[1],
                   "--outdir", str(out), "--mode", mode, "--steps", "4", "--refine-steps", "3",
                   "--lambda", lam) == 0
        pictures[lam] = np.asarray(Image.open(out / "high.png"), np.float32)
        # At lambda 1 no step of the optimization lowers L_transfer: it keeps the source, and says so (review 98).
        assert ("no step lowered it: the source is kept" in capsys.readouterr().out) == (mode == "full" and lam == "1")
    assert np.abs(pictures["0"] - pictures["1"]).mean() > 1.0


def test_a_predictor_that_gives_no_finite_latent_is_one_line_not_a_black_picture(preset_dir, songs, tmp_path,
                                                                                 monkeypatch):
    import torch

    from live.nets.predictor import LatentPredictor

    monkeypatch.setattr(LatentPredictor, "forward", lambda self, w_o, *args: torch.full_like(w_o, float("nan")))
    out = tmp_path / "out"
    with pytest.raises(UserError, match="low.wav: the predictor's latent is not finite; .*train predictor"):
        run("transfer", "--preset", "test", "--presets-dir", str(preset_dir), "--audio", songs[0], "--outdir", str(out))
    assert not (out / "low.png").exists()  # before: a black picture (review 51)
