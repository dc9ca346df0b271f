"""`python -m live va`: one JSON line per readable file, an error line per bad one."""
from __future__ import annotations

import argparse
import json
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from live.bundle import Bundle, BundleConfig
from live.cli import va as va_cli
from live.errors import UserError



def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    va_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["va", *argv])
    return args.func(args)


def test_va_prints_one_line_per_file_and_reports_bad_ones(random_bundle_dir, tmp_path, capsys):
    rate = BundleConfig.read(random_bundle_dir / "bundle.toml").space.mel.sample_rate
    tone = tmp_path / "tone.wav"
    t = np.arange(int(7.5 * rate)) / rate  # two and a half 3 s windows
    sf.write(tone, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    short = tmp_path / "blip.flac"
    sf.write(short, np.full(rate // 10, 0.1, np.float32), rate)  # shorter than a window: padded
    picture = tmp_path / "red.png"
    Image.fromarray(np.full((40, 90, 3), (200, 30, 30), np.uint8)).save(picture)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    missing = tmp_path / "missing\n\x1b[2Jlive: ok.mp3"  # a name would have forged a line (review 61)
    text = tmp_path / "notes.txt"
    text.write_text("neither sound nor picture")

    status = _run([str(tone), str(broken), str(picture), str(missing), str(text), str(short), "/dev/zero",
                   "--bundle", str(random_bundle_dir)])
    out, err = capsys.readouterr()
    assert status == 2  # bad input's code, as the other commands give it
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["path"] for line in lines] == [str(tone), str(picture), str(short)]
    for line in lines:
        assert set(line) == {"path", "valence", "arousal"}
        assert 0.0 <= line["valence"] <= 1.0 and 0.0 <= line["arousal"] <= 1.0
    errors = err.strip().splitlines()
    assert len(errors) == 4 and "broken.jpg" in errors[0] and "missing\\n\\x1b[2Jlive: ok.mp3" in errors[1]
    assert "file not found" in errors[1] and "notes.txt" in errors[2] and "reads audio and pictures (" in errors[2]
    assert "/dev/zero is not a file but a pipe or a device; save it to a file first" in errors[3]  # not "not found"


def test_va_is_deterministic_and_exits_zero_when_all_files_read(random_bundle_dir, tmp_path, capsys, monkeypatch):
    import torch

    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    picture = tmp_path / "blue.jpg"
    Image.fromarray(np.full((64, 64, 3), (20, 40, 220), np.uint8)).save(picture)
    assert _run([str(picture), str(picture), "--bundle", str(random_bundle_dir), "--threads", "1"]) == 0
    assert threads == [1]  # a machine shared with other work (review 98)
    first, second = capsys.readouterr().out.splitlines()
    assert first == second


def test_va_hears_stereo_with_one_channel_polarity_inverted_as_a_show_does(random_bundle_dir, tmp_path, capsys):
    """A show heard such a file's first channel; `va` (and `transfer`, training) heard the silence of a
    plain mean (review 65)."""
    rate = BundleConfig.read(random_bundle_dir / "bundle.toml").space.mel.sample_rate
    t = np.arange(4 * rate) / rate
    music = (0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    sf.write(tmp_path / "mono.wav", music, rate)
    sf.write(tmp_path / "inverted.wav", np.stack([music, -music], axis=1), rate)
    assert _run([str(tmp_path / "mono.wav"), str(tmp_path / "inverted.wav"), "--bundle", str(random_bundle_dir)]) == 0
    mono, inverted = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (mono["valence"], mono["arousal"]) == (inverted["valence"], inverted["arousal"])


def test_va_reads_the_pictures_a_preset_takes(random_bundle_dir, tmp_path, capsys):
    """`preset new --image x.avif` took what `va` refused as neither sound nor picture."""
    pictures = [tmp_path / f"blue{suffix}" for suffix in (".avif", ".tif", ".ppm")]
    for picture in pictures:
        Image.fromarray(np.full((64, 64, 3), (20, 40, 220), np.uint8)).save(picture)
    assert _run([*map(str, pictures), "--bundle", str(random_bundle_dir)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    # The image VA head's reading of E_I's features: the music's head passed as well (review 49).
    from live.space.inputs import encoder_range, square_image
    from live.space.load import load_space

    net, spec = load_space(str(random_bundle_dir), "cpu")
    blue = torch.tensor([20 / 255, 40 / 255, 220 / 255]).view(1, 3, 1, 1).expand(1, 3, 64, 64)
    with torch.no_grad():
        f_i = net.eval().image_encoder(encoder_range(square_image(blue, spec.image_size)))
        expected, music_head = net.image_va(f_i)[0], net.music_va(f_i)[0]
    ppm = lines[2]
    assert (ppm["valence"], ppm["arousal"]) == (pytest.approx(float(expected[0]), abs=1e-4),
                                                pytest.approx(float(expected[1]), abs=1e-4))
    assert abs(float(music_head[0]) - ppm["valence"]) + abs(float(music_head[1]) - ppm["arousal"]) > 1e-3


def test_va_says_when_a_file_holds_less_than_its_header_states(random_bundle_dir, tmp_path, capsys):
    rate = BundleConfig.read(random_bundle_dir / "bundle.toml").space.mel.sample_rate
    whole = tmp_path / "whole.wav"
    sf.write(whole, np.full(3 * rate, 0.1, np.float32), rate)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[: rate // 2])  # 16-bit: a quarter second of the 3 s its header states
    assert _run([str(cut), str(whole), "--bundle", str(random_bundle_dir)]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2
    assert err.count("live: note: audio:") == 1 and "cut.wav holds 0.25 s of the 3.00 s its header states" in err


def test_va_says_when_a_file_s_sound_stops_below_what_the_space_hears(random_bundle_dir, tmp_path, capsys):
    """A 16 kHz copy of a calm song read as twice as aroused, without a word (review 97)."""
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "low.wav", (0.1 * rng.standard_normal(3 * 16000)).astype(np.float32), 16000)
    sf.write(tmp_path / "full.wav", (0.1 * rng.standard_normal(3 * 44100)).astype(np.float32), 44100)
    assert _run([str(tmp_path / "low.wav"), str(tmp_path / "full.wav"), "--bundle", str(random_bundle_dir)]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2
    assert err.count("live: note: audio:") == 1 and "low.wav has no sound above 8.0 kHz" in err


def test_va_names_a_missing_bundle(tmp_path):
    with pytest.raises(UserError, match="no bundle"):
        _run([str(tmp_path / "x.wav"), "--bundle", str(tmp_path / "nowhere")])


@pytest.mark.parametrize("pattern, replacement, words", [
    (r"image_size = \d+", "image_size = 0", "image_size"),
    (r"image_size = \d+", "image_size = 32", r"image_size must be a whole number of pixels in 64\.\.1024, got 32"),
    (r"\[generator\]", "generator = 3\n[nothing]", "unknown section"),
    (r'weights = "generator.safetensors"', "weights = 5", "weights must be a file name"),
    (r'weights = "generator.safetensors"', 'weigths = "g2.safetensors"', r"unknown \[generator\] keys weigths;"),
    (r'weights = "predictor.safetensors"', 'weights = "../default/predictor.safetensors"',
     r"weights must be a file name in its folder"),
    (r'^name = ".*"', 'name = "x/../../../escaped"', "name must be a file name in its folder"),
    (r"^step = ", "num_ws = 3\nstep = ", r"\[predictor\] num_ws: these come from the generator and the space"),
    (r"^step = ", "feature_dim = 7\nw_dim = 5\nstep = ", r"\[predictor\] feature_dim, w_dim: these come from"),
    (r'^name = ".*"', "name = [1, 2]", "name must be a file name"),
    (r'^description = ".*"', "description = {a = 1}", "description must be a string, got dict"),
    (r"window_seconds = [\d.]+", "window_seconds = nan", "window_seconds must be a finite number"),
    (r"^step = [\d.]+", "step = inf", "step must be a finite number"),
    (r"^step = [\d.]+", "step = 0.0", "step and lr_multiplier must be finite and > 0"),
    (r"^hidden = \d+", "hidden = 1000000000", r"hidden must be in 1\.\.16384"),
    (r"^feature_dim = \d+", "feature_dim = 1000000000", r"feature_dim must be a whole number in 1\.\.16384"),
])
def test_a_broken_bundle_toml_is_one_line(random_bundle_dir, tmp_path, pattern, replacement, words):
    import re
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(random_bundle_dir, broken)
    toml = broken / "bundle.toml"
    text, changed = re.subn(pattern, replacement, toml.read_text(), count=1, flags=re.M)
    assert changed == 1
    toml.write_text(text)
    with pytest.raises(UserError, match=words):
        Bundle.load(broken)


def test_a_bundle_description_with_any_characters_survives_a_rewrite(random_bundle_dir, tmp_path):
    import dataclasses
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(random_bundle_dir, copy)
    config = BundleConfig.read(copy / "bundle.toml")
    text = 'line one\nline "two"\ttab \\ ünïcode'
    dataclasses.replace(config, description=text).write(copy / "bundle.toml")
    assert BundleConfig.read(copy / "bundle.toml") == dataclasses.replace(config, description=text)


def test_a_predictor_setting_of_the_wrong_type_is_named(random_bundle_dir, tmp_path):
    import re
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(random_bundle_dir, broken)
    toml = broken / "bundle.toml"
    text, changed = re.subn(r"^hidden = \d+", 'hidden = "wide"', toml.read_text(), count=1, flags=re.M)
    assert changed == 1
    toml.write_text(text)
    with pytest.raises(UserError, match=r"bundle.toml \[predictor\]: hidden must be int, got .wide."):
        BundleConfig.read(toml)  # before any network loads


def test_a_missing_weights_file_is_named_before_any_network_loads(random_bundle_dir, tmp_path, monkeypatch):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(random_bundle_dir, broken)
    (broken / "predictor.safetensors").unlink()
    monkeypatch.setattr("live.bundle.load_generator", lambda *a, **k: pytest.fail("G loaded first"))
    with pytest.raises(UserError, match="predictor.safetensors is missing"):
        Bundle.load(broken)


def test_a_mel_setting_other_than_the_space_was_trained_with_is_refused(tmp_path):
    import re

    from live.bundle import random_bundle

    folder = random_bundle().save(tmp_path / "b")  # its space's weights record the settings they were made with
    toml = folder / "bundle.toml"
    original = toml.read_text()
    for pattern, words in ((r"^n_mels = (\d+)", "mel.n_mels"), (r"^image_size = (\d+)", "image_size")):
        text, changed = re.subn(pattern, lambda m: m.group(0).replace(m.group(1), str(int(m.group(1)) * 2)),
                                original, count=1, flags=re.M)
        assert changed == 1
        toml.write_text(text)
        with pytest.raises(UserError, match=rf"trained with {words} = \d+, but the config says \d+"):
            Bundle.load(folder)
    toml.write_text(original)
    Bundle.load(folder)


def test_a_song_longer_than_a_minute_is_one_line_of_its_windows_mean(random_bundle_dir, tmp_path, capsys):
    rate = BundleConfig.read(random_bundle_dir / "bundle.toml").space.mel.sample_rate
    song = tmp_path / "song.flac"
    t = np.arange(61 * rate) / rate
    sf.write(song, (0.2 * np.sin(2 * np.pi * 330 * t) * (t % 2 < 1)).astype(np.float32), rate)
    assert _run([str(song), "--bundle", str(random_bundle_dir)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["path"] == str(song) and 0.0 <= line["valence"] <= 1.0


def test_a_clip_s_spectrogram_is_the_windows_spectrogram_at_the_clip_s_length(random_bundle_dir):
    from dataclasses import replace

    from live.audio.mel import LogMel
    from live.space.inputs import clip_spectrogram

    mel = BundleConfig.read(random_bundle_dir / "bundle.toml").space.mel
    clip = np.random.default_rng(0).standard_normal(10 * mel.sample_rate).astype(np.float32) * 0.1
    whole = LogMel(replace(mel, window_seconds=10.0), mel.sample_rate)(clip)[0]
    np.testing.assert_allclose(clip_spectrogram(clip, mel).numpy(), whole.numpy(), atol=1e-5)
    short = clip[:mel.samples // 2]  # padded with silence at its start, as live
    np.testing.assert_allclose(clip_spectrogram(short, mel).numpy(), LogMel(mel, mel.sample_rate)(short)[0].numpy(),
                               atol=1e-5)


def test_a_broken_audio_file_and_a_folder_get_their_own_messages(random_bundle_dir, tmp_path, capsys):
    broken = tmp_path / "take.wav"
    broken.write_bytes(b"RIFF but nothing else")
    assert _run([str(broken), str(tmp_path), "--bundle", str(random_bundle_dir)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert "take.wav" in errors[0] and "pictures" not in errors[0]
    assert "is a folder; give the files in it" in errors[1]


def test_the_end_of_a_file_is_in_a_window():
    """A last partial window was dropped: the loud last 2.9 s of a 5.9 s clip changed nothing
    (found by review)."""
    from live.space.inputs import spectrogram_windows

    spectrogram = torch.arange(2 * 25, dtype=torch.float32).reshape(2, 25)
    windows = spectrogram_windows(spectrogram, 10)
    assert windows.shape == (3, 1, 2, 10)
    assert torch.equal(windows[1, 0], spectrogram[:, 10:20]) and torch.equal(windows[2, 0], spectrogram[:, 15:])
    assert spectrogram_windows(spectrogram[:, :20], 10).shape[0] == 2  # nothing left over: no more


@pytest.mark.parametrize("seconds", [1.0, 3.0, 23.7])
def test_a_clip_pushed_in_blocks_gives_the_whole_clip_s_windows(random_bundle_dir, seconds):
    from live.space.inputs import ClipWindows, clip_spectrogram, spectrogram_windows

    mel = BundleConfig.read(random_bundle_dir / "bundle.toml").space.mel
    clip = np.random.default_rng(1).standard_normal(round(seconds * mel.sample_rate)).astype(np.float32) * 0.1
    windows = ClipWindows(mel)
    cuts = [0, 100, mel.n_fft // 3, mel.samples, mel.samples + 7, 5 * mel.sample_rate, len(clip)]
    parts = [windows.push(clip[a:b]) for a, b in zip(cuts, cuts[1:]) if a < b] + [windows.finish()]
    expected = spectrogram_windows(clip_spectrogram(clip, mel), mel.frames)
    np.testing.assert_allclose(torch.cat(parts).numpy(), expected.numpy(), atol=1e-5)


def test_va_of_a_long_file_holds_a_block_not_the_file(random_bundle_dir, tmp_path):
    from live.space.load import load_space
    from live.space.probe import SpaceProbe

    song = tmp_path / "set.wav"
    rate, seconds = 48000, 240  # 92 MB of float32 stereo, decoded whole
    with sf.SoundFile(song, "w", rate, 2, subtype="PCM_16") as out:
        for minute in range(seconds // 60):
            t = np.arange(60 * rate) / rate
            out.write(np.stack([0.3 * np.sin(2 * np.pi * 220 * (minute + 1) * t)] * 2, axis=1))
    probe = SpaceProbe(*load_space(str(random_bundle_dir), "cpu"))
    tracemalloc.start()
    try:
        probe.file_va(song)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 60e6, f"{peak / 1e6:.0f} MB held for a {seconds * rate * 8 / 1e6:.0f} MB file"


def test_a_file_s_windows_reach_the_music_encoder_in_full_batches(random_bundle_dir, tmp_path, monkeypatch):
    from live.space.inputs import clip_spectrogram
    from live.space.load import load_space
    from live.space.probe import SpaceProbe

    rate = BundleConfig.read(random_bundle_dir / "bundle.toml").space.mel.sample_rate
    song = tmp_path / "song.wav"
    sf.write(song, np.random.default_rng(0).uniform(-0.3, 0.3, 100 * rate).astype(np.float32), rate)
    probe = SpaceProbe(*load_space(str(random_bundle_dir), "cpu"), batch=8)
    whole = probe.spectrogram(clip_spectrogram(sf.read(song, dtype="float32")[0], probe.spec.config.mel))
    encoder, sizes = probe.net.music_encoder, []
    forward = encoder.forward
    monkeypatch.setattr(encoder, "forward", lambda x: (sizes.append(len(x)), forward(x))[1])
    valence, arousal = probe.file_va(song)
    assert sizes == [8, 8, 8, 8, 2]  # 100 s: 33 windows of 3 s and one ending on its end, none in an empty batch
    assert (valence, arousal) == pytest.approx(tuple(whole[1].tolist()), abs=1e-5)


def test_a_device_this_machine_lacks_is_named_in_one_line_as_the_command_line_is_read(tmp_path, capsys):
    """torch's NVIDIA driver advice, with a URL, before; then one line, but only once the
    networks loaded."""
    from live.__main__ import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit) as exit:
        main(["va", str(tmp_path / "x.wav"), "--device", "cuda"])
    assert exit.value.code == 2
    assert "argument --device: device 'cuda' is not available on this machine; use cpu" in capsys.readouterr().err


def test_a_long_thin_picture_is_cropped_before_it_is_scaled(monkeypatch):
    # Scaled first by its shorter side, a 200000 x 1 strip (a 666-byte PNG) asked for 22 GB and
    # ended `va` in a traceback, the files after it unread.
    import torch
    import torch.nn.functional as F

    from live.space.inputs import square_image

    interpolate, sizes = F.interpolate, []

    def spy(x, *args, **kwargs):
        out = interpolate(x, *args, **kwargs)
        sizes.append(max(x.numel(), out.numel()))
        return out

    monkeypatch.setattr(F, "interpolate", spy)
    strip = torch.rand(3, 1, 20000)
    assert square_image(strip, 96).shape == (3, 96, 96) and max(sizes) <= 3 * 96 * 96
    flat = torch.zeros(2, 3, 30, 50)
    flat[:, :, :, 10:40] = 1.0  # the centre square is what is kept
    assert square_image(flat, 16).min() > 0.999


def test_va_reads_a_file_s_sound_and_leaves_its_long_silences_out(random_bundle_dir, tmp_path, capsys):
    # 30 s of digital silence after a song pulled the song's reading most of the way to
    # silence's, and a silent file got a confident VA; the show leaves such silence out.
    rate = BundleConfig.read(random_bundle_dir / "bundle.toml").space.mel.sample_rate
    t = np.arange(6 * rate) / rate
    song = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    sf.write(tmp_path / "song.wav", song, rate)
    padded = np.concatenate([np.zeros(4 * rate), song, np.zeros(30 * rate)]).astype(np.float32)
    sf.write(tmp_path / "padded.wav", padded, rate)
    sf.write(tmp_path / "silence.wav", np.zeros(5 * rate, np.float32), rate)
    status = _run([str(tmp_path / name) for name in ("song.wav", "padded.wav", "silence.wav")]
                  + ["--bundle", str(random_bundle_dir)])
    out, err = capsys.readouterr()
    song_va, padded_va = [json.loads(line) for line in out.splitlines()]
    assert status == 2 and "silence.wav is silent (below -60 dBFS throughout): no music to read" in err
    assert all(abs(song_va[key] - padded_va[key]) < 0.01 for key in ("valence", "arousal"))


def test_a_loud_file_shorter_than_the_silence_gate_s_hop_is_read_not_called_silent(random_bundle_dir, tmp_path, capsys):
    rate = BundleConfig.read(random_bundle_dir / "bundle.toml").space.mel.sample_rate
    blip = tmp_path / "blip.wav"
    sf.write(blip, (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate // 100) / rate)).astype(np.float32), rate)  # 10 ms
    assert _run([str(blip), "--bundle", str(random_bundle_dir)]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"path", "valence", "arousal"}


def test_a_stranger_s_bundle_files_are_read_or_refused_in_one_line(tmp_path, random_bundle_dir):
    """A BOM (Windows editors) was refused; deep nesting and an infinite resolution were tracebacks,
    and in a show "cannot use device 'cpu'" (review 47)."""
    import shutil

    from live.models import latent_shape

    folder = tmp_path / "b"
    shutil.copytree(random_bundle_dir, folder)
    toml, config = folder / "bundle.toml", folder / "generator.json"
    original_toml, original_config = toml.read_text(), config.read_text()
    toml.write_text("\ufeff" + original_toml)
    assert latent_shape(folder) is not None and Bundle.load(folder) is not None
    toml.write_text(original_toml + "[extra]\nx = " + "[" * 3000 + "]" * 3000 + "\n")
    assert latent_shape(folder) is None
    with pytest.raises(UserError, match="bundle.toml: arrays or tables nested too deeply"):
        Bundle.load(folder)
    toml.write_text(original_toml.replace('weights = "generator.safetensors"', "weights = [" + "1, " * 100_000 + "]"))
    with pytest.raises(UserError, match=r"\[generator\] weights must be a file name in its folder, got a list$"):
        Bundle.load(folder)  # said whole: 300 KB
    toml.write_text(original_toml)
    resolution = json.loads(original_config)["init_kwargs"]["img_resolution"]
    for value in ("Infinity", "1e400"):
        config.write_text(original_config.replace(f'"img_resolution": {resolution}', f'"img_resolution": {value}'))
        assert latent_shape(folder) is None
        with pytest.raises(UserError) as caught:
            Bundle.load(folder)
        assert "\n" not in str(caught.value)
