"""The OSC bridge: datagrams decoded, read as requests, coalesced, and carried to a control server."""
from __future__ import annotations

import ipaddress
import json
import random
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from live.control import protocol
from live.control.bridge import LatestRequests, OscBridge, Reporter, check_listen
from live.control.client import ControlClient
from live.control.client import TelemetryListener
from live.control.osc import BRIDGED, OscError, OscMessage, decode, encode, outgoing, request_for
from live.control.server import ControlServer
from live.errors import UserError
from test_control_server import ANY_PORT, FakeEngine


def osc_string(text: str) -> bytes:
    data = text.encode() + b"\x00"
    return data + b"\x00" * (-len(data) % 4)


def osc(address: str, *args: object) -> bytes:
    return encode(OscMessage(address, args))


def bundle(*elements: bytes) -> bytes:
    return b"#bundle\x00" + struct.pack(">q", 1) + b"".join(struct.pack(">i", len(e)) + e for e in elements)


def test_what_is_encoded_decodes_to_itself():
    message = OscMessage("/live/x", (3, 0.5, "ember", True, False, -7))
    assert decode(encode(message)) == [message]
    assert encode(OscMessage("/a", (1,))) == osc_string("/a") + osc_string(",i") + struct.pack(">i", 1)


def test_messages_and_nested_bundles_decode_with_every_osc_1_0_type():
    blob = b"\x01\x02\x03"
    raw = (osc_string("/a/b") + osc_string(",ifsTFhdbN") + struct.pack(">i", -7) + struct.pack(">f", 0.5)
           + osc_string("ember") + struct.pack(">q", 1 << 40) + struct.pack(">d", 0.25)
           + struct.pack(">i", 3) + blob + b"\x00")
    assert decode(raw) == [OscMessage("/a/b", (-7, 0.5, "ember", True, False, 1 << 40, 0.25, blob, None))]
    assert decode(osc_string("/live/tap")) == [OscMessage("/live/tap", ())]  # no type tags: an old sender
    nested = bundle(osc("/live/tap"), bundle(osc("/live/set/lambda", 0.5), osc("/live/cc", 1, 2, 3)))
    assert [str(m) for m in decode(nested)] == ["/live/tap", "/live/set/lambda 0.5", "/live/cc 1 2 3"]


@pytest.mark.parametrize("datagram, fragment", [
    (b"", "past the end"),
    (b"live\x00\x00\x00\x00", "an address starts with /"),
    (osc_string("/a") + osc_string("if"), "must start with a comma"),
    (osc_string("/a") + osc_string(",i") + b"\x00\x00", "past the end"),
    (osc_string("/a") + osc_string(",x"), "not OSC 1.0's"),
    (osc_string("/a") + osc_string(",b") + struct.pack(">i", 99), "blob of 99 bytes"),
    (b"#bundle\x00" + bytes(8) + struct.pack(">i", 400) + osc("/a"), "does not fit"),
    (b"/\xff\xfe\x00", "not UTF-8"),
])
def test_a_datagram_that_is_not_osc_is_named_as_such(datagram, fragment):
    with pytest.raises(OscError, match=fragment):
        decode(datagram)


def test_bundles_nested_without_end_are_refused_not_recursed():
    datagram = osc("/live/tap")
    for _ in range(50):
        datagram = bundle(datagram)
    with pytest.raises(OscError, match="nested"):
        decode(datagram)


def test_random_bytes_never_raise_anything_but_osc_errors():
    rng = random.Random(0)
    seeds = [osc("/live/cc", 1, 1, 64), bundle(osc("/live/set", "lambda", 0.1)), osc("/live/preset/ember", 1.0)]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[:rng.randint(0, len(data))]
        try:
            decode(bytes(data))
        except OscError:
            pass


