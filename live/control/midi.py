"""MIDI in, read as control-protocol requests: bytes in, requests out (no ports here; those
are live.control.midi_bridge's).

Knobs and faders send control changes, which go to the engine as `cc` requests: the preset on
screen maps them (its [[cc]] tables, live.control.ccmap), so each preset plays the controller
its own way. A controller whose knobs send other numbers than the presets map is read as one
that sends theirs, and what a button does in every preset (choose a preset, set parameters,
cut, tap) is written, in a map the bridge reads (`--map midi.toml`):

    [[knob]]
    cc = 48                   # a knob or fader sending this control change (an APC40's first track knob)
    channel = 1               # 1-16; left out: any channel
    to = 1                    # read as this controller (on to_channel, default 1), which the presets map

    [[button]]
    note = 36                 # a pad or key sending this note; or cc = 20, a button sending a
                              # control change; or program = 4, a program change (as sent, 0-127)
    channel = 10              # 1-16; left out: any channel
    preset = "storm"          # then any of: set = { blackout = true }, cut = true, tap = true, downbeat = true
    light = 21                # its light's value (the velocity, a Launchpad's colour; default 127)
    dark = 1                  # its value while not lit (a dim colour: the pad is there; default 0, off)

A button acts when pressed (a note on with a velocity above 0, a control change rising to 64
or more from below 32, or sent again at it, a program change), never on its release nor on
each value of a knob turned or jittering past 64: a preset first (it resets what `set` sets),
then `set`, `cut`, `tap` and `downbeat`, as a cue acts. Control changes no button or knob claims go on as
`cc` requests as they are; a note no button claims is said (MidiError) and does nothing.

With the show's state (its telemetry), `Button.lit` says whether a button is lit, as
controllers light their pads (a note on at the light's value, a control change for a cc button;
0 is off): while what it sets holds (its preset on screen, its parameters at its values), a
button that only taps in the first quarter of each beat, one that marks the downbeat in the
first quarter of each beat the show calls 1 (where it knows the bars: the performer sees
whether the show's one is the music's), a cut button never. A button of any channel is lit on
channel 1.

MIDI clock followed (`ClockTaps`) taps the master's beat: 24 ticks a beat, counted from its
Start or its Song Position Pointer, so the engine's beats are the DJ's or the DAW's, and marks
each of the master's downbeats from its third beat on (its second hands a show's known beats over
to the taps), so the show's bars are the master's too (four beats a bar, song position 0 on a
one), through a Stop and Continue, or a show started late. Ticks of a master that was already
playing when the bridge started carry no beat's place: they tap nothing until it starts again.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from live.audio.bars import BEATS_PER_BAR
from live.errors import UserError
from live.files import read_toml, shipped
from live.settings import check_value, param, quoted

NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PROGRAM_CHANGE = 0x80, 0x90, 0xB0, 0xC0
TIME_CODE, SONG_POSITION, CLOCK, START, CONTINUE, STOP = 0xF1, 0xF2, 0xF8, 0xFA, 0xFB, 0xFC
PRESSED = 64  # a control change at or above it is a button down (MIDI's switch convention)
RELEASED = 32  # and below this, up again: a knob jittering about 64 presses once
TICKS_PER_BEAT = 24
TICKS_PER_SIXTEENTH = 6  # the Song Position Pointer counts sixteenths
KINDS = ("note", "cc", "program")
MIDI_SYSTEMS = ("alsa", "jack", "coremidi", "winmm")  # rtmidi's, as --api names them
PRESSES = ("cut", "tap", "downbeat")  # in a cue's order: after the preset and the settings
ACTIONS = ("preset", "set", *PRESSES)
_FIELDS = (*KINDS, "channel", *ACTIONS, "light", "dark")
LIT = 127  # a light's value unless the button gives one
BLINK = 0.25  # of a beat: how long a tap button stays lit from each beat, a downbeat button from each one
_KIND_OF_STATUS = {NOTE_ON: "note", CONTROL_CHANGE: "cc", PROGRAM_CHANGE: "program"}
_KNOB_FIELDS = ("cc", "channel", "to", "to_channel")


class MidiError(ValueError):
    """A message that asks for something no button does; `str(e)` says what and how to map it."""

    def __init__(self, text: str, kind: str):
        super().__init__(text)
        self.kind = kind  # "note" or "program"


@dataclass(frozen=True)
class Button:
    """A pad, key, button or program change that sends the same requests in every preset."""

    kind: str                  # "note", "cc" or "program"
    number: int                # its note, controller or program, 0-127
    channel: int | None        # 1-16; None: any channel
    requests: tuple[dict, ...]  # in the order they act
    light: int = LIT           # the value that lights it, 1-127
    dark: int = 0              # its value while not lit, 0-127

    def lit(self, state: Mapping, on_beat: bool = False, on_downbeat: bool = False) -> bool:
        """Whether this button is lit: while what it sets holds in the show's `state` (a telemetry
        `state` body; {}: no show), or, a button that only taps or marks the downbeat, `on_beat`
        or `on_downbeat` (within BLINK of a beat, of one with place 1)."""
        holds = [r for r in self.requests if r["cmd"] in ("preset", "set")]
        if holds:
            settings = state.get("settings")
            settings = settings if isinstance(settings, Mapping) else {}
            return all(state.get("preset") == r["name"] if r["cmd"] == "preset" else
                       settings.get(r["param"]) == r["value"] for r in holds)
        return any(r["cmd"] == "tap" and on_beat or r["cmd"] == "downbeat" and on_downbeat for r in self.requests)

    def light_message(self, value: int) -> list[int]:
        """What sets its light to `value` (0 is off): a program change has no light."""
        assert self.kind != "program"
        status = NOTE_ON if self.kind == "note" else CONTROL_CHANGE
        return [status | ((self.channel or 1) - 1), self.number, value]


@dataclass(frozen=True)
class Knob:
    """A knob or fader read as another controller: one the presets' [[cc]] tables map."""

    number: int          # the controller it sends, 0-127
    channel: int | None  # 1-16; None: any channel
    to: int              # the controller it is read as
    to_channel: int      # on this channel

    kind = "cc"


