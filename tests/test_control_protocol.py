from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from live.control import protocol
from live.control.protocol import (BadRequest, ControlChange, Cut, Downbeat, GetState, SetParam, SwitchPreset, Tap,
                                   encode, handle, parse, plain)
from live.errors import UserError
from live.presets import PresetLibrary
from live.settings import PARAMS, QUOTED_LENGTH


class RecordingController:
    """Answers every command with what it was called with; `fail` makes every call raise."""

    def __init__(self, fail: Exception | None = None):
        self.calls: list[tuple] = []
        self.fail = fail

    def _answer(self, *call) -> dict:
        self.calls.append(call)
        if self.fail is not None:
            raise self.fail
        return {"call": list(call)}

    def set_param(self, name, value):
        return self._answer("set_param", name, value)

    def control_change(self, channel, controller, value):
        return self._answer("control_change", channel, controller, value)

    def switch_preset(self, name):
        return self._answer("switch_preset", name)

    def tap(self):
        return self._answer("tap")

    def downbeat(self):
        return self._answer("downbeat")

    def cut(self):
        return self._answer("cut")

    def state(self):
        return self._answer("state")


def raw(message: object) -> bytes:
    return json.dumps(message).encode()


@pytest.mark.parametrize("message, command", [
    ({"cmd": "set", "param": "lambda", "value": 0.3}, SetParam("lambda", 0.3)),
    ({"cmd": "set", "param": "refine_steps", "value": 3.0}, SetParam("refine_steps", 3)),
    ({"cmd": "set", "param": "hud", "value": True}, SetParam("hud", True)),
    ({"cmd": "cc", "channel": 1, "controller": 1, "value": 64}, ControlChange(1, 1, 64)),
    ({"cmd": "preset", "name": "ember"}, SwitchPreset("ember")),
    ({"cmd": "tap"}, Tap()),
    ({"cmd": "downbeat"}, Downbeat()),
    ({"cmd": "cut"}, Cut()),
    ({"cmd": "get"}, GetState()),
])
def test_valid_commands_parse(message, command):
    request = parse(raw(message))
    assert request.command == command and request.request_id is None


