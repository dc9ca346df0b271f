"""MIDI-style control changes mapped to live parameters, as a preset declares them.

A preset's TOML holds one `[[cc]]` table per knob, fader or button:

    [[cc]]
    channel = 1          # MIDI channel, 1-16
    controller = 1       # controller number, 0-127
    param = "lambda"     # a parameter of live.settings.PARAMS
    min = 0.001          # value at controller value 0   (numbers only; default: the parameter's low)
    max = 0.1            # value at controller value 127 (numbers only; default: the parameter's high)
    curve = "exp"        # "linear" (default) or "exp" (geometric, needs min and max > 0)

    [[cc]]
    channel = 1
    controller = 64
    param = "freeze"
    mode = "toggle"      # bools: "toggle" (default) flips at value >= 64 and ignores the
                         # release; "gate" is on while the value is >= 64

The table is checked against PARAMS when the preset loads, so a typo fails there, once,
with one line naming the entry, not during the show.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from live.errors import UserError
from live.settings import PARAMS, Settings, check_value

CC_MAX = 127
CC_THRESHOLD = 64  # MIDI convention: values >= 64 mean "on"
CURVES = ("linear", "exp")
MODES = ("toggle", "gate")
_FIELDS = ("channel", "controller", "param", "min", "max", "curve", "mode")


@dataclass(frozen=True)
class CcBinding:
    """One controller of one channel driving one parameter."""

    channel: int  # MIDI channel, 1-16
    controller: int  # controller number, 0-127
    param: str  # wire name of the parameter
    low: float  # parameter value at controller value 0 (numeric parameters)
    high: float  # parameter value at controller value 127; may be below `low` to invert
    curve: str  # "linear" or "exp" (numeric parameters)
    mode: str  # "toggle" or "gate" (bool parameters)

    def describe(self) -> str:
        """What the controller does, in the terms of its parameter's kind."""
        if PARAMS[self.param].kind is bool:
            return f"cc ch{self.channel} #{self.controller:<3d} -> {self.param} ({self.mode})"
        return f"cc ch{self.channel} #{self.controller:<3d} -> {self.param} ({self.low:g}..{self.high:g}, {self.curve})"

    def apply(self, cc_value: int, settings: Settings) -> Settings:
        """`settings` with this binding's parameter moved by a controller value of 0-127."""
        p = PARAMS[self.param]
        if p.kind is bool:
            on = cc_value >= CC_THRESHOLD
            if self.mode == "gate":
                return settings.with_value(self.param, on)
            return settings.with_value(self.param, not settings.value(self.param)) if on else settings
        x = cc_value / CC_MAX
        if self.curve == "exp":
            value = self.low * (self.high / self.low) ** x
        else:
            value = self.low + (self.high - self.low) * x
        # Rounding can step a hair past an end of the range; the ends are exact values.
        value = min(max(value, min(self.low, self.high)), max(self.low, self.high))
        return settings.with_value(self.param, round(value) if p.kind is int else value)


class CcMap:
    """The control-change bindings of a preset, looked up by (channel, controller)."""

    def __init__(self, bindings: Iterable[CcBinding] = ()):
        self._bindings: dict[tuple[int, int], CcBinding] = {}
        for b in bindings:
            key = (b.channel, b.controller)
            if key in self._bindings:
                raise ValueError(f"channel {b.channel} controller {b.controller} is bound twice")
            self._bindings[key] = b

    @classmethod
    def from_table(cls, entries: object, source: str) -> CcMap:
        """Bindings from a preset's parsed `cc` array; UserError naming `source` and the entry."""
        if not isinstance(entries, list):
            raise UserError(f"{source}: 'cc' must be an array of tables ([[cc]]), got {entries!r}")
        bindings = []
        for i, entry in enumerate(entries):
            try:
                bindings.append(_binding(entry))
            except ValueError as e:
                raise UserError(f"{source}: [[cc]] table {i + 1}: {e}") from None  # counted as the file shows them
        try:
            return cls(bindings)
        except ValueError as e:
            raise UserError(f"{source}: {e}") from None

    def binding(self, channel: int, controller: int) -> CcBinding | None:
        return self._bindings.get((channel, controller))

    def apply(self, channel: int, controller: int, cc_value: int, settings: Settings) -> tuple[str, Settings]:
        """The bound parameter's name and the new settings; KeyError if nothing is bound."""
        b = self.binding(channel, controller)
        if b is None:
            raise KeyError(f"channel {channel} controller {controller} is not mapped in this preset")
        return b.param, b.apply(cc_value, settings)

    def __iter__(self) -> Iterator[CcBinding]:
        return iter(self._bindings.values())

    def __len__(self) -> int:
        return len(self._bindings)


def _binding(entry: object) -> CcBinding:
    """One `[[cc]]` table checked against PARAMS; ValueError naming the problem."""
    if not isinstance(entry, Mapping):
        raise ValueError(f"must be a table, got {entry!r}")
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}; fields: {', '.join(_FIELDS)}")
    for required in ("channel", "controller", "param"):
        if required not in entry:
            raise ValueError(f"missing field {required!r}")
    channel = check_value("channel", int, 1, 16, entry["channel"])
    controller = check_value("controller", int, 0, CC_MAX, entry["controller"])
    name = entry["param"]
    if not isinstance(name, str) or name not in PARAMS:
        raise ValueError(f"unknown parameter {name!r}; parameters: {', '.join(PARAMS)}")
    p = PARAMS[name]
    if p.kind is bool:
        for numeric_only in ("min", "max", "curve"):
            if numeric_only in entry:
                raise ValueError(f"{name} is true/false: {numeric_only!r} does not apply (use 'mode')")
        mode = entry.get("mode", "toggle")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        return CcBinding(channel, controller, name, 0.0, 1.0, "linear", mode)
    if "mode" in entry:
        raise ValueError(f"{name} is a number: 'mode' applies to true/false parameters only")
    low = float(check_value(f"{name} min", float, p.low, p.high, entry.get("min", p.low)))
    high = float(check_value(f"{name} max", float, p.low, p.high, entry.get("max", p.high)))
    curve = entry.get("curve", "linear")
    if curve not in CURVES:
        raise ValueError(f"curve must be one of {', '.join(CURVES)}, got {curve!r}")
    if curve == "exp" and not (low > 0 and high > 0):
        raise ValueError(f"curve 'exp' needs min and max above 0, got min={low} max={high}")
    return CcBinding(channel, controller, name, low, high, curve, "toggle")
