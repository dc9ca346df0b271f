"""NAPS, the Nencki Affective Picture System (Marchewka, Zurawski, Jednorog & Grabowska
2014): 1,356 photos (Animals, Faces, Landscapes, Objects, People) named like
`Animals_079_h` (h/v: horizontal or vertical framing), rated on 1-9 bipolar scales.

NAPS ships its ratings as a spreadsheet. This reader takes that sheet exported as CSV with
one row per photo; `NapsSheet` names the columns, by default:

    ID,Category,Valence_M,Valence_SD,Arousal_M,Arousal_SD
    Animals_079_h,Animals,6.91,1.52,4.87,2.20

(only the ID and the two means are read; extra columns are ignored; change the names in
`NapsSheet` to match another export). Images: `{images_dir}/{ID}.jpg`. Ratings 1-9 ->
(x - 1) / 8, weight 1. Split key: `naps/{ID}` (shared with imemnet.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from live.space.data.images import ImageFile
from live.space.data.labels import HARD_WEIGHT, parse_number, rescale
from live.space.data.records import LabelledImage
from live.space.data.tables import read_table, require_files

RATING_SCALE = (1.0, 9.0)


@dataclass(frozen=True)
class NapsSheet:
    """Column names and separator of the exported ratings sheet."""

    id: str = "ID"  # photo name without extension, e.g. Animals_079_h
    valence: str = "Valence_M"  # mean valence over all raters, 1-9
    arousal: str = "Arousal_M"  # mean arousal over all raters, 1-9
    delimiter: str = ","
    image_suffix: str = ".jpg"


def naps_key(photo_id: str) -> str:
    return f"naps/{photo_id}"


def read_naps(sheet_path: Path, images_dir: Path, sheet: NapsSheet = NapsSheet()) -> list[LabelledImage]:
    sheet_path, images_dir = Path(sheet_path), Path(images_dir)
    rows = read_table(sheet_path, (sheet.id, sheet.valence, sheet.arousal), "NAPS ratings sheet", sheet.delimiter,
                      unique=sheet.id)
    records = []
    for n, row in enumerate(rows, 2):
        where = f"{sheet_path.name} line {n}"
        photo = row[sheet.id]
        valence, arousal = (rescale(parse_number(row[c], where), *RATING_SCALE, where)
                            for c in (sheet.valence, sheet.arousal))
        records.append(LabelledImage(ImageFile(images_dir / f"{photo}{sheet.image_suffix}"), valence, arousal,
                                     HARD_WEIGHT, "naps", naps_key(photo)))
    require_files((r.image.path for r in records), f"NAPS images in {images_dir}")
    return records