@pytest.mark.parametrize("message, fragment", [
    (b"{bad", "message is not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b"", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object, got an array"),
    (b'"set"', "must be a JSON object, got a string"),
    (raw({}), "missing field 'cmd'"),
    (raw({"cmd": "jump"}), "unknown command 'jump'; commands: set, cc, preset, tap, downbeat, cut, get"),
    (raw({"cmd": 3}), "unknown command 3"),
    (raw({"cmd": None}), "unknown command null;"),
    (raw({"cmd": "set", "param": "lamda", "value": 1}), "unknown parameter 'lamda'"),
    (raw({"cmd": "set", "param": ["lambda"], "value": 1}), 'unknown parameter ["lambda"]'),
    (raw({"cmd": "set", "param": "lambda", "value": "high"}), "lambda must be a number in 0.0..1.0, got \"high\""),
    (raw({"cmd": "set", "param": "lambda", "value": 11}), "lambda must be a number in 0.0..1.0, got 11"),
    (raw({"cmd": "set", "param": "lambda", "value": None}), "lambda must be a number"),
    (raw({"cmd": "set", "param": "freeze", "value": 1}), "freeze must be true or false, got 1"),
    (raw({"cmd": "set", "param": "refine_steps", "value": 2.5}), "refine_steps must be a whole number in 0..50"),
    (raw({"cmd": "set", "param": "lambda"}), "'set' is missing 'value'"),
    (raw({"cmd": "cc", "channel": 1}), "'cc' is missing 'controller', 'value'"),
    (raw({"cmd": "tap", "bpm": 120}), "'tap' does not take 'bpm' (takes no fields)"),
    (raw({"cmd": "get", "param": "lambda"}), "'get' does not take 'param'"),
    (raw({"cmd": "cc", "channel": 0, "controller": 1, "value": 64}), "channel must be a whole number in 1..16"),
    (raw({"cmd": "cc", "channel": 1, "controller": 128, "value": 64}), "controller must be a whole number in 0..127"),
    (raw({"cmd": "cc", "channel": 1, "controller": 1, "value": 128}), "value must be a whole number in 0..127"),
    (raw({"cmd": "cc", "channel": 1, "controller": 1, "value": True}), "value must be a whole number"),
    (raw({"cmd": "preset", "name": ""}), "name must be a preset name"),
    (raw({"cmd": "preset", "name": 5}), "name must be a preset name"),
    (raw({"cmd": "preset", "name": None}), "a non-empty string), got null"),
    (raw({"cmd": "preset", "name": "x" * 300}), "name is 300 characters; a preset name has at most 256"),
    (b'{"cmd": "set", "param": "lambda", "value": NaN}', "NaN is not a JSON number"),
    (b'{"cmd": "set", "param": "lambda", "value": 1e999}', "lambda must be a number"),
    (b'{"cmd": "set", "param": "lambda", "value": 1' + b"0" * 320 + b"}", "lambda must be a number"),  # no float has it
    (b"[" * 100_000, "nested too deeply"),
    (b'{"cmd": "get", "cmd": "tap"}', "message names 'cmd' more than once"),  # json kept the tap
    (b'{"cmd": "set", "param": "lambda", "value": 0.1, "id": {"a": 1, "a": 2}}', "names 'a' more than once"),
    (b'{"cmd": "get", "id": 1' + b"0" * 5000 + b"}", "a number of thousands of digits; no parameter takes one"),
    (raw({"cmd": "get", "id": [1]}), "id must be a string or integer"),
    (raw({"cmd": "get", "id": None}), "id must be a string or integer"),  # null, taken as none, not echoed (review 58)
])
def test_bad_messages_are_refused_with_the_problem_named(message, fragment):
    with pytest.raises(BadRequest) as e:
        parse(message)
    assert fragment in str(e.value), str(e.value)
    reply = handle(message, RecordingController())
    assert reply == {"ok": False, "error": str(e.value)}


@pytest.mark.parametrize("message, fragment, request_id", [
    (b'{"id": 1, "cmd": "set", "param": "lambda", "value": NaN}', "NaN is not a JSON number", 1),
    (b'{"id": "b", "cmd": "set", "param": "lambda", "value": -Infinity}', "-Infinity is not a JSON number", "b"),
    (b'{"id": 3, "cmd": "get", "cmd": "tap"}', "message names 'cmd' more than once", 3),
])
def test_a_message_refused_while_it_is_read_keeps_its_id(message, fragment, request_id):
    # A pipelining DEALER could not match these replies: the id was lost (review 43).
    reply = handle(message, RecordingController())
    assert reply["ok"] is False and fragment in reply["error"] and reply["id"] == request_id
    assert "id" not in handle(b'{"id": 4, "id": 5, "cmd": "get"}', RecordingController())  # which one?
    nested = handle(b'{"cmd": "get", "id": 6, "x": {"id": 1, "id": 2}}', RecordingController())  # review 46
    assert nested["id"] == 6 and "names 'id' more than once" in nested["error"]


@pytest.mark.parametrize("message, start", [
    ({"cmd": "set", "param": "lambda", "value": list(range(10_000))}, "lambda must be a number in 0.0..1.0, got [0, 1"),
    ({"cmd": "tap", **{f"field{i}": 1 for i in range(3_000)}}, "'tap' does not take 'field0', 'field1'"),
    ({"cmd": "set", "param": "p" * 390, "value": 1}, "unknown parameter 'ppp"),
    ({"cmd": "f" * 390}, "unknown command 'fff"),
])
def test_errors_quote_at_most_a_few_hundred_characters_of_the_request_and_keep_their_guidance(message, start):
    """The whole reply was cut at 400 characters: a long name sent lost the list of those there are."""
    error = handle(raw(message), RecordingController())["error"]
    assert error.startswith(start) and "…" in error and len(error) < QUOTED_LENGTH + 300, error
    if "unknown" in start:
        assert error.endswith(", ".join(PARAMS) if "parameter" in start else ", ".join(protocol.COMMANDS))


