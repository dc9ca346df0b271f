"""A cue sheet: what changes at which moment of the song, for a render or a show.

A music video changes its look where the song does (the chorus, the drop); a live show has
a VJ for that, a render reads it from a TOML file (`render --cues FILE`, and a show plays one
with `--cues`):

    [[cue]]
    at = "1:04.5"                 # into the audio: seconds (64.5), "M:SS", "H:MM:SS" or 00:01:04.5
    preset = "storm"              # from here on this preset, with its settings
    set = { lambda = 0.01, freeze = false }   # then these parameters
    cut = true                    # then the newest picture at once (see PROTOCOL.md, `cut`)
    snap = "bar"                  # at the downbeat nearest `at` ("beat": the nearest beat)

A cue does what a controller's commands would at that moment: a preset keeps `freeze`,
`blackout` and `hud` as they were. Cues at one time act in the file's order; cues before
the render's --start have acted by its first frame. The file is checked whole before
anything loads: what is wrong is one line naming the cue. A cue that snaps moves to the beat
or downbeat nearest its time among the beats known ahead (a render's, a show's from a file or
the demo), so a time typed or saved near the one lands on it (a blackout on the drop).

A show writes the commands it took as such a sheet (`--save-cues`, `CueLog`), so a set played
live at a small size can be rendered again, the same changes at the same moments, at any size.
"""
from __future__ import annotations

import datetime
import json
import math
import re
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from live.audio.beatmap import BeatMap, KnownBeats
from live.errors import UserError
from live.files import read_toml, write_whole
from live.settings import Value, param, quoted, shortened

FIELDS = ("at", "preset", "set", "cut", "snap")
SNAPS = ("beat", "bar")
MAX_SECONDS = 366 * 24 * 3600  # a time past this is a typo; an integer past a float's range raised OverflowError
_UNQUOTED_TIME = re.compile(r"=[ \t]*\d+:\d")  # at = 0:45, which TOML cannot read
# [H:]M:SS[.s], minutes and seconds below 60; seconds in two digits (1:2 is more likely 1:20 mistyped than 1:02)
_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d\d(?:\.\d*)?)")


@dataclass(frozen=True)
class Cue:
    at: float                                  # seconds into the audio file
    preset: str | None = None                  # a preset's name, to play from here on
    values: tuple[tuple[str, Value], ...] = ()  # parameters set after it, checked
    cut: bool = False
    snap: str | None = None                    # "beat" or "bar": moved to the nearest one (`snapped`)

    def __post_init__(self) -> None:
        assert math.isfinite(self.at) and self.at >= 0, self.at
        assert self.snap in (None, *SNAPS), self.snap


def seconds(value: object) -> float:
    """A cue's time: seconds as a number, "M:SS(.s)" / "H:MM:SS(.s)", or a TOML time (at = 00:01:04.5,
    unquoted); ValueError naming the problem."""
    if isinstance(value, datetime.time):
        return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 <= value < MAX_SECONDS:  # NaN too; math.isfinite raised on an integer past a float
            raise ValueError(f"at must be 0 or more seconds (less than a year), got {shortened(str(value))}")
        return float(value)
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"at must be seconds (64.5) or a time like \"1:04.5\", got {quoted(value)}")
    hours, minutes, secs = int(match[1] or 0), int(match[2]), float(match[3])
    if secs >= 60 or (match[1] is not None and minutes >= 60):
        raise ValueError(f"at {value!r}: minutes and seconds run to 59")
    return hours * 3600 + minutes * 60 + secs


