from __future__ import annotations

import dataclasses
import math
import re
import threading
import time

import pytest

from live.settings import PARAMS, Settings, SettingsSlot, param


def test_every_parameter_is_a_settings_field_with_the_table_default():
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert set(fields) == {p.field for p in PARAMS.values()}
    for p in PARAMS.values():
        assert fields[p.field] == p.default
        assert type(p.default) is p.kind
        assert p.check(p.default) == p.default
    assert {"lambda", "refine_steps", "crossfade_beats", "intensity"} <= set(PARAMS)


def test_as_dict_uses_wire_names_in_table_order():
    d = Settings().as_dict()
    assert list(d) == list(PARAMS)
    assert d["lambda"] == Settings().lambda_


def test_with_value_returns_a_changed_copy():
    s = Settings()
    t = s.with_value("lambda", 0.3)
    assert t.lambda_ == 0.3 and s.lambda_ == PARAMS["lambda"].default
    assert t.value("lambda") == 0.3
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.lambda_ = 0.5


@pytest.mark.parametrize("name, value, expected", [
    ("refine_steps", 4, 4),
    ("refine_steps", 4.0, 4),  # integral floats are accepted for ints
    ("lambda", 1, 1.0),  # ints are accepted for floats
    ("intensity", 0, 0.0),
    ("intensity", 2.0, 2.0),
    ("freeze", True, True),
])
def test_accepted_values_are_converted_to_the_parameter_type(name, value, expected):
    got = Settings().with_value(name, value).value(name)
    assert got == expected and type(got) is PARAMS[name].kind


def test_minus_zero_is_kept_as_zero():  # it came back as -0.0 in replies (found by review)
    assert str(Settings().with_value("lambda", -0.0).lambda_) == "0.0"


@pytest.mark.parametrize("name, value, fragment", [
    ("lambda", 1.5, "lambda must be a number in 0.0..1.0"),
    ("lambda", -0.1, "0.0..1.0"),
    ("lambda", True, "lambda must be a number"),  # a bool is not a number
    ("lambda", "0.3", "lambda must be a number"),
    ("lambda", math.nan, "lambda must be a number"),
    ("lambda", math.inf, "lambda must be a number"),
    ("refine_steps", 2.5, "refine_steps must be a whole number in 0..50"),
    ("refine_steps", 51, "0..50"),
    ("refine_steps", 1e308, "0..50, got 1e+308"),  # not its 309 digits
    ("refine_steps", False, "whole number"),
    ("freeze", 1, "freeze must be true or false"),
    ("freeze", "yes", "freeze must be true or false"),
    ("lamda", 1.0, "unknown parameter 'lamda'"),
    ("lambda_", 1.0, "unknown parameter 'lambda_'"),
])
def test_invalid_values_name_the_parameter_and_range(name, value, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        Settings().with_value(name, value)


def test_with_values_applies_all_or_nothing():
    s = Settings().with_values({"lambda": 0.5, "hud": True})
    assert (s.lambda_, s.hud) == (0.5, True)
    with pytest.raises(ValueError, match="refine_steps"):
        s.with_values({"lambda": 0.7, "refine_steps": -1})


def test_unknown_parameter_lists_the_known_ones():
    with pytest.raises(ValueError) as e:
        param("speed")
    assert "crossfade_beats" in str(e.value) and "\n" not in str(e.value)


def test_describe_reads_as_a_one_line_help():
    assert PARAMS["lambda"].describe().startswith("lambda (float 0.0..1.0, default 0.02): ")
    assert PARAMS["freeze"].describe().startswith("freeze (true/false, default false): ")


def test_slot_swaps_snapshots_and_keeps_old_settings_on_error():
    slot = SettingsSlot()
    before = slot.get()
    after = slot.set_value("crossfade_beats", 2.0)
    assert slot.get() is after and after.crossfade_beats == 2.0
    assert before.crossfade_beats == PARAMS["crossfade_beats"].default  # readers' snapshots never change
    with pytest.raises(ValueError):
        slot.set_value("crossfade_beats", 99)
    assert slot.get() is after
    with pytest.raises(TypeError):
        slot.replace({"lambda": 1.0})
    slot.replace(Settings(hud=True))
    assert slot.get().hud


def test_slot_updates_from_many_threads_are_not_lost():
    slot = SettingsSlot(Settings(refine_steps=0))
    per_thread, threads = 12, 4

    def slow_bump(settings: Settings) -> Settings:
        read = settings.refine_steps
        time.sleep(0.001)  # lets another writer in between the read and the write, unless the slot locks
        return settings.with_value("refine_steps", read + 1)

    def bump():
        for _ in range(per_thread):
            slot.update(slow_bump)

    workers = [threading.Thread(target=bump) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(5)
    assert slot.get().refine_steps == per_thread * threads


def test_a_refused_value_is_quoted_as_it_was_sent():
    with pytest.raises(ValueError, match="refine_steps must be a whole number in 0..50, got true$"):
        Settings().with_values({"refine_steps": True})  # not Python's "True"
