"""The MIDI bridge: a controller's MIDI port in, control requests to the engine out; and,
with its lights, the show's state out to the controller's pads.

rtmidi reads the port on the MIDI system's thread into a bounded queue of its own, which the
bridge reads every MIDI_POLL_S. It reads the messages as requests (live.control.midi) and
sends them through the same `Forwarder` as the OSC bridge: a fader's values wait one per
controller, the newest kept, and an engine that is away is outlasted.

A controller unplugged during a show is said once; the bridge looks for its port every
second and takes it again when it is back (its name may come back with another number).
"""
from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from live.control.bridge import TELEMETRY_SILENCE_S, Forwarder, Reporter, shown
from live.control.client import TelemetryListener
from live.control.midi import (BLINK, CLOCK, MIDI_SYSTEMS, TIME_CODE, Button, ClockTaps, MidiError, MidiMap, MidiReader,
                               described)
from live.errors import UserError

MAX_WAITING = 65536  # messages between two reads (an engine held up a while): rtmidi drops the newest past it
MIDI_POLL_S = 0.002  # the input's queue read this often: within a JACK period, 2 % of a core idle
RESCAN_S = 1.0  # how often the port's presence is checked
CLOCK_TAP_LIFETIME_S = 0.1  # from its tick: a clock's tap the engine takes later would set a wrong phase
CLIENT_NAME = "live"
_OURS = re.compile(rf"{CLIENT_NAME}(-\d+)?")
_ALSA_NUMBERS = re.compile(r" \d+:\d+$")
STATE_STALE_S = 1.0  # the lights show no show when the engine's state is older (it comes 20 times a second)
RESEND_S = 2.0  # all lights sent again this often: a controller power-cycled behind a MIDI interface, or
                # software connected to a virtual port since, shows them too
UNPLACED_SAID_AFTER = 2 * 24  # ticks heard with no place: two beats' worth, then it is said


def _rtmidi():
    try:
        import rtmidi
    except ImportError:
        raise UserError("MIDI needs python-rtmidi: pip install python-rtmidi") from None
    return rtmidi


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """ALSA's and JACK's libraries print to fd 2 while rtmidi probes them (a missing
    /dev/snd/seq, no JACK server); what failed reaches the user as one line of ours instead."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class MidiSystem:
    """One of rtmidi's MIDI systems (MIDI_SYSTEMS): the one named, or the first compiled in that
    answers; UserError when none does. It makes the bridge's inputs and outputs."""

    def __init__(self, api: str | None):
        self._rtmidi = rtmidi = _rtmidi()
        ids = dict(zip(MIDI_SYSTEMS, (rtmidi.API_LINUX_ALSA, rtmidi.API_UNIX_JACK, rtmidi.API_MACOSX_CORE,
                                      rtmidi.API_WINDOWS_MM)))
        compiled = rtmidi.get_compiled_api()
        if api is not None and ids[api] not in compiled:
            names = [name for name, i in ids.items() if i in compiled]
            raise UserError(f"this python-rtmidi has no {api} support; it has {', '.join(names) or 'none'}")
        tried = []
        for name, i in ids.items():
            if (api is None or name == api) and i in compiled:
                self._id = i
                try:
                    self.midi_in().delete()
                except rtmidi.RtMidiError as e:
                    tried.append(f"{name}: {str(e).rstrip('.?')}")
                else:
                    return
        raise UserError("no MIDI system answers (" + "; ".join(tried) + "); on Linux the ALSA sequencer "
                        "(/dev/snd/seq, module snd-seq) or a running JACK server (--api jack) is needed")

    def midi_in(self):
        with _quiet_stderr():
            return self._rtmidi.MidiIn(self._id, name=CLIENT_NAME, queue_size_limit=MAX_WAITING)

    def midi_out(self):
        with _quiet_stderr():
            return self._rtmidi.MidiOut(self._id, name=CLIENT_NAME)


def find_port(wanted: str, ports: list[str], kind: str = "input", option: str = "--port") -> str | None:
    """The port `wanted` names: the port of that name, else of that name with ALSA's numbers
    aside, else the one of a client of that name, else the one whose name holds it, in any case;
    None when none does; UserError when several do."""
    for alike in (lambda name: name == wanted, lambda name: plain(name) == plain(wanted),
                  lambda name: client(name).lower() == wanted.lower(), lambda name: wanted.lower() in name.lower()):
        found = [name for name in ports if alike(name)]
        if len(found) > 1:
            raise UserError(f"{wanted!r} names several MIDI {kind}s ({', '.join(found)}); give more of the name "
                            f"with {option}")
        if found:
            return found[0]
    return None


