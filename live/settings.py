"""The live parameters every stage reads, validated against one table.

`PARAMS` is the single source of truth: the `Settings` defaults, validation and the
control protocol (`set`, `cc`, `get`) come from it, and a test keeps PROTOCOL.md's list of
parameters to it (`Param.describe`). Stages
never share a mutable settings object: the control thread swaps an immutable `Settings`
into a `SettingsSlot`, and every reader takes a snapshot.

Wire names are the names users type (`lambda`); a name that is a Python keyword gets a
trailing underscore as a dataclass field (`lambda_`).
"""
from __future__ import annotations

import dataclasses
import json
import keyword
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Value = bool | int | float


QUOTED_LENGTH = 200  # of a value an error quotes: the guidance beside it (the choices there are) must fit


def shortened(text: str) -> str:
    return text if len(text) <= QUOTED_LENGTH else text[:QUOTED_LENGTH - 1] + "…"


def as_typed(value: object) -> str:
    """A value as a control message or preset spells it (true, not True; "x", not 'x'), as
    an error quotes it (at most QUOTED_LENGTH characters)."""
    try:
        return shortened(json.dumps(value))
    except (TypeError, ValueError):
        return shortened(repr(value))
    except RecursionError:  # arrays nested a thousand deep: JSON's parser takes them, its encoder does not
        return "a value nested too deeply to show"


def quoted(name: object) -> str:
    """A name as an error quotes it ('x'), at most QUOTED_LENGTH characters; what is not a
    string, as a control message spells it (null, not None: found by review)."""
    return shortened(repr(name)) if isinstance(name, str) else as_typed(name)


def check_value(name: str, kind: type, low: float, high: float, value: object) -> Value:
    """`value` as `kind` if it has that type and lies in [low, high]; else ValueError.

    The rules are strict on purpose, because values arrive from JSON written by other
    programs: a bool is never a number (JSON `true` is not 1); an int parameter takes an
    integer or an integral float (3.0, which controller software that only has floats
    sends) but not 3.5; a float parameter takes an int; NaN and infinities are rejected.
    The message names the parameter and the allowed range.
    """
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be true or false, got {as_typed(value)}")
    if kind is int:
        if isinstance(value, float) and value.is_integer() and low <= value <= high:
            value = int(value)  # only in range: int(1e308) is 309 digits in the reply
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        raise ValueError(f"{name} must be a whole number in {low}..{high}, got {as_typed(value)}")
    if kind is float:
        # The range first: an integer of 310 digits has no float, and isfinite raises on it.
        if (isinstance(value, (int, float)) and not isinstance(value, bool)
                and low <= value <= high and math.isfinite(value)):
            return float(value) + 0.0  # -0.0 read back as "-0.0" in replies and on the HUD
        raise ValueError(f"{name} must be a number in {low}..{high}, got {as_typed(value)}")
    raise TypeError(f"{name}: unsupported parameter kind {kind.__name__}")


@dataclass(frozen=True)
class Param:
    """One live parameter: its wire name, type, range, default and a one-line doc."""

    name: str  # wire name, as users type it
    kind: type  # bool, int or float
    low: float  # smallest allowed value (ignored for bool)
    high: float  # largest allowed value (ignored for bool)
    default: Value
    doc: str

    @property
    def field(self) -> str:
        """The `Settings` attribute that holds this parameter."""
        return self.name + "_" if keyword.iskeyword(self.name) else self.name

    def check(self, value: object) -> Value:
        return check_value(self.name, self.kind, self.low, self.high, value)

    def describe(self) -> str:
        """`name (type low..high, default D): doc`, as PROTOCOL.md lists the parameter."""
        if self.kind is bool:
            return f"{self.name} (true/false, default {_wire(self.default)}): {self.doc}"
        return (f"{self.name} ({self.kind.__name__} {self.low}..{self.high}, "
                f"default {self.default}): {self.doc}")


