"""The MIDI bridge: messages read as requests, the map file, the clock, and the real path
through a MIDI port (JACK's, with its dummy driver: this machine has no ALSA sequencer)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest
import zmq

from live.control.bridge import Forwarder, LatestRequests, Reporter
from live.control.client import ControlClient
from live.control.midi import CLOCK, CONTINUE, SONG_POSITION, START, STOP, ClockTaps, MidiError, MidiMap, MidiReader, \
    button, described
from live.control.midi_bridge import MidiBridge, MidiInput, MidiLights, chosen_port
from live.control.server import ControlServer
from live.errors import UserError
from test_control_server import ANY_PORT, FakeEngine

BUTTONS = MidiMap([button({"note": 36, "channel": 10, "preset": "tide"}),
                   button({"note": 36, "preset": "ember", "cut": True}),
                   button({"cc": 20, "set": {"blackout": True, "lambda": 0.05}}),
                   button({"program": 4, "preset": "tide", "tap": True})])


@pytest.mark.parametrize("message, requests", [
    ([0xB0, 7, 100], [{"cmd": "cc", "channel": 1, "controller": 7, "value": 100}]),  # a fader, to the preset's map
    ([0xBF, 0, 0], [{"cmd": "cc", "channel": 16, "controller": 0, "value": 0}]),
    ([0x99, 36, 90], [{"cmd": "preset", "name": "tide"}]),  # channel 10's own button before any channel's
    ([0x90, 36, 1], [{"cmd": "preset", "name": "ember"}, {"cmd": "cut"}]),
    ([0x90, 36, 0], []),  # a note on at velocity 0 is a release
    ([0x80, 36, 64], []),
    ([0xB3, 20, 127], [{"cmd": "set", "param": "blackout", "value": True},
                       {"cmd": "set", "param": "lambda", "value": 0.05}]),
    ([0xB3, 20, 63], []),  # a button's release, sent as a control change (the first heard from it)
    ([0xC0, 4], [{"cmd": "preset", "name": "tide"}, {"cmd": "tap"}]),
    ([0xC0, 5], None),  # a program no button claims
    ([0xE0, 0, 64], []), ([0xA0, 36, 10], []), ([0xD0, 10], []),  # pitch bend, aftertouch: nothing of ours
    ([CLOCK], []), ([START], []), ([0xF0, 1, 2, 0xF7], []), ([], []), ([0xB0, 7], []),
])
def test_messages_read_as_requests(message, requests):
    if requests is None:
        with pytest.raises(MidiError, match=r"program 5 on channel 1 does nothing: give it a \[\[button\]\] with "
                                            r"program = 5 \(and channel = 1, or no channel for any\)"):
            MidiReader(BUTTONS).requests(message)
    else:
        assert MidiReader(BUTTONS).requests(message) == requests


def test_a_button_presses_in_a_cue_s_order_downbeat_last():
    reader = MidiReader(MidiMap([button({"note": 37, "downbeat": True, "tap": True, "cut": True})]))
    assert reader.requests([0x90, 37, 99]) == [{"cmd": "cut"}, {"cmd": "tap"}, {"cmd": "downbeat"}]


def test_a_note_no_button_claims_says_how_to_map_it():
    with pytest.raises(MidiError, match=r"note 60 on channel 2 does nothing: give it a \[\[button\]\] with "
                                        r"note = 60 \(and channel = 2, or no channel for any\) in the --map file"):
        MidiReader(MidiMap()).requests([0x91, 60, 100])


def test_a_cc_button_acts_when_pressed_not_on_each_value_of_a_knob_turned_past_the_middle():
    reader = MidiReader(MidiMap([button({"cc": 20, "cut": True})]))
    values = (0, 127, 0, 127, 127, 60, 64, 65, 127, 10, 70, 63, 64, 63, 64, 20, 100)
    acted = [v for v in values if reader.requests([0xB0, 20, v])]
    # a press, its release, a press, the same 127 again (a button with no release), not back below 32 so still down
    # (60 ... 127), released (10), a knob past 64 once (70) and jittering about it, released, past it again
    assert acted == [127, 127, 127, 70, 100]
    assert reader.requests([0xB1, 20, 127]) == [{"cmd": "cut"}]  # another channel's button is its own


@pytest.mark.parametrize("text, fragment", [
    ('[[button]]\nnote = 36\n', "button 1: does nothing: give it a preset"),
    ('[[button]]\npreset = "tide"\n', "button 1: give one of note = N, cc = N or program = N"),
    ('[[button]]\nnote = 36\ncc = 3\ncut = true\n', "not note and cc"),
    ('[[button]]\nnote = 128\ncut = true\n', "button 1: note"),
    ('[[button]]\nnote = 1\nchannel = 0\ncut = true\n', "channel"),
    ('[[button]]\nnote = 1\ncut = "yes"\n', "cut must be true or false"),
    ('[[button]]\nnote = 1\nset = { lamda = 0.1 }\n', "unknown parameter 'lamda'"),
    ('[[button]]\nnote = 1\nset = { lambda = 7 }\n', "lambda"),
    ('[[button]]\nnote = 1\npreset = "tide.toml"\n', "preset must be the name of a preset"),
    ('[[button]]\nnote = 1\nvelocity = 3\ncut = true\n', "unknown field 'velocity'"),
    ('[[button]]\nnote = 1\ncut = true\n[[button]]\nnote = 1\ntap = true\n',
     "button 1 and button 2 both map note 1 on any"),
    ('channel = 10\n[[button]]\nnote = 1\ncut = true\n', "unknown 'channel'; a MIDI map holds [[button]] and"),
    ('[button]\nnote = 1\ncut = true\n', "each button is written [[button]]"),
    ('[[cc]]\nchannel = 1\ncontroller = 1\nparam = "lambda"\n',
     "unknown 'cc'; a MIDI map holds [[button]] and [[knob]]"),
])
def test_a_map_file_s_mistakes_are_one_line_naming_the_button(tmp_path, text, fragment):
    path = tmp_path / "midi.toml"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        MidiMap.load(path)
    assert str(caught.value).startswith(str(path)) and fragment in str(caught.value), caught.value


def test_a_knob_is_read_as_the_controller_the_presets_map(tmp_path):
    path = tmp_path / "apc40.toml"
    path.write_text("[[knob]]\ncc = 48\nto = 1\n\n[[knob]]\ncc = 49\nchannel = 2\nto = 2\nto_channel = 3\n\n"
                    "[[button]]\ncc = 20\ncut = true\n")
    reader = MidiReader(MidiMap.load(path))
    assert reader.requests([0xB4, 48, 90]) == [{"cmd": "cc", "channel": 1, "controller": 1, "value": 90}]
    assert reader.requests([0xB1, 49, 7]) == [{"cmd": "cc", "channel": 3, "controller": 2, "value": 7}]
    assert reader.requests([0xB0, 49, 7]) == [{"cmd": "cc", "channel": 1, "controller": 49, "value": 7}]  # not ch 2
    assert len(MidiMap.load(path)) == 3 and MidiMap.load(path).lights() == [button({"cc": 20, "cut": True})]
    assert MidiMap.load(path).counted() == "1 button and 2 knobs"  # said as the bridge starts
    for text, fragment in (("[[knob]]\ncc = 48\n", "knob 1: no to: give cc = the controller it sends"),
                           ("[[knob]]\ncc = 48\nto = 1\nmin = 3\n", "knob 1: unknown field 'min'"),
                           ("[[knob]]\ncc = 48\nto = 128\n", "knob 1: to"),
                           ("[[button]]\ncc = 20\ncut = true\n[[knob]]\ncc = 20\nto = 1\n",
                            "button 1 and knob 1 both map cc 20 on any channel")):
        path.write_text(text)
        with pytest.raises(UserError, match=re.escape(fragment)):
            MidiMap.load(path)


def test_the_shipped_controller_maps_play_the_shipped_presets():
    """Every preset they switch to is shipped, and every knob reaches a parameter in every shipped preset."""
    from live.control.midi import Knob, shipped_maps
    from live.presets import PresetLibrary

    presets = PresetLibrary()
    mapped = {name: {(b.channel, b.controller) for b in presets.load(name).cc} for name in presets.names()}
    assert sorted(shipped_maps()) == ["apc-mini", "nanokontrol2"]
    for name, path in shipped_maps().items():
        entries = MidiMap.load(path)
        switched = [r["name"] for b in entries if not isinstance(b, Knob) for r in b.requests if r["cmd"] == "preset"]
        assert sorted(switched) == presets.names(), name  # each shipped preset, once
        for knob in (b for b in entries if isinstance(b, Knob)):
            assert all((knob.to_channel, knob.to) in cc for cc in mapped.values()), (name, knob)


def test_a_shipped_map_is_found_by_its_name_and_a_missing_one_names_those_there_are(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reader = MidiReader(MidiMap.load("nanokontrol2"))
    assert reader.requests([0xB0, 0, 100]) == [{"cmd": "cc", "channel": 1, "controller": 1, "value": 100}]  # fader 1
    assert reader.requests([0xB0, 32, 127]) == [{"cmd": "preset", "name": "default"}]  # S1
    assert reader.requests([0xB0, 41, 127]) == [{"cmd": "tap"}]  # PLAY
    apc = MidiReader(MidiMap.load("apc-mini"))
    assert apc.requests([0x90, 62, 127]) == [{"cmd": "preset", "name": "tide"}]  # the top row's seventh pad
    assert apc.requests([0xB0, 52, 9]) == [{"cmd": "cc", "channel": 1, "controller": 5, "value": 9}]  # fader 5
    with pytest.raises(UserError, match=re.escape("no MIDI map file apc40, and none of that name comes with live "
                                                  "(those that do: apc-mini, nanokontrol2)")):
        MidiMap.load("apc40")
    (tmp_path / "nanokontrol2").write_text("[[button]]\nnote = 1\ncut = true\n")  # a file of that name is the file
    assert MidiMap.load("nanokontrol2").counted() == "1 button"


def test_the_same_note_may_do_one_thing_on_a_channel_and_another_on_the_rest(tmp_path):
    path = tmp_path / "midi.toml"
    path.write_text('[[button]]\nnote = 1\nchannel = 2\ncut = true\n[[button]]\nnote = 1\ntap = true\n')
    buttons = MidiMap.load(path)
    reader = MidiReader(buttons)
    assert len(buttons) == 2 and reader.requests([0x91, 1, 9]) == [{"cmd": "cut"}]
    assert reader.requests([0x92, 1, 9]) == [{"cmd": "tap"}]


def test_a_button_is_lit_while_what_it_sets_holds_and_a_tap_pad_on_the_beat():
    tide, ember_cut, blackout, tap, cut = (button({"note": 1, "channel": 2, "preset": "tide", "light": 21}),
                                           button({"note": 2, "preset": "ember", "cut": True}),
                                           button({"cc": 3, "set": {"blackout": True, "lambda": 0.05}}),
                                           button({"note": 4, "tap": True}), button({"note": 5, "cut": True}))
    state = {"preset": "tide", "settings": {"blackout": True, "lambda": 0.05}}
    assert [b.lit(state, True) for b in (tide, ember_cut, blackout, tap, cut)] == [True, False, True, True, False]
    later = {"preset": "ember", "settings": {"blackout": True, "lambda": 0.2}}
    assert [b.lit(later) for b in (tide, ember_cut, blackout, tap, cut)] == [False, True, False, False, False]
    assert not any(b.lit({}) for b in (tide, ember_cut, blackout, tap, cut))  # no show
    assert not blackout.lit({"settings": ["blackout"]}) and not tide.lit({"preset": 3})  # odd fields hold nothing
    one, both = button({"note": 6, "downbeat": True}), button({"note": 7, "tap": True, "downbeat": True})
    assert [(b.lit(state, True), b.lit(state, True, True)) for b in (one, both, tap)] == [
        (False, True), (True, True), (True, True)]  # a downbeat pad only on the one, a tap pad on every beat
    assert tide.light_message(21) == [0x91, 1, 21] and blackout.light_message(127) == [0xB0, 3, 127]  # any: ch 1
    assert (tide.light, tide.dark, button({"note": 1, "cut": True, "dark": 3}).dark) == (21, 0, 3)
    program = button({"program": 4, "preset": "tide"})
    assert MidiMap([tide, program]).lights() == [tide]
    with pytest.raises(ValueError, match="a program change has no light"):
        button({"program": 4, "preset": "tide", "dark": 5})


def beats_of(clock: ClockTaps, *messages: list[int]) -> list[int]:
    """The numbers (from 0) of the messages that were a beat's first tick."""
    return [i for i, message in enumerate(messages) if clock.read(message)]


