"""The control message schema: raw bytes in, a reply out, no sockets.

A request is one JSON object with a "cmd" and that command's fields, nothing else
(an optional "id", a string or integer, is echoed in the reply so that DEALER clients
can match replies to requests):

    {"cmd": "set", "param": "lambda", "value": 0.05}
    {"cmd": "cc", "channel": 1, "controller": 1, "value": 64}
    {"cmd": "preset", "name": "NAME"}
    {"cmd": "tap"}
    {"cmd": "downbeat"}
    {"cmd": "cut"}
    {"cmd": "get"}

The reply is `{"ok": true, ...the controller's answer}` or `{"ok": false, "error": "..."}`.
`handle` never raises: every bad message and every controller failure becomes an error
reply, because no message may stop the engine. See PROTOCOL.md for the full contract.
"""
from __future__ import annotations

import json
import logging
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from live.errors import UserError
from live.settings import Value, check_value, param, quoted, shortened

log = logging.getLogger(__name__)

DEFAULT_COMMAND_ADDRESS = "tcp://127.0.0.1:5555"  # ROUTER: requests and replies
DEFAULT_TELEMETRY_ADDRESS = "tcp://127.0.0.1:5556"  # PUB: telemetry
MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 256
# Errors quote what was sent; a quoted 64 KiB value would make each reply as large, and a
# client that sends without reading would queue hundreds of them.
MAX_ERROR_LENGTH = 2000  # values quoted are shortened where quoted (settings.QUOTED_LENGTH)
LOADING = "the show is still loading; send this again once it plays (it prints its control address then)"


class Controller(Protocol):
    """What the engine offers the control server. Methods run on the control thread, so
    they must return quickly (hand slow work such as loading a preset to the engine's own
    threads). Each returns the fields of its success reply; to refuse, raise ValueError,
    KeyError or UserError with a message for the user."""

    def set_param(self, name: str, value: Value) -> dict: ...

    def control_change(self, channel: int, controller: int, value: int) -> dict: ...

    def switch_preset(self, name: str) -> dict: ...

    def tap(self) -> dict: ...

    def downbeat(self) -> dict: ...

    def cut(self) -> dict: ...

    def state(self) -> dict:
        """Every parameter by wire name, the current preset and the presets to choose from."""
        ...


@dataclass(frozen=True)
class SetParam:
    param: str  # wire name, known to PARAMS
    value: Value  # already checked against the parameter's type and range


@dataclass(frozen=True)
class ControlChange:
    channel: int  # 1-16
    controller: int  # 0-127
    value: int  # 0-127


@dataclass(frozen=True)
class SwitchPreset:
    name: str


@dataclass(frozen=True)
class Tap:
    pass


@dataclass(frozen=True)
class Downbeat:
    pass


@dataclass(frozen=True)
class Cut:
    pass


@dataclass(frozen=True)
class GetState:
    pass


Command = SetParam | ControlChange | SwitchPreset | Tap | Downbeat | Cut | GetState
RequestId = str | int | None

# Each command's fields, in the order the documentation lists them.
COMMANDS: dict[str, tuple[str, ...]] = {
    "set": ("param", "value"),
    "cc": ("channel", "controller", "value"),
    "preset": ("name",),
    "tap": (),
    "downbeat": (),
    "cut": (),
    "get": (),
}
EVENTS = ("tap", "downbeat", "cut")  # commands that are a press each: each counts, at its moment


class BadRequest(ValueError):
    """A message that is not a valid command; `str(e)` is the reply's error text."""

    def __init__(self, error: str, request_id: RequestId = None):
        super().__init__(error)
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    command: Command
    request_id: RequestId = None


def parse(raw: bytes) -> Request:
    """The command in one message; BadRequest naming the problem if there is none."""
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark (Windows editors): RFC 8259 ignores it
    except UnicodeDecodeError:
        raise BadRequest("message is not UTF-8 text; send a JSON object") from None
    # Read whole first, what is refused noted on the way: the reply to a refused message still
    # carries its id, for a client pipelining requests to match (found by review).
    refused: list[str] = []
    repeated: list[set[str]] = [set()]  # of the object built last: the whole message, when it is one

    def constant(name: str) -> float:
        refused.append(f"message is not valid JSON: {name} is not a JSON number")
        return math.nan

    def without_repeats(pairs: list[tuple[str, object]]) -> dict:
        # json keeps the last of a key named twice silently: {"cmd": "get", "cmd": "tap"} tapped.
        keys = [key for key, _ in pairs]
        repeated[0] = {key for key in keys if keys.count(key) > 1}
        refused.extend(f"message names {quoted(key)} more than once; give each field once"
                       for key in sorted(repeated[0]))
        return dict(pairs)

    try:
        message = json.loads(text, parse_constant=constant, object_pairs_hook=without_repeats)
    except json.JSONDecodeError as e:
        raise BadRequest(f"message is not valid JSON: {e.msg} at character {e.pos}") from None
    except ValueError as e:
        if "integer string conversion" in str(e):  # Python's own limit, with advice meant for programmers
            raise BadRequest("message holds a number of thousands of digits; no parameter takes one") from None
        raise BadRequest(f"message is not valid JSON: {e}") from None
    except RecursionError:
        raise BadRequest("message is not valid JSON: nested too deeply") from None
    if not isinstance(message, dict):
        raise BadRequest(f"message must be a JSON object, got {_json_type(message)}")
    try:
        request_id = None if "id" in repeated[0] else _request_id(message)
    except BadRequest:
        if not refused:
            raise
        request_id = None  # what was refused first is said first
    if refused:
        raise BadRequest(refused[0], request_id)
    try:
        return Request(_command(message), request_id)
    except ValueError as e:
        raise BadRequest(str(e), request_id) from None