def _wire(value: Value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("lambda", float, 0.0, 1.0, 0.02,
          "weight of L_O in the transfer: higher keeps the picture closer to the preset's source; "
          "above about 0.05 it barely leaves the source, and below the lowest lambda its predictor was "
          "trained on (0.001 in the default bundle) the predictor answers as at that one (the scale depends on "
          "the bundle)"),
    Param("refine_steps", int, 0, 50, 0,
          "refinement steps per keyframe after the predictor (0 = predictor only); they pay where "
          "local models are built at once (offline, seconds a model); live the models arrive late "
          "and the steps are taken only while one holds"),
    Param("crossfade_beats", float, 0.0, 16.0, 1.0,
          "length of the crossfade to each new keyframe, in beats (0 = hard cut; with beat_sync it lands on "
          "the nearest whole beat, and where the bars are known (a render's own beats, a show's from a file or "
          "the demo, a beat file with places, beats found live counted from a `downbeat`) a fade of 2 beats on "
          "beat 1 or 3, of a bar or bars on the downbeat; before a tempo is found a beat is 0.5 s)"),
    Param("intensity", float, 0.0, 2.0, 1.0,
          "scale of the move from the source latent toward the music "
          "(0 = source image, 1 = as computed, 2 = exaggerated)"),
    Param("min_lightness", float, 0.0, 100.0, 20.0,
          "lightness floor of the keyframes, as mean CIELAB L* (0 black .. 100 white): a move toward the "
          "music that would go darker is shortened to about the floor (up to 3 more passes through G; "
          "0 = no floor; a source darker than this may go a little darker)"),
    Param("pulse", float, 0.0, 1.0, 0.3,
          "strength of the beat and onset pulse in the shader (0 = none)"),
    Param("accent", float, 0.0, 1.0, 0.0,
          "the downbeat's beat pulse over the other beats' where the bars are known (as for crossfade_beats): "
          "they pulse at 1 - accent of its strength (0 = every beat alike, 1 = the downbeat alone)"),
    Param("keyframe_rate", float, 1.0, 60.0, 20.0,
          "keyframes per second that inference aims for (live: as many as the machine keeps up with, "
          "one per fresh mel window; offline: one is due this often, and made if the screen takes it)"),
    Param("beat_sync", bool, 0, 1, True,
          "crossfades and hard cuts land on the beat; off = each runs from the keyframe's arrival, the next "
          "once it has landed"),
    Param("freeze", bool, 0, 1, False,
          "hold the picture on screen, without pulses (a fade under way lands; before the first picture, "
          "the first is shown); audio and inference keep running"),
    Param("blackout", bool, 0, 1, False,
          "output black (the HUD too)"),
    Param("hud", bool, 0, 1, False,
          "show bpm, valence/arousal, fps and latency on screen"),
)}


# The performer's state of the show rather than a preset's look: a preset switch keeps it
# (switching behind a blackout stays black).
SHOW_STATE = ("freeze", "blackout", "hud")


def _default(name: str) -> Value:
    return PARAMS[name].default


@dataclass(frozen=True)
class Settings:
    """A snapshot of every live parameter; see `PARAMS` for types, ranges and meaning."""

    lambda_: float = _default("lambda")
    refine_steps: int = _default("refine_steps")
    crossfade_beats: float = _default("crossfade_beats")
    intensity: float = _default("intensity")
    min_lightness: float = _default("min_lightness")
    pulse: float = _default("pulse")
    accent: float = _default("accent")
    keyframe_rate: float = _default("keyframe_rate")
    beat_sync: bool = _default("beat_sync")
    freeze: bool = _default("freeze")
    blackout: bool = _default("blackout")
    hud: bool = _default("hud")

    def with_value(self, name: str, value: object) -> Settings:
        """A copy with the parameter `name` (wire name) set; ValueError if unknown or invalid."""
        return self.with_values({name: value})

    def with_values(self, values: Mapping[str, object]) -> Settings:
        """A copy with several parameters set at once (all validated before any applies)."""
        changes = {}
        for name, value in values.items():
            changes[param(name).field] = param(name).check(value)
        return dataclasses.replace(self, **changes)

    def keeping_show_state(self, current: Settings) -> Settings:
        """These settings (a preset's) with `current`'s SHOW_STATE."""
        return self.with_values({name: current.value(name) for name in SHOW_STATE})

    def value(self, name: str) -> Value:
        """The current value of the parameter `name` (wire name)."""
        return getattr(self, param(name).field)

    def as_dict(self) -> dict[str, Value]:
        """Every parameter by wire name, in `PARAMS` order."""
        return {name: getattr(self, p.field) for name, p in PARAMS.items()}


def param(name: str) -> Param:
    """The parameter called `name`; ValueError listing the known names if there is none."""
    try:
        return PARAMS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown parameter {quoted(name)}; parameters: {', '.join(PARAMS)}") from None


class SettingsSlot:
    """The current `Settings`, replaced atomically; readers get an immutable snapshot.

    The control thread writes, every stage reads once per unit of work (a keyframe, a
    frame) and keeps that snapshot for the whole unit, so a change never lands halfway.
    The lock makes read-modify-write updates from several writers safe.
    """

    def __init__(self, settings: Settings | None = None):
        self._settings = settings if settings is not None else Settings()
        self._lock = threading.Lock()

    def get(self) -> Settings:
        with self._lock:
            return self._settings

    def replace(self, settings: Settings) -> None:
        self.update(lambda _: settings)

    def update(self, change: Callable[[Settings], Settings]) -> Settings:
        """Apply `change` to the current snapshot atomically; returns the new snapshot.

        If `change` raises (an invalid value), the slot keeps its old settings.
        """
        with self._lock:
            settings = change(self._settings)
            if not isinstance(settings, Settings):
                raise TypeError(f"expected Settings, got {type(settings).__name__}")
            self._settings = settings
            return settings

    def set_value(self, name: str, value: object) -> Settings:
        """Validate and apply one change; returns the new snapshot (ValueError if invalid)."""
        return self.update(lambda settings: settings.with_value(name, value))
