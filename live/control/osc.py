"""Open Sound Control in: datagrams decoded (OSC 1.0) and read as control-protocol requests.

TouchOSC, Open Stage Control, TouchDesigner, Resolume and Max speak OSC over UDP; the engine
speaks JSON over ZeroMQ. `live.control.bridge` carries one to the other with these rules:

    /live/set/lambda 0.05           -> {"cmd": "set", "param": "lambda", "value": 0.05}
    /live/set lambda 0.05           -> the same, the parameter as the first argument
    /live/cc 1 1 64                 -> {"cmd": "cc", "channel": 1, "controller": 1, "value": 64}
    /live/preset ember              -> {"cmd": "preset", "name": "ember"}
    /live/preset/ember              -> the same; a button's release (an argument 0 or false) does nothing
    /live/tap                       -> {"cmd": "tap"}; likewise
    /live/downbeat                  -> {"cmd": "downbeat"}; likewise (in; out, the address of downbeats)
    /live/cut                       -> {"cmd": "cut"}; likewise

Controller software often has floats only: a boolean parameter takes a number as "not zero",
and a whole float stands for an integer (the engine's own check refuses 3.5 for an integer).
Bundles are opened and their messages taken at once, in order; their time tags are ignored
(a show acts when a message arrives).

Out, the engine's telemetry becomes one address per value, as faders, labels and the
parameters of other VJ software take them (`outgoing`):

    /live/beat INDEX TIME BPM       each beat, as the engine reports it
    /live/downbeat INDEX TIME BPM   each beat that is a bar's first, where the bars are known
    /live/valence V, /live/arousal A, /live/bpm B, /live/level_db L, /live/beat_phase P,
    /live/beat_confidence C, /live/on_screen NAME  each state tick (20 a second), the values known
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from live.control.protocol import COMMANDS, EVENTS
from live.settings import PARAMS

PREFIX = "/live"
BRIDGED = ("set", "cc", "preset", *EVENTS)  # `get` answers the asker, and OSC here only listens
_BUNDLE = b"#bundle\x00"
FLOAT32_MAX = 3.4028234663852886e38
_MAX_DEPTH = 8  # bundles inside bundles: a datagram of nested headers is no reason to recurse far


class OscError(ValueError):
    """A datagram that is not OSC 1.0, or a message that maps to no request; `str(e)` says which."""


@dataclass(frozen=True)
class OscMessage:
    address: str
    args: tuple[object, ...]

    def __str__(self) -> str:
        return " ".join([self.address, *(repr(a) if isinstance(a, str) else str(a) for a in self.args)])


def decode(datagram: bytes) -> list[OscMessage]:
    """The messages of one datagram: a message, or a bundle's messages in order."""
    return _decode(memoryview(datagram), 0)


def _decode(data: memoryview, depth: int) -> list[OscMessage]:
    if bytes(data[:8]) != _BUNDLE:
        return [_message(data)]
    if depth >= _MAX_DEPTH:
        raise OscError(f"bundles nested over {_MAX_DEPTH} deep")
    messages, at = [], 16  # the header and its 8-byte time tag
    while at < len(data):
        size = _unpack(">i", data, at)
        if size < 0 or size % 4 or at + 4 + size > len(data):
            raise OscError(f"a bundle element of {size} bytes does not fit the datagram")
        messages += _decode(data[at + 4:at + 4 + size], depth + 1)
        at += 4 + size
    return messages


def _message(data: memoryview) -> OscMessage:
    address, at = _string(data, 0)
    if not address.startswith("/"):
        raise OscError(f"not an OSC message (an address starts with /, this one is {address[:40]!r})")
    if at == len(data):  # OSC 1.0 lets an old sender leave the type tags out when there are no arguments
        return OscMessage(address, ())
    tags, at = _string(data, at)
    if not tags.startswith(","):
        raise OscError(f"{address}: the type tags must start with a comma")
    args: list[object] = []
    for tag in tags[1:]:
        if tag in "ifhd":
            fmt = {"i": ">i", "f": ">f", "h": ">q", "d": ">d"}[tag]
            value = _unpack(fmt, data, at)
            args.append(_shortest_float32(value) if tag == "f" else value)
            at += struct.calcsize(fmt)
        elif tag == "s":
            text, at = _string(data, at)
            args.append(text)
        elif tag in "TF":
            args.append(tag == "T")
        elif tag == "b":
            size = _unpack(">i", data, at)
            if size < 0 or at + 4 + size > len(data):
                raise OscError(f"{address}: a blob of {size} bytes does not fit the datagram")
            args.append(bytes(data[at + 4:at + 4 + size]))
            at += 4 + size + (-size % 4)
        elif tag in "NI":  # nil, impulse: no data
            args.append(None)
        else:
            raise OscError(f"{address}: type tag {tag!r} is not OSC 1.0's")
    return OscMessage(address, tuple(args))


def _shortest_float32(value: float) -> float:
    """The shortest decimal that is the same float32: a fader's 0.05 arrives as 0.05000000074505806,
    which replies, `get` and the HUD then showed."""
    if not math.isfinite(value):
        return value
    packed = struct.pack(">f", value)
    for digits in range(1, 10):  # 9 significant digits always give the float32 back
        short = float(f"{value:.{digits}g}")
        if abs(short) <= FLOAT32_MAX and struct.pack(">f", short) == packed:
            return short
    return value