@pytest.mark.parametrize("field", ["cmd", "value", "channel", "name"])
def test_a_field_nested_just_short_of_json_s_limit_is_refused_with_a_line(field):
    """JSON's parser takes arrays nested up to the recursion limit; quoting one in the error
    overflowed the encoder, and the request went unanswered (about 2 KB each)."""
    fields = {"value": {"cmd": "set", "param": "lambda"}, "channel": {"cmd": "cc", "controller": 1, "value": 1},
              "name": {"cmd": "preset"}}.get(field, {})
    limit = sys.getrecursionlimit()
    for depth in range(limit - 120, limit + 10):  # where the window lies depends on the caller's stack
        nested = "[" * depth + "]" * depth
        message = json.dumps({**fields, field: "@"}).replace('"@"', nested).encode()
        reply = handle(message, RecordingController())
        assert reply["ok"] is False and len(reply["error"]) <= protocol.MAX_ERROR_LENGTH


def test_handle_dispatches_each_command_and_wraps_the_answer():
    controller = RecordingController()
    assert handle(raw({"cmd": "set", "param": "lambda", "value": 1}), controller) == \
        {"ok": True, "call": ["set_param", "lambda", 1.0]}
    assert handle(raw({"cmd": "cc", "channel": 16, "controller": 0, "value": 127}), controller)["call"] == \
        ["control_change", 16, 0, 127]
    assert handle(raw({"cmd": "preset", "name": "x"}), controller)["call"] == ["switch_preset", "x"]
    assert handle(raw({"cmd": "tap"}), controller)["call"] == ["tap"]
    assert handle(raw({"cmd": "downbeat"}), controller)["call"] == ["downbeat"]
    assert handle(raw({"cmd": "cut"}), controller)["call"] == ["cut"]
    assert handle(raw({"cmd": "get"}), controller)["call"] == ["state"]
    assert len(controller.calls) == 7


def test_request_id_is_echoed_on_success_and_error():
    assert handle(raw({"cmd": "tap", "id": 7}), RecordingController())["id"] == 7
    reply = handle(raw({"cmd": "tap", "id": "a", "x": 1}), RecordingController())
    assert reply["ok"] is False and reply["id"] == "a"


@pytest.mark.parametrize("error, text", [
    (ValueError("lambda is locked by the preset"), "lambda is locked by the preset"),
    (KeyError("no preset 'nope'; presets: a, b"), "no preset 'nope'; presets: a, b"),
    (UserError("bundle missing; run make"), "bundle missing; run make"),
    (RuntimeError("boom"), "internal error: RuntimeError: boom"),
    (ZeroDivisionError("division by zero"), "internal error: ZeroDivisionError: division by zero"),
])
def test_controller_errors_become_error_replies(error, text):
    heard = []
    reply = handle(raw({"cmd": "preset", "name": "nope"}), RecordingController(fail=error), heard.append)
    assert reply == {"ok": False, "error": text}
    # The controller's own failures (not bad requests) go to the show too: HUD, telemetry, stats.
    assert heard == ([f"SwitchPreset failed: {text.removeprefix('internal error: ')}"]
                     if text.startswith("internal error") else [])


@pytest.mark.parametrize("answer", [None, [1, 2], {"ok": False}, {"x": object()}])
def test_a_controller_answer_that_is_not_a_plain_dict_is_an_internal_error(answer):
    class Odd(RecordingController):
        def tap(self):
            return answer

    reply = handle(raw({"cmd": "tap"}), Odd())
    assert reply["ok"] is False and reply["error"].startswith("internal error")