def cue(table: object) -> Cue:
    """One `[[cue]]` table as a Cue; ValueError naming what is wrong."""
    if not isinstance(table, dict):
        raise ValueError("a cue is a table: [[cue]] with at = ... under it")
    extra = sorted(set(table) - set(FIELDS))
    if extra:
        raise ValueError(f"unknown field {', '.join(map(repr, extra))}; a cue takes {', '.join(FIELDS)}")
    if "at" not in table:
        raise ValueError("no time: give at = SECONDS or at = \"M:SS\"")
    preset = table.get("preset")
    if preset is not None and (not isinstance(preset, str) or not preset or Path(preset).name != preset
                               or preset.endswith(".toml")):
        raise ValueError(f"preset must be the name of a preset in the presets folder, got {quoted(preset)} "
                         "(for presets of another folder, give the show or render --presets-dir)")
    given = table.get("set", {})
    if not isinstance(given, dict):
        raise ValueError("set must be a table of parameters, like set = { lambda = 0.01 }")
    values = tuple((name, param(name).check(value)) for name, value in given.items())
    cut = table.get("cut", False)
    if not isinstance(cut, bool):
        raise ValueError(f"cut must be true or false, got {quoted(cut)}")
    if preset is None and not values and not cut:
        raise ValueError("does nothing: give it a preset, a set table or cut = true")
    snap = table.get("snap")
    if snap is not None and snap not in SNAPS:
        raise ValueError(f"snap must be \"beat\" or \"bar\", got {quoted(snap)}")
    return Cue(seconds(table["at"]), preset, values, cut, snap)


def snapped(cues: Sequence[Cue], beats: BeatMap) -> tuple[list[Cue], list[str]]:
    """`cues` (given in the file's order), each that snaps moved to the beat or downbeat of `beats`
    nearest it (in the audio's seconds, as the cues' times are), still in the file's order
    (`acting_order` puts them in the order they act). Cues at one time act together: those at
    the time of one that snaps go with the first that does (a preset, then its knobs, saved from
    a show, stay in that order). And a line for each that cannot snap (no beat or downbeat
    within a beat or a bar of it, no bars known), which stays at its time, and for the cues of a
    time that snap past another cue's time, which then act in the other order."""
    barred = bool(np.any(beats.beat_places == 1))
    reader = None if beats.loop else KnownBeats(beats)  # a looping map is laid out around each cue's time
    lines = []
    landing: dict[float, float | None] = {}  # a time given -> where its cues go (None: they stay)
    for number, c in enumerate(cues, start=1):
        if c.snap is None or c.at in landing:
            continue
        known = reader or KnownBeats(beats, c.at)
        to = known.nearest(c.at, downbeat=c.snap == "bar") if c.snap == "beat" or barred else None
        landing[c.at] = to
        if to is None:
            why = ("the beats have no bars (no places)" if c.snap == "bar" and not barred else
                   f"no {'downbeat' if c.snap == 'bar' else 'beat'} lies within a {c.snap} of it")
            lines.append(f"cue {number} (at {c.at:g} s) snaps to the {c.snap}, but {why}; it acts at its time")
    moved = [c if landing.get(c.at) is None else replace(c, at=landing[c.at]) for c in cues]
    return moved, lines + _crossings(cues, moved)


def acting_order(given: Sequence[Cue], moved: Sequence[Cue]) -> list[Cue]:
    """`moved` (`snapped` from `given`) in the order they act: by time, and where cues from two
    times land on one beat, as their times were given (then as the file gives them)."""
    return [moved[k] for k in sorted(range(len(moved)), key=lambda k: (moved[k].at, given[k].at))]


def _crossings(given: Sequence[Cue], moved: Sequence[Cue]) -> list[str]:
    """A line for the cues of each time that snapped past another cue's time, naming the first."""
    typed = np.array([c.at for c in given])
    now = np.array([c.at for c in moved])
    lines, said = [], set()
    for i in np.flatnonzero(typed != now):
        if typed[i] in said:  # its time's first cue has said it
            continue
        said.add(typed[i])
        crossed = np.flatnonzero(((typed < typed[i]) & (now > now[i])) | ((typed > typed[i]) & (now < now[i])))
        if len(crossed):
            j = crossed[0]
            lines.append(f"cue {i + 1} (at {typed[i]:g} s) snaps to {now[i]:g} s, "
                         f"{'before' if typed[j] < typed[i] else 'after'} cue {j + 1} (at {typed[j]:g} s): the two "
                         "act in that order")
    return lines


