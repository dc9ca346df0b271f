"""`python -m live control send|listen|osc|midi|keygen`: talk to a running engine's control sockets.

    python -m live control send set lambda 0.05     # or: send '{"cmd": "set", ...}'
    python -m live control send cc 1 1 64
    python -m live control send preset NAME
    python -m live control send tap
    python -m live control send cut
    python -m live control send get
    python -m live control listen --topics beat,state
    python -m live control osc --port 9000           # OSC from TouchOSC & co.: /live/set/lambda 0.05, ...
    python -m live control midi --port APC40 --map midi.toml   # a MIDI controller's knobs, faders and pads
    python -m live control keygen keys/ [--client vj1]

The protocol is documented in live/control/PROTOCOL.md.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import TYPE_CHECKING

from live.cli.types import count, input_path, number, output_dir
from live.control.midi import MIDI_SYSTEMS, shipped_maps
from live.control.osc import PREFIX
from live.control.protocol import COMMANDS, DEFAULT_COMMAND_ADDRESS, DEFAULT_TELEMETRY_ADDRESS
from live.control.telemetry import TOPICS
from live.errors import UserError, one_line

if TYPE_CHECKING:
    from live.control.security import ClientKeys

OSC_PORT = 9000
OSC_HELP = """Listen for OSC messages on UDP and send each to the engine as a control request:

    /live/set/lambda 0.05  or  /live/set lambda 0.05   set a parameter
    /live/cc 1 1 64                                    a control change, mapped by the preset
    /live/preset/ember [1] or  /live/preset ember      switch preset (an argument 0 is a release)
    /live/tap [1]                                      tap tempo
    /live/downbeat [1]                                 the beat now is a bar's first (the bars count from it)
    /live/cut [1]                                      the newest picture at once, no fade

A boolean parameter takes a number as "not 0". A fader's messages wait one per parameter,
the newest value kept, so the engine is never behind the fader. The engine may start after
the bridge, or restart: the bridge keeps trying. See live/control/PROTOCOL.md.
"""

MIDI_HELP = """Read a MIDI controller and send what it does to the engine as control requests:

    knobs and faders (control changes)    `cc` requests, mapped by the preset on screen ([[cc]]),
                                          as sent or as --map reads them ([[knob]])
    pads, keys, buttons, program changes  what --map says they do in every preset ([[button]])
    MIDI clock (with --clock)             a tap on each of the master's beats, from its Start
    the show's state (with --lights)      the buttons' lights: a preset's pad while it plays, ...

A map file (TOML):

    [[knob]]
    cc = 48              # a knob sending CC 48 (channel = N: only on that channel) ...
    to = 1               # ... read as channel 1's CC 1 (to_channel = N for another)

    [[button]]
    note = 36            # or cc = 20 (a button sending a control change), or program = 4
    channel = 10         # 1-16; left out: any channel
    preset = "storm"     # then any of: set = { blackout = true }, cut = true, tap = true, downbeat = true
    light = 21           # the value that lights it (a Launchpad's colour; default 127)
    dark = 1             # its value while not lit (default 0, off)