def chosen_port(wanted: str | None, ports: list[str], kind: str = "input", option: str = "--port") -> str:
    """The port to open: the one `wanted` names, or the only one; UserError saying what there is
    otherwise (`option` is how the user names one)."""
    if not ports:
        raise UserError(f"no MIDI {kind}s: plug the controller in (or start the software that "
                        f"{'sends' if kind == 'input' else 'takes'} MIDI), or open one with --virtual NAME")
    if wanted is None:
        if len(ports) > 1:
            raise UserError(f"several MIDI {kind}s ({', '.join(ports)}); choose one with {option} NAME")
        return ports[0]
    name = find_port(wanted, ports, kind, option)
    if name is None:
        raise UserError(f"no MIDI {kind} named {wanted!r}; there are: {', '.join(ports)} (choose one with {option})")
    return name


def plain(port: str) -> str:
    """A port's name without the numbers ALSA gives it ("... MIDI 1 20:0"), which a replug changes."""
    return _ALSA_NUMBERS.sub("", port)


def client(port: str) -> str:
    """The client a port's name begins with ("APC40 mkII" of "APC40 mkII:APC40 mkII MIDI 1 20:0"),
    which stays when a replug numbers the port anew."""
    return port.split(":")[0]


class MidiPort:
    """One port of the bridge's, through an rtmidi object that `make` makes: a new one for each
    opening, as RtMidi's JACK input delivers nothing on a port opened again after a close."""

    role = "port"  # this end's name, as the MIDI system lists the connection
    kind = "port"  # what the user calls it: a MIDI input or output

    def __init__(self, make: Callable[[], object]):
        self._make = make
        self._midi = self._made()
        self.port: str | None = None  # the open port's name
        self.wanted: str | None = None  # the port it is looked for as after an unplug; None: virtual
        self._others: set[str] = set()  # the ports there when it went, none of them ours

    def _made(self):
        return self._make()

    def ports(self) -> list[str]:
        """The ports of this kind there are, but the bridge's own (its clients are `CLIENT_NAME`,
        or `CLIENT_NAME-01` and so on where the MIDI system numbers a second)."""
        return [name for name in self._midi.get_ports() if not _OURS.fullmatch(client(name))]

    def choose_beside(self, other: str, option: str) -> None:
        """Open the one port of `other`'s client (a controller's output beside its input);
        UserError naming `option` when there is none or several."""
        ports = [name for name in self.ports() if client(name) == client(other)]
        if len(ports) != 1:
            raise UserError(f"{'no' if not ports else 'several'} MIDI {self.kind}s of {client(other)!r} "
                            f"({', '.join(ports or self.ports()) or 'none at all'}); name one with {option}")
        self.open(ports[0])
        self.wanted = self.port

    def choose(self, wanted: str | None, option: str) -> None:
        """Open the port `wanted` names, or the only one (UserError otherwise); after an unplug,
        look for that port (its name, ALSA's numbers aside), not any `wanted` names (an APC40 mkII
        for an unplugged APC40)."""
        self.open(chosen_port(wanted, self.ports(), self.kind, option))
        self.wanted = self.port

    def open(self, name: str) -> None:
        self._midi.open_port(self._midi.get_ports().index(name), name=self.role)
        self.port = name

    def open_virtual(self, name: str) -> None:
        try:
            self._midi.open_virtual_port(name)
        except NotImplementedError:  # Windows MM has no virtual ports
            raise UserError("this MIDI system has no virtual ports; connect to a controller with --port NAME, "
                            "or make a loopback port (loopMIDI) and give its name") from None
        self.port = f"{name} (virtual)"

    def rescan(self) -> list[str]:
        """See that the port is still there, and when it is back after an unplug, open it again:
        the port of its name, or of its name with ALSA's numbers aside, that was not there when it
        went (not a twin of the same name, nor "Pads:out B" for "Pads:out"); what changed, to say."""
        assert self.wanted is not None
        ports, said = self.ports(), []
        if self.port is not None:
            if self.port in ports:
                return []
            said.append(f"MIDI {self.kind} {self.port!r} is gone (unplugged?); the bridge waits for it")
            self.close_port()
            self._others = set(ports)
        self._others &= set(ports)  # one unplugged since may come back as ours
        new = [name for name in ports if name not in self._others]
        found = [name for name in new if name == self.wanted] or [name for name in new
                                                                 if plain(name) == plain(self.wanted)]
        if found:
            self.open(found[0])
            said.append(f"MIDI {self.kind} {found[0]!r} is back")
        return said

    def close_port(self) -> None:
        made = self._made()  # first: a MIDI system that fails here leaves the old object, not a deleted one
        self._release()
        self.port = None
        self._midi = made

    def _release(self) -> None:
        self._midi.close_port()
        self._midi.delete()

    def close(self) -> None:
        self._release()


