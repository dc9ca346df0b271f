"""Readers of the rating sheets and pair lists: NAPS, OASIS, 4Q, IMEMNet, EMOPIA, VGMIDI."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from live.errors import UserError
from live.space.data.emopia import read_emopia
from live.space.data.fourq import read_4q
from live.space.data.imemnet import image_key, pair_held_out, read_imemnet_pairs
from live.space.data.midi import rendered_path
from live.space.data.naps import NapsSheet, read_naps
from live.space.data.oasis import read_oasis
from live.space.data.split import is_held_out
from live.space.data.vgmidi import read_vgmidi


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_naps_sheet_maps_1_9_ratings_and_names_images_by_id(tmp_path):
    sheet = tmp_path / "naps.csv"
    sheet.write_text("ID,Category,Valence_M,Valence_SD,Arousal_M,Arousal_SD\n"
                     "Animals_079_h,Animals,7.0,1.5,3.0,2.2\n"
                     "Faces_221_v,Faces,1.0,0.9,9.0,1.0\n")
    for name in ("Animals_079_h", "Faces_221_v"):
        touch(tmp_path / "images" / f"{name}.jpg")
    records = read_naps(sheet, tmp_path / "images")
    assert [(r.valence, r.arousal) for r in records] == [(0.75, 0.25), (0.0, 1.0)]
    assert [r.split_key for r in records] == ["naps/Animals_079_h", "naps/Faces_221_v"]
    assert records[0].image.path == tmp_path / "images" / "Animals_079_h.jpg"


def test_naps_column_names_are_configurable_and_wrong_ones_are_named(tmp_path):
    sheet = tmp_path / "naps.csv"
    sheet.write_text("Photo;Valence;Arousal\nObjects_172_v;5;5\n")
    touch(tmp_path / "Objects_172_v.jpg")
    layout = NapsSheet(id="Photo", valence="Valence", arousal="Arousal", delimiter=";")
    assert read_naps(sheet, tmp_path, layout)[0].valence == 0.5
    with pytest.raises(UserError, match="lacks the column\\(s\\) ID, Valence_M, Arousal_M"):
        read_naps(sheet, tmp_path, NapsSheet(delimiter=";"))


@pytest.mark.parametrize("extra, words", [
    ("I3,Bear 1,Animal\r\n", r"OASIS.csv line 4 has 3 cells where its header has 10"),  # a KeyError traceback
    ("I4,Acorns 1,Object,Pixabay,6,1,99,3,1,99\r\n", "lists Theme 'Acorns 1' twice"),  # trained on twice
])
def test_an_oasis_row_cut_short_or_listed_twice_is_one_line(tmp_path, extra, words):
    (tmp_path / "OASIS.csv").write_text(
        "Id,Theme,Category,Source,Valence_mean,Valence_SD,Valence_N,Arousal_mean,Arousal_SD,Arousal_N\r\n"
        "I1,Acorns 1,Object,Pixabay,4,0.95,102,7,1.6,101\r\n"
        "I2,Alcohol 2,Object,Pixabay,1,1.1,108,2.5,1.7,104\r\n" + extra)
    for theme in ("Acorns 1", "Alcohol 2", "Bear 1"):
        touch(tmp_path / "images" / f"{theme}.jpg")
    with pytest.raises(UserError, match=words):
        read_oasis(tmp_path)


def test_oasis_maps_1_7_ratings_and_theme_names_the_image(tmp_path):
    (tmp_path / "OASIS.csv").write_text(
        "Id,Theme,Category,Source,Valence_mean,Valence_SD,Valence_N,Arousal_mean,Arousal_SD,Arousal_N\r\n"
        "I1,Acorns 1,Object,Pixabay,4,0.95,102,7,1.6,101\r\n"
        "I2,Alcohol 2,Object,Pixabay,1,1.1,108,2.5,1.7,104\r\n")
    for theme in ("Acorns 1", "Alcohol 2"):
        touch(tmp_path / "images" / f"{theme}.jpg")
    records = read_oasis(tmp_path)
    assert [(r.valence, r.arousal) for r in records] == [(0.5, 1.0), (0.0, 0.25)]
    assert records[0].split_key == "oasis/Acorns 1" and records[0].image.path.name == "Acorns 1.jpg"
    (tmp_path / "images" / "Alcohol 2.jpg").unlink()
    with pytest.raises(UserError, match="1 OASIS images .* missing"):
        read_oasis(tmp_path)


def test_4q_quadrants_become_soft_centroid_targets_with_lower_weight(tmp_path):
    (tmp_path / "annotations.csv").write_text(
        "Song,Artist,Title,Quadrant,PQuad,MoodsFoundStr,GenresStr\r\n"
        "MT0000004637,Charlie Poole,Bulldog,Q3,0.67,circular; greasy,Country\r\n"
        "MT0000040632,Gipsy Kings,Flamencos,Q1,0.75,fiery; sexy,International; Jazz\r\n")
    touch(tmp_path / "Q3" / "MT0000004637.mp3")
    touch(tmp_path / "Q1" / "MT0000040632.mp3")
    records = read_4q(tmp_path)
    assert [(r.quadrant, r.valence, r.arousal, r.weight) for r in records] == [(3, 0.25, 0.25, 0.5),
                                                                            (1, 0.75, 0.75, 0.5)]
    assert records[1].audio.path == tmp_path / "Q1" / "MT0000040632.mp3"
    assert records[0].split_key == "4q/MT0000004637"


IMEMNET_LINES = """1967-11 COCO_train2014_000000318807 0.8757995366765425
238-12 frame_ehvuajnvkgem5li0 0.8956136698601915
2042-124 Faces_221_v 0.5815987019545902
1501-14 2309 0.1

