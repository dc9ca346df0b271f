"""Music rendered from the cues listeners read emotion from: tempo, mode, loudness, register,
articulation, timbre and rhythmic density (Gabrielsson & Lindstrom 2010; Eerola, Friberg &
Bresin 2013). Chords on every beat and a melody wandering over the scale, optionally over
a drum kit, all of it set by the cues:

| cue | what the renderer does with it |
| --- | --- |
| tempo (BPM) | beat length of chords, melody and drums |
| mode | scale (major / natural minor) of chords and melody |
| loudness (dB) | RMS level of the mix: 0 dB is -15 dBFS RMS (commercial tracks' level) |
| register (MIDI note) | centre of the melody; chords about an octave lower |
| staccato (0-1) | notes sound for 1 - 0.8 staccato of their slot |
| brightness (0-1) | harmonic k has amplitude r^(k-1)/k, r = 0.15 + 0.75 brightness |
| density (1-4) | melody notes per beat; drum hats follow it |

The synthetic music corpus (live.space.data.synth_music) labels these clips by a rule over
their cues; the demo track (live.audio.demo) strings sections of them together. Pure NumPy:
the same cues, generators and sample rate give the same samples.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from live.audio.synth import DrumStyle, midi_to_hz, render_drums

_REFERENCE_RMS = 0.178  # the RMS of a 0 dB clip: -15 dBFS, about the median level of the 4Q clips
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])  # natural minor
# Chord roots as scale degrees, one chord per bar: I-V-vi-IV, I-IV-V-I, I-vi-IV-V in major;
# the same degrees give i-v-VI-iv, i-iv-v-i, i-VI-iv-v in minor.
_PROGRESSIONS = ((0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4))
_STEPS = np.array([-2, -1, 0, 1, 2])  # melody moves by scale steps, mostly by one
_STEP_ODDS = np.array([0.15, 0.3, 0.1, 0.3, 0.15])
_HATS = {1: (0, 4, 8, 12), 2: tuple(range(0, 16, 2)), 3: (0, 2, 3, 4, 6, 8, 10, 11, 12, 14), 4: tuple(range(16))}
_TABLE_SIZE = 4096
_ATTACK, _DECAY, _RELEASE = 0.005, 0.8, 0.03  # seconds: envelope ramp up, 1/e decay, ramp down
_CHORD_GAIN, _DRUM_GAIN = 0.35, 0.5  # relative to the melody


@dataclass(frozen=True)
class MusicCues:
    tempo: float  # BPM
    major: bool  # mode
    loudness: float  # dB re -15 dBFS RMS
    register: float  # MIDI note at the melody's centre
    staccato: float  # 0 legato .. 1 staccato
    brightness: float  # 0 dark (near sine) .. 1 bright (near sawtooth)
    density: int  # melody notes per beat


@dataclass(frozen=True)
class Score:
    """The notes of a clip, independent of sample rate. Times in seconds."""

    onsets: np.ndarray  # [n]
    durations: np.ndarray  # [n] time each note is held before its release
    pitches: np.ndarray  # [n] MIDI note numbers
    gains: np.ndarray  # [n] linear amplitude
    drums: bool
    bars: int


def compose(cues: MusicCues, rng: np.random.Generator, seconds: float) -> Score:
    """Chords struck on every beat and a melody on a `density`-per-beat grid, in a random
    key and progression, long enough to fill `seconds`."""
    beat = 60.0 / cues.tempo
    bars = ceil(seconds / (4 * beat))
    tonic = int(rng.integers(12))
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    scale = _MAJOR if cues.major else _MINOR
    # Chords are built from degree 0; the melody wanders over degrees 3..14, whose middle
    # lies about 15 semitones above degree 0: put that middle at the register cue.
    base = tonic + 12 * round((cues.register - 15 - tonic) / 12)

    def pitch(degrees: np.ndarray) -> np.ndarray:
        return base + scale[degrees % 7] + 12 * (degrees // 7)

    gate = 1.0 - 0.8 * cues.staccato
    beats = np.arange(bars * 4)
    chord_roots = np.array(progression)[(beats // 4) % len(progression)]
    chord_degrees = chord_roots[:, None] + np.array([0, 2, 4])  # root-position triads
    chord_onsets = np.repeat(beats * beat, 3)
    chord_pitches = pitch(chord_degrees.ravel())

    slots = bars * 4 * cues.density
    steps = rng.choice(_STEPS, size=slots, p=_STEP_ODDS)
    # A random walk folded back into the octave and a fifth above degree 3.
    walk = np.cumsum(steps) + 7
    melody_degrees = 3 + np.abs((walk - 3 + 11) % 22 - 11)
    slot = beat / cues.density
    melody_onsets = np.arange(slots) * slot
    on_beat = np.arange(slots) % cues.density == 0
    melody_gains = rng.uniform(0.7, 1.0, slots) * np.where(on_beat, 1.0, 0.8)
    chord_gains = _CHORD_GAIN * np.repeat(rng.uniform(0.7, 1.0, len(beats)), 3)

    return Score(onsets=np.concatenate([chord_onsets, melody_onsets]),
                 durations=np.concatenate([np.full(len(chord_onsets), beat * gate), np.full(slots, slot * gate)]),
                 pitches=np.concatenate([chord_pitches, pitch(melody_degrees)]).astype(float),
                 gains=np.concatenate([chord_gains, melody_gains]),
                 drums=bool(rng.random() < 0.5), bars=bars)


def wavetable(brightness: float, highest_hz: float, sample_rate: int) -> np.ndarray:
    """One cycle, peak 1: harmonic k at r^(k-1)/k, r = 0.15 + 0.75 brightness, up to the
    last harmonic of the highest note below Nyquist (no aliasing)."""
    rolloff = 0.15 + 0.75 * brightness
    count = max(1, min(int(sample_rate / 2 // highest_hz), 1 + int(np.log(1e-3) / np.log(rolloff))))
    k = np.arange(1, count + 1)[:, None]
    x = np.arange(_TABLE_SIZE) / _TABLE_SIZE
    table = (rolloff ** (k - 1) / k * np.sin(2 * np.pi * k * x)).sum(axis=0)
    return (table / np.abs(table).max()).astype(np.float32)


def render_notes(score: Score, table: np.ndarray, sample_rate: int, length: int) -> np.ndarray:
    """All notes at once: one gather from the wavetable and one scatter-add into the track."""
    starts = np.round(score.onsets * sample_rate).astype(np.int64)
    keep = starts < length
    starts, held = starts[keep], (score.durations[keep] * sample_rate).astype(np.float32)
    # Table entries to advance per sample, in float64: phases reach millions of entries.
    steps = midi_to_hz(score.pitches[keep]) * (_TABLE_SIZE / sample_rate)
    release, attack = _RELEASE * sample_rate, _ATTACK * sample_rate
    lengths = np.minimum(np.round(held + release).astype(np.int64), length - starts)
    note = np.repeat(np.arange(len(starts)), lengths)
    offset = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    samples = table[((offset * steps[note]) % _TABLE_SIZE).astype(np.int64)]
    t = offset.astype(np.float32)
    samples *= np.minimum(1.0, t / attack) * np.clip((held[note] + release - t) / release, 0.0, 1.0)
    samples *= np.exp(t * np.float32(-1.0 / (_DECAY * sample_rate))) * score.gains[keep].astype(np.float32)[note]
    return np.bincount(starts[note] + offset, weights=samples, minlength=length)[:length].astype(np.float32)


def render(cues: MusicCues, score: Score, sample_rate: int, seconds: float,
           drum_rng: np.random.Generator) -> np.ndarray:
    """[seconds * sample_rate] float32 mono at the RMS level the loudness cue asks for."""
    length = int(round(seconds * sample_rate))
    table = wavetable(cues.brightness, midi_to_hz(float(score.pitches.max())), sample_rate)
    track = render_notes(score, table, sample_rate, length)
    if score.drums:
        drums = np.zeros(int(ceil(score.bars * 240.0 / cues.tempo * sample_rate)) + sample_rate, np.float32)
        style = DrumStyle(hat_steps=_HATS[cues.density], gain=_DRUM_GAIN)
        render_drums(drums, sample_rate, 0.0, score.bars, cues.tempo, style, drum_rng)
        track += drums[:length]
    fade = min(length // 2, int(0.01 * sample_rate))  # no click at either edge
    track[:fade] *= np.linspace(0.0, 1.0, fade, dtype=np.float32)
    track[length - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    rms = float(np.sqrt(np.mean(track.astype(np.float64) ** 2)))
    track *= _REFERENCE_RMS * 10.0 ** (cues.loudness / 20.0) / max(rms, 1e-9)
    peak = float(np.abs(track).max())
    if peak > 0.99:  # rare (none in 300 clips): loud and spiky; a little quieter beats clipping
        track *= 0.99 / peak
    return track