@pytest.mark.parametrize("message, request_", [
    (OscMessage("/live/set/lambda", (0.05,)), {"cmd": "set", "param": "lambda", "value": 0.05}),
    (OscMessage("/live/set", ("lambda", 0.05)), {"cmd": "set", "param": "lambda", "value": 0.05}),
    (OscMessage("/live/set/freeze", (1.0,)), {"cmd": "set", "param": "freeze", "value": True}),  # a toggle's float
    (OscMessage("/live/set/freeze", (0,)), {"cmd": "set", "param": "freeze", "value": False}),
    (OscMessage("/live/set/refine_steps", (3.0,)), {"cmd": "set", "param": "refine_steps", "value": 3}),
    (OscMessage("/live/set/refine_steps", (3.5,)), {"cmd": "set", "param": "refine_steps", "value": 3.5}),
    (OscMessage("/live/cc", (1.0, 1.0, 64.0)), {"cmd": "cc", "channel": 1, "controller": 1, "value": 64}),
    (OscMessage("/live/preset", ("ember",)), {"cmd": "preset", "name": "ember"}),
    (OscMessage("/live/preset/ember", ()), {"cmd": "preset", "name": "ember"}),
    (OscMessage("/live/preset/ember", (1.0,)), {"cmd": "preset", "name": "ember"}),
    (OscMessage("/live/preset/ember", (0.0,)), None),  # the button's release
    (OscMessage("/live/tap", ()), {"cmd": "tap"}),
    (OscMessage("/live/tap", (True,)), {"cmd": "tap"}),
    (OscMessage("/live/tap", (False,)), None),
    (OscMessage("/live/downbeat", (1,)), {"cmd": "downbeat"}),
    (OscMessage("/live/downbeat", (0,)), None),
    (OscMessage("/live/cut", ()), {"cmd": "cut"}),
    (OscMessage("/live/cut", (1.0,)), {"cmd": "cut"}),
    (OscMessage("/live/cut", (0.0,)), None),
])
def test_addresses_map_to_requests(message, request_):
    assert request_for(message) == request_


def test_the_documented_messages_give_the_documented_requests():
    doc = (Path(protocol.__file__).parent / "PROTOCOL.md").read_text(encoding="utf-8")
    section = doc[doc.index("## From OSC"):doc.index("\n## ", doc.index("## From OSC"))]
    rows = re.findall(r"^\| (`/.+) \| `(\{.+\})` \|$", section, re.MULTILINE)
    assert sorted(json.loads(request_)["cmd"] for _, request_ in rows) == sorted(BRIDGED)  # each, once
    for messages, request_ in rows:
        for text in re.findall(r"`(.+?)`", messages):
            address, *words = text.split()
            args = tuple(json.loads(w) if w[0].isdigit() else w for w in words)
            assert request_for(OscMessage(address, args)) == json.loads(request_), text


@pytest.mark.parametrize("message, fragment", [
    (OscMessage("/other/set/lambda", (0.1,)), "not an address of live's; use /live/set/PARAM"),
    (OscMessage("/live", ()), "not an address of live's"),
    (OscMessage("/live/get", ()), "'get' is not a command the bridge carries"),
    (OscMessage("/live/cc/1", (64,)), "only set and preset take a name"),
    (OscMessage("/live/set/a/b", (1,)), "only set and preset take a name"),
    (OscMessage("/live/cc", (1, 64)), "cc takes channel controller value"),
    (OscMessage("/live/set/lambda", ()), "set takes param value"),
    (OscMessage("/live/preset/ember", (1, 2)), "one value at most"),
    (OscMessage("/live/set/lambda", (b"\x00\x01",)), "a blob is no value"),  # it ended the bridge (review 73)
    (OscMessage("/live/set/lambda", (float("inf"),)), "inf is no value"),
    (OscMessage("/live/set", ("lambda", None)), "None is no value"),
])
def test_messages_that_map_to_no_request_say_why(message, fragment):
    with pytest.raises(OscError, match=fragment):
        request_for(message)