"""


def test_imemnet_pairs_parse_clip_ids_scores_and_image_databases(tmp_path):
    path = tmp_path / "val_matching.txt"
    path.write_text(IMEMNET_LINES)
    pairs = read_imemnet_pairs(path)
    assert len(pairs) == 4
    first = pairs[0]
    assert (first.song_id, first.clip_index, first.image_id, first.clip_id) == (
        1967, 11, "COCO_train2014_000000318807", "1967-11")
    assert first.score == pytest.approx(0.8757995366765425)
    assert [p.image_key for p in pairs] == ["emotic/COCO_train2014_000000318807", "emotic/frame_ehvuajnvkgem5li0",
                                            "naps/Faces_221_v", "iaps/2309"]
    span = pairs[2].music_span(tmp_path / "MEMD_audio")
    assert (span.path.name, span.start, span.duration) == ("2042.mp3", 248.0, 2.0)
    assert image_key("Animals_219_h") == "naps/Animals_219_h"


def test_imemnet_pair_is_held_out_with_its_song_or_its_image(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("".join(f"{song}-10 img{k} 0.5\n" for k, song in enumerate(range(1, 400))))
    pairs = read_imemnet_pairs(path)
    for pair in pairs:
        assert pair_held_out(pair) == (is_held_out(f"deam/{pair.song_id}") or is_held_out(pair.image_key))
    held = [p for p in pairs if pair_held_out(p)]
    assert any(not is_held_out(p.music_key) for p in held) and any(not is_held_out(p.image_key) for p in held)


def test_imemnet_malformed_line_is_a_user_error_with_its_line_number(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("1967-11 COCO_x 0.5\n1967 COCO_y 0.5\n")
    with pytest.raises(UserError, match="line 2"):
        read_imemnet_pairs(path)
    path.write_text("1967-11 COCO_x 1.5\n")
    with pytest.raises(UserError, match="line 1"):
        read_imemnet_pairs(path)


def test_emopia_names_give_quadrants_and_performances_group_the_split(tmp_path):
    midis = tmp_path / "midis.zip"
    names = ["midis/Q1_0vLPYiPN7qY_0.mid", "midis/Q1_0vLPYiPN7qY_1.mid", "midis/Q4__BK2o77sTc0_2.mid"]
    with zipfile.ZipFile(midis, "w") as archive:
        archive.writestr("midis/", b"")
        for name in names:
            archive.writestr(name, b"MThd")
        archive.writestr("__MACOSX/midis/._Q1_0vLPYiPN7qY_0.mid", b"")
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="render them first: python -m live.space.data.midi"):
        read_emopia(midis, cache, 22050)
    for name in names:
        touch(rendered_path(cache, 22050, name))
    records = read_emopia(midis, cache, 22050)
    assert [(r.quadrant, r.valence, r.arousal) for r in records] == [(1, 0.75, 0.75), (1, 0.75, 0.75),
                                                                      (4, 0.75, 0.25)]
    assert [r.split_key for r in records] == ["emopia/0vLPYiPN7qY"] * 2 + ["emopia/_BK2o77sTc0"]
    assert records[2].audio.path == cache / "22050hz" / "midis" / "Q4__BK2o77sTc0_2.flac"


def test_vgmidi_signs_become_soft_targets_and_quadrants(tmp_path):
    sheet = tmp_path / "vgmidi_labelled.csv"
    sheet.write_text(
        "id,series,console,game,piece,midi,valence,arousal\n"
        "8189,Battle of Olympus,NES,Battle of Olympus,Olympus No Tatakai,"
        "labelled/phrases/Battle of Olympus_NES_Battle of Olympus_Olympus No Tatakai_0.mid,-1,-1\n"
        "8189,Battle of Olympus,NES,Battle of Olympus,Olympus No Tatakai,"
        "labelled/phrases/Battle of Olympus_NES_Battle of Olympus_Olympus No Tatakai_1.mid,1,-1\n"
        "8013,Banjo-Kazooie,N64,Banjo-Kazooie,Boggys Igloo Happy,"
        "labelled/phrases/Banjo-Kazooie_N64_Banjo-Kazooie_Boggys Igloo Happy_0.mid,-1,1\n")
    cache = tmp_path / "cache"
    for name in ("Battle of Olympus_NES_Battle of Olympus_Olympus No Tatakai_0",
                 "Battle of Olympus_NES_Battle of Olympus_Olympus No Tatakai_1",
                 "Banjo-Kazooie_N64_Banjo-Kazooie_Boggys Igloo Happy_0"):
        touch(rendered_path(cache, 16000, f"phrases/{name}.mid"))
    records = read_vgmidi(sheet, tmp_path / "phrases.zip", cache, 16000)
    assert [(r.valence, r.arousal, r.quadrant, r.weight) for r in records] == [
        (0.25, 0.25, 3, 0.5), (0.75, 0.25, 4, 0.5), (0.25, 0.75, 2, 0.5)]
    assert records[0].split_key == records[1].split_key == "vgmidi/Battle of Olympus/Olympus No Tatakai"
    with pytest.raises(UserError, match="--sample-rate 22050"):
        read_vgmidi(sheet, tmp_path / "phrases.zip", cache, 22050)
