"""The 4Q audio emotion data set (Panda, Malheiro & Paiva 2018, IEEE TAFFC): about 900
30 s clips, each in one Russell quadrant derived from its AllMusic mood tags; the shared
copy holds 608.

Layout: `annotations.csv` (Song, Artist, Title, Quadrant, PQuad, MoodsFoundStr, GenresStr)
and `Q1..Q4/{Song}.mp3`. The quadrant becomes the soft target of labels.QUADRANT_VA
(Q1 -> (0.75, 0.75), Q2 -> (0.25, 0.75), Q3 -> (0.25, 0.25), Q4 -> (0.75, 0.25)) with
weight 0.5, and is kept as `quadrant` for accuracy. Split key: `4q/{Song}` (one clip per
song, so a song never straddles the split).
"""
from __future__ import annotations

from pathlib import Path

from live.space.data.audio import AudioSpan
from live.space.data.labels import QUADRANT_VA, SOFT_WEIGHT, parse_quadrant
from live.space.data.records import LabelledClip
from live.space.data.tables import read_table, require_files


def read_4q(root: Path) -> list[LabelledClip]:
    root = Path(root)
    sheet = root / "annotations.csv"
    records = []
    for n, row in enumerate(read_table(sheet, ("Song", "Quadrant"), "4Q annotation sheet", unique="Song"), 2):
        quadrant = parse_quadrant(row["Quadrant"], f"{sheet.name} line {n}")
        song = row["Song"]
        records.append(LabelledClip(AudioSpan(root / f"Q{quadrant}" / f"{song}.mp3"), *QUADRANT_VA[quadrant],
                                    SOFT_WEIGHT, "4q", f"4q/{song}", quadrant))
    require_files((r.audio.path for r in records), f"4Q clips under {root}")
    return records