def test_waiting_requests_keep_the_newest_value_per_thing_and_every_fresh_tap_and_cut():
    now = [0.0]
    waiting = LatestRequests(clock=lambda: now[0])
    for step in range(100):  # a fader dragged faster than the engine answers
        waiting.put({"cmd": "set", "param": "lambda", "value": step / 100})
        waiting.put({"cmd": "cc", "channel": 1, "controller": step % 2, "value": step})
    waiting.put({"cmd": "tap"})
    waiting.put({"cmd": "preset", "name": "ember"})
    waiting.put({"cmd": "tap"})
    waiting.put({"cmd": "preset", "name": "tide"})
    waiting.put({"cmd": "cut"})
    waiting.put({"cmd": "set", "param": "lambda", "value": 0.5})  # after the preset: it must stay after it
    waiting.put({"cmd": "cut"})
    taken = [waiting.take() for _ in range(len(waiting))]
    assert taken == [{"cmd": "cc", "channel": 1, "controller": 0, "value": 98},
                     {"cmd": "cc", "channel": 1, "controller": 1, "value": 99},
                     {"cmd": "tap"}, {"cmd": "tap"}, {"cmd": "preset", "name": "tide"}, {"cmd": "cut"},
                     {"cmd": "set", "param": "lambda", "value": 0.5}, {"cmd": "cut"}]
    waiting.put({"cmd": "tap"})
    waiting.put({"cmd": "cut"})
    now[0] = 1.5  # the engine was away: a tap this late would set a wrong tempo, a cut land off the moment
    waiting.put({"cmd": "set", "param": "pulse", "value": 0.2})
    assert waiting.take() == {"cmd": "set", "param": "pulse", "value": 0.2} and waiting.take() is None
    # Unanswered, a request waits first in line, unless a newer value came meanwhile.
    waiting.put({"cmd": "set", "param": "pulse", "value": 0.3})
    waiting.put_back({"cmd": "set", "param": "lambda", "value": 0.1})
    waiting.put_back({"cmd": "set", "param": "pulse", "value": 0.2})
    assert [waiting.take(), waiting.take()] == [{"cmd": "set", "param": "lambda", "value": 0.1},
                                               {"cmd": "set", "param": "pulse", "value": 0.3}]


def test_a_bind_others_can_reach_needs_the_controllers_named():
    assert check_listen("127.0.0.1", []) == frozenset() and check_listen("::1", []) == frozenset()
    with pytest.raises(UserError, match="any machine on the network can steer|lets any machine"):
        check_listen("0.0.0.0", [])
    assert check_listen("0.0.0.0", ["192.168.1.23"]) == {ipaddress.ip_address("192.168.1.23")}
    with pytest.raises(UserError, match="give the controller's IP address"):
        check_listen("0.0.0.0", ["tablet"])


