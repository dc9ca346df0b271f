"""The client side of the control protocol: send a command, listen to telemetry."""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from types import MappingProxyType, TracebackType

import zmq

from live.control.security import ClientKeys, host_of, is_ipv6
from live.control.telemetry import STATE
from live.errors import UserError, printable

LINGER_MS = 100


class ControlClient:
    """Sends requests to a ControlServer over a REQ socket and waits for each reply.

    REQ_RELAXED and REQ_CORRELATE let the socket send again after a request that got no
    reply, and drop a late reply to the old request, so one timeout does not wedge it.
    IMMEDIATE queues a request only on a connection made: with no engine there, ZeroMQ kept
    every send and delivered them all when it came (an OSC bridge's taps long late, a fader's
    whole path replayed; review 73), and the send now fails after the timeout instead.
    """

    def __init__(self, address: str, timeout_s: float = 2.0, keys: ClientKeys | None = None):
        self.address = address
        self.timeout_s = timeout_s
        self._context = zmq.Context()
        self._socket = _connect(self._context, zmq.REQ, address, keys,
                                {zmq.REQ_RELAXED: 1, zmq.REQ_CORRELATE: 1, zmq.IMMEDIATE: 1,
                                 zmq.SNDTIMEO: round(timeout_s * 1000.0)})

    def request(self, message: dict | bytes) -> dict:
        """The server's reply to `message` (a dict, or raw bytes sent as they are)."""
        raw = message if isinstance(message, bytes) else json.dumps(message).encode("utf-8")
        try:
            self._socket.send(raw)
            answered = self._socket.poll(self.timeout_s * 1000.0, zmq.POLLIN)
        except zmq.Again:  # no connection to queue it on within the timeout
            answered = False
        if not answered:
            raise UserError(f"no reply from {self.address} within {self.timeout_s:g} s; is the engine "
                            f"running with its control socket there (and are the CurveZMQ keys right)?")
        raw_reply = self._socket.recv()
        try:
            reply = json.loads(raw_reply)
        except (ValueError, RecursionError):  # nested too deeply: json's parser recurses
            reply = None
        if not isinstance(reply, dict):
            raise UserError(f"{self.address} answered something that is not a JSON object: {raw_reply[:80]!r}")
        return reply

    def close(self) -> None:
        self._socket.close(linger=LINGER_MS)
        self._context.term()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class TelemetryListener:
    """Receives (topic, body) telemetry pairs from a ControlServer's PUB socket."""

    def __init__(self, address: str, topics: Iterable[str] = (), keys: ClientKeys | None = None):
        self.address = address
        self._context = zmq.Context()
        self._socket = _connect(self._context, zmq.SUB, address, keys)
        topics = list(topics)
        # The topic is a whole first frame, but SUB filters by prefix: "beat" would also
        # let "beats" through, so receive() checks the exact topic as well.
        self.topics = frozenset(topics)
        # The engine's state, 20 times a second, is heard even when not asked for: that the
        # engine is there, when the asked topics (errors, beats in a quiet passage) are silent.
        self.heard = False
        for topic in (topics + [STATE] if topics else [""]):
            self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode())

    @property
    def socket(self) -> zmq.Socket:
        """For a poller that waits on this and other sockets at once."""
        return self._socket

    def receive(self, timeout_s: float) -> tuple[str, dict] | None:
        """The next message of a subscribed topic, or None if none came within `timeout_s`
        (0: none had come)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self._socket.poll(max(0.0, deadline - time.monotonic()) * 1000.0, zmq.POLLIN):
                return None
            frames = self._socket.recv_multipart()
            if len(frames) != 2:
                continue
            topic = frames[0].decode("ascii", errors="replace")
            self.heard = True
            if self.topics and topic not in self.topics:
                continue
            try:
                return topic, json.loads(frames[1])
            except (ValueError, RecursionError):  # nested too deeply: json's parser recurses
                continue

    def close(self) -> None:
        self._socket.close(linger=0)
        self._context.term()

    def __enter__(self) -> TelemetryListener:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _connect(context: zmq.Context, kind: int, address: str, keys: ClientKeys | None,
             options: Mapping[int, int] = MappingProxyType({})) -> zmq.Socket:
    """A socket of `kind` connected to `address`, `options` set before the connect (IMMEDIATE
    acts on the connections made after it)."""
    # zmq connects to port 99999 as 34463, and to nothing at all for 0 or *: the client
    # would wait out its timeout and blame the engine.
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:  # zmq raised it from its own encode, a traceback
        raise UserError(f"{printable(address)} is not UTF-8 text; write the address like "
                        "tcp://127.0.0.1:5555") from None
    if "://" not in address:
        raise UserError(f"{address} is not a ZeroMQ address; write it like tcp://127.0.0.1:5555")
    port = address.rpartition(":")[2]
    if address.startswith("tcp://") and not (port.isdigit() and 0 < int(port) <= 65535):
        raise UserError(f"{address}: give the engine's port (1..65535), like tcp://127.0.0.1:5555")
    if address.startswith("tcp://"):
        host_of(address)  # a host zmq can read
    sock = context.socket(kind)
    sock.setsockopt(zmq.LINGER, LINGER_MS)
    if is_ipv6(address):
        sock.setsockopt(zmq.IPV6, 1)
    if keys is not None:
        keys.apply(sock)
    for option, value in options.items():
        sock.setsockopt(option, value)
    try:
        sock.connect(address)
    except zmq.ZMQError as e:
        sock.close(linger=0)
        context.term()
        raise UserError(f"cannot connect to {address}: {e}") from None
    return sock
