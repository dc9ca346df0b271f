"""Band arrangements with known beats, written as General MIDI for a synthesizer to play.

The synthesized drum loops (live/audio/synth.py) put their loudest hits on the beat; music often does
not. These put the accents where genres do: four-on-the-floor kicks under off-beat bass,
open hi-hats and chord stabs (house, trance), a backbeat (rock), syncopated kicks and ghost
notes (funk), the one-drop's single kick on beat 3 under off-beat skanks (reggae), swung
hip-hop, a drumless piano (ballad). Bars 16-23 of every 32 are a breakdown without drums.
Notes are played a few ms off the grid and at varied velocities, as people play.
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

STYLES = ("house", "trance", "rock", "funk", "reggae", "hiphop", "ballad")
DRUMS = 9                      # General MIDI's percussion channel (0-based)
BASS, CHORDS, PAD = 0, 1, 2
KICK, RIM, SNARE, CLAP, HAT, OPEN_HAT, CRASH = 36, 37, 38, 39, 42, 46, 49
# Program numbers (0-based) of the bass and the chord instrument per style; the pad is a warm pad.
PROGRAMS = {"house": (38, 0), "trance": (38, 81), "rock": (33, 30), "funk": (36, 7), "reggae": (33, 16),
            "hiphop": (38, 4), "ballad": (32, 0)}
WARM_PAD = 89
CHANGES = ((0, 4, 7), (9, 12, 16), (5, 9, 12), (7, 11, 14))   # I vi IV V, two bars each
TICKS_PER_SECOND = 960         # the file's tempo is fixed at 60 bpm, so ticks count time directly


@dataclass(frozen=True)
class Arrangement:
    midi: bytes
    beats: np.ndarray          # true beat times, seconds


class _Score:
    """Notes placed by beat position, played with a little human timing and dynamics."""

    def __init__(self, bpm: float, seed: int, swing: float = 0.0, timing_ms: float = 8.0) -> None:
        self.beat = 60.0 / bpm
        self.rng = np.random.default_rng(seed)
        self.swing = swing
        self.timing = timing_ms / 1000.0
        self.events: list[tuple[float, bytes]] = []

    def program(self, channel: int, number: int) -> None:
        self.events.append((0.0, bytes([0xC0 | channel, number])))

    def note(self, channel: int, at_beat: float, pitch: int, velocity: int, beats: float = 0.25) -> None:
        if self.swing and abs(at_beat % 0.5 - 0.25) < 1e-9:
            at_beat += 0.25 * self.swing           # the second 16th of each 8th comes late
        start = max(0.0, at_beat * self.beat + self.rng.normal(0.0, self.timing))
        velocity = int(np.clip(velocity + self.rng.normal(0.0, 6.0), 1, 127))
        self.events.append((start, bytes([0x90 | channel, pitch, velocity])))
        self.events.append((start + beats * self.beat, bytes([0x80 | channel, pitch, 0])))

    def chord(self, channel: int, at_beat: float, pitches, velocity: int, beats: float) -> None:
        for pitch in pitches:
            self.note(channel, at_beat, pitch, velocity, beats)


def _four_on_the_floor(s: _Score, b: float, root: int, chord, drums: bool, trance: bool) -> None:
    for q in range(4):
        if drums:
            s.note(DRUMS, b + q, KICK, 115)
            s.note(DRUMS, b + q + 0.5, OPEN_HAT, 80)
            if q % 2:
                s.note(DRUMS, b + q, CLAP, 100)
        s.note(BASS, b + q + 0.5, root - 12, 95, 0.4)
        if trance:
            s.note(BASS, b + q + 0.75, root - 12, 80, 0.2)
    for at in (0.5, 1.75, 2.5, 3.5):
        s.chord(CHORDS, b + at, [root + 12 + c for c in chord], 85, 0.2)


def _rock(s: _Score, b: float, root: int, chord, drums: bool) -> None:
    for e in range(8):
        if drums:
            s.note(DRUMS, b + e / 2, HAT, 90 if e % 2 == 0 else 70)
        s.note(BASS, b + e / 2, root - 12, 90, 0.45)
    if drums:
        for at in (0, 2, 2.5):
            s.note(DRUMS, b + at, KICK, 110)
        for at in (1, 3):
            s.note(DRUMS, b + at, SNARE, 110)
    for at in (0, 2):
        s.chord(CHORDS, b + at, [root, root + 7, root + 12], 100, 1.8)


def _funk(s: _Score, b: float, root: int, chord, drums: bool) -> None:
    if drums:
        for x in range(16):
            s.note(DRUMS, b + x / 4, HAT, 85 if x % 2 == 0 else 60)
        for at in (0, 1.75, 2.5):
            s.note(DRUMS, b + at, KICK, 110)
        for at in (1, 3):
            s.note(DRUMS, b + at, SNARE, 115)
        for at in (1.75, 3.25):
            s.note(DRUMS, b + at, SNARE, 40)    # ghost notes
    for at, step in ((0, 0), (0.75, 12), (1.5, 0), (2.25, 10), (2.75, 12), (3.5, 7)):
        s.note(BASS, b + at, root - 12 + step, 100, 0.2)
    for at in (0.25, 1.25, 1.75, 2.25, 3.25, 3.75):
        s.chord(CHORDS, b + at, [root + 12 + c for c in chord], 80, 0.15)


def _reggae(s: _Score, b: float, root: int, chord, drums: bool) -> None:
    if drums:
        s.note(DRUMS, b + 2, KICK, 110)
        s.note(DRUMS, b + 2, RIM, 100)
        for e in range(8):
            s.note(DRUMS, b + e / 2, HAT, 70 if e % 2 else 55)
    for at in (0.5, 1.5, 2.5, 3.5):
        s.chord(CHORDS, b + at, [root + 12 + c for c in chord], 95, 0.2)   # the skank
    for at, step in ((0, 0), (0.75, 0), (1.5, 7), (2.5, 5), (3, 3)):
        s.note(BASS, b + at, root - 12 + step, 95, 0.5)


def _hiphop(s: _Score, b: float, root: int, chord, drums: bool) -> None:
    if drums:
        for x in range(8):
            s.note(DRUMS, b + x / 2, HAT, 70)
        for at in (0, 0.75, 2.25, 2.5):
            s.note(DRUMS, b + at, KICK, 115)
        for at in (1, 3):
            s.note(DRUMS, b + at, SNARE, 115)
    s.note(BASS, b, root - 12, 100, 1.5)
    s.note(BASS, b + 2.25, root - 12, 90, 1.0)
    for at in (0, 1.5, 3):
        s.chord(CHORDS, b + at, [root + 12 + c for c in chord], 70, 1.0)


def _ballad(s: _Score, b: float, root: int, chord, drums: bool) -> None:
    arpeggio = (root, root + 7, root + 12 + chord[1] - chord[0], root + 19)
    for e in range(8):
        s.note(CHORDS, b + e / 2, arpeggio[e % 4] + 12, 85 if e % 4 == 0 else 70, 0.6)
    s.note(BASS, b, root - 12, 80, 3.5)


_BARS: dict[str, Callable[..., None]] = {
    "house": lambda s, b, r, c, d: _four_on_the_floor(s, b, r, c, d, trance=False),
    "trance": lambda s, b, r, c, d: _four_on_the_floor(s, b, r, c, d, trance=True),
    "rock": _rock, "funk": _funk, "reggae": _reggae, "hiphop": _hiphop, "ballad": _ballad,
}


def arrangement(style: str, bpm: float, seconds: float, seed: int = 0) -> Arrangement:
    """`seconds` of `style` at `bpm` (whole bars, at least one), and its beat times."""
    assert style in STYLES and bpm > 0 and seconds > 0, (style, bpm, seconds)
    score = _Score(bpm, seed, swing=0.33 if style == "hiphop" else 0.0)
    bass, chords = PROGRAMS[style]
    score.program(BASS, bass)
    score.program(CHORDS, chords)
    score.program(PAD, WARM_PAD)
    root = 45 + int(score.rng.integers(0, 7))
    bars = max(1, round(seconds / (4 * score.beat)))
    for bar in range(bars):
        b = 4.0 * bar
        chord = CHANGES[(bar // 2) % len(CHANGES)]
        drums = style != "ballad" and bar % 32 not in range(16, 24)
        if drums and bar % 8 == 0:
            score.note(DRUMS, b, CRASH, 100)
        score.chord(PAD, b, [root + 12 + c for c in chord], 50, 4.0)
        _BARS[style](score, b, root + chord[0], chord, drums)
    return Arrangement(midi_file(score.events), np.arange(4 * bars) * score.beat)


def variable_length(n: int) -> bytes:
    """MIDI's variable-length quantity: 7 bits a byte, the high bit set on all but the last."""
    out = [n & 0x7F]
    while n := n >> 7:
        out.append(0x80 | (n & 0x7F))
    return bytes(reversed(out))


def midi_file(events: list[tuple[float, bytes]]) -> bytes:
    """A one-track Standard MIDI File of (seconds, channel message) events, note-offs first
    at equal times (a note repeated at once is ended before it starts again)."""
    ordered = sorted(events, key=lambda e: (round(e[0] * TICKS_PER_SECOND), e[1][0] & 0xF0 != 0x80))
    track = b"\x00\xff\x51\x03" + (1_000_000).to_bytes(3, "big")   # 60 bpm: a quarter note is a second
    last = 0
    for seconds, message in ordered:
        tick = round(seconds * TICKS_PER_SECOND)
        track += variable_length(tick - last) + message
        last = tick
    track += b"\x00\xff\x2f\x00"
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_SECOND)
            + b"MTrk" + struct.pack(">I", len(track)) + track)