@pytest.fixture
def udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def send_to(sock: socket.socket, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        for datagram in datagrams:
            out.sendto(datagram, sock.getsockname())


def test_the_bridge_steers_a_control_server_and_names_each_problem_once(udp):
    engine, lines = FakeEngine(), []
    with ControlServer(engine, ANY_PORT, ANY_PORT) as server, ControlClient(server.command_endpoint, 2.0) as client:
        bridge = OscBridge(udp, client.request, Reporter(lines.append))
        send_to(udp, *[osc("/live/set/lambda", v / 10) for v in range(1, 6)], osc("/live/cc", 1, 64, 127),
                osc("/live/preset/tide", 1.0), osc("/live/preset/ember", 0.0), osc("/live/tap"), osc("/live/cut"),
                osc("/live/cc", 1, 9, 64), osc("/live/cc", 1, 9, 65), osc("/nope", 1), osc("/nope", 2), b"junk")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (len(engine.taps) < 1 or len(lines) < 3):
            bridge.step(0.05)
    settings = engine.settings.get()
    assert settings.lambda_ == pytest.approx(0.5) and settings.freeze and engine.preset == "tide"
    assert len(engine.taps) == 1 and engine.cuts == 1 and bridge.sent <= 8  # the five lambdas went as one or a few
    assert len(lines) == 3, lines  # each problem once, though the controller repeated it
    assert any("cc 1 9" in line and "not mapped" in line for line in lines)
    assert any("/nope is not an address of live's" in line for line in lines)
    assert any("is not OSC" in line for line in lines)


def test_the_bridge_outlasts_an_absent_engine_and_delivers_the_newest_value_when_it_comes(udp):
    engine, lines, up = FakeEngine(), [], [False]

    def send(request):
        if not up[0]:
            raise UserError("no reply from tcp://127.0.0.1:5555 within 2 s; is the engine running")
        return {"ok": True} | engine.set_param(request["param"], request["value"])

    bridge = OscBridge(udp, send, Reporter(lines.append))
    for value in (0.1, 0.2, 0.3):
        send_to(udp, osc("/live/set/lambda", value))
        bridge.step(0.2)
        bridge.step(0.0)
    assert engine.settings.get().lambda_ == 0.02 and len(lines) == 1 and "keeps trying" in lines[0]
    up[0] = True
    bridge.step(0.0)
    assert engine.settings.get().lambda_ == pytest.approx(0.3) and lines[1] == "live: osc: the engine answers again"
    up[0] = False
    send_to(udp, osc("/live/set/lambda", 0.4))
    bridge.step(0.2)
    assert len(lines) == 3 and "keeps trying" in lines[2]  # said again on the second absence


def test_the_osc_command_listens_steers_and_says_what_it_sent():
    engine = FakeEngine()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ControlServer(engine, ANY_PORT, ANY_PORT) as server:
        bridge = subprocess.Popen([sys.executable, "-m", "live", "control", "osc", "--port", str(port),
                                   "--address", server.command_endpoint, "--duration", "6"],
                                  stderr=subprocess.PIPE, text=True)
        first = bridge.stderr.readline()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            out.sendto(osc("/live/set/intensity", 1.5), ("127.0.0.1", port))
        _, rest = bridge.communicate(timeout=30)
    assert first.startswith(f"live: osc: listening on udp 127.0.0.1:{port}") and bridge.returncode == 0, rest
    assert engine.settings.get().intensity == 1.5 and rest.strip() == "live: osc: sent 1 request(s)"


def test_the_osc_command_refuses_a_port_in_use_and_an_open_bind_in_one_line(udp):
    port = udp.getsockname()[1]
    for args, fragment in ((["--port", str(port)], f"cannot listen on udp 127.0.0.1:{port}"),
                           (["--host", "0.0.0.0"], "name the controller with --allow IP")):
        done = subprocess.run([sys.executable, "-m", "live", "control", "osc", *args, "--duration", "1"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and fragment in done.stderr, done


def test_telemetry_goes_out_as_one_address_per_value():
    beat = {"index": 812, "time": 406.5, "bpm": 120}
    assert outgoing("beat", beat) == [OscMessage("/live/beat", (812, 406.5, 120.0))]
    downbeat = [OscMessage("/live/beat", (812, 406.5, 120.0)), OscMessage("/live/downbeat", (812, 406.5, 120.0))]
    assert outgoing("beat", {**beat, "place": 1}) == downbeat
    assert outgoing("beat", {**beat, "place": 3}) == outgoing("beat", {**beat, "place": None}) == downbeat[:1]
    state = {"bpm": 120.1, "valence": 0.25, "arousal": 0.75, "level_db": -14.0, "beat_phase": 0.5,
             "beat_confidence": None, "preset": "ember", "fps": 30.0, "latency_ms": {"audio_to_screen": 90.0}}
    assert outgoing("state", state, "/vj") == [
        OscMessage("/vj/valence", (0.25,)), OscMessage("/vj/arousal", (0.75,)), OscMessage("/vj/bpm", (120.1,)),
        OscMessage("/vj/level_db", (-14.0,)), OscMessage("/vj/beat_phase", (0.5,)),
        OscMessage("/vj/on_screen", ("ember",))]
    assert outgoing("beat", {"index": 1, "time": None, "bpm": 120}) == [] and outgoing("error", {"message": "x"}) == []


def test_the_bridge_sends_the_engine_s_beats_and_state_to_its_targets(udp):
    engine = FakeEngine()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as lights, \
            ControlServer(engine, ANY_PORT, ANY_PORT, state_hz=20.0) as server, \
            TelemetryListener(server.telemetry_endpoint, ("beat", "state")) as telemetry:
        lights.bind(("127.0.0.1", 0))
        lights.settimeout(0.2)
        bridge = OscBridge(udp, lambda request: {"ok": True}, Reporter(print), telemetry=telemetry,
                           targets=[lights.getsockname()])
        heard: list[OscMessage] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not {"/live/beat", "/live/on_screen"} <= {m.address for m in heard}:
            server.publish("beat", {"index": 7, "time": 3.5, "bpm": 128.0})
            server.publish("state", {"preset": "ember", "valence": 0.25})
            bridge.step(0.05)
            try:
                while True:
                    heard += decode(lights.recv(65535))
            except TimeoutError:
                pass
    assert OscMessage("/live/beat", (7, 3.5, 128.0)) in heard and bridge.forwarded >= 1
    assert OscMessage("/live/on_screen", ("ember",)) in heard and OscMessage("/live/valence", (0.25,)) in heard


def test_problems_made_up_without_end_are_said_up_to_a_bound():
    lines = []
    report = Reporter(lines.append)
    for n in range(500):
        report.once(f"/junk{n} is not an address of live's")
    assert len(lines) == 101 and lines[-1] == "live: osc: 100 kinds of problems said; no more will be"


def test_a_loading_engine_s_refusal_is_no_answer_and_the_request_waits_for_it_to_play(udp):
    # The requests sent while a restarted show loaded were refused, counted as sent, and lost (review 73).
    from live.control.protocol import LOADING

    engine, lines, loading = FakeEngine(), [], [True]

    def send(request):
        if loading[0]:
            return {"ok": False, "error": LOADING}
        return {"ok": True} | engine.set_param(request["param"], request["value"])

    bridge = OscBridge(udp, send, Reporter(lines.append))
    send_to(udp, osc("/live/set/lambda", 0.05))
    for _ in range(3):
        bridge.step(0.3)
    assert engine.settings.get().lambda_ == 0.02 and bridge.sent == 0 and lines == [
        "live: osc: the engine is loading (the bridge keeps trying)"]
    loading[0] = False
    time.sleep(0.3)
    bridge.step(0.0)
    assert engine.settings.get().lambda_ == pytest.approx(0.05) and lines[-1] == "live: osc: the engine answers again"


def test_a_request_left_unanswered_is_not_sent_again_when_the_engine_comes():
    # ZeroMQ kept every unanswered send and delivered them all on connect: five stale taps (review 73).
    engine = FakeEngine()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    client = ControlClient(address, 0.2)
    for _ in range(3):
        with pytest.raises(UserError, match="no reply"):
            client.request({"cmd": "tap"})
    with ControlServer(engine, address, ANY_PORT):
        assert client.request({"cmd": "get"})["ok"] is True
        time.sleep(0.3)
    client.close()
    assert engine.taps == []


def test_allowed_senders_are_compared_as_addresses_not_as_spellings():
    from live.control.bridge import plain_address

    allowed = check_listen("::", ["127.0.0.1", "0:0:0:0:0:0:0:1"])
    assert plain_address("::ffff:127.0.0.1") in allowed and plain_address("::1") in allowed
    assert plain_address("10.0.0.2") not in allowed


def test_a_float32_reads_as_the_decimal_a_controller_sent():
    # 0.05 came back as 0.05000000074505806 in replies, `get` and the HUD (review 73).
    sent = (0.05, 0.1, 1.5, 123456.7, 3.4028234663852886e38, -0.0)
    assert decode(encode(OscMessage("/live/x", sent))) == [OscMessage("/live/x", sent)]


@pytest.mark.parametrize("prefix", ["/live/", "live", "/", "/li ve", "/live//x", "/live/*"])
def test_a_prefix_that_is_no_osc_address_is_refused(prefix):
    done = subprocess.run([sys.executable, "-m", "live", "control", "osc", "--prefix", prefix, "--duration", "1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "write it like /live or /vj/live" in done.stderr, done.stderr


def test_a_send_with_no_telemetry_to_forward_says_so_once(udp, monkeypatch):
    from live.control import bridge as bridge_module

    monkeypatch.setattr(bridge_module, "TELEMETRY_SILENCE_S", 0.2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    lines = []
    with TelemetryListener(nowhere, ("beat", "state")) as telemetry:
        bridge = OscBridge(udp, lambda request: {"ok": True}, Reporter(lines.append), telemetry=telemetry,
                           targets=[("127.0.0.1", 9)])
        for _ in range(5):
            bridge.step(0.1)
        bridge.close()
    assert lines == [f"live: osc: no telemetry from {nowhere} yet: nothing to send; is it the engine's telemetry "
                     "socket (--telemetry)?"]
