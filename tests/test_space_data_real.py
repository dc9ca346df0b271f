"""The readers on the real shared data (../shared/data, or $LIVE_SHARED_DATA), skipped when absent."""
from __future__ import annotations

import os
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from live.space.data.audio import AudioSpan
from live.space.data.emopia import read_emopia
from live.space.data.fourq import read_4q
from live.space.data.imemnet import read_imemnet_pairs
from live.space.data.midi import DEFAULT_SOUNDFONT, midi_members, render_midi_corpus, rendered_path
from live.space.data.oasis import read_oasis
from live.space.data.split import split
from live.space.data.vgmidi import read_vgmidi

DATA = Path(os.environ.get("LIVE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def data_folder(name: str) -> Path:
    folder = DATA / name
    if not folder.exists():
        pytest.skip(f"real data not found at {folder}; set LIVE_SHARED_DATA to the shared data folder")
    return folder


def test_oasis_has_686_rated_images_that_load():
    records = read_oasis(data_folder("oasis"))
    assert len(records) == 686
    va = np.array([(r.valence, r.arousal) for r in records])
    assert va.min() >= 0.0 and va.max() <= 1.0 and va.std(axis=0).min() > 0.1
    image = records[0].load()
    assert image.shape[0] == 3 and image.shape[2] == 320  # scaled to 320 px wide
    held_out = len(split(records).test) / len(records)
    assert 0.10 < held_out < 0.20


def test_4q_has_about_600_clips_in_four_quadrants_split_by_song():
    records = read_4q(data_folder("4q"))
    assert 550 <= len(records) <= 700
    counts = Counter(r.quadrant for r in records)
    assert sorted(counts) == [1, 2, 3, 4] and min(counts.values()) >= 100
    parts = split(records)
    assert {r.quadrant for r in parts.test} == {1, 2, 3, 4}
    assert {r.split_key for r in parts.train}.isdisjoint(r.split_key for r in parts.test)
    samples = records[0].load(16000)
    assert 25.0 < len(samples) / 16000 < 35.0 and np.abs(samples).max() > 0.01


def test_imemnet_lists_parse_completely():
    folder = data_folder("imemnet")
    val, test = (read_imemnet_pairs(folder / f"{name}_matching.txt") for name in ("val", "test"))
    assert (len(val), len(test)) == (8795, 26115)
    assert all(1 <= p.song_id <= 2058 and 0.0 <= p.score <= 1.0 for p in val + test)


def placeholder_renders(members: list[str], cache: Path, sample_rate: int) -> None:
    """Empty files where renderings go: reading labels needs only their presence."""
    for member in members:
        path = rendered_path(cache, sample_rate, member)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def test_emopia_has_1078_clips_with_quadrants_from_their_names(tmp_path):
    midis = data_folder("emopia") / "midis.zip"
    placeholder_renders(midi_members(midis), tmp_path, 22050)
    records = read_emopia(midis, tmp_path, 22050)
    assert len(records) == 1078
    assert Counter(r.quadrant for r in records) == {1: 250, 2: 265, 3: 253, 4: 310}


def test_vgmidi_has_204_phrases_whose_files_are_in_the_zip(tmp_path):
    folder = data_folder("vgmidi")
    members = midi_members(folder / "phrases.zip")
    placeholder_renders(members, tmp_path, 22050)
    records = read_vgmidi(folder / "vgmidi_labelled.csv", folder / "phrases.zip", tmp_path, 22050)
    assert len(records) == 204
    assert {r.quadrant for r in records} == {1, 2, 3, 4}


def test_a_real_emopia_midi_renders_to_piano_audio(tmp_path):
    midis = data_folder("emopia") / "midis.zip"
    if shutil.which("fluidsynth") is None or not DEFAULT_SOUNDFONT.is_file():
        pytest.skip("needs the Debian packages fluidsynth and fluid-soundfont-gm")
    member = midi_members(midis)[0]
    (tmp_path / "one").mkdir()
    with zipfile.ZipFile(midis) as archive:
        (tmp_path / "one" / "clip.mid").write_bytes(archive.read(member))
    report = render_midi_corpus(tmp_path / "one", tmp_path / "cache", 16000, progress=False)
    assert report.rendered == 1 and not report.failed
    samples = AudioSpan(rendered_path(tmp_path / "cache", 16000, "clip.mid")).load(16000)
    assert len(samples) > 16000 and np.abs(samples).max() > 0.01