def test_the_clock_taps_each_of_the_master_s_beats_from_its_start():
    clock = ClockTaps()
    assert beats_of(clock, *[[CLOCK]] * 30) == [] and clock.unplaced == 30  # joined while it played: no place
    assert beats_of(clock, [START], *[[CLOCK]] * 50) == [1, 25, 49]
    assert beats_of(clock, [STOP], *[[CLOCK]] * 30) == []  # a stopped master's ticks keep only its tempo
    # Continue from where it stopped (tick 50, two past a beat): the next beat is 22 ticks on.
    assert beats_of(clock, [CONTINUE], *[[CLOCK]] * 24) == [23]
    # The Song Position Pointer counts sixteenths: 5 of them is a beat and 6 ticks.
    assert beats_of(clock, [STOP], [SONG_POSITION, 5, 0], [CONTINUE], *[[CLOCK]] * 20) == [3 + 18]
    assert beats_of(ClockTaps(), [CONTINUE], [CLOCK]) == []  # continue what? no place yet
    assert clock.unplaced == 30  # ticks after a Stop are no beats, but were placed: not counted
    assert clock.forget() and not clock.forget()  # a count lost (the port was gone), then none to lose
    assert beats_of(clock, [CONTINUE], *[[CLOCK]] * 30) == [] and beats_of(clock, [START], [CLOCK]) == [1]


