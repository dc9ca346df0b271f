"""OASIS, the Open Affective Standardized Image Set (Kurdi, Lozano & Banaji 2017): 900
photos rated by about 100 people each; the shared copy holds 686 of them.

Layout: `OASIS.csv` (columns Id, Theme, Category, Source, Valence_mean, Valence_SD,
Valence_N, Arousal_mean, Arousal_SD, Arousal_N) and `images/{Theme}.jpg`. Ratings on 1-7
-> (x - 1) / 6, weight 1. Split key: `oasis/{Theme}`.
"""
from __future__ import annotations

from pathlib import Path

from live.space.data.images import ImageFile
from live.space.data.labels import HARD_WEIGHT, parse_number, rescale
from live.space.data.records import LabelledImage
from live.space.data.tables import read_table, require_files

RATING_SCALE = (1.0, 7.0)


def read_oasis(root: Path, images_dir: Path | None = None) -> list[LabelledImage]:
    """Every rated photo; `images_dir` defaults to `root/images`."""
    root = Path(root)
    images_dir = Path(images_dir) if images_dir else root / "images"
    sheet = root / "OASIS.csv"
    records = []
    rows = read_table(sheet, ("Theme", "Valence_mean", "Arousal_mean"), "OASIS ratings sheet", unique="Theme")
    for n, row in enumerate(rows, 2):
        where = f"{sheet.name} line {n}"
        theme = row["Theme"]
        valence, arousal = (rescale(parse_number(row[c], where), *RATING_SCALE, where)
                            for c in ("Valence_mean", "Arousal_mean"))
        records.append(LabelledImage(ImageFile(images_dir / f"{theme}.jpg"), valence, arousal,
                                     HARD_WEIGHT, "oasis", f"oasis/{theme}"))
    require_files((r.image.path for r in records), f"OASIS images in {images_dir}")
    return records