class MidiInput(MidiPort):
    """The bridge's MIDI input: one port (a controller's, chosen by name, or a virtual one other
    software sends into). Its messages wait in rtmidi's own bounded queue until `take`: a Python
    callback runs on the MIDI system's thread (JACK's process thread) and waits there for the
    interpreter, and JACK lost messages meanwhile, clock ticks among them (review 88)."""

    role = "in"
    kind = "input"

    def __init__(self, make: Callable[[], object], clock: bool = False):
        self._clock = clock
        super().__init__(make)

    def _made(self):
        midi = self._make()
        # Clock ticks come 24 a beat: let through only when they are followed.
        midi.ignore_types(sysex=True, timing=not self._clock, active_sense=True)
        return midi

    def take(self) -> list[tuple[list[int], float]]:
        """The messages that came since the last call, oldest first, each with how long it has at
        least waited (rtmidi gives the time between messages: the sum of those after it)."""
        events = []
        while (event := self._midi.get_message()) is not None:
            events.append(event)
        taken, waited = [], 0.0
        for message, since_before in reversed(events):
            taken.append((message, waited))
            waited += since_before
        return taken[::-1]


class MidiLights(MidiPort):
    """A controller's lights, through its output port: each button's as the show's state says
    (a tap pad's on the show's beats, a downbeat pad's on its downbeats), changes sent as they come
    and all of them every RESEND_S.
    With no state for STATE_STALE_S, or a show ended, they show no show: each at its dark."""

    role = "lights"
    kind = "output"

    def __init__(self, make: Callable[[], object], buttons: MidiMap):
        super().__init__(make)
        # One light per pad: a button of its own channel before one of any channel (lit on channel 1).
        lit: dict[tuple, Button] = {}
        for b in sorted(buttons.lights(), key=lambda b: b.channel is not None):
            lit[b.kind, b.channel or 1, b.number] = b
        self._buttons = list(lit.values())
        self._shown: dict[tuple, int] = {}
        self._state: Mapping = {}
        self._state_at = -math.inf
        self._beat_until = -math.inf  # tap pads are lit until then
        self._downbeat = False  # the beat that lit them was a downbeat: downbeat pads are lit too
        self._on_beat = False  # whether they were, at the last update
        self._heard = False  # telemetry since the last update
        self._sent_at = -math.inf

    def heard(self, topic: str, body: Mapping, now: float) -> None:
        """The engine's telemetry: its state, or a beat (a tap pad lit for BLINK of it, a downbeat
        pad too if its `place` is 1)."""
        if topic == "state":
            self._state, self._state_at = ({} if body.get("ended") is True else body), now
        elif topic == "beat" and isinstance(bpm := body.get("bpm"), (int, float)) and bpm > 0:
            self._beat_until = now + BLINK * 60.0 / bpm
            self._downbeat = body.get("place") == 1
        self._heard = True

    def update(self, now: float) -> None:
        """Send what changed, when something may have: telemetry heard, a blink's end, the state
        gone stale, the time to send all again (not every 2 ms step: 64 pads cost 7 % of a core)."""
        stale = bool(self._state) and now - self._state_at > STATE_STALE_S
        resend = now - self._sent_at >= RESEND_S
        if self.port is None or not (self._heard or stale or resend or self._on_beat and now >= self._beat_until):
            return
        self._heard = False
        if stale:
            self._state = {}
        if resend:
            self._shown.clear()
            self._sent_at = now
        self._on_beat = now < self._beat_until and bool(self._state)
        for b in self._buttons:
            lit = b.lit(self._state, self._on_beat, self._on_beat and self._downbeat)
            value, key = b.light if lit else b.dark, (b.kind, b.channel, b.number)
            if self._shown.get(key) != value:
                self._midi.send_message(b.light_message(value))
                self._shown[key] = value

    def open(self, name: str) -> None:
        super().open(name)
        self._shown.clear()

    def close(self) -> None:
        """All lights out, then the port closed: a controller left lit says a show that is not there."""
        if self.port is not None:
            for b in self._buttons:
                self._midi.send_message(b.light_message(0))
        super().close()