def shipped_maps() -> dict[str, Path]:
    """The controller maps that come with live (presets/controllers/NAME.toml), by name."""
    return {p.stem: p for p in sorted((shipped("presets") / "controllers").glob("*.toml"))}


class MidiMap:
    """The buttons and knobs of a map file, looked up by (kind, channel, number): one of the
    message's own channel before one of any channel."""

    def __init__(self, buttons: Sequence[Button | Knob] = ()):
        self._entries = {(b.kind, b.channel, b.number): b for b in buttons}
        assert len(self._entries) == len(buttons), "a message mapped twice (`load` says which)"

    @classmethod
    def load(cls, path: str | Path) -> MidiMap:
        """The map in a TOML file, or the one of that name that comes with live (`shipped_maps`);
        UserError naming the file and the entry for anything wrong."""
        path = Path(path)
        if not path.exists() and path.name == str(path) and not path.suffix:
            maps = shipped_maps()
            if path.name not in maps:
                raise UserError(f"no MIDI map file {path}, and none of that name comes with live (those that do: "
                                f"{', '.join(maps)}); give a .toml file or one of those names")
            path = maps[path.name]
        data = read_toml(path)
        extra = sorted(set(data) - set(_READERS))
        if extra:
            raise UserError(f"{path}: unknown {', '.join(map(repr, extra))}; a MIDI map holds [[button]] and [[knob]] "
                            "tables, each field under its table")
        entries: dict[tuple, tuple[str, Button | Knob]] = {}
        for table_name, read in _READERS.items():
            tables = data.get(table_name, [])
            if not isinstance(tables, list):
                raise UserError(f"{path}: [{table_name}] is one table; each {table_name} is written [[{table_name}]], "
                                "with two brackets")
            for number, table in enumerate(tables, start=1):
                label = f"{table_name} {number}"
                try:
                    entry = read(table)
                except ValueError as e:
                    raise UserError(f"{path}: {label}: {e}") from None
                key = (entry.kind, entry.channel, entry.number)
                if key in entries:
                    where = f"channel {entry.channel}" if entry.channel is not None else "any channel"
                    raise UserError(f"{path}: {entries[key][0]} and {label} both map {entry.kind} {entry.number} on "
                                    f"{where}")
                entries[key] = (label, entry)
        return cls([entry for _, entry in entries.values()])

    def find(self, kind: str, channel: int, number: int) -> Button | Knob | None:
        return self._entries.get((kind, channel, number)) or self._entries.get((kind, None, number))

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Button | Knob]:
        return iter(self._entries.values())

    def counted(self) -> str:
        """How many buttons and knobs it maps, in words ("2 buttons and 1 knob")."""
        buttons = sum(isinstance(entry, Button) for entry in self)
        counts = ((buttons, "button"), (len(self) - buttons, "knob"))
        return " and ".join(f"{n} {name}{'s' if n != 1 else ''}" for n, name in counts if n)

    def lights(self) -> list[Button]:
        """The buttons that can be lit (a program change cannot)."""
        return [b for b in self if isinstance(b, Button) and b.kind != "program"]