def test_the_clock_marks_each_of_the_master_s_downbeats_from_its_third_beat():
    def marked(clock, *messages):
        """The numbers (from 0) of the messages that were beats marking the bars."""
        return [i for i, message in enumerate(messages) if clock.read(message) and clock.marks_bar]
    clock = ClockTaps()
    # From a Start on beat 1: the third beat is the master's 3; its ones after it, beats 5 and 9 (ticks 96, 192).
    assert marked(clock, [START], *[[CLOCK]] * 24 * 12) == [1 + 96, 1 + 192]
    # Stopped and continued: the bars marked on (a show started meanwhile, a mark the engine missed).
    assert marked(clock, [STOP], [CONTINUE], *[[CLOCK]] * 24 * 4) == [2 + 0]  # tick 288 is beat 13, a one
    # From a song position on beat 3 of a bar (sixteenth 8): beats 3, 4, then 1, the third counted (48 ticks on).
    assert marked(clock, [STOP], [SONG_POSITION, 8, 0], [CONTINUE], *[[CLOCK]] * 24 * 8) == [3 + 48, 3 + 144]
    # On beat 4 (sixteenth 12): the one at the second beat counted is not marked (the hand-over's), the next is.
    assert marked(clock, [STOP], [SONG_POSITION, 12, 0], [CONTINUE], *[[CLOCK]] * 24 * 8) == [3 + 120]


class FakeRtMidi:
    """rtmidi's MidiIn and MidiOut as the bridge uses them: a queue the test fills as rtmidi's
    thread would, the messages sent kept."""

    def __init__(self, ports):
        self.ports, self.queue, self.opened, self.ignored, self.sent = ports, [], None, None, []

    def get_message(self):
        return self.queue.pop(0) if self.queue else None

    def send_message(self, message):
        self.sent.append(message)

    def ignore_types(self, sysex, timing, active_sense):
        self.ignored = timing

    def get_ports(self):
        return list(self.ports)

    def open_port(self, index, name):
        self.opened = self.ports[index]

    def close_port(self):
        self.opened = None

    deleted = False

    def delete(self):
        self.deleted = True

    def send(self, *messages, apart: float = 0.0):
        """Messages come, `apart` seconds after each other (rtmidi's delta time)."""
        self.queue += [(message, apart) for message in messages]