def test_plain_makes_json_from_numpy_and_drops_non_finite_numbers():
    value = {"bpm": np.float32(120.5), "beats": np.int64(3), "va": (np.float64(0.1), math.nan),
             "hud": True, "none": None}
    assert plain(value) == {"bpm": 120.5, "beats": 3, "va": [0.1, None], "hud": True, "none": None}
    assert type(plain(np.int64(3))) is int
    with pytest.raises(TypeError):
        plain({1: "non-string key"})
    with pytest.raises(TypeError):
        plain(np.zeros(3))
    assert json.loads(encode(plain(value))) == plain(value)


DOC = (Path(protocol.__file__).parent / "PROTOCOL.md").read_text(encoding="utf-8")


def test_every_command_and_parameter_is_documented():
    for cmd in protocol.COMMANDS:
        assert f'"cmd": "{cmd}"' in DOC
    for p in PARAMS.values():
        assert p.describe().replace(p.name, f"`{p.name}`", 1) in DOC


def test_the_documented_errors_are_the_real_ones():
    errors = DOC[DOC.index("### Errors"):DOC.index("\n## ", DOC.index("### Errors"))]
    rows = re.findall(r"^\| `(.+?)` \| `(.+?)` \|$", errors, re.MULTILINE)
    assert len(rows) >= 8
    for request, error in rows:
        got = handle(request.encode(), RecordingController())["error"]
        assert got.startswith(error.removesuffix("...")), (request, got)


def test_the_documented_cc_reply_is_what_the_shipped_presets_give():
    preset = PresetLibrary().load("ember")
    name, settings = preset.cc.apply(1, 1, 64, preset.settings)
    assert f'{{"ok": true, "param": "{name}", "value": {settings.value(name)!r}}}' in DOC


def test_the_documented_get_reply_is_what_the_shipped_default_preset_gives():
    # It named ember with default's values (review).
    settings = PresetLibrary().load("default").settings
    shown = ", ".join(f'"{k}": {json.dumps(v)}' for k, v in settings.as_dict().items())
    assert " ".join(shown.split()) in " ".join(DOC.split()) and '"preset": "default"' in DOC
    assert f'"presets": {json.dumps(PresetLibrary().names())}' in DOC


def test_a_request_after_a_byte_order_mark_is_read():
    assert handle(b'\xef\xbb\xbf{"cmd": "get"}', RecordingController())["ok"] is True


@pytest.mark.parametrize("request_id", [True, False])
def test_a_boolean_id_is_refused(request_id):
    # JSON's true is an int to Python: PROTOCOL.md's id is a string or an integer.
    reply = handle(json.dumps({"cmd": "get", "id": request_id}).encode(), RecordingController())
    assert reply["ok"] is False and "id must be a string or integer" in reply["error"]


@pytest.mark.parametrize("fail", [ValueError("bad " + "y" * 10_000), UserError("bad " + "y" * 10_000)])
def test_a_controller_s_long_error_is_cut_to_the_reply_cap(fail):
    reply = handle(b'{"cmd": "set", "param": "lambda", "value": 0.1}', RecordingController(fail))
    assert len(reply["error"]) == protocol.MAX_ERROR_LENGTH and reply["error"].endswith("…")


@pytest.mark.parametrize("message, fragment", [
    ({"cmd": "set", "param": None, "value": 0.1}, "unknown parameter null;"),
    ({"cmd": "set", "param": {"x": 1}, "value": 0.1}, 'unknown parameter {"x": 1};'),
    ({"cmd": "preset", "name": None}, "got null"),
])
def test_errors_quote_a_value_that_is_not_a_name_as_json_spells_it(message, fragment):
    # None and {'x': 1}: Python's spelling, in replies to programs that write JSON (review 43).
    assert fragment in handle(raw(message), RecordingController())["error"]
