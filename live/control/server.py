"""The control thread: a ROUTER socket answering commands, a PUB socket for telemetry.

    client (REQ or DEALER) ──► ROUTER  tcp://127.0.0.1:5555 ──► protocol.handle ──► Controller
    listeners (SUB)        ◄── PUB     tcp://127.0.0.1:5556 ◄── TelemetryBuffer ◄── publish()

One thread owns both sockets (ZeroMQ sockets are not thread-safe); other threads only
call `publish`, which fills a TelemetryBuffer and, for events, wakes the thread through
a socket pair that the poller watches next to the ROUTER. Nothing here blocks: replies use
NOBLOCK and count what they drop; PUB drops, without telling, what a listener past its
high-water mark has no room for (the gaps show in `seq` and beat `index`); inbound frames
are capped in size, and only the first few of a message are kept; a bad message gets an
error reply while the server goes on.
"""
from __future__ import annotations

import dataclasses
import errno
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType

import zmq
from zmq.auth.thread import ThreadAuthenticator

from live.control import protocol
from live.control.protocol import DEFAULT_COMMAND_ADDRESS, DEFAULT_TELEMETRY_ADDRESS, Controller
from live.control.security import KEYGEN, ZAP_DOMAIN, ServerKeys, authenticator, host_of, is_ipv6, is_local
from live.control.telemetry import STATE, TelemetryBuffer
from live.errors import UserError

log = logging.getLogger(__name__)
ERROR_PAUSE_S = 0.05  # after an unexpected failure of the control loop, before it goes on


@dataclass(frozen=True)
class SocketLimits:
    max_message_bytes: int = 64 * 1024  # ZMQ_MAXMSGSIZE: libzmq disconnects a peer that sends a bigger frame
    max_frames: int = 8  # frames kept per request; REQ needs 4 (identity, request id, delimiter, body)
    high_water_mark: int = 256  # messages queued per peer and direction before ZeroMQ drops or refuses
    linger_ms: int = 100  # how long closing may wait to flush the last replies
    max_batch: int = 64  # requests answered before telemetry gets its turn again
    # Requests answered per second at most; more wait in ZeroMQ's queues, whose high-water mark
    # pushes back on the sender. A client flooding without reading took two thirds of a show's
    # keyframes (the replies are made in Python, under the interpreter lock the render and
    # inference threads need; found by review); a controller at 1,000 a second cost nothing seen.
    max_rate: float = 1000.0


@dataclass(frozen=True)
class ServerStats:
    requests: int = 0  # messages received on the ROUTER
    errors: int = 0  # of which answered with an error reply
    dropped_replies: int = 0  # replies not sent: the client is gone or not reading
    dropped_events: int = 0  # events dropped from the buffer because the thread fell behind
    state_messages: int = 0  # state messages sent


@dataclass(frozen=True)
class Envelope:
    """The frames that route a reply back: the client's identity, then, for REQ clients,
    whatever REQ put before its body (a request id with REQ_CORRELATE) up to and including
    the empty delimiter. A DEALER that sends the bare body has only the identity."""

    route: tuple[bytes, ...]

    def wrap(self, body: bytes) -> list[bytes]:
        return [*self.route, body]


def unpack(frames: list[bytes], frame_count: int) -> tuple[Envelope, bytes | None]:
    """The envelope and the one body frame of a ROUTER message of `frame_count` frames, of
    which `frames` are the first ones kept; None as the body if there is not exactly one
    frame after the envelope."""
    assert frames and frame_count >= len(frames), (len(frames), frame_count)
    # An empty frame is the delimiter only with a frame after it: a DEALER's [body, b""] has
    # no envelope, and its body is not a route to echo.
    delimiter = next((i for i in range(1, len(frames)) if frames[i] == b"" and i + 1 < frame_count), None)
    end = 1 if delimiter is None else delimiter + 1
    envelope = Envelope(tuple(frames[:end]))
    if frame_count - end != 1 or end >= len(frames):  # the body is not among the frames kept
        return envelope, None
    return envelope, frames[end]


