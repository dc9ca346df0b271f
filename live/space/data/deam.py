"""DEAM, the MediaEval Database for Emotional Analysis in Music (Aljanaki, Yang & Soleymani
2017): 1,802 songs, 45 s excerpts (ids up to 2000) and 58 full songs (2001-2058).

Files, as published:
- static (one VA per song): `static_annotations_averaged_songs_1_2000.csv` and
  `static_annotations_averaged_songs_2000_2058.csv`, headers with leading spaces
  (`song_id, valence_mean, valence_std, arousal_mean, arousal_std`; the later file may have
  more columns: columns are found by name). Ratings on 1-9 -> (x - 1) / 8.
- dynamic (VA over time): `valence.csv`, `arousal.csv`, one row per song, columns
  `song_id, sample_15000ms, sample_15500ms, ...`: 2 Hz from 15 s (the first 15 s were not
  annotated), values in [-1, 1] -> (x + 1) / 2. Shorter songs leave trailing cells empty.
- audio: `MEMD_audio/{song_id}.mp3`.

Clip-level records come from the static file (`read_deam_static`); the dynamic curves
label IMEMNet's music clips with the mean of the samples inside each clip (`mean_va`,
live.space.sources). Both are hard labels (weight 1). The static and dynamic scales were rated separately, so a
song's static label and the mean of its curve need not agree. Split key: `deam/{song_id}`
(shared with imemnet.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.errors import UserError
from live.space.data.audio import AudioSpan
from live.space.data.labels import HARD_WEIGHT, parse_number, rescale
from live.space.data.records import LabelledClip
from live.space.data.tables import read_rows, read_table, require_files

STATIC_FILES = ("static_annotations_averaged_songs_1_2000.csv", "static_annotations_averaged_songs_2000_2058.csv")
DYNAMIC_FILES = ("valence.csv", "arousal.csv")
AUDIO_FOLDER = "MEMD_audio"
RATING_SCALE = (1.0, 9.0)
_SAMPLE_COLUMN = re.compile(r"sample_(\d+)ms")


def song_key(song_id: int) -> str:
    return f"deam/{song_id}"


def song_audio(audio_dir: Path, song_id: int) -> Path:
    return audio_dir / f"{song_id}.mp3"


@dataclass(frozen=True)
class DeamFiles:
    static: tuple[Path, ...]
    audio_dir: Path
    valence: Path | None = None  # dynamic curves; None when only the static part is present
    arousal: Path | None = None

    @classmethod
    def find(cls, root: Path) -> "DeamFiles":
        """Locate the files by name anywhere under `root` (the archives nest them deeply)."""
        root = Path(root)
        if not root.is_dir():
            raise UserError(f"DEAM folder not found: {root}")

        def one(name: str, required: bool, folder: bool = False) -> Path | None:
            hits = sorted(p for p in root.rglob(name) if (p.is_dir() if folder else p.is_file()))
            if len(hits) > 1:
                raise UserError(f"{len(hits)} files named {name} under {root} ({hits[0]}, {hits[1]}, ...); "
                                "point at a folder holding only one DEAM copy")
            if not hits and required:
                raise UserError(f"no {name} under {root}; is this the DEAM folder?")
            return hits[0] if hits else None

        static = tuple(one(name, required=True) for name in STATIC_FILES)
        return cls(static=static, audio_dir=one(AUDIO_FOLDER, required=True, folder=True),
                   valence=one(DYNAMIC_FILES[0], required=False), arousal=one(DYNAMIC_FILES[1], required=False))


def read_deam_static(static_files: tuple[Path, ...], audio_dir: Path) -> list[LabelledClip]:
    """One record per annotated song: the whole audio file with its mean static rating."""
    labels: dict[int, tuple[float, float]] = {}
    for path in static_files:
        for n, row in enumerate(read_table(path, ("song_id", "valence_mean", "arousal_mean"), "DEAM static sheet"), 2):
            where = f"{path.name} line {n}"
            song = int(parse_number(row["song_id"], where))
            va = tuple(rescale(parse_number(row[column], where), *RATING_SCALE, where)
                       for column in ("valence_mean", "arousal_mean"))
            if labels.setdefault(song, va) != va:
                raise UserError(f"{where}: song {song} appears twice with different ratings")
    records = [LabelledClip(AudioSpan(song_audio(audio_dir, song)), v, a, HARD_WEIGHT, "deam", song_key(song))
               for song, (v, a) in sorted(labels.items())]
    require_files((r.audio.path for r in records), f"DEAM audio files in {audio_dir}")
    return records


@dataclass(frozen=True)
class SongCurve:
    """One song's dynamic annotation: samples at `times`, labels already in [0, 1]."""

    times: np.ndarray  # [n] seconds, increasing, 0.5 s apart (2 Hz)
    valence: np.ndarray  # [n]
    arousal: np.ndarray  # [n]


