from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
import soundfile as sf

from live.bench.band import midi_file, variable_length
from live.errors import UserError
from live.space.data.midi import DEFAULT_SOUNDFONT, MidiRenderer, midi_members, render_midi_corpus, rendered_path

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not DEFAULT_SOUNDFONT.is_file(),
    reason="needs the Debian packages fluidsynth and fluid-soundfont-gm")


def tiny_midi(notes: tuple[int, ...] = (60, 64, 67), seconds: float = 0.25) -> bytes:
    """A one-track file: piano playing `notes` one after another, each `seconds` long."""
    events = [(0.0, bytes([0xC0, 0]))]  # program 0, acoustic grand piano
    for k, note in enumerate(notes):
        events += [(k * seconds, bytes([0x90, note, 100])), ((k + 1) * seconds, bytes([0x80, note, 0]))]
    return midi_file(events)


def test_variable_length_quantities_match_the_midi_specification():
    assert variable_length(0) == b"\x00" and variable_length(127) == b"\x7f"
    assert variable_length(128) == b"\x81\x00" and variable_length(240) == b"\x81\x70"


def test_members_skip_macos_twins_and_non_midi_files(tmp_path):
    archive_path = tmp_path / "phrases.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("phrases/b.mid", tiny_midi())
        archive.writestr("phrases/a.MID", tiny_midi())
        archive.writestr("__MACOSX/phrases/._b.mid", b"")
        archive.writestr("phrases/readme.txt", b"")
    assert midi_members(archive_path) == ["phrases/a.MID", "phrases/b.mid"]
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("plain text")
    with pytest.raises(UserError, match="neither a folder nor a zip"):
        midi_members(not_zip)


def test_missing_fluidsynth_names_the_debian_packages(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="fluidsynth fluid-soundfont-gm"):
        MidiRenderer().executable()


@needs_fluidsynth
def test_corpus_renders_once_to_mono_audio_and_resumes(tmp_path):
    archive_path = tmp_path / "midis.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("midis/Q1_song_0.mid", tiny_midi((60, 64, 67)))
        archive.writestr("midis/Q3_song_1.mid", tiny_midi((57, 60, 64)))
    cache = tmp_path / "cache"
    report = render_midi_corpus(archive_path, cache, 16000, progress=False)
    assert (report.rendered, report.skipped, report.failed) == (2, 0, [])
    out = rendered_path(cache, 16000, "midis/Q1_song_0.mid")
    audio, rate = sf.read(out, dtype="float32", always_2d=True)
    assert rate == 16000 and audio.shape[1] == 1
    # Three eighths at 120 BPM are 0.75 s, plus the piano's release tail.
    assert 0.7 < len(audio) / rate < 5.0 and np.abs(audio).max() > 0.01
    again = render_midi_corpus(archive_path, cache, 16000, progress=False)
    assert (again.rendered, again.skipped) == (0, 2)


@needs_fluidsynth
def test_a_broken_file_is_reported_and_the_rest_still_render(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "good.mid").write_bytes(tiny_midi())
    (folder / "broken.mid").write_bytes(b"MThd but not really a MIDI file")
    report = render_midi_corpus(folder, tmp_path / "cache", 16000, progress=False)
    assert report.rendered == 1 and [member for member, _ in report.failed] == ["broken.mid"]
    assert rendered_path(tmp_path / "cache", 16000, "good.mid").is_file()
    assert not rendered_path(tmp_path / "cache", 16000, "broken.mid").exists()


@pytest.mark.parametrize("flag, value", [("--gain", "nan"), ("--gain", "-1"), ("--workers", "0"),
                                         ("--workers", "100000"), ("--sample-rate", "-5")])
def test_the_render_command_refuses_bad_values_in_one_line(tmp_path, capsys, flag, value):
    # The command README gives for the MIDI corpus took them: a NaN gain ended in soundfile's
    # traceback, workers 0 or -3 ran as 1 (review 54).
    from live.space.data.midi import main

    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path), str(tmp_path / "out"), flag, value])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and f"argument {flag}" in err and len(err.splitlines()) == 1  # no usage block
    assert not (tmp_path / "out").exists()


def test_the_render_command_s_lines_are_escaped(tmp_path, capsys):
    # A zip's member names reached the terminal raw: a newline forged a line (review 61).
    from live.space.data.midi import main

    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as archive:
        archive.writestr("x\x1b[31mred\nfailed: forged.mid", b"MThd junk")
    assert main([str(tmp_path / "evil.zip"), str(tmp_path / "cache")]) == 1
    failed = [line for line in capsys.readouterr().err.split("\n") if "failed:" in line]  # beside the progress bar
    assert len(failed) == 1 and "\\x1b[31mred\\nfailed: forged.mid" in failed[0]
    assert main([str(tmp_path / "no\nzip"), str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("live: error: ") and len(err.splitlines()) == 1