def test_the_bridge_steers_a_control_server_and_says_each_problem_once():
    engine, lines, rt = FakeEngine(), [], FakeRtMidi(["Pads:Pads MIDI 1 24:0"])
    midi = MidiInput(lambda: rt, clock=False)
    midi.choose(None, "--port")
    with ControlServer(engine, ANY_PORT, ANY_PORT) as server, ControlClient(server.command_endpoint, 2.0) as client:
        bridge = MidiBridge(midi, client.request, Reporter(lines.append, "midi"), BUTTONS)
        rt.send(*[[0xB0, 1, v] for v in range(0, 128, 8)], [0xB0, 64, 127], [0x99, 36, 100],
                *[[0x90, n, 100] for n in range(20, 120)], *[[0xB0, 9, v] for v in range(100)], [0xC0, 4])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (not engine.taps or len(lines) < 2):
            bridge.step(0.05)
    midi.close()
    settings = engine.settings.get()
    # Controller 1 drives lambda up to 0.3 in FakeEngine's map; its 16 values went as one or a few.
    assert settings.lambda_ == pytest.approx(0.3 * 120 / 127) and settings.freeze and engine.preset == "tide"
    assert len(engine.taps) == 1 and bridge.received == 16 + 1 + 1 + 100 + 100 + 1 and bridge.sent <= 10
    assert rt.ignored is True  # no clock asked for: rtmidi drops its ticks
    # A hundred keys no button maps, and the unmapped fader's hundred values: each said once.
    assert len(lines) == 2, lines
    assert any("note 20 on channel 1 does nothing" in line and "other notes no button maps are not said" in line
               for line in lines)
    assert any(line.startswith("live: midi: cc 1 9") and "not mapped" in line for line in lines)


def test_the_bridge_waits_for_an_unplugged_controller_and_takes_it_back():
    lines, rt, sent = [], FakeRtMidi(["Pads:Pads MIDI 1 24:0", "Keys:Keys 28:0"]), []
    midi = MidiInput(lambda: rt, clock=True)
    midi.choose("pads", "--port")
    bridge = MidiBridge(midi, lambda request: sent.append(request) or {"ok": True},
                        Reporter(lines.append, "midi"), clock=True)
    rt.send([START], *[[CLOCK]] * 25)
    bridge.step(0.0)
    assert sent == [{"cmd": "tap"}] * 2 and rt.ignored is False
    rt.ports = ["Keys:Keys 28:0", "Pads Pro:Pads Pro MIDI 1 30:0"]  # unplugged; another of its maker's plugged in
    bridge._scanned_at -= 2.0  # a second on: the port is looked for
    bridge.step(0.0)
    assert rt.opened is None and lines == [
        "live: midi: MIDI input 'Pads:Pads MIDI 1 24:0' is gone (unplugged?); the bridge waits for it",
        "live: midi: the clock's beats are lost with its port: they are tapped again from the master's next Start"]
    rt.ports = ["Keys:Keys 28:0", "Pads Pro:Pads Pro MIDI 1 30:0", "Pads:Pads MIDI 1 32:0"]  # back, renumbered
    bridge._scanned_at -= 2.0
    bridge.step(0.0)
    assert rt.opened == "Pads:Pads MIDI 1 32:0"
    assert lines[2:] == ["live: midi: MIDI input 'Pads:Pads MIDI 1 32:0' is back"]
    rt.send(*[[CLOCK]] * 30, [START], [CLOCK])  # the master's ticks counted again from its Start only
    bridge.step(0.0)
    assert sent == [{"cmd": "tap"}] * 3
    rt.send(*[[CLOCK]] * 24 * 4)  # on to the master's beat 5: its one after the handover marks the bars
    bridge.step(0.0)
    assert sent[3:] == [{"cmd": "tap"}] * 4 + [{"cmd": "downbeat"}]
    midi.close()


class Telemetry:
    """The engine's telemetry as the bridge reads it, fed by the test."""

    def __init__(self):
        self.waiting, self.heard, self.address = [], False, "tcp://127.0.0.1:5556"
        self.socket = zmq.Context.instance().socket(zmq.SUB)

    def receive(self, timeout_s):
        if self.waiting:
            self.heard = True
            return self.waiting.pop(0)
        return None


def test_a_refusal_is_said_once_per_thing_refused_and_a_clock_s_tap_is_dropped_when_late():
    lines, now = [], [0.0]

    def refuse(request):
        return {"ok": False, "error": f"refused {request.get('value', request.get('name'))}"}

    forwarder = Forwarder(refuse, Reporter(lines.append, "midi"))
    for value in range(30):  # a fader past a parameter's range: each value refused in its own words
        forwarder.put({"cmd": "set", "param": "lambda", "value": value})
        forwarder.send_due()
    for name in ("tide", "tide", "nosuch"):
        forwarder.put({"cmd": "preset", "name": name})
        forwarder.send_due()
    for controller in range(101):  # a controller's unmapped knobs: one kind of refusal
        forwarder.put({"cmd": "cc", "channel": 2, "controller": controller, "value": 5})
        forwarder.send_due()
    for value in (-1.5, -2):  # below the range too: numbers aside, one kind
        forwarder.put({"cmd": "set", "param": "lambda", "value": value})
        forwarder.send_due()
    forwarder.put({"cmd": "set", "param": "intensity", "value": 9})  # another parameter's refusal is its own
    forwarder.send_due()
    alike = " (others alike are not said)"
    assert lines == [f"live: midi: set lambda 0: refused 0{alike}", f"live: midi: preset tide: refused tide{alike}",
                     f"live: midi: preset nosuch: refused nosuch{alike}", f"live: midi: cc 2 0 5: refused 5{alike}",
                     f"live: midi: set intensity 9: refused 9{alike}"]
    waiting = LatestRequests(clock=lambda: now[0])
    waiting.put({"cmd": "tap"}, 0.1)
    waiting.put({"cmd": "tap"})
    now[0] = 0.5
    assert waiting.take() == {"cmd": "tap"} and waiting.take() is None  # the clock's tap was late, a hand's is not


