"""VGMIDI (Ferreira & Whitehead 2019, ISMIR): piano arrangements of video game music;
204 labelled phrases with valence and arousal given as signs.

`vgmidi_labelled.csv` has columns id, series, console, game, piece, midi, valence,
arousal; `midi` names the file as `labelled/phrases/<name>.mid`, found in `phrases.zip` as
`phrases/<name>.mid`. Each sign becomes 0.25 (-1) or 0.75 (+1) per dimension, weight 0.5,
and the pair of signs gives the quadrant (kept for accuracy). Phrases of one piece may
carry different signs (and share the `id`). Records point into the render cache (midi.py).
Split key: `vgmidi/{game}/{piece}`, so phrases of one piece stay together.
"""
from __future__ import annotations

from pathlib import Path

from live.space.data.audio import AudioSpan
from live.space.data.labels import SOFT_WEIGHT, parse_sign, quadrant_of, sign_value
from live.space.data.midi import rendered_path
from live.space.data.records import LabelledClip
from live.space.data.tables import read_table, require_files

_CSV_PREFIX = "labelled/"  # the CSV's paths start here; the zip's start one level lower


def read_vgmidi(labels_csv: Path, phrases_zip: Path, cache_dir: Path, sample_rate: int) -> list[LabelledClip]:
    """One record per labelled phrase; renderings of `phrases_zip` must be in `cache_dir`."""
    labels_csv = Path(labels_csv)
    records = []
    for n, row in enumerate(read_table(labels_csv, ("game", "piece", "midi", "valence", "arousal"),
                                       "VGMIDI label sheet", unique="midi"), 2):
        where = f"{labels_csv.name} line {n}"
        member = row["midi"].removeprefix(_CSV_PREFIX)
        valence, arousal = (sign_value(parse_sign(row[c], where)) for c in ("valence", "arousal"))
        records.append(LabelledClip(AudioSpan(rendered_path(cache_dir, sample_rate, member)), valence, arousal,
                                    SOFT_WEIGHT, "vgmidi", f"vgmidi/{row['game']}/{row['piece']}",
                                    quadrant_of(valence, arousal)))
    require_files((r.audio.path for r in records), f"VGMIDI renderings at {sample_rate} Hz",
                  f"render them first: python -m live.space.data.midi {phrases_zip} {cache_dir} "
                  f"--sample-rate {sample_rate} (or train without them: [data] vgmidi = false)")
    return records