def execute(command: Command, controller: Controller) -> dict:
    """The controller's answer to `command`; its exceptions pass through."""
    match command:
        case SetParam(name, value):
            return controller.set_param(name, value)
        case ControlChange(channel, number, value):
            return controller.control_change(channel, number, value)
        case SwitchPreset(name):
            return controller.switch_preset(name)
        case Tap():
            return controller.tap()
        case Downbeat():
            return controller.downbeat()
        case Cut():
            return controller.cut()
        case GetState():
            return controller.state()
    raise TypeError(f"not a command: {command!r}")


def handle(raw: bytes, controller: Controller | None, on_error: Callable[[str], None] | None = None) -> dict:
    """The reply to one raw message. Never raises: a live component keeps going.
    `on_error` hears the controller's own failures (bugs, not bad requests). No controller
    yet: the show is loading, and says so rather than act on the request seconds later,
    when its client has given up on it."""
    try:
        request = parse(raw)
    except BadRequest as e:
        return _reply_error(str(e), e.request_id)
    if controller is None:
        return _reply_error(LOADING, request.request_id)
    try:
        answer = plain(execute(request.command, controller))
        if not isinstance(answer, dict) or "ok" in answer or "error" in answer:
            raise TypeError(f"controller answered {answer!r:.80}, not a dict without 'ok' and 'error'")
        reply = {"ok": True, **answer}
    except (ValueError, KeyError, UserError) as e:
        return _reply_error(_message(e), request.request_id)
    # The engine's controller is not ours to trust: a bug there must not take the control
    # thread (and with it the VJ's only handle on the show) down. It is logged in full.
    except Exception as e:
        log.exception("controller failed on %r", request.command)
        if on_error is not None:
            on_error(f"{type(request.command).__name__} failed: {type(e).__name__}: {e}")
        return _reply_error(f"internal error: {type(e).__name__}: {e}", request.request_id)
    if request.request_id is not None:
        reply["id"] = request.request_id
    return reply


def encode(reply: Mapping) -> bytes:
    """Compact UTF-8 JSON of an already plain (see `plain`) mapping."""
    return json.dumps(reply, separators=(",", ":"), allow_nan=False).encode("utf-8")


def plain(value: object) -> object:
    """`value` as plain JSON data: mappings with string keys, lists, str, bool, None,
    int, and finite floats (NaN and infinities become None, so every reader can parse the
    result). Numeric scalars of other types (numpy) become int or float. TypeError for
    anything else."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON keys must be strings, got {key!r}")
            out[key] = plain(item)
        return out
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _command(message: dict) -> Command:
    if "cmd" not in message:
        raise ValueError(f"missing field 'cmd'; commands: {', '.join(COMMANDS)}")
    cmd = message["cmd"]
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        raise ValueError(f"unknown command {quoted(cmd)}; commands: {', '.join(COMMANDS)}")
    fields = COMMANDS[cmd]
    extra = sorted(set(message) - set(fields) - {"cmd", "id"})
    if extra:
        allowed = ", ".join(fields) if fields else "no fields"
        raise ValueError(f"{cmd!r} does not take {shortened(', '.join(map(repr, extra)))} (takes {allowed})")
    missing = [f for f in fields if f not in message]
    if missing:
        raise ValueError(f"{cmd!r} is missing {', '.join(map(repr, missing))}")
    match cmd:
        case "set":
            p = param(message["param"])
            return SetParam(p.name, p.check(message["value"]))
        case "cc":
            return ControlChange(check_value("channel", int, 1, 16, message["channel"]),
                                 check_value("controller", int, 0, 127, message["controller"]),
                                 check_value("value", int, 0, 127, message["value"]))
        case "preset":
            name = message["name"]
            if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
                raise ValueError(f"name is {len(name)} characters; a preset name has at most {MAX_NAME_LENGTH}")
            if not isinstance(name, str) or not name:
                raise ValueError(f"name must be a preset name (a non-empty string), got {quoted(name)}")
            return SwitchPreset(name)
        case "tap":
            return Tap()
        case "downbeat":
            return Downbeat()
        case "cut":
            return Cut()
    return GetState()


def _request_id(message: dict) -> RequestId:
    if "id" not in message:
        return None
    request_id = message["id"]  # null too is refused: taken as none, it was not echoed
    if request_id is None or isinstance(request_id, bool) or not isinstance(request_id, (str, int)) \
            or len(str(request_id)) > MAX_ID_LENGTH:
        raise BadRequest(f"id must be a string or integer of at most {MAX_ID_LENGTH} characters")
    return request_id


def _reply_error(error: str, request_id: RequestId) -> dict:
    if len(error) > MAX_ERROR_LENGTH:
        error = error[:MAX_ERROR_LENGTH - 1] + "…"
    reply: dict = {"ok": False, "error": error}
    if request_id is not None:
        reply["id"] = request_id
    return reply


def _message(e: Exception) -> str:
    # str(KeyError("x")) is "'x'" with quotes; the message itself reads better.
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