def test_the_lights_show_the_show_its_beats_and_no_show_when_it_stops():
    engine, rt_in, rt_out = FakeEngine(), FakeRtMidi(["Pads:Pads MIDI 1 24:0"]), FakeRtMidi(["Pads:Pads MIDI 1 24:0"])
    buttons = MidiMap([button({"note": 36, "preset": "tide", "light": 21, "dark": 1}),
                       button({"note": 37, "preset": "ember"}), button({"note": 38, "cut": True}),
                       button({"note": 39, "tap": True}), button({"note": 39, "channel": 1, "preset": "glass"})])
    midi, lights, telemetry = MidiInput(lambda: rt_in), MidiLights(lambda: rt_out, buttons), Telemetry()
    midi.choose(None, "--port")
    lights.choose("pads", "--lights-port")
    with ControlServer(engine, ANY_PORT, ANY_PORT) as server, ControlClient(server.command_endpoint, 2.0) as client:
        bridge = MidiBridge(midi, client.request, Reporter(print, "midi"), buttons, lights=lights, telemetry=telemetry)
        bridge.step(0.0)  # no state yet: no show, every pad at its dark; pad 39's own channel's button lights it
        assert rt_out.sent == [[0x90, 36, 1], [0x90, 37, 0], [0x90, 38, 0], [0x90, 39, 0]]
        telemetry.waiting.append(("state", engine.state()))
        bridge.step(0.0)
        assert rt_out.sent[4:] == [[0x90, 37, 127]]  # ember plays
        rt_in.send([0x90, 36, 100])  # tide's pad pressed: its light comes on, ember's goes out
        bridge.step(0.0)
        for _ in range(3):  # each state alike: nothing more is sent
            telemetry.waiting.append(("state", engine.state()))
            bridge.step(0.0)
        assert engine.preset == "tide" and rt_out.sent[5:] == [[0x90, 36, 21], [0x90, 37, 0]]
    telemetry.waiting += [("beat", {"index": 1, "time": 3.0, "bpm": 120.0}), ("state", engine.state())]
    bridge.step(0.0)
    assert rt_out.sent[7:] == []  # pad 39 is glass's, on channel 1: the tap button of any channel does not light it
    time.sleep(1.1)  # no state for a second: the engine is gone, the pads show no show
    bridge.step(0.0)
    assert rt_out.sent[7:] == [[0x90, 36, 1]]
    lights.close()
    midi.close()
    assert rt_out.sent[8:] == [[0x90, 36, 0], [0x90, 37, 0], [0x90, 38, 0], [0x90, 39, 0]]  # all off, the dim too


def test_a_tap_pad_blinks_on_each_beat_for_a_quarter_of_it():
    rt_in, rt_out = FakeRtMidi(["Pads"]), FakeRtMidi(["Pads"])
    buttons = MidiMap([button({"note": 40, "tap": True, "light": 9})])
    midi, lights, telemetry = MidiInput(lambda: rt_in), MidiLights(lambda: rt_out, buttons), Telemetry()
    midi.choose(None, "--port")
    lights.choose(None, "--lights-port")
    bridge = MidiBridge(midi, lambda request: {"ok": True}, Reporter(print, "midi"), buttons, lights=lights,
                        telemetry=telemetry)
    telemetry.waiting += [("state", {"preset": "tide"}), ("beat", {"index": 1, "time": 3.0, "bpm": 150.0})]
    bridge.step(0.0)
    lit_at = time.monotonic()
    assert rt_out.sent == [[0x90, 40, 9]]
    while len(rt_out.sent) < 2 and time.monotonic() - lit_at < 1.0:
        bridge.step(1.0)
    assert rt_out.sent[1:] == [[0x90, 40, 0]] and 0.09 < time.monotonic() - lit_at < 0.15  # a quarter of 0.4 s
    midi.close()
    lights.close()


def test_a_downbeat_pad_blinks_on_the_beats_the_show_calls_one():
    rt_in, rt_out = FakeRtMidi(["Pads"]), FakeRtMidi(["Pads"])
    buttons = MidiMap([button({"note": 40, "tap": True}), button({"note": 41, "downbeat": True, "light": 5})])
    midi, lights, telemetry = MidiInput(lambda: rt_in), MidiLights(lambda: rt_out, buttons), Telemetry()
    midi.choose(None, "--port")
    lights.choose(None, "--lights-port")
    bridge = MidiBridge(midi, lambda request: {"ok": True}, Reporter(print, "midi"), buttons, lights=lights,
                        telemetry=telemetry)
    telemetry.waiting.append(("state", {"preset": "tide"}))
    bridge.step(0.0)
    sent = []
    for index, place in enumerate((4, 1, 2, 0), start=7):  # the bar's last beat, its one, its second, no bars
        telemetry.waiting.append(("beat", {"index": index, "time": index * 0.5, "bpm": 600.0, "place": place}))
        start = len(rt_out.sent)
        bridge.step(0.0)
        time.sleep(0.05)  # past a quarter of the beat (25 ms): both pads dark again
        bridge.step(0.0)
        sent.append(rt_out.sent[start:])
    tap_blink = [[0x90, 40, 127], [0x90, 40, 0]]
    assert sent == [tap_blink, [[0x90, 40, 127], [0x90, 41, 5], [0x90, 40, 0], [0x90, 41, 0]], tap_blink, tap_blink]
    midi.close()
    lights.close()


