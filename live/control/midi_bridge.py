"""The MIDI bridge: a controller's MIDI port in, control requests to the engine out.

rtmidi reads the port on a thread of its own and calls `MidiInput._on_message` for each
message: the callback only appends to a bounded deque and writes a byte to a pipe, which
wakes the bridge's poll. The bridge reads the messages as requests (live.control.midi) and
sends them through the same `Forwarder` as the OSC bridge: a fader's values wait one per
controller, the newest kept, and an engine that is away is outlasted.

A controller unplugged during a show is said once; the bridge looks for its port every
second and takes it again when it is back (its name may come back with another number).
"""
from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import zmq

from live.control.bridge import Forwarder, Reporter
from live.control.midi import MIDI_SYSTEMS, ClockTaps, MidiError, MidiMap, requests_for
from live.errors import UserError

MAX_WAITING = 4096  # messages between two reads of the bridge; a flood past it loses the oldest
RESCAN_S = 1.0  # how often the port's presence is checked
CLIENT_NAME = "live"
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


def midi_in_maker(api: str | None) -> Callable[[], object]:
    """What makes rtmidi MidiIns on the MIDI system named (MIDI_SYSTEMS), or on the first compiled
    in that opens; UserError when none does."""
    rtmidi = _rtmidi()
    ids = dict(zip(MIDI_SYSTEMS, (rtmidi.API_LINUX_ALSA, rtmidi.API_UNIX_JACK, rtmidi.API_MACOSX_CORE,
                                  rtmidi.API_WINDOWS_MM)))
    compiled = rtmidi.get_compiled_api()
    if api is not None and ids[api] not in compiled:
        names = [name for name, i in ids.items() if i in compiled]
        raise UserError(f"this python-rtmidi has no {api} support; it has {', '.join(names) or 'none'}")
    tried = []
    for name, i in ids.items():
        if (api is None or name == api) and i in compiled:
            def make(i=i):
                with _quiet_stderr():
                    return rtmidi.MidiIn(i, name=CLIENT_NAME, queue_size_limit=MAX_WAITING)
            try:
                make().delete()
            except rtmidi.RtMidiError as e:
                tried.append(f"{name}: {str(e).rstrip('.?')}")
            else:
                return make
    raise UserError("no MIDI system answers (" + "; ".join(tried) + "); on Linux the ALSA sequencer (/dev/snd/seq, "
                    "module snd-seq) or a running JACK server (--api jack) is needed")


def find_port(wanted: str, ports: list[str]) -> int | None:
    """The index of the port whose name is `wanted` or holds it (any case); None when none does;
    UserError when several hold it and none is it."""
    exact = [i for i, name in enumerate(ports) if name == wanted]
    if exact:
        return exact[0]
    holding = [i for i, name in enumerate(ports) if wanted.lower() in name.lower()]
    if len(holding) > 1:
        raise UserError(f"--port {wanted!r} names several MIDI inputs ({', '.join(ports[i] for i in holding)}); "
                        "give more of the name")
    return holding[0] if holding else None


def chosen_port(wanted: str | None, ports: list[str]) -> int:
    """The index of the port to open: the one `wanted` names, or the only one; UserError saying
    what there is otherwise."""
    if not ports:
        raise UserError("no MIDI inputs: plug the controller in (or start the software that sends MIDI), "
                        "or open one for it with --virtual NAME")
    if wanted is None:
        if len(ports) > 1:
            raise UserError(f"several MIDI inputs ({', '.join(ports)}); choose one with --port NAME")
        return 0
    index = find_port(wanted, ports)
    if index is None:
        raise UserError(f"no MIDI input named {wanted!r}; there are: {', '.join(ports)}")
    return index