def _channel(table: object, what: str, fields: tuple[str, ...], example: str) -> int | None:
    """The channel of a map's `[[what]]` table (None: any), once it is seen to be a table of
    `fields`; ValueError naming what is wrong."""
    if not isinstance(table, Mapping):
        raise ValueError(f"a {what} is a table: [[{what}]] with {example} under it")
    extra = sorted(set(table) - set(fields))
    if extra:
        raise ValueError(f"unknown field {', '.join(map(repr, extra))}; a {what} takes {', '.join(fields)}")
    return int(check_value("channel", int, 1, 16, table["channel"])) if "channel" in table else None


def knob(table: object) -> Knob:
    """One `[[knob]]` table as a Knob; ValueError naming what is wrong."""
    channel = _channel(table, "knob", _KNOB_FIELDS, "cc = ... and to = ...")
    for needed in ("cc", "to"):
        if needed not in table:
            raise ValueError(f"no {needed}: give cc = the controller it sends, to = the one the presets map")
    return Knob(int(check_value("cc", int, 0, 127, table["cc"])), channel,
                int(check_value("to", int, 0, 127, table["to"])),
                int(check_value("to_channel", int, 1, 16, table.get("to_channel", 1))))


def button(table: object) -> Button:
    """One `[[button]]` table as a Button; ValueError naming what is wrong."""
    channel = _channel(table, "button", _FIELDS, "note = ... (or cc, program)")
    kinds = [k for k in KINDS if k in table]
    if len(kinds) != 1:
        raise ValueError("give one of note = N, cc = N or program = N"
                         + (f", not {' and '.join(kinds)}" if kinds else ""))
    kind = kinds[0]
    number = int(check_value(kind, int, 0, 127, table[kind]))
    requests: list[dict] = []
    preset = table.get("preset")
    if preset is not None:
        if not isinstance(preset, str) or not preset or Path(preset).name != preset or preset.endswith(".toml"):
            raise ValueError(f"preset must be the name of a preset, got {quoted(preset)}")
        requests.append({"cmd": "preset", "name": preset})
    given = table.get("set", {})
    if not isinstance(given, dict):
        raise ValueError("set must be a table of parameters, like set = { blackout = true }")
    requests += [{"cmd": "set", "param": name, "value": param(name).check(value)} for name, value in given.items()]
    for event in PRESSES:
        if not isinstance(table.get(event, False), bool):
            raise ValueError(f"{event} must be true or false, got {quoted(table[event])}")
        if table.get(event):
            requests.append({"cmd": event})
    if not requests:
        raise ValueError("does nothing: give it a preset, a set table, cut = true, tap = true or downbeat = true")
    if kind == "program" and ("light" in table or "dark" in table):
        raise ValueError("a program change has no light")
    light = int(check_value("light", int, 1, 127, table.get("light", LIT)))
    dark = int(check_value("dark", int, 0, 127, table.get("dark", 0)))
    return Button(kind, number, channel, tuple(requests), light, dark)


class MidiReader:
    """MIDI messages read as requests, by a map's buttons. It remembers each cc button's last
    value and whether it is down: such a button acts when its value rises to PRESSED or past it
    from below RELEASED, or is sent at the same value again (a button sending 127 and no
    release), not on each value of a knob turned or jittering past it."""

    def __init__(self, buttons: MidiMap):
        self.buttons = buttons
        self._values: dict[tuple[int, int], int] = {}
        self._down: set[tuple[int, int]] = set()

    def requests(self, message: Sequence[int]) -> list[dict]:
        """The requests one message (its bytes, as a port delivers them) stands for: a mapped
        button's when it is pressed, a `cc` request for a control change no button claims, none
        for anything else (a release, pitch bend, clock). MidiError for a note or program no
        button claims."""
        if not message or message[0] < NOTE_OFF or message[0] >= 0xF0:
            return []
        status, channel = message[0] & 0xF0, (message[0] & 0x0F) + 1
        if status == NOTE_ON and len(message) >= 3 and message[2] == 0:
            return []  # a note on with velocity 0 is the usual note off
        kind = _KIND_OF_STATUS.get(status)
        if kind is None or len(message) < (2 if kind == "program" else 3):
            return []
        number = message[1]
        found = self.buttons.find(kind, channel, number)
        if isinstance(found, Knob):
            return [{"cmd": "cc", "channel": found.to_channel, "controller": found.to, "value": message[2]}]
        if found is not None:
            return list(found.requests) if kind != "cc" or self._pressed(channel, number, message[2]) else []
        if kind == "cc":
            return [{"cmd": "cc", "channel": channel, "controller": number, "value": message[2]}]
        raise MidiError(f"{kind} {number} on channel {channel} does nothing: give it a [[button]] with "
                        f"{kind} = {number} (and channel = {channel}, or no channel for any) in the --map file", kind)

    def _pressed(self, channel: int, number: int, value: int) -> bool:
        key = (channel, number)
        before = self._values.get(key)
        self._values[key] = value
        if value < RELEASED:
            self._down.discard(key)
        if value < PRESSED or (key in self._down and value != before):
            return False
        self._down.add(key)
        return True