@pytest.mark.parametrize("message, text", [
    ([0x99, 36, 100], "note = 36, channel = 10 (on, velocity 100)"), ([0x99, 36, 0], "note = 36, channel = 10 (off)"),
    ([0x80, 60, 64], "note = 60, channel = 1 (off)"), ([0xBF, 7, 64], "cc = 7, channel = 16 (value 64)"),
    ([0xC2, 4], "program = 4, channel = 3"), ([0xE0, 0, 64], "pitch bend on channel 1"),
    ([START], "start"), ([SONG_POSITION, 0, 1], "song position 128 (sixteenths)"), ([0xF0, 1, 0xF7], "bytes f0 01 f7"),
    ([0xF1, 0x12], "time code"),
])
def test_a_message_is_described_as_a_map_names_it(message, text):
    assert described(message) == text


def test_the_monitor_says_what_each_message_is_and_what_it_did():
    lines, said, rt = [], [], FakeRtMidi(["Pads"])
    midi = MidiInput(lambda: rt, clock=True)
    midi.choose(None, "--port")
    bridge = MidiBridge(midi, lambda request: {"ok": True}, Reporter(said.append, "midi"), BUTTONS, clock=True,
                        monitor=lines.append)
    rt.send([0x99, 36, 100], [0x90, 61, 100], [0xB0, 7, 9], [0xB0, 20, 127], [START], [CLOCK], [CLOCK], [0xF1, 0x12])
    bridge.step(0.0)
    midi.close()
    assert lines == ["note = 36, channel = 10 (on, velocity 100) -> preset tide",
                     "note = 61, channel = 1 (on, velocity 100)", "cc = 7, channel = 1 (value 9) -> cc 1 7 9",
                     "cc = 20, channel = 1 (value 127) -> set blackout true; set lambda 0.05",
                     "start"]  # no clock ticks (24 a beat) nor time code (100 a second)
    assert said == []  # the unmapped note is on the monitor, not said again


def test_a_clock_s_tick_taken_late_taps_nothing():
    rt, sent = FakeRtMidi(["Clock"]), []
    midi = MidiInput(lambda: rt, clock=True)
    midi.choose(None, "--port")
    bridge = MidiBridge(midi, lambda request: sent.append(request) or {"ok": True}, Reporter(print, "midi"), clock=True)
    rt.send([START], [CLOCK], *[[CLOCK]] * 23, apart=0.02)  # the bridge held up: the beat's tick came 0.46 s ago
    rt.send(*[[CLOCK]] * 24, apart=0.0)  # the next beat's tick (the 25th) just now
    bridge.step(0.0)
    assert sent == [{"cmd": "tap"}]
    midi.close()


def test_a_controller_s_output_is_the_one_beside_its_input_and_a_port_looked_for_again_is_itself():
    rt = FakeRtMidi(["Pads:Pads MIDI 1 24:0", "Pads Pro:Pads Pro MIDI 1 28:0"])
    lights = MidiLights(lambda: rt, MidiMap([button({"note": 1, "cut": True})]))
    lights.choose_beside("Pads:Pads MIDI 1 20:0", "--lights-port")
    assert lights.port == "Pads:Pads MIDI 1 24:0"
    # a2jmidid, PipeWire and JACK's ALSA driver list every device under one client
    rt.ports = ["a2j:Launchpad [20] (playback): Launchpad MIDI 1", "a2j:Midi Through [14] (playback): Port-0"]
    with pytest.raises(UserError, match=r"several MIDI outputs of 'a2j' \(.*\); name one with --lights-port"):
        lights.choose_beside("a2j:Launchpad [20] (capture): Launchpad MIDI 1", "--lights-port")
    lights.choose("launchpad", "--lights-port")
    rt.ports = rt.ports[1:]  # unplugged: the other device of the same client is not taken instead
    assert lights.rescan() == ["MIDI output 'a2j:Launchpad [20] (playback): Launchpad MIDI 1' is gone (unplugged?); "
                               "the bridge waits for it"] and lights.port is None
    rt.ports.append("a2j:Launchpad [20] (playback): Launchpad MIDI 1 B")  # a name that holds its name is not it
    assert lights.rescan() == [] and lights.port is None
    lights.close()


def test_the_lights_are_sent_again_every_two_seconds_and_go_dark_when_the_show_ends():
    rt = FakeRtMidi(["Pads"])
    lights = MidiLights(lambda: rt, MidiMap([button({"note": 1, "preset": "tide", "dark": 2})]))
    lights.choose(None, "--lights-port")
    lights.heard("state", {"preset": "tide"}, 0.0)
    lights.update(0.0)
    lights.heard("state", {"preset": "tide"}, 0.5)
    lights.update(0.5)  # nothing changed, nothing sent
    lights.heard("state", {"preset": "tide"}, 2.0)
    lights.update(2.1)  # all again: a controller behind an interface may have been power-cycled
    lights.heard("state", {"preset": "tide", "ended": True}, 2.2)
    lights.update(2.2)
    assert rt.sent == [[0x90, 1, 127], [0x90, 1, 127], [0x90, 1, 2]]
    lights.close()


def test_a_cc_button_is_pressed_at_64_and_released_below_32():
    reader = MidiReader(MidiMap([button({"cc": 20, "cut": True})]))
    assert [v for v in (63, 64, 32, 100, 31, 64) if reader.requests([0xB0, 20, v])] == [64, 64]


