from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from live.errors import UserError
from live.space.data.emotic import read_emotic


def struct(*rows: dict) -> np.ndarray:
    """A 1xN MATLAB struct array, as savemat writes and EMOTIC's file holds."""
    array = np.empty((1, len(rows)), dtype=[(name, object) for name in rows[0]])
    for k, row in enumerate(rows):
        for name, value in row.items():
            array[0, k][name] = value
    return array


def continuous(valence: float, arousal: float, dominance: float = 5.0) -> dict:
    return {"valence": valence, "arousal": arousal, "dominance": dominance}


def train_person(box: list[float], valence: float, arousal: float) -> dict:
    return {"body_bbox": np.array([box]),
            "annotations_categories": struct({"categories": np.array(["Happiness", "Peace"], dtype=object)}),
            "annotations_continuous": struct(continuous(valence, arousal)),
            "gender": "Female", "age": "Adult"}


def annotated_person(box: list[float], annotators: list[tuple[float, float]], combined: tuple[float, float]) -> dict:
    return {"body_bbox": np.array([box]),
            "annotations_categories": struct(*({"categories": np.array(["Engagement"], dtype=object)}
                                               for _ in annotators)),
            "combined_categories": np.array(["Engagement"], dtype=object),
            "annotations_continuous": struct(*(continuous(v, a) for v, a in annotators)),
            "combined_continuous": struct(continuous(*combined)),
            "gender": "Male", "age": "Kid"}


def entry(filename: str, folder: str, *persons: dict) -> dict:
    return {"filename": filename, "folder": folder,
            "image_size": struct({"n_col": 16.0, "n_row": 12.0}),
            "original_database": struct({"name": folder.split("/")[0], "info": struct({"image_id": 1.0})}),
            "person": struct(*persons)}


def write_emotic(root: Path) -> Path:
    """Annotations/Annotations.mat with train/val/test, and the pictures it names."""
    train = struct(
        entry("COCO_train2014_000000000001.jpg", "mscoco/images",
              train_person([0, 0, 8, 12], 10.0, 1.0), train_person([8, 0, 16, 12], 1.0, 10.0)),
        entry("frame_abc.jpg", "framesdb/images",
              train_person([2.4, 3.6, 9.2, 11.0], float("nan"), 5.0)))  # unrated: left out
    val = struct(entry("sun_xyz.jpg", "ade20k/images",
                       annotated_person([0, 0, 16, 12], [(4.0, 4.0), (6.0, 8.0)], (5.5, 6.4))))
    test = struct(entry("abc123.jpg", "emodb_small/images", annotated_person([4, 4, 12, 12], [(7.0, 3.0)], (7.0, 3.0))))
    (root / "Annotations").mkdir(parents=True)
    annotations = root / "Annotations" / "Annotations.mat"
    scipy.io.savemat(annotations, {"train": train, "val": val, "test": test})
    # Pictures: left half black, right half white, so crops show which half they took.
    pixels = np.zeros((12, 16, 3), np.uint8)
    pixels[:, 8:] = 255
    for folder, name in (("mscoco/images", "COCO_train2014_000000000001.jpg"), ("framesdb/images", "frame_abc.jpg"),
                         ("ade20k/images", "sun_xyz.jpg"), ("emodb_small/images", "abc123.jpg")):
        (root / "emotic" / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / "emotic" / folder / name, format="PNG")  # lossless, name aside
    return annotations


def test_fixture_has_the_published_struct_layout(tmp_path):
    mat = scipy.io.loadmat(write_emotic(tmp_path))
    train = mat["train"]
    assert train.shape == (1, 2) and train.dtype.names == ("filename", "folder", "image_size",
                                                           "original_database", "person")
    person = train[0, 0]["person"]
    assert person.shape == (1, 2) and person[0, 0]["body_bbox"].shape == (1, 4)
    assert person[0, 0]["annotations_continuous"][0, 0]["valence"][0, 0] == 10.0
    assert "combined_continuous" in mat["val"][0, 0]["person"].dtype.names


def test_one_record_per_rated_person_with_1_10_mapped_to_unit(tmp_path):
    records = read_emotic(write_emotic(tmp_path), tmp_path / "emotic")
    assert len(records) == 4  # the unrated person of frame_abc is left out
    first, second = records[0], records[1]
    assert (first.valence, first.arousal) == (1.0, 0.0) and (second.valence, second.arousal) == (0.0, 1.0)
    assert first.split_key == second.split_key == "emotic/COCO_train2014_000000000001"
    assert first.image.path == tmp_path / "emotic" / "mscoco" / "images" / "COCO_train2014_000000000001.jpg"
    assert all(r.source == "emotic" and r.weight == 1.0 for r in records)


def test_val_and_test_use_the_combined_rating_not_one_annotator(tmp_path):
    records = read_emotic(write_emotic(tmp_path), tmp_path / "emotic", partitions=("val",))
    assert len(records) == 1
    assert (records[0].valence, records[0].arousal) == pytest.approx(((5.5 - 1) / 9, (6.4 - 1) / 9))


def test_the_body_box_crops_the_picture_when_loaded(tmp_path):
    records = read_emotic(write_emotic(tmp_path), tmp_path / "emotic", partitions=("train",))
    left, right = records[0].load(), records[1].load()
    assert left.shape == right.shape == (3, 12, 8)
    assert not left.any() and torch.equal(right, torch.ones(3, 12, 8))


def test_missing_partition_missing_images_and_non_mat_files_are_user_errors(tmp_path):
    annotations = write_emotic(tmp_path)
    with pytest.raises(UserError, match="no 'extra' partition"):
        read_emotic(annotations, tmp_path / "emotic", partitions=("extra",))
    with pytest.raises(UserError, match="EMOTIC images .* missing"):
        read_emotic(annotations, tmp_path / "elsewhere")
    not_mat = tmp_path / "notes.mat"
    not_mat.write_text("not a MATLAB file")
    with pytest.raises(UserError, match="as a MATLAB file"):
        read_emotic(not_mat, tmp_path / "emotic")