def _read_curves(path: Path) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Sample times and, per song, its values mapped to [0, 1] (NaN where cells are empty)."""
    header, rows = read_rows(path, ("song_id",), "DEAM dynamic sheet")
    matches = [_SAMPLE_COLUMN.fullmatch(name) for name in header[1:]]
    if header[0] != "song_id" or not matches or not all(matches):
        raise UserError(f"{path}: expected columns song_id, sample_15000ms, sample_15500ms, ...")
    times = np.array([int(m.group(1)) / 1000.0 for m in matches])
    curves: dict[int, np.ndarray] = {}
    for n, row in enumerate(rows, 2):
        where = f"{path.name} line {n}"
        values = np.full(len(times), np.nan)
        for k, cell in enumerate(row[1:len(times) + 1]):
            if cell:
                values[k] = parse_number(cell, where)
        finite = values[np.isfinite(values)]
        if finite.size and (finite.min() < -1.0 - 1e-6 or finite.max() > 1.0 + 1e-6):
            raise UserError(f"{where}: values outside [-1, 1]; is this a DEAM dynamic annotation file?")
        curves[int(parse_number(row[0], where))] = np.clip((values + 1.0) / 2.0, 0.0, 1.0)
    return times, curves


class DeamDynamic:
    """The dynamic annotations of all songs: VA at a time, and window means."""

    def __init__(self, curves: dict[int, SongCurve]) -> None:
        self.curves = curves

    @classmethod
    def read(cls, valence_csv: Path, arousal_csv: Path) -> "DeamDynamic":
        times_v, valence = _read_curves(valence_csv)
        times_a, arousal = _read_curves(arousal_csv)
        n = min(len(times_v), len(times_a))
        if not np.array_equal(times_v[:n], times_a[:n]):
            raise UserError(f"{valence_csv} and {arousal_csv} have different sample times")
        curves: dict[int, SongCurve] = {}
        for song in sorted(valence.keys() & arousal.keys()):
            v, a = valence[song][:n], arousal[song][:n]
            # A song's curve is the stretch from the first sample up to the first gap in either.
            both = np.isfinite(v) & np.isfinite(a)
            length = n if both.all() else int(np.argmin(both))
            if length:
                curves[song] = SongCurve(times_v[:length], v[:length], a[:length])
        return cls(curves)

    def _curve(self, song_id: int) -> SongCurve:
        if song_id not in self.curves:
            raise UserError(f"DEAM song {song_id} has no dynamic annotation")
        return self.curves[song_id]

    def mean_va(self, song_id: int, start: float, duration: float) -> tuple[float, float]:
        """Mean VA of the samples in [start, start + duration)."""
        curve = self._curve(song_id)
        inside = (curve.times >= start - 1e-9) & (curve.times < start + duration - 1e-9)
        if not inside.any():
            raise UserError(f"DEAM song {song_id} has no annotation samples in {start:.1f}-{start + duration:.1f} s")
        return float(curve.valence[inside].mean()), float(curve.arousal[inside].mean())