def check_addresses(addresses: tuple[str, ...], curve: bool) -> None:
    """Refuse an address zmq cannot bind, and one other machines can reach without CurveZMQ;
    cheap, so a show checks before it loads its networks. The addresses: commands', telemetry's."""
    for address, what in zip(addresses, ("control", "telemetry")):
        transport, sep, rest = address.partition("://")
        if transport == "inproc":
            raise UserError(f"{what} address {address} reaches nothing outside this process; use tcp:// or ipc://")
        if not sep or transport not in ("tcp", "ipc") or not rest:
            raise UserError(f"{what} address {address!r} is not a ZeroMQ address; write it like "
                            f"tcp://127.0.0.1:{5555 if what == 'control' else 5556} "
                            "(--control off turns commands and telemetry off)")
        if transport == "tcp":
            host_of(address)  # a host, and a port zmq reads as typed
        # ZeroMQ binds an ipc path by unlinking whatever is there: a song, a set list.
        if transport == "ipc" and os.path.lexists(rest) and not stat.S_ISSOCK(os.lstat(rest).st_mode):
            raise UserError(f"{what} address {address}: {rest} is a file, not a socket, and binding would delete "
                            "it; choose a path where nothing is (e.g. under /tmp)")
        if not curve and not is_local(address):
            raise UserError(f"{what} address {address} is reachable from other machines and needs "
                            f"CurveZMQ keys: pass --keys DIR (made by {KEYGEN}), or bind to 127.0.0.1")


def _close(sock: zmq.Socket, linger: int | None = None) -> None:
    """Close `sock`, removing the socket file of an ipc:// endpoint first: ZeroMQ leaves it
    behind (a folder of stale sockets grew by two with every show). Before closing, so that
    no other engine can have bound the path in between."""
    endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    path = endpoint.removeprefix("ipc://")
    with suppress(OSError):
        if endpoint.startswith("ipc://") and stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    sock.close(linger=linger)


def _ipc_free(address: str) -> None:
    """ZeroMQ binds an ipc:// path by replacing the socket file, so a second engine took a
    running one's address without a word (and left it unreachable when it ended): a path
    something still answers on is refused as a port in use is."""
    transport, _, path = address.partition("://")
    if transport != "ipc" or not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return  # left by an engine that is gone: free
    finally:
        probe.close()
    raise zmq.ZMQError(errno.EADDRINUSE)


