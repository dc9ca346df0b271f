"""Config tables: TOML read into typed dataclasses, checked once with one set of rules, and
written back. Hand-edited files (bundle.toml, training configs) get one line naming the key
and what it must be. Presets have rules across their keys (one source of three, files beside
the preset) and are checked by live.presets."""
from __future__ import annotations

import json
import math
from dataclasses import fields, is_dataclass
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from live.errors import UserError


def checked_value(kind: Any, value: Any, where: str) -> Any:
    """`value` checked against the annotated type: exact for bool/int/str, int accepted for
    float, and no float NaN or infinite (TOML has both; no setting means either)."""
    if get_origin(kind) in (Union, UnionType):  # `float | None`: None where no TOML value says it
        if value is None and type(None) in get_args(kind):
            return None
        (kind,) = [k for k in get_args(kind) if k is not type(None)]
    if get_origin(kind) is dict:
        _, item = get_args(kind)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise UserError(f"{where} must be a table, got {value!r}")
        return {k: checked_value(item, v, f"{where}.{k}") for k, v in value.items()}
    if kind is float and type(value) in (int, float):
        try:
            number = float(value)
        except OverflowError:
            raise UserError(f"{where} must be a finite number, got an integer too large for one") from None
        if not math.isfinite(number):
            raise UserError(f"{where} must be a finite number, got {value!r}")
        return number
    if type(value) is not kind:
        raise UserError(f"{where} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    if kind is int and abs(value) >= 1 << 63:  # what torch and numpy take as a number
        raise UserError(f"{where} must be a 64-bit integer, got a larger one")
    return value


def check_settings(section: str, checks: list[tuple[str, Any, bool, str]]) -> None:
    """One line naming every setting of `section` that fails its check: (name, value, ok, what it needs)."""
    wrong = [f"{name} = {value!r} (need {need})" for name, value, ok, need in checks if not ok]
    if wrong:
        raise UserError(f"{section}: {', '.join(wrong)}")


def from_table(cls: type, values: Any, where: str, key: str = "") -> Any:
    """The dataclass `cls` built from the TOML table `values` read at `where` (a file, a
    section): unknown keys and values of another type (by the annotations; nested dataclasses
    from nested tables, `key` their dotted name) are one-line errors. Missing keys take their
    defaults."""
    label = f"{where}: {key}" if key else where
    if not isinstance(values, dict):
        raise UserError(f"{label} must be a table, got {values!r}")
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UserError(f"{label}: unknown keys {unknown}; expected some of {sorted(names)}")
    dotted = {name: f"{key}.{name}" if key else name for name in values}
    return cls(**{name: from_table(hints[name], value, where, dotted[name]) if is_dataclass(hints[name])
                  else checked_value(hints[name], value, f"{where}: {dotted[name]}") for name, value in values.items()})


def flat_table(values: dict[str, Any], leaves: tuple[str, ...] = (), prefix: str = "") -> dict[str, Any]:
    """A nested config table as {dotted key: value}; tables named in `leaves` stay values."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value and key not in leaves:
            out.update(flat_table(value, leaves, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def to_toml(values: dict[str, Any]) -> str:
    """Nested dicts as TOML tables, lists of dicts as arrays of tables; None values are left
    out (they mean "the default")."""
    lines: list[str] = []

    def emit(prefix: str, table: dict[str, Any], array: bool = False) -> None:
        if prefix:
            lines.append(f"[[{prefix}]]" if array else f"[{prefix}]")
        for key, value in table.items():
            if value is not None and not isinstance(value, dict) and not _is_table_array(value):
                text = str(value).lower() if isinstance(value, bool) else (
                    # JSON's escapes are TOML's; raw UTF-8, since TOML refuses JSON's surrogate pairs,
                    # but for DEL, which TOML wants escaped and JSON leaves raw.
                    json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f") if isinstance(value, str)
                    else repr(value))
                lines.append(f"{key} = {text}")
        lines.append("")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(f"{prefix}.{key}" if prefix else key, value)
            elif _is_table_array(value):
                for item in value:
                    emit(f"{prefix}.{key}" if prefix else key, item, array=True)

    emit("", values)
    return "\n".join(lines).lstrip("\n")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)