class MidiBridge:
    """Reads `midi`'s messages as requests (`buttons` for the buttons; `clock`: the MIDI clock
    taps the beat) and sends them to the engine; with `lights` and the engine's `telemetry`
    (its state and beats), lights the buttons. Ports chosen by name (`MidiPort.wanted`) that go
    away are waited for and taken again. `monitor` is given a line for each message but the
    clock's ticks and time code: what it is, as a map names it, and what it sent."""

    def __init__(self, midi: MidiInput, send, report: Reporter, buttons: MidiMap = MidiMap(),
                 clock: bool = False, lights: MidiLights | None = None, telemetry: TelemetryListener | None = None,
                 monitor: Callable[[str], None] | None = None):
        assert (lights is None) == (telemetry is None)
        self._midi = midi
        self._forwarder = Forwarder(send, report)
        self._report = report
        self._reader = MidiReader(buttons)
        self._clock = ClockTaps() if clock else None
        self._lights = lights
        self._telemetry = telemetry
        self._monitor = monitor
        self._started = self._scanned_at = time.monotonic()
        self.received = 0

    @property
    def sent(self) -> int:
        return self._forwarder.sent

    def step(self, wait_s: float) -> None:
        """Take what has arrived (waiting up to `wait_s`, at most MIDI_POLL_S, when nothing is
        due), send the requests, show the lights; once a second, see that the ports are there."""
        if not self._forwarder.due():
            time.sleep(min(wait_s, MIDI_POLL_S))
        for message, waited in self._midi.take():
            self.received += 1
            self._read(message, waited)
        self._forwarder.send_due()
        if self._lights is not None:
            self._show_lights()
        if time.monotonic() - self._scanned_at >= RESCAN_S:
            self._scanned_at = time.monotonic()
            for port in (self._midi, self._lights):
                if port is not None and port.wanted is not None:
                    self._rescan(port)

    def _read(self, message: list[int], waited: float) -> None:
        if self._clock is not None and self._clock.read(message):
            # A tick the bridge took late would tap a wrong phase: its tap lives from the tick's time.
            lifetime = CLOCK_TAP_LIFETIME_S - waited
            self._forwarder.put({"cmd": "tap"}, lifetime)
            if self._clock.marks_bar:
                self._forwarder.put({"cmd": "downbeat"}, lifetime)
            return
        if self._clock is not None and self._clock.unplaced == UNPLACED_SAID_AFTER:
            self._report.once("MIDI clock is coming but the master has not started since the bridge did: "
                              "its beats are tapped from its next Start (stop and play it)")
        try:
            requests = self._reader.requests(message)
        except MidiError as e:
            requests = []
            if self._monitor is None:  # a keyboard's 88 keys must not use up what the bridge will say
                self._report.once(f"{e} (other {e.kind}s no button maps are not said; --monitor shows each)",
                                  ("unmapped", e.kind))
        if self._monitor is not None and message[:1] not in ([CLOCK], [TIME_CODE]):
            done = "; ".join(shown(r) for r in requests)
            self._monitor(described(message) + (f" -> {done}" if done else ""))
        for request in requests:
            self._forwarder.put(request)

    def _show_lights(self) -> None:
        assert self._lights is not None and self._telemetry is not None
        while (message := self._telemetry.receive(0)) is not None:
            self._lights.heard(*message, time.monotonic())
        self._lights.update(time.monotonic())
        if not self._telemetry.heard and time.monotonic() - self._started > TELEMETRY_SILENCE_S:
            self._report.once(f"no telemetry from {self._telemetry.address} yet: the lights wait for the show's "
                              "state; is it the engine's telemetry socket (--telemetry)?")

    def _rescan(self, port: MidiPort) -> None:
        try:
            for line in port.rescan():
                self._report.say(line)
            if port is self._midi and port.port is None and self._clock is not None and self._clock.forget():
                self._report.say("the clock's beats are lost with its port: they are tapped again from the "
                                 "master's next Start")
        except OSError as e:  # rtmidi could not make a new port object; the next second tries again
            self._report.once(f"the MIDI system fails ({e}); the bridge keeps looking for {port.wanted!r}")