_SYSTEM_NAMES = {CLOCK: "clock", START: "start", CONTINUE: "continue", STOP: "stop", TIME_CODE: "time code"}
_CHANNEL_NAMES = {0xA0: "aftertouch", 0xD0: "channel pressure", 0xE0: "pitch bend"}


def described(message: Sequence[int]) -> str:
    """A message as a map file names it (`--monitor`): what to write for a controller's pad."""
    if not message:
        return "an empty message"
    status = message[0]
    if status in _SYSTEM_NAMES:
        return _SYSTEM_NAMES[status]
    if status == SONG_POSITION and len(message) >= 3:
        return f"song position {message[1] | message[2] << 7} (sixteenths)"
    if NOTE_OFF <= status < 0xF0 and len(message) >= 2:
        kind, channel = status & 0xF0, (status & 0x0F) + 1
        if kind in (NOTE_ON, NOTE_OFF) and len(message) >= 3:
            how = f"on, velocity {message[2]}" if kind == NOTE_ON and message[2] > 0 else "off"
            return f"note = {message[1]}, channel = {channel} ({how})"
        if kind == CONTROL_CHANGE and len(message) >= 3:
            return f"cc = {message[1]}, channel = {channel} (value {message[2]})"
        if kind == PROGRAM_CHANGE:
            return f"program = {message[1]}, channel = {channel}"
        return f"{_CHANNEL_NAMES.get(kind, 'a message')} on channel {channel}"
    return "bytes " + " ".join(f"{b:02x}" for b in message)


class ClockTaps:
    """MIDI clock read as taps: True for each tick that begins one of the master's beats, and
    `marks_bar` for those of them that mark the show's bars.

    The beats are counted from the master's Start (or where its Song Position Pointer puts
    them); ticks before either (`unplaced` counts those), after a Stop, or after `forget`, are no
    beats. Each beat on a bar's one from the third beat counted on marks the bars: by then the
    second has handed a show's known beats over to the taps."""

    def __init__(self) -> None:
        self._tick: int | None = None  # ticks since the master's beat 1; None: no place known
        self._running = False
        self._beats = 0  # beats tapped since the master's count was placed
        self.unplaced = 0  # ticks heard with no place to count them from
        self.marks_bar = False  # the beat just read is the show's bars' one

    def forget(self) -> bool:
        """The count lost (ticks went unheard: the port was gone): no beats until the next Start.
        Whether there was a count to lose."""
        had = self._tick is not None
        self._tick, self._running = None, False
        return had

    def read(self, message: Sequence[int]) -> bool:
        """Whether `message` is a tick that begins a beat; other messages move the count."""
        status = message[0] if message else 0
        self.marks_bar = False
        if status == START:
            self._tick, self._running, self._beats = 0, True, 0
        elif status == CONTINUE:
            self._running = self._tick is not None
        elif status == STOP:
            self._running = False
        elif status == SONG_POSITION and len(message) >= 3:
            self._tick, self._beats = (message[1] | message[2] << 7) * TICKS_PER_SIXTEENTH, 0
        elif status == CLOCK:
            if self._tick is None:
                self.unplaced += 1
            if not self._running or self._tick is None:
                return False
            beat = self._tick % TICKS_PER_BEAT == 0
            if beat:
                self.marks_bar = self._beats >= 2 and self._tick // TICKS_PER_BEAT % BEATS_PER_BAR == 0
                self._beats += 1
            self._tick += 1
            return beat
        return False


_READERS = {"button": button, "knob": knob}  # a map file's tables, in the order they are read