class MidiInput:
    """The bridge's MIDI input: one port (a controller's, chosen by name, or a virtual one other
    software sends into), its messages waiting in a bounded queue with a pipe to wake a poll.
    `make` makes the rtmidi MidiIn it reads through: one for each port opened, as RtMidi's JACK
    input delivers nothing on a port opened again after a close."""

    def __init__(self, make: Callable[[], object], clock: bool = False):
        self._make = make
        self._clock = clock
        self._waiting: deque[list[int]] = deque(maxlen=MAX_WAITING)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._midi = self._made()
        self.port: str | None = None  # the open port's name

    def _made(self):
        midi = self._make()
        # Clock ticks come 24 a beat: let through only when they are followed.
        midi.ignore_types(sysex=True, timing=not self._clock, active_sense=True)
        midi.set_callback(self._on_message)
        return midi

    def _on_message(self, event, _data) -> None:
        """On rtmidi's thread: never blocks (a full pipe has woken the poll already)."""
        self._waiting.append(event[0])
        try:
            os.write(self._wake_write, b"\0")
        except BlockingIOError:
            pass

    def ports(self) -> list[str]:
        return self._midi.get_ports()

    def open(self, index: int) -> None:
        self.port = self.ports()[index]
        self._midi.open_port(index, name="in")

    def open_virtual(self, name: str) -> None:
        try:
            self._midi.open_virtual_port(name)
        except NotImplementedError:  # Windows MM has no virtual ports
            raise UserError("this MIDI system has no virtual ports; connect to a controller with --port NAME, "
                            "or make a loopback port (loopMIDI) and give its name") from None
        self.port = f"{CLIENT_NAME}:{name}"

    def close_port(self) -> None:
        self._release()
        self.port = None
        self._midi = self._made()

    def _release(self) -> None:
        self._midi.cancel_callback()
        self._midi.close_port()
        self._midi.delete()

    def fileno(self) -> int:
        return self._wake_read

    def take(self) -> list[list[int]]:
        """The messages that came since the last call, oldest first."""
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass
        messages = []
        while self._waiting:
            messages.append(self._waiting.popleft())
        return messages

    def close(self) -> None:
        self._release()
        os.close(self._wake_read)
        os.close(self._wake_write)


class MidiBridge:
    """Reads `midi`'s messages as requests (`buttons` for the buttons; `clock`: the MIDI clock
    taps the beat) and sends them to the engine. With `wanted`, the name the port was chosen
    by, a port that goes away is waited for and taken again."""

    def __init__(self, midi: MidiInput, send, report: Reporter, buttons: MidiMap = MidiMap(),
                 clock: bool = False, wanted: str | None = None):
        self._midi = midi
        self._forwarder = Forwarder(send, report)
        self._report = report
        self._buttons = buttons
        self._clock = ClockTaps() if clock else None
        self._wanted = wanted
        self._poller = zmq.Poller()
        self._poller.register(midi.fileno(), zmq.POLLIN)
        self._scanned_at = time.monotonic()
        self.received = 0

    @property
    def sent(self) -> int:
        return self._forwarder.sent

    def step(self, wait_s: float) -> None:
        """Take what has arrived (waiting up to `wait_s` when nothing is due), then send the
        requests; once a second, see that the port is still there."""
        self._poller.poll(0 if self._forwarder.due() else wait_s * 1000.0)
        for message in self._midi.take():
            self.received += 1
            self._read(message)
        self._forwarder.send_due()
        if self._wanted is not None and time.monotonic() - self._scanned_at >= RESCAN_S:
            self._scanned_at = time.monotonic()
            self._rescan()

    def _read(self, message: list[int]) -> None:
        if self._clock is not None and self._clock.read(message):
            self._forwarder.put({"cmd": "tap"})
            return
        if self._clock is not None and self._clock.unplaced == UNPLACED_SAID_AFTER:
            self._report.once("MIDI clock is coming but the master has not started since the bridge did: "
                              "its beats are tapped from its next Start (stop and play it)")
        try:
            requests = requests_for(message, self._buttons)
        except MidiError as e:
            self._report.once(str(e))
            return
        for request in requests:
            self._forwarder.put(request)

    def _rescan(self) -> None:
        assert self._wanted is not None
        try:
            ports = self._midi.ports()
            if self._midi.port is not None:
                if self._midi.port in ports:
                    return
                self._report.say(f"MIDI input {self._midi.port!r} is gone (unplugged?); the bridge waits for it")
                self._midi.close_port()
            index = find_port(self._wanted, ports)
            if index is not None:
                self._midi.open(index)
                self._report.say(f"MIDI input {self._midi.port!r} is back")
        except UserError:  # two alike meanwhile: wait until one of them is gone
            pass
        except OSError as e:  # the MIDI system itself went away (a JACK server stopped): looked for again
            self._report.once(f"the MIDI system fails ({e}); the bridge keeps looking for {self._wanted!r}")