def read_cues(path: str | Path) -> list[Cue]:
    """The cues of a cue sheet, in the file's order; UserError naming the file and the cue for
    anything wrong."""
    try:
        data = read_toml(path)
    except UserError as e:  # at = 0:45 unquoted is not TOML; the parser's message does not say so
        if not Path(path).is_file() or not _UNQUOTED_TIME.search(Path(path).read_text(errors="replace")):
            raise
        raise UserError(f"{e} (a time is quoted, at = \"0:45\", or given in seconds, at = 45)") from None
    extra = sorted(set(data) - {"cue"})
    if "source" in extra or "settings" in extra:
        raise UserError(f"{path} is a preset, not a cue sheet; give it with --preset (a sheet holds [[cue]] tables)")
    if extra:
        raise UserError(f"{path}: unknown table {', '.join(map(repr, extra))}; a cue sheet holds [[cue]] tables")
    tables = data.get("cue", [])
    if isinstance(tables, dict):
        raise UserError(f"{path}: [cue] is one table; each cue is written [[cue]], with two brackets")
    if not isinstance(tables, list) or not tables:
        raise UserError(f"{path}: no cues; give [[cue]] tables, each with at = ... and what changes then")
    cues = []
    for number, table in enumerate(tables, start=1):
        try:
            cues.append(cue(table))
        except ValueError as e:
            at = table.get("at") if isinstance(table, dict) else None
            raise UserError(f"{path}: cue {number}" + (f" (at {at})" if at is not None else "") + f": {e}") from None
    return cues


def presets_named(cues: Iterable[Cue]) -> list[str]:
    """The presets the cues switch to, each once, in order of first use."""
    return list(dict.fromkeys(c.preset for c in cues if c.preset is not None))


class CueSheet:
    """The cues not acted on yet, handed over as the render's time reaches them; cues at one time
    in the order given."""

    def __init__(self, cues: Sequence[Cue] = ()):
        self._waiting = deque(sorted(cues, key=lambda c: c.at))  # sorted() is stable

    def due(self, at: float) -> list[Cue]:
        """The cues at or before `at` (seconds into the audio file) not handed over yet, in order."""
        due = []
        while self._waiting and self._waiting[0].at <= at:
            due.append(self._waiting.popleft())
        return due

    def waiting(self) -> list[Cue]:
        """The cues not handed over yet, in order."""
        return list(self._waiting)


class CueLog:
    """The commands a show took, as cues at the stream times they came; any thread may add."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cues: list[Cue] = []

    def add(self, cue: Cue) -> None:
        """`cue`, no earlier than the last: stream time read on two threads can step back a few ms,
        and the sheet would play two commands in another order than they came."""
        with self._lock:
            if self._cues and cue.at < self._cues[-1].at:
                cue = replace(cue, at=self._cues[-1].at)
            self._cues.append(cue)

    def cues(self) -> list[Cue]:
        with self._lock:
            return list(self._cues)


def _toml_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)  # ints, and finite floats (Python's shortest repr is a TOML float: 0.01, 1e-05)


def sheet_text(cues: Iterable[Cue], heading: str) -> str:
    """`cues` as a cue sheet `read_cues` reads back to the same cues (times to the millisecond)."""
    lines = [f"# {line}" for line in heading.splitlines()]
    for c in cues:
        lines += ["", "[[cue]]", f"at = {c.at:.3f}"]
        if c.preset is not None:
            # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
            string = json.dumps(c.preset, ensure_ascii=False).replace("\x7f", "\\u007f")
            lines.append(f"preset = {string}")
        if c.values:
            lines.append("set = { " + ", ".join(f"{name} = {_toml_value(v)}" for name, v in c.values) + " }")
        if c.cut:
            lines.append("cut = true")
        if c.snap is not None:
            lines.append(f"snap = \"{c.snap}\"")
    return "\n".join(lines) + "\n"


def write_cues(path: str | Path, cues: Iterable[Cue], heading: str) -> Path:
    return write_whole(path, sheet_text(cues, heading).encode("utf-8"))
