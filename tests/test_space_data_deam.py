from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from live.errors import UserError
from live.space.data.deam import DeamDynamic, DeamFiles, read_deam_static

# As published: a space after every comma of the header, none in the rows.
STATIC_1_2000 = """song_id, valence_mean, valence_std, arousal_mean, arousal_std
2,3.1,0.94,3,0.63
3,9,0.81,1,0.72
"""
STATIC_2000_2058 = """song_id, valence_mean, valence_std, valence_max_mean, valence_max_std, arousal_mean, arousal_std
2001,5,1.2,6.1,0.9,7,1.1
"""
# 2 Hz from 15 s; song 3 is shorter and leaves its last cells empty.
VALENCE = """song_id,sample_15000ms,sample_15500ms,sample_16000ms,sample_16500ms,sample_17000ms,sample_17500ms
2,-1,-0.5,0,0.5,1,1
3,0.2,0.2,0.2,0.2,,
"""
AROUSAL = """song_id,sample_15000ms,sample_15500ms,sample_16000ms,sample_16500ms,sample_17000ms,sample_17500ms
2,0,0,0,0,0,0
3,-0.6,-0.6,-0.6,-0.6,-0.6,
"""


def write_deam(root: Path) -> DeamFiles:
    """The published layout, nested as in the DEAM archives; audio is a 20 s ramp per song."""
    song_level = root / "annotations" / "annotations averaged per song" / "song_level"
    dynamic = root / "annotations" / "annotations averaged per song" / "dynamic (per second annotations)"
    audio = root / "DEAM_audio" / "MEMD_audio"
    for folder in (song_level, dynamic, audio):
        folder.mkdir(parents=True)
    (song_level / "static_annotations_averaged_songs_1_2000.csv").write_text(STATIC_1_2000)
    (song_level / "static_annotations_averaged_songs_2000_2058.csv").write_text(STATIC_2000_2058)
    (dynamic / "valence.csv").write_text(VALENCE)
    (dynamic / "arousal.csv").write_text(AROUSAL)
    ramp = (np.arange(20 * 1000) / 20000.0).astype(np.float32)  # sample k holds k / 20000
    for song in (2, 3, 2001):
        sf.write(audio / f"{song}.mp3", ramp, 1000, format="WAV", subtype="FLOAT")  # content, not name, decides
    return DeamFiles.find(root)


def test_find_locates_the_files_in_the_nested_archive_layout(tmp_path):
    files = write_deam(tmp_path)
    assert [p.name for p in files.static] == ["static_annotations_averaged_songs_1_2000.csv",
                                              "static_annotations_averaged_songs_2000_2058.csv"]
    assert files.audio_dir.name == "MEMD_audio" and files.valence.name == "valence.csv"
    with pytest.raises(UserError, match="no static_annotations"):
        DeamFiles.find(files.audio_dir)
    files.valence.unlink()
    assert DeamFiles.find(tmp_path).valence is None


def test_static_ratings_despite_leading_space_headers_map_1_9_to_unit(tmp_path):
    files = write_deam(tmp_path)
    records = read_deam_static(files.static, files.audio_dir)
    assert [r.split_key for r in records] == ["deam/2", "deam/3", "deam/2001"]
    assert (records[0].valence, records[0].arousal) == pytest.approx(((3.1 - 1) / 8, (3 - 1) / 8))
    assert (records[1].valence, records[1].arousal) == (1.0, 0.0)
    assert (records[2].valence, records[2].arousal) == (0.5, 0.75)  # found by name among extra columns
    assert all(r.weight == 1.0 and r.source == "deam" and r.quadrant is None for r in records)
    assert records[2].audio.path == files.audio_dir / "2001.mp3"


def test_static_reader_reports_missing_audio_and_off_scale_ratings(tmp_path):
    files = write_deam(tmp_path)
    (files.audio_dir / "3.mp3").unlink()
    with pytest.raises(UserError, match="1 DEAM audio files .* missing"):
        read_deam_static(files.static, files.audio_dir)
    bad = tmp_path / "bad.csv"
    bad.write_text("song_id, valence_mean, arousal_mean\n7,0,5\n")
    with pytest.raises(UserError, match="outside the 1-9 scale"):
        read_deam_static((bad,), files.audio_dir)


def test_dynamic_curves_give_window_means(tmp_path):
    files = write_deam(tmp_path)
    dynamic = DeamDynamic.read(files.valence, files.arousal)
    assert sorted(dynamic.curves) == [2, 3]
    assert dynamic.mean_va(2, 15.0, 1.0) == pytest.approx((0.125, 0.5))  # samples at 15.0 and 15.5
    # Song 3: valence ends after four samples, so the curve ends there for both dimensions.
    assert dynamic.curves[3].times.tolist() == [15.0, 15.5, 16.0, 16.5]
    with pytest.raises(UserError, match="no annotation samples"):
        dynamic.mean_va(3, 17.0, 1.0)
    with pytest.raises(UserError, match="no dynamic annotation"):
        dynamic.mean_va(2001, 15.0, 1.0)
