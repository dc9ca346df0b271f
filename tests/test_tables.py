"""Config tables read into typed dataclasses by one set of rules (live.tables)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from live.errors import UserError
from live.tables import from_table


@dataclass(frozen=True)
class Inner:
    rate: float = 0.5
    limit: float | None = None


@dataclass(frozen=True)
class Outer:
    steps: int = 10
    name: str = "run"
    inner: Inner = field(default_factory=Inner)


def test_a_table_becomes_its_dataclass_with_ints_as_floats_and_defaults_for_what_it_leaves_out():
    built = from_table(Outer, {"steps": 3, "inner": {"rate": 1, "limit": 2}}, "x.toml")
    assert built == Outer(steps=3, inner=Inner(rate=1.0, limit=2.0)) and type(built.inner.rate) is float
    assert from_table(Outer, {}, "x.toml") == Outer()


@pytest.mark.parametrize("values, said", [
    ({"step": 3}, r"^x.toml: unknown keys \['step'\]; expected some of \['inner', 'name', 'steps'\]$"),
    ({"inner": {"rte": 1.0}}, r"^x.toml: inner: unknown keys \['rte'\]"),
    ({"steps": "3"}, r"^x.toml: steps must be int, got '3'$"),
    ({"steps": True}, r"^x.toml: steps must be int, got True$"),  # a bool is not a number here
    ({"steps": 2 ** 70}, r"^x.toml: steps must be a 64-bit integer"),
    ({"inner": {"rate": float("nan")}}, r"^x.toml: inner.rate must be a finite number, got nan$"),
    ({"inner": {"limit": "none"}}, r"^x.toml: inner.limit must be float, got 'none'$"),
    ({"inner": 3}, r"^x.toml: inner must be a table, got 3$"),
])
def test_what_a_table_holds_wrongly_is_one_line_naming_its_key(values, said):
    with pytest.raises(UserError, match=said):
        from_table(Outer, values, "x.toml")