A fader's values wait one per controller, the newest kept. The engine may start after the
bridge, or restart, and the controller may be unplugged and plugged in again: the bridge
keeps going. `--list` shows the MIDI inputs.
"""

# The shorthand of each command: its name and its fields in upper case.
USAGE = {cmd: " ".join([cmd, *(f.upper() for f in fields)]) for cmd, fields in COMMANDS.items()}
NAME_FIELDS = ("param", "name")  # always strings; other words are read as JSON literals


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("control", help="send commands to a running engine, listen to telemetry, make keys",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="control_command", metavar="SUBCOMMAND", required=True)

    send = commands.add_parser("send", help="send one command and print the reply")
    send.add_argument("words", nargs="+", metavar="WORD",
                      help="a JSON object, or: " + " | ".join(USAGE.values()))
    send.add_argument("--address", default=DEFAULT_COMMAND_ADDRESS,
                      help=f"command socket (default {DEFAULT_COMMAND_ADDRESS})")
    send.add_argument("--timeout", type=number(0, 3600, low_open=True), default=2.0, metavar="S",
                      help="seconds to wait for the reply (default 2)")
    _add_key_options(send)
    send.set_defaults(func=run_send)

    listen = commands.add_parser("listen", help="print telemetry, one line per message")
    listen.add_argument("--address", default=DEFAULT_TELEMETRY_ADDRESS,
                        help=f"telemetry socket (default {DEFAULT_TELEMETRY_ADDRESS})")
    listen.add_argument("--topics", default="", help="comma-separated topics, e.g. beat,state (default: all)")
    listen.add_argument("--count", type=count(1), metavar="N", help="stop after N messages")
    listen.add_argument("--duration", type=number(0, low_open=True), metavar="S", help="stop after S seconds")
    _add_key_options(listen)
    listen.set_defaults(func=run_listen)

    osc = commands.add_parser("osc", help="take OSC over UDP from a controller and steer the engine with it",
                              description=OSC_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    osc.add_argument("--port", type=count(1, 65535), default=OSC_PORT,
                     help=f"UDP port to listen on (default {OSC_PORT})")
    osc.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1; 0.0.0.0 for a tablet on the network, with --allow)")
    osc.add_argument("--allow", action="append", default=[], metavar="IP",
                     help="take datagrams only from this controller's address (repeat for several)")
    osc.add_argument("--prefix", type=_osc_prefix, default=PREFIX, help=f"the addresses' first part (default {PREFIX})")
    osc.add_argument("--address", default=DEFAULT_COMMAND_ADDRESS,
                     help=f"the engine's command socket (default {DEFAULT_COMMAND_ADDRESS})")
    osc.add_argument("--timeout", type=number(0, 3600, low_open=True), default=2.0, metavar="S",
                     help="seconds to wait for each reply before saying the engine is away (default 2)")
    osc.add_argument("--send", action="append", default=[], metavar="HOST:PORT",
                     help="also send the engine's beats and state there as OSC (repeat for several)")
    osc.add_argument("--telemetry", default=DEFAULT_TELEMETRY_ADDRESS,
                     help=f"the engine's telemetry socket, for --send (default {DEFAULT_TELEMETRY_ADDRESS})")
    osc.add_argument("--duration", type=number(0, low_open=True), metavar="S", help="stop after S seconds")
    _add_key_options(osc)
    osc.set_defaults(func=run_osc)

    midi = commands.add_parser("midi", help="take a MIDI controller's knobs, faders and pads and steer the engine",
                               description=MIDI_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    port = midi.add_mutually_exclusive_group()
    port.add_argument("--port", metavar="NAME",
                      help="the MIDI input, by its name or part of it (default: the only one there is)")
    port.add_argument("--virtual", metavar="NAME",
                      help="open a MIDI input of this name for other software (a DAW) to send into (and, with "
                           "--lights, an output of the name to light it)")
    port.add_argument("--list", action="store_true", help="list the MIDI inputs and stop")
    midi.add_argument("--map", type=input_path, metavar="FILE|NAME",
                      help="what the pads and buttons do and how the knobs are read ([[button]], [[knob]]): a .toml "
                           f"file, or a map that comes with live, by name ({', '.join(shipped_maps())})")
    midi.add_argument("--clock", action="store_true",
                      help="tap the beat of the MIDI clock coming in, and mark the master's bars (its downbeat)")
    midi.add_argument("--lights", action="store_true",
                      help="light the mapped buttons as the show's state says, through the controller's output "
                           "(its preset's pad, a blackout's button, the tap pad on the beat, the downbeat "
                           "pad on the show's downbeats)")
    midi.add_argument("--monitor", action="store_true",
                      help="print each message as a map names it (note = 36, channel = 10) and what it sent: "
                           "press the pads to learn what to write")
    midi.add_argument("--lights-port", metavar="NAME",
                      help="the MIDI output the lights go to, by its name or part of it (default: the output of "
                           "the input's client, as ALSA names a controller's two ports alike)")
    midi.add_argument("--telemetry",
                      help=f"the engine's telemetry socket, for --lights (default {DEFAULT_TELEMETRY_ADDRESS})")
    midi.add_argument("--api", choices=MIDI_SYSTEMS,
                      help="the MIDI system (default: the first that answers: ALSA, then JACK, on Linux)")
    midi.add_argument("--address", default=DEFAULT_COMMAND_ADDRESS,
                      help=f"the engine's command socket (default {DEFAULT_COMMAND_ADDRESS})")
    midi.add_argument("--timeout", type=number(0, 3600, low_open=True), default=2.0, metavar="S",
                      help="seconds to wait for each reply before saying the engine is away (default 2)")
    midi.add_argument("--duration", type=number(0, low_open=True), metavar="S", help="stop after S seconds")
    _add_key_options(midi)
    midi.set_defaults(func=run_midi)

    keygen = commands.add_parser("keygen", help="make CurveZMQ keys for a non-local control address")
    keygen.add_argument("dir", type=output_dir, metavar="DIR", help="directory for the keys (created)")
    keygen.add_argument("--client", default="client", metavar="NAME",
                        help="name of the client key pair to add (default: client)")
    keygen.set_defaults(func=run_keygen)


def _osc_prefix(text: str) -> str:
    """An OSC address's first part: /word[/word...], none of OSC's pattern characters."""
    parts = text.split("/")
    if parts[0] or len(parts) < 2 or not all(part and part.isprintable() and not set(part) & set(" #*,?[]{}")
                                             for part in parts[1:]):
        raise argparse.ArgumentTypeError(f"{text!r}: write it like /live or /vj/live (no trailing /)")
    return text


def _add_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server-key", type=input_path, metavar="PATH",
                        help="the server's public key (DIR/server.key from keygen), for CurveZMQ")
    parser.add_argument("--client-key", type=input_path, metavar="PATH",
                        help="this client's key pair (DIR/NAME.key_secret from keygen), for CurveZMQ")


def message_from_words(words: list[str]) -> bytes:
    """The request that `control send` words stand for: a JSON object passed through as
    typed (so the server judges it), or the shorthand of USAGE."""
    if len(words) == 1 and words[0].lstrip().startswith("{"):
        try:
            return words[0].encode("utf-8")
        except UnicodeEncodeError:  # a byte the terminal's encoding could not read
            raise UserError("the request is not UTF-8 text; type it again in a UTF-8 terminal") from None
    cmd, args = words[0], words[1:]
    if cmd not in COMMANDS:
        raise UserError(f"unknown command {cmd!r}; use a JSON object or one of: {' | '.join(USAGE.values())}")
    fields = COMMANDS[cmd]
    if len(args) != len(fields):
        raise UserError(f"usage: python -m live control send {USAGE[cmd]}")
    message = {"cmd": cmd} | {f: word if f in NAME_FIELDS else _literal(word) for f, word in zip(fields, args)}
    return json.dumps(message).encode("utf-8")


def _literal(word: str) -> object:
    """0.3 and .3 -> 0.3, 3 -> 3, true -> True; anything else, NaN and numbers too large for a
    float included (JSON has no word for them), stays a string for the server to judge."""
    try:
        value = json.loads(word)
    except (ValueError, RecursionError):
        try:
            value = float(word)
        except ValueError:
            return word
    return word if isinstance(value, float) and not math.isfinite(value) else value


def _client_keys(args: argparse.Namespace) -> ClientKeys | None:
    if args.server_key is None and args.client_key is None:
        return None
    if args.server_key is None or args.client_key is None:
        raise UserError("CurveZMQ needs both --server-key (DIR/server.key) and --client-key (DIR/NAME.key_secret)")
    from live.control.security import ClientKeys
    return ClientKeys.load(args.client_key, args.server_key)


def run_send(args: argparse.Namespace) -> int:
    from live.control.client import ControlClient
    from live.control.server import SocketLimits

    message = message_from_words(args.words)
    raw = message if isinstance(message, bytes) else json.dumps(message).encode("utf-8")
    size, limit = len(raw), SocketLimits().max_message_bytes
    if size > limit:  # the engine would drop the connection, and this command wait for a reply in vain
        raise UserError(f"this request is {size} bytes; the engine takes at most {limit}")
    with ControlClient(args.address, args.timeout, _client_keys(args)) as client:
        reply = client.request(message)
    print(json.dumps(reply))
    return 0 if reply.get("ok") is True else 1


def run_listen(args: argparse.Namespace) -> int:
    from live.control.client import TelemetryListener

    topics = [t for t in args.topics.split(",") if t]
    unknown = sorted(set(topics) - set(TOPICS))
    if unknown:  # SUB filters by prefix: a typo ("beats") would only wait in silence
        raise UserError(f"unknown topic(s) {', '.join(unknown)}; the engine sends {', '.join(TOPICS)}")
    deadline = time.monotonic() + args.duration if args.duration is not None else None
    received = 0
    with TelemetryListener(args.address, topics, _client_keys(args)) as listener:  # the address checked first
        if args.duration is None:  # else a missing engine is only an endless silence
            print(one_line(f"live: listening to {args.address} (Ctrl-C to stop)"), file=sys.stderr)
        try:
            while args.count is None or received < args.count:
                wait = 1.0 if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    break
                message = listener.receive(wait)
                if message is not None:
                    topic, body = message
                    print(topic, json.dumps(body), flush=True)
                    received += 1
        except KeyboardInterrupt:
            pass  # the normal way to stop listening
        heard = listener.heard
    if not heard:
        print(one_line(f"live: no telemetry from {args.address}; is the engine running with its telemetry socket "
                       "there (and, if it uses CurveZMQ keys, are --server-key and --client-key given)?"),
              file=sys.stderr)
        return 1
    if received == 0:  # a healthy show: no errors, no beats in a quiet passage
        print(one_line(f"live: the engine at {args.address} sent no {', '.join(topics)} messages meanwhile"),
              file=sys.stderr)
    return 0


def run_osc(args: argparse.Namespace) -> int:
    import socket
    from contextlib import ExitStack

    from live.control.bridge import OscBridge, Reporter, check_listen, resolve_target
    from live.control.client import ControlClient, TelemetryListener

    allowed = check_listen(args.host, [a for given in args.allow for a in given.split(",") if a])
    try:
        family = socket.getaddrinfo(args.host, args.port, type=socket.SOCK_DGRAM)[0][0]
    except (socket.gaierror, UnicodeError) as e:
        raise UserError(f"--host {args.host}: not an address of this machine ({e})") from None
    report = Reporter(lambda line: print(line, file=sys.stderr, flush=True))
    deadline = time.monotonic() + args.duration if args.duration is not None else None
    targets = [resolve_target(text, family) for text in args.send]
    keys = _client_keys(args)
    with ExitStack() as stack:
        sock = stack.enter_context(socket.socket(family, socket.SOCK_DGRAM))
        client = ControlClient(args.address, args.timeout, keys)
        stack.callback(client.close)
        telemetry = (stack.enter_context(TelemetryListener(args.telemetry, ("beat", "state"), keys))
                     if targets else None)
        try:
            sock.bind((args.host, args.port))
        except OSError as e:
            raise UserError(f"cannot listen on udp {args.host}:{args.port} ({e.strerror or e}); "
                            "give another --port, or stop what holds it") from None
        bridge = OscBridge(sock, client.request, report, allowed, args.prefix, telemetry, targets)
        stack.callback(bridge.close)
        report.say(f"listening on udp {args.host}:{args.port}, steering the engine at {args.address}"
                   + "".join(f", sending its telemetry to {h}:{p}" for h, p in targets) + " (Ctrl-C to stop)")
        try:
            while deadline is None or time.monotonic() < deadline:
                bridge.step(0.1)
        except KeyboardInterrupt:
            pass  # the normal way to stop a bridge
    report.say(f"sent {bridge.sent} request(s)" + (f", sent {bridge.forwarded} of telemetry" if targets else ""))
    return 0


def run_midi(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from live.control.bridge import Reporter
    from live.control.client import ControlClient, TelemetryListener
    from live.control.midi import MidiMap
    from live.control.midi_bridge import MidiBridge, MidiInput, MidiLights, MidiSystem

    buttons = MidiMap.load(args.map) if args.map is not None else MidiMap()
    if args.lights and not buttons.lights():
        raise UserError("--lights lights the buttons of --map: give a map with note or cc buttons")
    for option, value in (("--lights-port", args.lights_port), ("--telemetry", args.telemetry)):
        if value is not None and not args.lights:
            raise UserError(f"{option} is for the lights: give --lights too")
    keys = _client_keys(args)
    report = Reporter(lambda line: print(line, file=sys.stderr, flush=True), "midi")
    system = MidiSystem(args.api)
    with ExitStack() as stack:
        midi = MidiInput(system.midi_in, args.clock)
        stack.callback(midi.close)
        if args.list:
            ports = midi.ports()
            print("\n".join(ports) if ports else "no MIDI inputs (is the controller plugged in?)")
            return 0
        lights = MidiLights(system.midi_out, buttons) if args.lights else None
        if lights is not None:
            stack.callback(lights.close)  # after the input's: called first, it puts the lights out
        if args.virtual is not None:
            midi.open_virtual(args.virtual)
        else:
            midi.choose(args.port, "--port")
        if lights is not None and args.lights_port is not None:
            lights.choose(args.lights_port, "--lights-port")
        elif lights is not None and args.virtual is not None:
            lights.open_virtual(args.virtual)
        elif lights is not None:  # the controller's output, beside its input
            lights.choose_beside(midi.port, "--lights-port")
        command = ControlClient(args.address, args.timeout, keys)
        stack.callback(command.close)
        telemetry = (stack.enter_context(TelemetryListener(args.telemetry or DEFAULT_TELEMETRY_ADDRESS,
                                                           ("state", "beat"), keys))
                     if lights is not None else None)
        bridge = MidiBridge(midi, command.request, report, buttons, args.clock, lights, telemetry,
                            (lambda line: print(line, flush=True)) if args.monitor else None)
        report.say(f"listening to MIDI input {midi.port!r}"
                   + (f" with {buttons.counted()} mapped" if len(buttons) else "")
                   + (", following its clock" if args.clock else "")
                   + (f", lighting {lights.port!r}" if lights is not None else "")
                   + f", steering the engine at {args.address} (Ctrl-C to stop)")
        deadline = time.monotonic() + args.duration if args.duration is not None else None
        try:
            while deadline is None or time.monotonic() < deadline:
                bridge.step(0.1)
        except KeyboardInterrupt:
            pass  # the normal way to stop a bridge
    report.say(f"received {bridge.received} MIDI message(s), sent {bridge.sent} request(s)")
    return 0


def run_keygen(args: argparse.Namespace) -> int:
    from live.control.security import create_keys

    for path in create_keys(args.dir, args.client):
        print(f"wrote {path}")
    print(f"engine: python -m live --control tcp://*:5555 --telemetry tcp://*:5556 --keys {args.dir}\n"
          f"client: copy {args.dir}/server.key and {args.dir}/{args.client}.key_secret, then\n"
          f"        python -m live control send get --address tcp://HOST:5555 "
          f"--server-key server.key --client-key {args.client}.key_secret")
    return 0
