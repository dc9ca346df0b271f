"""EMOTIC, EMOTions In Context (Kosti, Alvarez, Recasens & Lapedriza 2019): people in
everyday scenes, each with a body box and continuous valence, arousal and dominance on 1-10.

`Annotations/Annotations.mat` holds struct arrays `train`, `val` and `test`. Each entry
has `filename`, `folder` (e.g. `mscoco/images`; the image is `{image_root}/{folder}/
{filename}`), `image_size` (`n_col`, `n_row`), `original_database` and a struct array
`person`. Each person has `body_bbox` [x1 y1 x2 y2] in pixels and
`annotations_continuous` (`valence`, `arousal`, `dominance`): one struct in `train` (one
annotator), a struct array in `val`/`test` (several annotators) whose average is stored as
`combined_continuous`.

One record per person: the image cropped to the body box when loaded (the box is used as
0-based pixel bounds, end exclusive, clipped to the picture, as the public EMOTIC loaders
do). Label: `combined_continuous` when present, else the mean of the annotators'
`annotations_continuous`; 1-10 -> (x - 1) / 9, weight 1. Persons without finite valence and
arousal are left out. Dominance is not used. Split key: `emotic/{file stem}`, so all
persons of one picture stay together (IMEMNet names EMOTIC pictures by that stem).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from live.errors import UserError
from live.space.data.images import Box, ImageFile
from live.space.data.labels import HARD_WEIGHT, rescale
from live.space.data.records import LabelledImage
from live.space.data.tables import require_files

PARTITIONS = ("train", "val", "test")
RATING_SCALE = (1.0, 10.0)


def emotic_key(filename: str) -> str:
    return f"emotic/{Path(filename).stem}"


def _items(value: Any) -> list[Any]:
    """A struct array as a list; squeeze_me turns 1-element arrays into the element itself."""
    return list(np.ravel(value)) if isinstance(value, np.ndarray) else [value]


def _number(value: Any) -> float:
    """A MATLAB scalar as float; empty fields ([]) become NaN."""
    array = np.asarray(value, dtype=float).ravel()
    return float(array[0]) if array.size else math.nan


def _continuous(person: Any) -> tuple[float, float]:
    """(valence, arousal) on 1-10, NaN when nobody rated this person."""
    combined = getattr(person, "combined_continuous", None)
    ratings = _items(combined) if combined is not None else _items(getattr(person, "annotations_continuous", []))
    ratings = [r for r in ratings if hasattr(r, "valence") and hasattr(r, "arousal")]
    values = np.array([(_number(r.valence), _number(r.arousal)) for r in ratings]).reshape(-1, 2)
    finite = values[np.isfinite(values).all(axis=1)]
    return (math.nan, math.nan) if not len(finite) else tuple(finite.mean(axis=0))


def _box(bbox: Any, where: str) -> Box:
    corners = np.asarray(bbox, dtype=float).ravel()
    if corners.size != 4 or not np.isfinite(corners).all():
        raise UserError(f"{where}: body_bbox {corners.tolist()} is not [x1 y1 x2 y2]")
    x1, y1, x2, y2 = corners
    return math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2)


def read_emotic(annotations: Path, image_root: Path, partitions: Sequence[str] = PARTITIONS) -> list[LabelledImage]:
    """Person records of the chosen EMOTIC partitions (all three by default)."""
    annotations, image_root = Path(annotations), Path(image_root)
    try:
        mat = scipy.io.loadmat(annotations, squeeze_me=True, struct_as_record=False)
    except FileNotFoundError:
        raise UserError(f"EMOTIC annotations not found: {annotations}") from None
    except (MatReadError, ValueError, OSError, TypeError, NotImplementedError) as error:
        raise UserError(f"cannot read {annotations} as a MATLAB file ({error}); "
                        "expected EMOTIC's Annotations/Annotations.mat") from error
    records = []
    for partition in partitions:
        if partition not in mat:
            raise UserError(f"{annotations} has no '{partition}' partition; it has "
                            f"{', '.join(k for k in mat if not k.startswith('__'))}")
        for n, entry in enumerate(_items(mat[partition])):
            where = f"{annotations.name} {partition}({n + 1})"
            try:
                filename, folder, persons = str(entry.filename), str(entry.folder), _items(entry.person)
            except AttributeError as error:
                raise UserError(f"{where}: not an EMOTIC entry ({error})") from None
            image = image_root / folder / filename
            for p, person in enumerate(persons):
                valence, arousal = _continuous(person)
                if not (math.isfinite(valence) and math.isfinite(arousal)):
                    continue
                person_where = f"{where}.person({p + 1})"
                records.append(LabelledImage(
                    ImageFile(image, _box(person.body_bbox, person_where)),
                    rescale(valence, *RATING_SCALE, person_where), rescale(arousal, *RATING_SCALE, person_where),
                    HARD_WEIGHT, "emotic", emotic_key(filename)))
    require_files({r.image.path for r in records}, f"EMOTIC images under {image_root}")
    return records