class ControlServer:
    """Answers control commands with `controller` and publishes telemetry, on its own thread.

    Addresses may use port `*` (a free port); `command_endpoint` and `telemetry_endpoint`
    give the bound ones after `start`. A non-local address needs `curve`: keys for
    CurveZMQ and the authorised clients; passing `curve` turns CurveZMQ on for local
    addresses too. Until `controller` is set (a show starts serving while it loads), every
    request is answered that the show is loading.
    """

    def __init__(self, controller: Controller | None,
                 command_address: str = DEFAULT_COMMAND_ADDRESS,
                 telemetry_address: str = DEFAULT_TELEMETRY_ADDRESS,
                 curve: ServerKeys | None = None,
                 state_hz: float = 20.0,
                 limits: SocketLimits = SocketLimits(),
                 max_events: int = 256,
                 on_error: Callable[[str], None] | None = None):
        if not 1.0 <= state_hz <= 1000.0:
            raise ValueError(f"state_hz must be in 1..1000, got {state_hz}")
        self.controller = controller
        self.on_error = on_error  # failures of the server or the controller, for the show's HUD and stats
        self.command_address = command_address
        self.telemetry_address = telemetry_address
        self.curve = curve
        self.state_period_s = 1.0 / state_hz
        self.limits = limits
        self._telemetry = TelemetryBuffer(max_events)
        self._stats = ServerStats()
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: zmq.Context | None = None
        self._auth: ThreadAuthenticator | None = None
        self._router: zmq.Socket | None = None
        self._pub: zmq.Socket | None = None
        self._wake_receiver: socket.socket | None = None
        self._wake_sender: socket.socket | None = None
        self.command_endpoint = ""
        self.telemetry_endpoint = ""

    # --- lifecycle (caller's thread) ---

    def start(self) -> ControlServer:
        if self._thread is not None:
            raise RuntimeError("ControlServer.start() called twice")
        check_addresses((self.command_address, self.telemetry_address), curve=self.curve is not None)
        self._context = zmq.Context()
        try:
            # Held before it starts: interrupted while starting, it is still stopped, where the
            # context's term() waited for its socket forever (found by review).
            self._auth = authenticator(self._context)
            self._auth.start()
            if self.curve is not None:
                self.curve.admit(self._auth)
            self._router = self._bind(zmq.ROUTER, self.command_address)
            self._router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # refused replies raise, so they are counted
            # A controller restarted with its fixed identity while its old connection is half
            # open (a Wi-Fi drop) takes the identity over instead of going unanswered.
            self._router.setsockopt(zmq.ROUTER_HANDOVER, 1)
            self._pub = self._bind(zmq.PUB, self.telemetry_address)
            self.command_endpoint = self._router.getsockopt_string(zmq.LAST_ENDPOINT)
            self.telemetry_endpoint = self._pub.getsockopt_string(zmq.LAST_ENDPOINT)
            self._wake_receiver, self._wake_sender = socket.socketpair()
            self._wake_receiver.setblocking(False)
            self._wake_sender.setblocking(False)
            self._thread = threading.Thread(target=self._run, name="control", daemon=True)
            self._thread.start()
        except BaseException:  # nothing may outlive a failed start: not the context, not the authenticator
            self._thread = None
            self._close_all()
            raise
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the thread and close everything; waits at most about `timeout_s`."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            # Closing its sockets under it would be unsafe; a daemon thread dies with the process.
            log.error("control thread did not stop within %.1f s; leaving it", timeout_s)
            return
        self._close_all()

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- any thread ---

    def publish(self, topic: str, body: Mapping) -> None:
        """Send telemetry: "state" fields are merged and sent on the next tick, any other
        topic is an event sent as soon as possible. Never blocks."""
        if self._telemetry.publish(topic, body):
            self._wake()

    @property
    def stats(self) -> ServerStats:
        with self._stats_lock:
            return dataclasses.replace(self._stats, dropped_events=self._telemetry.dropped_events)

    # --- the control thread ---

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        wake_fd = self._wake_receiver.fileno()
        poller.register(wake_fd, zmq.POLLIN)
        next_state = time.monotonic()
        serve_from = next_state  # requests wait until then: the rate's budget is spent
        try:
            while not self._stopping.is_set():
                try:
                    now = time.monotonic()
                    serving = now >= serve_from
                    poller.modify(self._router, zmq.POLLIN if serving else 0)
                    wait_until = next_state if serving else min(next_state, serve_from)
                    ready = dict(poller.poll(max(0.0, (wait_until - now) * 1000.0)))
                    if wake_fd in ready:
                        self._drain_wake()
                    if self._router in ready:
                        served = self._serve_requests()
                        serve_from = time.monotonic() + served / self.limits.max_rate
                    for topic, body in self._telemetry.take_events():
                        self._send_telemetry(topic, body)
                    now = time.monotonic()
                    if now >= next_state:
                        self._send_state()
                        # After a stall, resume the regular tick instead of sending a burst.
                        next_state = max(next_state + self.state_period_s, now)
                except Exception as e:  # noqa: BLE001 - control stays up for the rest of the show
                    log.exception("control: unexpected failure; serving on")
                    if self.on_error is not None:
                        self.on_error(f"server failed ({type(e).__name__}: {e}); serving on")
                    time.sleep(ERROR_PAUSE_S)
        finally:
            for sock in (self._router, self._pub):
                _close(sock)  # with the short LINGER set at bind time

    def _serve_requests(self) -> int:
        """Answer up to `max_batch` requests waiting; returns how many."""
        for served in range(self.limits.max_batch):
            received = self._receive()
            if received is None:
                return served
            envelope, body, body_frames = received
            if body is None and len(envelope.route) + body_frames > self.limits.max_frames:  # more than were kept
                # Counted as the client sent them: the ROUTER adds the sender's identity frame.
                reply = {"ok": False, "error": f"a request is at most {self.limits.max_frames - 1} frames as sent "
                                                "(routing frames, the empty frame, the JSON); this one had more"}
            elif body is None:
                reply = {"ok": False, "error": f"a request is one JSON frame after the envelope; "
                                                f"this message had {body_frames}"}
            else:
                reply = protocol.handle(body, self.controller, self.on_error)
            self._count(requests=1, errors=0 if reply["ok"] else 1)
            try:
                self._router.send_multipart(envelope.wrap(protocol.encode(reply)), zmq.NOBLOCK)
            except zmq.Again:
                self._count(dropped_replies=1)
            except zmq.ZMQError as e:
                if e.errno != errno.EHOSTUNREACH:  # the client disconnected before its reply
                    raise
                self._count(dropped_replies=1)
        return self.limits.max_batch

    def _receive(self) -> tuple[Envelope, bytes | None, int] | None:
        """One whole message as (envelope, body, frames after the envelope); at most
        `max_frames` frames are kept, the rest are read and dropped."""
        try:
            first = self._router.recv(zmq.NOBLOCK)
        except zmq.Again:
            return None
        frames = [first]
        frame_count = 1
        # A multipart message arrives whole, so the remaining frames are already here.
        while self._router.getsockopt(zmq.RCVMORE):
            frame = self._router.recv()
            frame_count += 1
            if len(frames) < self.limits.max_frames:
                frames.append(frame)
        envelope, body = unpack(frames, frame_count)
        return envelope, body, frame_count - len(envelope.route)

    def _send_state(self) -> None:
        stats = self.stats
        body = {**self._telemetry.state(), "seq": stats.state_messages, "time": time.time(),
                "control": {"requests": stats.requests, "errors": stats.errors,
                            "dropped": stats.dropped_replies + stats.dropped_events}}
        self._send_telemetry(STATE, body)
        self._count(state_messages=1)

    def _send_telemetry(self, topic: str, body: dict) -> None:
        # Never raises Again: PUB drops for a listener past its high-water mark instead.
        self._pub.send_multipart([topic.encode("ascii"), protocol.encode(body)], zmq.NOBLOCK)

    def _drain_wake(self) -> None:
        try:
            while self._wake_receiver.recv(4096):
                pass
        except BlockingIOError:
            pass

    # --- helpers ---

    def _wake(self) -> None:
        sender = self._wake_sender
        if sender is None:
            return
        try:
            sender.send(b"\0")
        except OSError:
            pass  # buffer full: a wake-up is already pending; closed: the server has stopped

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            self._stats = dataclasses.replace(
                self._stats, **{k: getattr(self._stats, k) + v for k, v in increments.items()})

    def _bind(self, kind: int, address: str) -> zmq.Socket:
        sock = self._context.socket(kind)
        try:
            sock.setsockopt(zmq.LINGER, self.limits.linger_ms)
            sock.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message_bytes)
            sock.setsockopt(zmq.SNDHWM, self.limits.high_water_mark)
            sock.setsockopt(zmq.RCVHWM, self.limits.high_water_mark)
            if is_ipv6(address):
                sock.setsockopt(zmq.IPV6, 1)
            if self.curve is not None:
                self.curve.apply(sock)
            else:
                sock.zap_domain = ZAP_DOMAIN
            _ipc_free(address)
            sock.bind(address)
        except BaseException as e:  # an interrupt too: a socket left open holds the context's term() forever
            sock.close(linger=0)
            if not isinstance(e, zmq.ZMQError):
                raise
            role = "telemetry" if kind == zmq.PUB else "control"
            advice = ("is another engine (or this engine's other socket) there? pick another address"
                      if e.errno == zmq.EADDRINUSE else "pick another address")
            if e.errno == errno.ENOENT and address.startswith("ipc://"):
                advice = f"the folder {os.path.dirname(address.removeprefix('ipc://')) or '.'} does not exist"
            raise UserError(f"cannot bind the {role} socket to {address}: {e}; {advice}") from None
        return sock

    def _close_all(self) -> None:
        for sock in (self._router, self._pub):
            if sock is not None and not sock.closed:
                _close(sock, linger=0)
        for end in (self._wake_sender, self._wake_receiver):
            if end is not None:
                end.close()
        self._wake_sender = self._wake_receiver = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if not self._context.closed:
            self._context.term()
