"""Synthesized music whose valence and arousal are set by its cues, by a written rule.

Research on emotion in music finds a handful of cues that listeners read consistently,
with effects close to additive (Gabrielsson & Lindstrom 2010, review; Eerola, Friberg &
Bresin 2013, a factorial study of mode, tempo, dynamics, articulation, timbre and
register): arousal rises with tempo, loudness, staccato articulation, bright timbre, high
register and rhythmic density; valence rises with major mode and, less, with faster tempo
and higher register; mode and tempo carry most of valence, tempo and dynamics most of
arousal. Each clip draws its cues at random, the music is rendered from them, and the
label is an additive rule over the cues, each cue first mapped to [0, 1] over its range:

    arousal = 0.30 tempo + 0.25 loudness + 0.15 staccato + 0.10 brightness
              + 0.10 register + 0.10 density
    valence = 0.55 major + 0.30 tempo + 0.15 register

| cue | range | what the renderer does with it |
| --- | --- | --- |
| tempo | 60-180 BPM | beat length of chords, melody and drums |
| mode | major or minor (1/2 each overall) | scale (major / natural minor) of chords and melody |
| loudness | -24 to 0 dB | RMS level of the mix: 0 dB is -15 dBFS RMS (commercial tracks' level) |
| register | MIDI 48-84 (C3-C6) | centre of the melody; chords about an octave lower |
| staccato | 0-1 | notes sound for 1 - 0.8 staccato of their slot |
| brightness | 0-1 | harmonic k has amplitude r^(k-1)/k, r = 0.15 + 0.75 brightness |
| density | 1-4 melody notes per beat | melody subdivision; drum hats follow it |

Weights of one rule sum to 1, so labels span [0, 1]. They follow the ranking of the
studies above; their exact values are this project's choice, not fitted coefficients.

Cues are drawn so that clips spread over the whole square: each clip draws an arousal
drive and a valence drive, uniform in [0, 1]; each arousal cue (tempo, loudness, staccato,
brightness, density) sits at (1 - c) u + c * arousal drive of its range, with its own
uniform u and c = CUE_COUPLING = 0.5; register follows the valence drive the same way, and
the mode is major with probability = valence drive. Independent cues would bunch arousal
labels around 0.5 (standard deviation 0.13 instead of 0.15 over 5,000 clips); coupled cues
also resemble real music, where fast pieces tend to be loud. The label is computed from
the cues drawn, never from the drives.

Everything else about a clip is drawn too but carries no label: key, chord progression,
melody contour, velocities, and drums (present in half of the clips, kick and snare on the
beats). Labels get labels.RULE_WEIGHT.

Clip `index` of a corpus with `seed` is a pure function of (seed, index): all choices are
drawn from a generator seeded by the pair, before any sample is rendered, so one clip at
two sample rates is the same music. Held-out synthetic music is simply another seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from live.audio.synth import DrumStyle, midi_to_hz, render_drums
from live.space.data.labels import RULE_WEIGHT
from live.space.data.records import LabelledClip

TEMPO = (60.0, 180.0)  # BPM
LOUDNESS = (-24.0, 0.0)  # dB re _REFERENCE_RMS
REGISTER = (48.0, 84.0)  # MIDI note at the melody's centre
DENSITY = (1, 4)  # melody notes per beat
CUE_COUPLING = 0.5  # share of each cue's position set by the clip's common drive

AROUSAL_WEIGHTS = {"tempo": 0.30, "loudness": 0.25, "staccato": 0.15, "brightness": 0.10,
                   "register": 0.10, "density": 0.10}
VALENCE_WEIGHTS = {"major": 0.55, "tempo": 0.30, "register": 0.15}

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

    def normalized(self) -> dict[str, float]:
        """Each cue mapped to [0, 1] over its range: the inputs of the labelling rule."""

        def unit(value: float, span: tuple[float, float]) -> float:
            return (value - span[0]) / (span[1] - span[0])

        return {"tempo": unit(self.tempo, TEMPO), "major": float(self.major),
                "loudness": unit(self.loudness, LOUDNESS), "register": unit(self.register, REGISTER),
                "staccato": self.staccato, "brightness": self.brightness, "density": unit(self.density, DENSITY)}


def cue_va(cues: MusicCues) -> tuple[float, float]:
    """(valence, arousal) in [0, 1] by the additive rule of the module docstring."""
    unit = cues.normalized()
    valence = sum(w * unit[name] for name, w in VALENCE_WEIGHTS.items())
    arousal = sum(w * unit[name] for name, w in AROUSAL_WEIGHTS.items())
    return min(1.0, max(0.0, valence)), min(1.0, max(0.0, arousal))


def draw_cues(rng: np.random.Generator) -> MusicCues:
    """Random cues, coupled through the clip's drives (see the module docstring)."""
    arousal_drive, valence_drive = rng.random(2)

    def position(drive: float) -> float:
        return (1.0 - CUE_COUPLING) * rng.random() + CUE_COUPLING * drive

    def within(span: tuple[float, float], drive: float) -> float:
        return span[0] + (span[1] - span[0]) * position(drive)

    return MusicCues(tempo=within(TEMPO, arousal_drive), major=bool(rng.random() < valence_drive),
                     loudness=within(LOUDNESS, arousal_drive), register=within(REGISTER, valence_drive),
                     staccato=position(arousal_drive), brightness=position(arousal_drive),
                     density=min(DENSITY[1], DENSITY[0] + int(position(arousal_drive) * 4)))


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


@dataclass(frozen=True)
class SynthMusicConfig:
    seed: int = 0  # names the corpus; a held-out corpus is another seed
    seconds: float = 4.0  # clip length

    def __post_init__(self) -> None:
        assert self.seed >= 0 and self.seconds > 0.0, (self.seed, self.seconds)


def _rng(config: SynthMusicConfig, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, index, stream])


def clip_cues(config: SynthMusicConfig, index: int) -> MusicCues:
    return draw_cues(_rng(config, index, 0))


def render_clip(config: SynthMusicConfig, index: int, sample_rate: int) -> np.ndarray:
    rng = _rng(config, index, 0)
    cues = draw_cues(rng)
    score = compose(cues, rng, config.seconds)
    # Drum noise takes as many draws as the sample rate asks: a stream of its own keeps
    # everything else identical across sample rates.
    return render(cues, score, sample_rate, config.seconds, _rng(config, index, 1))


@dataclass(frozen=True)
class SynthClip:
    """Clip `index` of a synthetic corpus, rendered on demand (ClipAudio)."""

    config: SynthMusicConfig
    index: int

    def load(self, sample_rate: int) -> np.ndarray:
        return render_clip(self.config, self.index, sample_rate)


def synthetic_music(config: SynthMusicConfig, count: int, index0: int = 0) -> list[LabelledClip]:
    """Records of clips index0 .. index0 + count - 1; labels come from the cues alone, so
    nothing is rendered until a clip is loaded."""
    records = []
    for index in range(index0, index0 + count):
        valence, arousal = cue_va(clip_cues(config, index))
        records.append(LabelledClip(SynthClip(config, index), valence, arousal, RULE_WEIGHT,
                                    "synth-music", f"synth-music/{config.seed}/{index}"))
    return records