def _string(data: memoryview, at: int) -> tuple[str, int]:
    """An OSC string at `at` (ASCII, NUL-ended, padded to 4 bytes) and the offset after it."""
    end = bytes(data[at:]).find(b"\x00")
    if end < 0:
        raise OscError("a string runs past the end of the datagram")
    try:
        text = bytes(data[at:at + end]).decode("utf-8")
    except UnicodeDecodeError:
        raise OscError("a string is not UTF-8 text") from None
    return text, at + (end // 4 + 1) * 4


def _unpack(fmt: str, data: memoryview, at: int) -> object:
    if at + struct.calcsize(fmt) > len(data):
        raise OscError("an argument runs past the end of the datagram")
    return struct.unpack_from(fmt, data, at)[0]


def encode(message: OscMessage) -> bytes:
    """`message` as a datagram: ints as int32, floats as float32, strings, booleans as T/F."""
    tags, data = [","], [_padded(message.address)]
    for arg in message.args:
        if isinstance(arg, bool):
            tags.append("T" if arg else "F")
        elif isinstance(arg, int):
            tags.append("i")
            data.append(struct.pack(">i", arg))
        elif isinstance(arg, float):
            tags.append("f")
            data.append(struct.pack(">f", arg))
        elif isinstance(arg, str):
            tags.append("s")
            data.append(_padded(arg))
        else:
            raise TypeError(f"{message.address}: no OSC type for {type(arg).__name__}")
    return data[0] + _padded("".join(tags)) + b"".join(data[1:])


def _padded(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


STATE_OUT = ("valence", "arousal", "bpm", "level_db", "beat_phase", "beat_confidence")


def outgoing(topic: str, body: dict, prefix: str = PREFIX) -> list[OscMessage]:
    """The OSC messages a telemetry message (`live.control.telemetry`) goes out as."""
    if topic == "beat":
        fields = [body.get(k) for k in ("index", "time", "bpm")]
        if not (isinstance(fields[0], int) and all(_number(f) for f in fields[1:])):
            return []
        args = (fields[0], float(fields[1]), float(fields[2]))
        # The one, where the bars are known: a separate address, for a tool to trigger on.
        return [OscMessage(f"{prefix}/{address}", args) for address in ("beat", "downbeat")
                if address == "beat" or body.get("place") == 1]
    if topic != "state":
        return []
    messages = [OscMessage(f"{prefix}/{k}", (float(body[k]),)) for k in STATE_OUT if _number(body.get(k))]
    if isinstance(body.get("preset"), str):
        messages.append(OscMessage(f"{prefix}/on_screen", (body["preset"],)))  # not /preset: an echo would choose it
    return messages


def _number(value: object) -> bool:
    """A value float32 holds (telemetry sends null for what is not finite; this is for the rest)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= FLOAT32_MAX


def request_for(message: OscMessage, prefix: str = PREFIX) -> dict | None:
    """The control request `message` stands for; None for a button's release. OscError when it
    stands for none (an address outside `prefix`, a command the bridge does not carry, too few
    or too many arguments)."""
    head, _, rest = message.address.partition(prefix + "/")
    if head or not rest:
        raise OscError(f"{message.address} is not an address of live's; use {_addresses(prefix)}")
    cmd, _, tail = rest.partition("/")
    if cmd not in BRIDGED:
        raise OscError(f"{message.address}: {cmd!r} is not a command the bridge carries; use {_addresses(prefix)}")
    args = list(message.args)
    for arg in args:  # JSON carries neither: a blob ended the bridge, and Infinity reached the engine as bad JSON
        if isinstance(arg, bytes) or arg is None or (isinstance(arg, float) and not math.isfinite(arg)):
            raise OscError(f"{message.address}: {'a blob' if isinstance(arg, bytes) else repr(arg)} is no value")
    if tail:  # /live/set/lambda 0.05, /live/preset/ember [1]
        if "/" in tail or cmd not in ("set", "preset"):
            raise OscError(f"{message.address}: only set and preset take a name in the address")
        if cmd == "preset":
            if len(args) > 1:
                raise OscError(f"{message}: a preset button sends one value at most")
            if args and not _pressed(args[0]):
                return None
            args = []
        args.insert(0, tail)
    elif cmd in EVENTS and len(args) == 1:
        if not _pressed(args[0]):
            return None
        args = []
    fields = COMMANDS[cmd]
    if len(args) != len(fields):
        raise OscError(f"{message}: {cmd} takes {' '.join(fields) or 'no arguments'}")
    request: dict[str, object] = {"cmd": cmd, **dict(zip(fields, args))}
    if cmd == "set" and isinstance(request["param"], str) and request["param"] in PARAMS:
        request["value"] = _as_kind(PARAMS[request["param"]].kind, request["value"])
    if cmd == "cc":
        request |= {name: _as_kind(int, request[name]) for name in fields}
    return request


def _pressed(value: object) -> bool:
    return isinstance(value, (bool, int, float)) and value != 0


def _as_kind(kind: type, value: object) -> object:
    """A float-only sender's value in the parameter's kind where that is unambiguous; anything
    else is left for the engine to refuse, with its own message."""
    if kind is bool and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _addresses(prefix: str) -> str:
    return f"{prefix}/set/PARAM, {prefix}/cc, {prefix}/preset/NAME, {prefix}/tap, {prefix}/downbeat or {prefix}/cut"