def test_the_bridge_s_own_ports_are_not_among_those_to_choose():
    rt = FakeRtMidi(["live:in", "live-01:lights", "Pads:out", "lively:out"])
    midi = MidiInput(lambda: rt)
    assert midi.ports() == ["Pads:out", "lively:out"]
    midi.close()


def test_an_unmapped_program_is_said_after_an_unmapped_note():
    lines, rt = [], FakeRtMidi(["Pads"])
    midi = MidiInput(lambda: rt)
    midi.choose(None, "--port")
    bridge = MidiBridge(midi, lambda request: {"ok": True}, Reporter(lines.append, "midi"), MidiMap())
    rt.send([0x90, 60, 100], [0x90, 61, 100], [0xC0, 3], [0xC0, 4])
    bridge.step(0.0)
    assert [line.split(":")[2].strip() for line in lines] == ["note 60 on channel 1 does nothing",
                                                               "program 3 on channel 1 does nothing"]
    midi.close()


def test_of_two_twins_the_one_unplugged_is_waited_for_not_its_twin_taken():
    twins = ["Launchpad Mini:Launchpad Mini MIDI 1 20:0", "Launchpad Mini:Launchpad Mini MIDI 1 24:0"]
    assert chosen_port(twins[1], twins) == twins[1]  # the full name tells twins apart
    rt = FakeRtMidi(list(twins))
    midi = MidiInput(lambda: rt)
    midi.choose(twins[1], "--port")
    rt.ports = twins[:1]
    assert midi.rescan()[0].startswith("MIDI input 'Launchpad Mini:Launchpad Mini MIDI 1 24:0' is gone")
    assert midi.rescan() == [] and midi.port is None  # the twin that stayed is another's
    rt.ports = [*twins[:1], "Launchpad Mini:Launchpad Mini MIDI 1 28:0"]  # ours, back with other numbers
    assert midi.rescan() == ["MIDI input 'Launchpad Mini:Launchpad Mini MIDI 1 28:0' is back"]
    midi.close()


def test_a_midi_system_failing_while_a_port_is_gone_keeps_a_live_object():
    made, failing = [], [False]

    def make():
        if failing[0]:
            raise OSError("JACK server not running?")
        made.append(FakeRtMidi(["Pads:out"]))
        return made[-1]

    midi = MidiInput(make)
    midi.choose(None, "--port")
    failing[0] = True
    with pytest.raises(OSError):
        midi.close_port()
    assert midi.take() == [] and made[-1].deleted is False  # the object read is the old one, not deleted
    midi.close()


def test_a_port_is_chosen_by_its_name_its_client_s_or_a_part_of_it():
    ports = ["APC40 mkII:APC40 mkII MIDI 1 20:0", "Pads:out", "Pads Pro:out", "Midi Through:Port-0 14:0"]
    assert chosen_port("apc40", ports) == ports[0] and chosen_port("Pads:out", ports) == ports[1]
    assert chosen_port("pads", ports) == ports[1] and chosen_port("pads pro", ports) == ports[2]  # the client's name
    assert chosen_port(None, ports[:1]) == ports[0]
    for wanted, fragment in (("out", "'out' names several MIDI inputs"), ("Push", "no MIDI input named 'Push'; there"),
                             (None, "several MIDI inputs")):
        with pytest.raises(UserError, match=fragment):
            chosen_port(wanted, ports)
    with pytest.raises(UserError, match="no MIDI inputs: plug the controller in"):
        chosen_port("apc", [])


# The real path: a JACK server with its dummy driver, a controller's port made by the test, the
# bridge run as a user runs it.

@pytest.fixture(scope="module")
def jack_server(tmp_path_factory):
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (Debian jackd2)")
    rtmidi = pytest.importorskip("rtmidi")
    name = f"live-test-{os.getpid()}"
    saved = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name  # this process's clients and the bridge's find it so
    daemon = subprocess.Popen(["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", "48000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, probe = time.monotonic() + 10.0, None
    while probe is None and daemon.poll() is None and time.monotonic() < deadline:
        try:
            probe = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="probe")
        except rtmidi.SystemError:
            time.sleep(0.1)
    if probe is None:
        daemon.kill()
        _, err = daemon.communicate()
        pytest.skip(f"jackd did not start here: {err.strip().splitlines()[-1:] or 'no output'}")
    probe.delete()
    yield rtmidi
    daemon.terminate()
    daemon.wait(timeout=10)
    if saved is None:
        os.environ.pop("JACK_DEFAULT_SERVER")
    else:
        os.environ["JACK_DEFAULT_SERVER"] = saved


def wait_for(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


class Controller:
    """A controller as JACK lists it while it is plugged in: the port its pads send from, and the
    port its lights take (each JACK client of rtmidi's has one port)."""

    def __init__(self, rtmidi):
        self.pads = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="Test Pads")
        self.pads.open_virtual_port("out")
        self.lit: list[list[int]] = []
        self.lights = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="Test Pads lights")
        self.lights.set_callback(lambda event, _: self.lit.append(event[0]))
        self.lights.open_virtual_port("in")

    def send_message(self, message):
        self.pads.send_message(message)

    def delete(self):
        self.pads.delete()
        self.lights.delete()


def plug_in(rtmidi) -> Controller:
    return Controller(rtmidi)


