"""The demo track: about 74 s of synthesized music whose emotion changes by section.

So a fresh machine has sound, and so tests know the truth: every beat time and each
section's intended valence and arousal are known. The sections follow the music cues of
Gabrielsson & Lindstrom and Eerola et al. (see shared/REFERENCES.md): major mode, fast
tempo, loud dynamics, bright timbre and high register for high valence and arousal; minor,
slow, soft, dark and low for low valence and arousal.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Callable

import numpy as np

from live.audio.synth import BUSY, DrumStyle, midi_to_hz, place, render_drums, tone

MAJOR_PROGRESSION = ((0, (0, 4, 7)), (7, (0, 4, 7)), (9, (0, 3, 7)), (5, (0, 4, 7)))      # I V vi IV
MINOR_PROGRESSION = ((0, (0, 3, 7)), (8, (0, 4, 7)), (3, (0, 4, 7)), (10, (0, 4, 7)))     # i VI III VII


@dataclass(frozen=True)
class SectionPlan:
    name: str
    bars: int
    bpm: float
    root: int               # MIDI note of the key's tonic
    major: bool
    brightness: float       # timbre of chords and lead, (0, 1): sine-like to saw-like
    loudness: float         # gain of the whole section
    drums: DrumStyle
    valence: float          # the intended emotion, in [-1, 1]
    arousal: float


@dataclass(frozen=True)
class Section:
    name: str
    start: float            # seconds
    end: float
    bpm: float
    valence: float
    arousal: float


@dataclass(frozen=True)
class DemoTrack:
    samples: np.ndarray     # [frames] float32 mono, peak 0.9
    sample_rate: int
    beats: np.ndarray       # every quarter-note time, seconds
    sections: tuple[Section, ...]

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


PLAN = (
    SectionPlan("bright", bars=16, bpm=128.0, root=60, major=True, brightness=0.75,
                loudness=1.0, drums=BUSY, valence=0.7, arousal=0.7),
    SectionPlan("dark", bars=8, bpm=84.0, root=57, major=False, brightness=0.2,
                loudness=0.3, drums=DrumStyle(gain=0.6), valence=-0.6, arousal=-0.6),
    SectionPlan("bright again", bars=12, bpm=140.0, root=62, major=True, brightness=0.8,
                loudness=1.0, drums=BUSY, valence=0.8, arousal=0.8),
)


Voice = Callable[[int, float, float, float], np.ndarray]   # (midi note, seconds, brightness, decay)


def _render_harmony(track: np.ndarray, sample_rate: int, start: float, plan: SectionPlan,
                    rng: np.random.Generator, voice: Voice) -> None:
    beat = 60.0 / plan.bpm
    progression = MAJOR_PROGRESSION if plan.major else MINOR_PROGRESSION
    # Fast, bright sections move in 8ths an octave up; slow, dark ones in quarters.
    lead_step = beat / 2 if plan.major else beat
    lead_octave = 12 if plan.major else 0
    for bar in range(plan.bars):
        degree, quality = progression[bar % len(progression)]
        bar_start = start + bar * 4 * beat
        chord = [plan.root + degree + q for q in quality]
        for note in chord:
            place(track, voice(note, 4 * beat, plan.brightness, 3.0), bar_start, sample_rate, 0.12 * plan.loudness)
        for b in range(4):
            place(track, voice(plan.root + degree - 24, beat, 0.5, 0.4), bar_start + b * beat,
                  sample_rate, 0.35 * plan.loudness)
        for i in range(int(round(4 * beat / lead_step))):
            note = chord[rng.integers(len(chord))] + lead_octave
            place(track, voice(note, lead_step, plan.brightness, 0.3), bar_start + i * lead_step,
                  sample_rate, 0.15 * plan.loudness)


def render_demo(seed: int = 0, sample_rate: int = 44100) -> DemoTrack:
    """The same seed and rate give the same samples."""
    rng = np.random.default_rng(seed)

    @cache  # a song repeats its notes: synthesize each distinct one once per render
    def voice(note: int, seconds: float, brightness: float, decay: float) -> np.ndarray:
        return tone(midi_to_hz(note), seconds, sample_rate, brightness, attack=0.02, decay=decay)

    duration = sum(p.bars * 4 * 60.0 / p.bpm for p in PLAN)
    track = np.zeros(int((duration + 0.5) * sample_rate), np.float32)
    beats, sections, start = [], [], 0.0
    for plan in PLAN:
        beats.append(render_drums(track, sample_rate, start, plan.bars, plan.bpm,
                                  replace(plan.drums, gain=plan.drums.gain * plan.loudness), rng))
        _render_harmony(track, sample_rate, start, plan, rng, voice)
        end = start + plan.bars * 4 * 60.0 / plan.bpm
        sections.append(Section(plan.name, start, end, plan.bpm, plan.valence, plan.arousal))
        start = end
    track *= 0.9 / np.abs(track).max()
    return DemoTrack(track, sample_rate, np.concatenate(beats), tuple(sections))
