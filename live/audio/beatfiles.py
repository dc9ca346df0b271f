"""The beats of files: found in an audio file (and kept, so a second render of it does not
look again), and written or read as text, one time in seconds a line, and the beat's place
in its bar after it where known (1 on the downbeat, as madmom writes downbeats).

The text is what `python -m live beats SONG` prints and `render --beats FILE` reads: a user
may correct it by hand (a tempo read at half, funk's syncopation, the bars) or bring an
Audacity label track. Times are to the millisecond, in the file and in the map a render
finds, so the file printed renders the same video.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import sys
from pathlib import Path

import numpy as np

import live.audio.bars as bars_module
import live.audio.beatmap as beatmap_module
from live.audio.bars import BEATS_PER_BAR
from live.audio.beatmap import BeatMap, BeatMapConfig, beat_map
from live.audio.channels import mixdown
from live.audio.decode import AudioFile
from live.audio.demo import DemoTrack
from live.errors import UserError, first_line, note, printable
from live.files import keep_newest, user_cache, write_whole

FILE_BLOCK_S = 2.0    # a file's audio read at once
MAX_BEAT_FILE_BYTES = 16 * 2 ** 20   # a day of beats at 300 bpm, with places, is 5 MB
CACHE_VERSION = 2
SAMPLED_BYTES = 2 ** 20  # of a file's start and of its end, in its cache key
CACHE_ENTRIES = 2000     # songs whose beats are kept, the used last: a few KB each (an hour-long mix 80)
MAX_PLACE = 32        # beats in a bar
DECIMAL_COMMA = re.compile(r"^\d+,\d")


def file_beats(audio: AudioFile, first: int = 0, progress: bool = False) -> BeatMap:
    """The beats of the whole of `audio`, in seconds from its sample `first`: an excerpt has
    the whole song's beats (found with 30 s of the song around an excerpt, one in three
    excerpts of the demo track differed from them). Kept in the user's cache (`_cache_entry`):
    an hour-long mix takes half a minute to read."""
    try:
        entry = _cache_entry(audio)
    except OSError as e:  # gone or unreadable since it was checked
        raise UserError(f"cannot read {audio.path} ({e.strerror or e}); check that it is still there and "
                        "readable") from None
    found = _cached(entry)
    if found is None:
        if progress:  # the bar alone did not say what it was, nor that it is done once
            note("beats", f"finding the beats of {printable(str(audio.path), 200)} with the whole of it in view "
                          "(once: kept for the next time)")
        found = _rounded(_find(audio, progress))
        try:
            write_whole(entry, f"# beats of {printable(str(audio.path), 200)}\n{beats_text(found)}".encode())
            keep_newest(entry.parent.glob("*.txt"), CACHE_ENTRIES)
        except UserError as e:  # the cache saves the next render's pass: this one's beats stand
            note("beats", f"{e} (they are found again next time)")
    return found.shifted(-first / audio.sample_rate)


def demo_beats(demo: DemoTrack) -> BeatMap:
    """The demo track's own beats and bars, as composed: one run (its sections follow one another
    on the beat)."""
    return BeatMap((demo.beats,), (demo.places,))


def beats_text(beats: BeatMap) -> str:
    """One time in seconds a line, then its place in the bar where known; a blank line between
    runs: what `read_beats` reads."""
    return "\n".join("".join(f"{t:.3f} {p}\n" if p else f"{t:.3f}\n" for t, p in zip(run, place))
                     for run, place in zip(beats.runs, beats.places))


def read_beats(path: str | Path) -> BeatMap:
    """Beats written by hand, by `python -m live beats`, or as an Audacity label track: the
    first field of each line (split at tabs, spaces, or a comma and what follows) in seconds,
    rising, and a second field that is a whole number up to MAX_PLACE the beat's place in its
    bar (0: not known; a place left out counts on, `counted_on`; an Audacity track's second
    field is a time, with its point); a blank line ends a run of beats (the music stops there);
    `#` starts a comment."""
    found = _parsed(_text(path), path)
    if not found.runs:
        raise UserError(f"{path} holds no beats; give one time in seconds a line")
    return found


def _find(audio: AudioFile, progress: bool) -> BeatMap:
    from tqdm import tqdm

    block = round(FILE_BLOCK_S * audio.sample_rate)
    reader = audio.reader()
    blocks = (mixdown(reader.read(block)) for _ in tqdm(range(math.ceil(audio.frames / block)), unit="block",
                                                         disable=not progress, desc="beats"))
    return beat_map(blocks, audio.sample_rate)


def _rounded(beats: BeatMap) -> BeatMap:
    """To the millisecond, as printed: the printed file renders the same frames."""
    return BeatMap(tuple(np.round(run, 3) for run in beats.runs), beats.places)


def _cache_entry(audio: AudioFile) -> Path:
    """By the file (its name, size, times, and its first and last MB: a song rewritten in place
    with its old time, `rsync -t --inplace`, or on a FAT stick's 2 s clock, kept its key) and by
    the finder's code and settings (a retuned threshold served the old beats)."""
    path = Path(audio.path).resolve()
    stat = path.stat()
    key = hashlib.blake2b(digest_size=16)
    for part in (CACHE_VERSION, path, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino,
                 repr(BeatMapConfig())):
        key.update(str(part).encode())
    for module in (beatmap_module, bars_module, sys.modules[__name__]):
        key.update(Path(module.__file__).read_bytes())
    with open(path, "rb") as f:
        key.update(f.read(SAMPLED_BYTES))
        f.seek(max(0, stat.st_size - SAMPLED_BYTES))
        key.update(f.read(SAMPLED_BYTES))
    return user_cache("beats") / f"{key.hexdigest()}.txt"


def _cached(entry: Path) -> BeatMap | None:
    try:
        found = _parsed(entry.read_text(encoding="utf-8"), entry)
        os.utime(entry)  # its use: the cache keeps the entries used last
        return found
    except (OSError, UnicodeDecodeError, UserError):  # none yet, or damaged: found again
        return None


def _text(path: str | Path) -> str:
    """The file's text, read to MAX_BEAT_FILE_BYTES at most (a pipe too: `--beats <(...)`)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BEAT_FILE_BYTES + 1)
        if len(data) > MAX_BEAT_FILE_BYTES:
            raise UserError(f"{path} is no beat file: over {MAX_BEAT_FILE_BYTES // 2 ** 20} MB (a day of beats "
                            "at 300 bpm is 4 MB); give one time in seconds a line")
        return data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the beats in {path}: {first_line(e)}") from None


def _parsed(text: str, path: str | Path) -> BeatMap:
    runs: list[list[float]] = [[]]
    places: list[list[int]] = [[]]
    last = -math.inf
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            if runs[-1] and not line.strip().startswith("#"):
                runs.append([])
                places.append([])
            continue
        if DECIMAL_COMMA.match(fields[0]):
            raise UserError(f"{path} line {number}: {printable(fields[0])} has a decimal comma or two fields "
                            "with no space between; write the time with a point (0.5), then a space or a tab")
        field = fields[0].split(",", 1)[0]
        try:
            t = float(field) if "_" not in field else math.nan  # float() takes 1_000
        except ValueError:
            t = math.nan
        if not 0 <= t < math.inf:
            raise UserError(f"{path} line {number}: {printable(field)} is not a time in seconds; give one "
                            "beat a line, its time first (`python -m live beats SONG` writes them)")
        if t <= last:
            raise UserError(f"{path} line {number}: {t:g} s comes after {last:g} s; the beats must rise")
        runs[-1].append(t)
        places[-1].append(_place(fields, path, number))
        last = t
    return BeatMap(tuple(np.array(run) for run in runs if run),
                   tuple(counted_on(np.array(p, np.int64)) for p in places if p))


def counted_on(places: np.ndarray) -> np.ndarray:
    """A run's places with each beat left without one counted on from the beat before, around
    its bar (the larger of the highest place given and the downbeats' usual distance; a lone
    downbeat: BEATS_PER_BAR): a file may mark only its downbeats, or miss one. Beats before the
    first place stay unknown."""
    given = np.flatnonzero(places)
    if not len(given):
        return places
    ones = np.flatnonzero(places == 1)
    bar = max(int(places.max()), int(np.median(np.diff(ones))) if len(ones) > 1 else 0)
    if bar < 2:
        bar = BEATS_PER_BAR
    counted = places.copy()
    for i in range(given[0] + 1, len(counted)):
        if not counted[i]:
            counted[i] = counted[i - 1] % bar + 1
    return counted


def _place(fields: list[str], path: str | Path, number: int) -> int:
    """The beat's place in its bar from a line's fields: the second, a whole number; 0 if none."""
    if len(fields) != 2 or not (fields[1].isascii() and fields[1].isdigit()):
        return 0
    place = int(fields[1])
    if place > MAX_PLACE:  # 0: not known, as `beats --json` writes it
        raise UserError(f"{path} line {number}: {printable(fields[1])} is no place in a bar; after the time, "
                        f"give 1 on the bar's first beat, 2 on its second, up to {MAX_PLACE}, or nothing")
    return place