def test_a_controller_on_a_real_port_steers_the_engine_through_the_command(jack_server, tmp_path):
    controller = plug_in(jack_server)
    (tmp_path / "midi.toml").write_text('[[button]]\nnote = 40\npreset = "tide"\nlight = 5\n\n'
                                        '[[button]]\ncc = 21\ncut = true\n')
    engine, playing = FakeEngine(), threading.Event()
    with ControlServer(engine, ANY_PORT, ANY_PORT) as server:
        def states():  # as a show sends its state, 20 times a second
            while not playing.wait(0.05):
                server.publish("state", engine.state())
        threading.Thread(target=states, daemon=True).start()
        bridge = subprocess.Popen(
            [sys.executable, "-m", "live", "control", "midi", "--api", "jack", "--port", "test pads",
             "--map", str(tmp_path / "midi.toml"), "--clock", "--lights", "--lights-port", "test pads lights",
             "--address", server.command_endpoint,
             "--telemetry", server.telemetry_endpoint, "--duration", "12"], stderr=subprocess.PIPE, text=True)
        first = bridge.stderr.readline()
        assert first.startswith("live: midi: listening to MIDI input 'Test Pads:out' with 2 buttons mapped, "
                                "following its clock, lighting 'Test Pads lights:in'"), first + bridge.stderr.read()
        assert wait_for(lambda: [0x90, 40, 0] in controller.lit)  # ember plays: tide's pad is dark
        for value in range(0, 128, 16):
            controller.send_message([0xB0, 1, value])  # channel 1 controller 1 drives lambda in FakeEngine's map
        controller.send_message([0xB0, 1, 127])
        controller.send_message([0x90, 40, 100])
        controller.send_message([0xB0, 21, 127])
        controller.send_message([0xFA])
        for _ in range(48):  # two beats at 120 bpm
            controller.send_message([0xF8])
            time.sleep(0.5 / 24)
        assert wait_for(lambda: len(engine.taps) == 2 and engine.cuts == 1)
        assert wait_for(lambda: [0x90, 40, 5] in controller.lit)  # tide plays: its pad in colour 5
        controller.delete()  # unplugged ...
        time.sleep(1.5)
        controller = plug_in(jack_server)  # ... and back
        assert wait_for(lambda: len(controller.lit) >= 2)  # its lights shown again (then every 2 s)
        assert controller.lit[:2] == [[0x90, 40, 5], [0xB0, 21, 0]]
        controller.send_message([0xB0, 1, 0])
        wait_for(lambda: engine.settings.get().lambda_ == 0.0)  # within the bridge's 12 s on a loaded machine
        _, rest = bridge.communicate(timeout=30)
        playing.set()
    controller.delete()
    assert controller.lit[-2:] == [[0x90, 40, 0], [0xB0, 21, 0]]  # put out when the bridge stopped
    assert bridge.returncode == 0, rest
    assert engine.preset == "tide" and engine.cuts == 1 and len(engine.taps) == 2
    assert 0.45 < engine.taps[1] - engine.taps[0] < 0.55  # the master's beat, a half second
    assert engine.settings.get().lambda_ == pytest.approx(0.0), rest  # the knob turned after the replug
    assert "input 'Test Pads:out' is gone (unplugged?)" in rest and "input 'Test Pads:out' is back" in rest
    assert "output 'Test Pads lights:in' is gone (unplugged?)" in rest
    assert "output 'Test Pads lights:in' is back" in rest
    assert rest.strip().splitlines()[-1].startswith("live: midi: received 61 MIDI message(s), sent ")


def test_the_command_says_in_one_line_what_is_missing(jack_server):
    run = [sys.executable, "-m", "live", "control", "midi", "--api", "jack"]
    unplugged = subprocess.run(run + ["--duration", "1"], capture_output=True, text=True, timeout=30)
    assert unplugged.returncode == 2 and unplugged.stderr == (
        "live: error: no MIDI inputs: plug the controller in (or start the software that sends MIDI), or open one "
        "with --virtual NAME\n")
    controller = plug_in(jack_server)
    done = subprocess.run(run + ["--port", "Nothing Like It", "--duration", "1"], capture_output=True, text=True,
                          timeout=30)
    listed = subprocess.run(run + ["--list"], capture_output=True, text=True, timeout=30)
    controller.delete()
    assert done.returncode == 2 and done.stderr == "live: error: no MIDI input named 'Nothing Like It'; there are: " \
                                                   "Test Pads:out (choose one with --port)\n"
    assert listed.returncode == 0 and listed.stdout == "Test Pads:out\n" and listed.stderr == ""
    gone = subprocess.run(run + ["--list"], capture_output=True, text=True, timeout=30,
                          env=os.environ | {"JACK_DEFAULT_SERVER": "no-such-server"})
    assert gone.returncode == 2 and gone.stderr.startswith("live: error: no MIDI system answers (jack: ")
    assert len(gone.stderr.strip().splitlines()) == 1


def test_a_virtual_port_takes_what_other_software_sends_into_it(jack_server):
    rtmidi = jack_server
    engine = FakeEngine()
    with ControlServer(engine, ANY_PORT, ANY_PORT) as server:
        bridge = subprocess.Popen(
            [sys.executable, "-m", "live", "control", "midi", "--api", "jack", "--virtual", "vj",
             "--address", server.command_endpoint, "--duration", "4"], stderr=subprocess.PIPE, text=True)
        first = bridge.stderr.readline()
        daw = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="DAW")
        assert wait_for(lambda: any("vj" in p for p in daw.get_ports())), daw.get_ports()
        daw.open_port([i for i, p in enumerate(daw.get_ports()) if "vj" in p][0])
        daw.send_message([0xB0, 64, 127])  # channel 1 controller 64: freeze, in FakeEngine's map
        _, rest = bridge.communicate(timeout=30)
        daw.delete()
    assert first.startswith("live: midi: listening to MIDI input 'vj (virtual)'") and bridge.returncode == 0, rest
    assert engine.settings.get().freeze
