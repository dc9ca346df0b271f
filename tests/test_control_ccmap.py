from __future__ import annotations

import tomllib

import pytest

from live.control.ccmap import CcMap
from live.errors import UserError
from live.settings import PARAMS, Settings

PRESET = """
[[cc]]
channel = 1
controller = 1
param = "lambda"
min = 0.0
max = 1.0

[[cc]]
channel = 1
controller = 2
param = "keyframe_rate"
min = 1.0
max = 60.0
curve = "exp"

[[cc]]
channel = 1
controller = 3
param = "refine_steps"

[[cc]]
channel = 2
controller = 1
param = "intensity"
min = 2.0
max = 0.0

[[cc]]
channel = 1
controller = 64
param = "freeze"

[[cc]]
channel = 1
controller = 65
param = "blackout"
mode = "gate"
"""


@pytest.fixture
def ccmap() -> CcMap:
    return CcMap.from_table(tomllib.loads(PRESET)["cc"], "test.toml")


def value(ccmap: CcMap, channel: int, controller: int, cc_value: int, settings: Settings = Settings()):
    name, new = ccmap.apply(channel, controller, cc_value, settings)
    return new.value(name)


def test_linear_maps_the_ends_exactly(ccmap):
    assert value(ccmap, 1, 1, 0) == 0.0
    assert value(ccmap, 1, 1, 127) == 1.0
    assert value(ccmap, 1, 1, 64) == pytest.approx(64 / 127)


def test_exp_is_geometric(ccmap):
    assert value(ccmap, 1, 2, 0) == pytest.approx(1.0)
    assert value(ccmap, 1, 2, 127) == 60.0
    assert value(ccmap, 1, 2, 64) == pytest.approx(60.0 ** (64 / 127))


def test_int_parameter_is_rounded_over_its_whole_range_by_default(ccmap):
    assert value(ccmap, 1, 3, 127) == PARAMS["refine_steps"].high
    assert value(ccmap, 1, 3, 64) == round(50 * 64 / 127)
    assert isinstance(value(ccmap, 1, 3, 64), int)


def test_min_above_max_inverts_the_knob(ccmap):
    assert value(ccmap, 2, 1, 0) == 2.0
    assert value(ccmap, 2, 1, 127) == 0.0


def test_toggle_flips_on_press_and_ignores_release(ccmap):
    s = Settings()
    _, s = ccmap.apply(1, 64, 127, s)
    assert s.freeze is True
    _, s = ccmap.apply(1, 64, 0, s)
    assert s.freeze is True
    _, s = ccmap.apply(1, 64, 100, s)
    assert s.freeze is False


def test_gate_follows_the_button(ccmap):
    assert value(ccmap, 1, 65, 64) is True
    assert value(ccmap, 1, 65, 63) is False


def test_unmapped_controller_is_a_key_error(ccmap):
    with pytest.raises(KeyError, match="channel 3 controller 1 is not mapped"):
        ccmap.apply(3, 1, 10, Settings())
    assert ccmap.binding(1, 1).param == "lambda"
    assert len(ccmap) == 6 and {b.param for b in ccmap} >= {"lambda", "freeze"}


def entry(**fields) -> dict:
    return {"channel": 1, "controller": 7, "param": "lambda"} | fields


@pytest.mark.parametrize("fields, fragment", [
    (entry(param="lamda"), "unknown parameter 'lamda'"),
    (entry(channel=0), "channel must be a whole number in 1..16"),
    (entry(channel=17), "channel"),
    (entry(controller=128), "controller must be a whole number in 0..127"),
    (entry(min=-1.0), "lambda min must be a number in 0.0..1.0"),
    (entry(max=11), "lambda max"),
    (entry(curve="log"), "curve must be one of linear, exp"),
    (entry(curve="exp"), "curve 'exp' needs min and max above 0"),
    (entry(mode="gate"), "'mode' applies to true/false parameters only"),
    (entry(param="hud", min=0.0), "hud is true/false: 'min' does not apply"),
    (entry(param="hud", mode="latch"), "mode must be one of toggle, gate"),
    (entry(knob=3), "unknown field(s) 'knob'"),
    ({"channel": 1, "param": "lambda"}, "missing field 'controller'"),
    ("lambda", "must be a table"),
])
def test_bad_entries_fail_at_load_with_one_line_naming_the_entry(fields, fragment):
    with pytest.raises(UserError) as e:
        CcMap.from_table([entry(controller=1), fields], "presets/x.toml")
    message = str(e.value)
    assert message.startswith("presets/x.toml: [[cc]] table 2: ") and fragment in message and "\n" not in message


def test_a_controller_bound_twice_is_refused():
    with pytest.raises(UserError, match="channel 1 controller 7 is bound twice"):
        CcMap.from_table([entry(), entry(param="intensity")], "x.toml")


def test_cc_must_be_an_array():
    with pytest.raises(UserError, match="array of tables"):
        CcMap.from_table({"channel": 1}, "x.toml")


def test_a_binding_is_described_in_its_parameter_s_terms():
    cc = CcMap.from_table([{"channel": 1, "controller": 1, "param": "lambda", "min": 0.001, "max": 0.3, "curve": "exp"},
                           {"channel": 1, "controller": 64, "param": "freeze", "mode": "gate"}], "test")
    assert [b.describe() for b in cc] == ["cc ch1 #1   -> lambda (0.001..0.3, exp)",
                                          "cc ch1 #64  -> freeze (gate)"]  # not "0.0..1.0, linear/gate"


def test_a_knob_s_ends_are_its_range_s_ends_exactly():
    # An exp curve from 0.3 to 100 computes 100.00000000000001 at 127, which the setting
    # refuses: the knob's top would do nothing.
    cc = CcMap.from_table(tomllib.loads('[[cc]]\nchannel = 1\ncontroller = 1\nparam = "min_lightness"\n'
                                        'min = 0.3\nmax = 100.0\ncurve = "exp"\n')["cc"], "test")
    assert cc.apply(1, 1, 127, Settings())[1].min_lightness == 100.0
    assert cc.apply(1, 1, 0, Settings())[1].min_lightness == 0.3


def test_a_whole_number_parameter_takes_the_nearest_step():
    cc = CcMap.from_table(tomllib.loads(PRESET)["cc"], "test")
    assert PARAMS["refine_steps"].high == 50
    assert cc.apply(1, 3, 2, Settings())[1].refine_steps == 1  # 50 * 2 / 127 = 0.79 of a step: 1, not 0
