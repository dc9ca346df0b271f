"""The bridges from controllers to the engine: what they share (`Forwarder`: requests to the
engine, the newest per thing they set) and the OSC bridge (UDP datagrams from a controller in,
control requests out; and, for lights and other VJ software, the engine's telemetry out as OSC).
The MIDI bridge is live.control.midi_bridge.

A fader sends a message for every step it moves, a hundred a second while it is dragged, and
the engine answers each request in turn. So requests wait in `LatestRequests`, one per thing
they set (a parameter, a controller, the preset), holding the newest value: a bridge that
falls behind skips to where the fader is instead of replaying its path. Taps and cuts are each
kept, in order, and dropped when older than a second: a late tap is a wrong tempo, a late cut
lands where no one pressed.

The engine may be stopped, restarting or not yet started: the bridge says so once and keeps
going, and what was asked for meanwhile reaches it when it answers again.
"""
from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

import zmq

from live.control.client import TelemetryListener
from live.control.osc import PREFIX, OscError, decode, encode, outgoing, request_for
from live.control.protocol import EVENTS, LOADING
from live.control.security import is_loopback_host
from live.errors import UserError, one_line

EVENT_LIFETIME_S = 1.0
TELEMETRY_SILENCE_S = 5.0  # with --send, this long without hearing the engine's state is said
LOADING_RETRY_S = 0.25  # while the engine loads, its refusals are no answer: asked again this often
MAX_DATAGRAM = 65535
DATAGRAMS_PER_STEP = 1000  # a flood still leaves the requests their turn
MAX_SAID = 100  # distinct problems said; past it, a sender making up new ones costs no memory


def request_key(request: dict) -> tuple:
    """What a request sets: a newer request with the same key replaces it while it waits."""
    cmd = request["cmd"]
    if cmd == "set":
        return cmd, str(request["param"])
    if cmd == "cc":
        return cmd, request["channel"], request["controller"]
    return (cmd,)


class LatestRequests:
    """Waiting requests, the newest per key, in the order they last came; each tap or cut apart."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._waiting: OrderedDict[object, dict] = OrderedDict()
        self._events = 0

    def put(self, request: dict, lifetime_s: float = EVENT_LIFETIME_S) -> None:
        """Wait `request`; a tap or cut at most `lifetime_s`."""
        if request["cmd"] in EVENTS:
            self._events += 1
            self._waiting[(request["cmd"], self._events)] = request | {"_until": self._clock() + lifetime_s}
        else:  # to the back: a set must not overtake a preset chosen after it (the preset resets it)
            self._waiting[request_key(request)] = request
            self._waiting.move_to_end(request_key(request))

    def put_back(self, request: dict) -> None:
        """A request that got no answer, first in line again, unless a newer one took its place
        (a tap or cut is not: the wait for the answer made it late)."""
        key = request_key(request)
        if request["cmd"] not in EVENTS and key not in self._waiting:
            self._waiting[key] = request
            self._waiting.move_to_end(key, last=False)

    def take(self) -> dict | None:
        """The next request to send, or None."""
        while self._waiting:
            _, request = self._waiting.popitem(last=False)
            if request["cmd"] not in EVENTS:
                return request
            if self._clock() <= request["_until"]:
                return {"cmd": request["cmd"]}
        return None

    def __len__(self) -> int:
        return len(self._waiting)


class Reporter:
    """Lines on stderr, each headed by the bridge's `name`; a problem once, not once per message:
    a controller repeats itself."""

    def __init__(self, write: Callable[[str], None], name: str = "osc"):
        self._write = write
        self._name = name
        self._said: set[object] = set()

    def say(self, text: str) -> None:
        self._write(one_line(f"live: {self._name}: {text}"))

    def once(self, text: str, key: object = None) -> None:
        """Say `text` if nothing with its `key` (default: the text itself) was said before."""
        key = text if key is None else key
        if key in self._said or len(self._said) > MAX_SAID:
            return
        self._said.add(key)
        self.say(text if len(self._said) <= MAX_SAID else f"{MAX_SAID} kinds of problems said; no more will be")


class Forwarder:
    """Requests on their way to the engine through `send` (a request -> its reply, raising
    UserError when the engine does not answer): the newest per thing they set waits
    (`LatestRequests`), and the engine's absence is said once and outlasted."""

    def __init__(self, send: Callable[[dict], dict], report: Reporter):
        self._send = send
        self._report = report
        self._waiting = LatestRequests()
        self._engine_absent = False
        self._retry_at = 0.0
        self.sent = 0

    def put(self, request: dict, lifetime_s: float = EVENT_LIFETIME_S) -> None:
        self._waiting.put(request, lifetime_s)

    def due(self) -> bool:
        """Whether a request waits and may be sent now."""
        return len(self._waiting) > 0 and time.monotonic() >= self._retry_at

    def send_due(self) -> None:
        """Send what waits, until the engine fails to answer."""
        while time.monotonic() >= self._retry_at and (request := self._waiting.take()) is not None:
            if not self._deliver(request):
                break

    def _deliver(self, request: dict) -> bool:
        try:
            reply = self._send(request)
        except UserError as e:  # the wait for it was the pause: asked again at once
            return self._absent(request, f"{e} (the bridge keeps trying)", 0.0)
        if reply.get("error") == LOADING:  # bound before it plays: it takes nothing yet
            return self._absent(request, "the engine is loading (the bridge keeps trying)", LOADING_RETRY_S)
        if self._engine_absent:
            self._engine_absent = False
            self._report.say("the engine answers again")
        self.sent += 1
        if reply.get("ok") is not True:
            error = reply.get("error", reply)
            # Once per thing and kind of refusal, not per value: a fader past a parameter's range sends
            # a hundred values, and a controller's hundred unmapped knobs are one kind.
            kind = re.sub(r"-?\d+(\.\d+)?", "#", str(error))
            self._report.once(f"{shown(request)}: {error} (others alike are not said)",
                              (request["cmd"], request.get("param"), request.get("name"), kind))
        return True

    def _absent(self, request: dict, why: str, retry_s: float) -> bool:
        """No answer, or a refusal that is none (the engine loading): the request waits first in
        line, asked again `retry_s` later, and the engine's absence is said once until it answers."""
        self._waiting.put_back(request)
        self._retry_at = time.monotonic() + retry_s
        if not self._engine_absent:
            self._engine_absent = True
            self._report.say(why)
        return False


