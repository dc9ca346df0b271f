"""Band arrangements: the MIDI they write, and where their drums fall against their beats."""
from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest

from live.bench.band import DRUMS, KICK, STYLES, TICKS_PER_SECOND, variable_length, arrangement, midi_file


def read_events(data: bytes) -> list[tuple[float, int, int, int]]:
    """(seconds, status, data1, data2) of a one-track file written at 60 bpm."""
    assert data[:4] == b"MThd"
    _, fmt, tracks, division = struct.unpack(">IHHH", data[4:14])
    assert (fmt, tracks, division) == (0, 1, TICKS_PER_SECOND)
    assert data[14:18] == b"MTrk"
    end = 22 + struct.unpack(">I", data[18:22])[0]
    assert end == len(data)
    i, tick, events = 22, 0, []
    while i < end:
        delta = 0
        while True:
            byte = data[i]
            i += 1
            delta = (delta << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        tick += delta
        if data[i] == 0xFF:                       # meta: type, length, payload
            i += 3 + data[i + 2]
            continue
        size = 2 if data[i] & 0xF0 == 0xC0 else 3
        events.append((tick / TICKS_PER_SECOND, data[i], data[i + 1], data[i + 2] if size == 3 else 0))
        i += size
    return events


@pytest.mark.parametrize("value,encoded", [(0, "00"), (0x7F, "7f"), (0x80, "8100"), (0x2000, "c000"),
                                           (0x3FFF, "ff7f"), (0x0FFFFFFF, "ffffff7f")])
def test_delta_times_are_midivariable_length_numbers(value, encoded):
    assert variable_length(value).hex() == encoded


def test_a_note_ended_and_struck_again_at_the_same_time_is_ended_first():
    events = read_events(midi_file([(1.0, bytes([0x90, 60, 100])), (1.0, bytes([0x80, 60, 0])),
                                    (0.5, bytes([0x90, 60, 90]))]))
    assert [(t, status) for t, status, _, _ in events] == [(0.5, 0x90), (1.0, 0x80), (1.0, 0x90)]


def test_house_kicks_fall_on_every_beat_but_in_the_breakdown():
    song = arrangement("house", 120.0, 80.0, seed=3)
    assert len(song.beats) == 4 * 40 and np.allclose(np.diff(song.beats), 0.5)
    kicks = np.array([t for t, status, note, velocity in read_events(song.midi)
                      if status == 0x90 | DRUMS and note == KICK and velocity > 0])
    bar = (kicks // 2.0).astype(int)
    assert not np.any((bar >= 16) & (bar < 24))            # the breakdown: no drums
    played = song.beats[~np.isin((song.beats // 2.0).astype(int), range(16, 24))]
    assert len(kicks) == len(played)
    assert np.max(np.abs(kicks - played)) < 0.04           # a few ms of human timing


@pytest.mark.parametrize("style", STYLES)
def test_every_style_plays_notes_through_the_whole_song(style):
    song = arrangement(style, 100.0, 30.0, seed=1)
    starts = [t for t, status, _, velocity in read_events(song.midi) if status & 0xF0 == 0x90 and velocity]
    assert min(starts) < 0.1 and max(starts) > song.beats[-1] - 2.4


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth is not installed")
def test_a_rock_arrangement_played_by_fluidsynth_is_tracked_on_its_beats(tmp_path):
    import soundfile as sf

    from live.audio.analyzer import AudioAnalyzer
    from live.bench.beat_metrics import score_beats
    from live.space.data.midi import DEFAULT_SOUNDFONT, MidiRenderer

    if not DEFAULT_SOUNDFONT.is_file():
        pytest.skip(f"no soundfont at {DEFAULT_SOUNDFONT}")
    song = arrangement("rock", 110.0, 30.0, seed=2)
    (tmp_path / "song.mid").write_bytes(song.midi)
    MidiRenderer(sample_rate=22050).render(tmp_path / "song.mid", tmp_path / "song.flac")
    samples, rate = sf.read(tmp_path / "song.flac", dtype="float32")
    analyzer, beats = AudioAnalyzer(rate), []
    for start in range(0, len(samples), 512):
        beats += analyzer.feed(samples[start:start + 512]).beats
    assert score_beats(np.array(beats), song.beats, 0.07, 5.0).f_measure > 0.9