def plain_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """`text` as an address, an IPv4 one mapped into IPv6 (a sender heard on a `::` bind) as IPv4."""
    address = ipaddress.ip_address(text.partition("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def check_listen(host: str, allow: Iterable[str]) -> frozenset:
    """The senders to take datagrams from (empty: any); UserError for a bind any machine could reach
    without a list of who may steer the show (OSC has no keys)."""
    allowed = set()
    for address in allow:
        try:
            allowed.add(plain_address(address))
        except ValueError:
            raise UserError(f"--allow {address!r}: give the controller's IP address, like 192.168.1.23") from None
    if not is_loopback_host(host) and not allowed:
        raise UserError(f"--host {host} lets any machine on the network steer the show (OSC has no keys); "
                        "name the controller with --allow IP (e.g. the tablet's address)")
    return frozenset(allowed)


def resolve_target(text: str, family: int) -> tuple[str, int]:
    """HOST:PORT (or [IPv6]:PORT) as an address `family`'s socket sends to; UserError if it is none."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise UserError(f"--send {text!r}: give HOST:PORT, like 192.168.1.40:7000")
    try:
        found = socket.getaddrinfo(host, int(port), family, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UserError(f"--send {text!r}: no such host reachable from the bridge's --host ({e})") from None
    return found[0][4][:2]


class OscBridge:
    """Reads OSC datagrams from `sock` and sends their requests through `send` (a request ->
    its reply, raising UserError when the engine does not answer); with a `telemetry`
    listener, sends what it hears to each of `targets` ((host, port) pairs), from a socket of its own."""

    def __init__(self, sock: socket.socket, send: Callable[[dict], dict], report: Reporter,
                 allowed: frozenset = frozenset(), prefix: str = PREFIX,
                 telemetry: TelemetryListener | None = None, targets: Iterable[tuple[str, int]] = ()):
        self._sock = sock
        self._sock.setblocking(False)
        self._forwarder = Forwarder(send, report)
        self._report = report
        self._allowed = allowed
        self._prefix = prefix
        self._telemetry = telemetry
        self._targets = list(targets)
        # Not from the listening socket: bound to loopback, it could reach no other machine (EINVAL).
        self._out = socket.socket(sock.family, socket.SOCK_DGRAM) if self._targets else None
        self._poller = zmq.Poller()
        self._poller.register(sock, zmq.POLLIN)
        if telemetry is not None:
            self._poller.register(telemetry.socket, zmq.POLLIN)
        self._listening_since = time.monotonic()
        self.forwarded = 0

    @property
    def sent(self) -> int:
        return self._forwarder.sent

    def step(self, wait_s: float) -> None:
        """Take what has arrived (waiting up to `wait_s` when nothing is due), forward the
        telemetry, then send the requests."""
        self._poller.poll(0 if self._forwarder.due() else wait_s * 1000.0)
        for _ in range(DATAGRAMS_PER_STEP):
            try:
                datagram, (sender, *_) = self._sock.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                break
            self._receive(datagram, sender)
        while self._telemetry is not None and (message := self._telemetry.receive(0)) is not None:
            self._forward(*message)
        if (self._telemetry is not None and not self._telemetry.heard
                and time.monotonic() - self._listening_since > TELEMETRY_SILENCE_S):
            self._report.once(f"no telemetry from {self._telemetry.address} yet: nothing to send; is it the "
                              "engine's telemetry socket (--telemetry)?")
        self._forwarder.send_due()

    def _forward(self, topic: str, body: dict) -> None:
        assert self._out is not None
        for message in outgoing(topic, body, self._prefix):
            datagram = encode(message)
            for target in self._targets:
                try:
                    self._out.sendto(datagram, target)
                    self.forwarded += 1
                except OSError as e:  # a target gone from the network: the others still get theirs
                    self._report.once(f"cannot send to {target[0]}:{target[1]} ({e.strerror or e})")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()

    def _receive(self, datagram: bytes, sender: str) -> None:
        if self._allowed and plain_address(sender) not in self._allowed:
            self._report.once(f"ignoring datagrams from {sender}, which is not among --allow")
            return
        try:
            messages = decode(datagram)
        except OscError as e:
            self._report.once(f"a datagram from {sender} is not OSC: {e}")
            return
        for message in messages:
            try:
                request = request_for(message, self._prefix)
            except OscError as e:
                self._report.once(str(e))
                continue
            if request is not None:
                self._forwarder.put(request)


def shown(request: dict) -> str:
    """A request as `control send` words it (the lines said, the MIDI monitor's): names as they
    are, values as JSON (true, not Python's True)."""
    return " ".join(value if isinstance(value, str) else json.dumps(value) for value in request.values())
