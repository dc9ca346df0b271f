"""Synthesized drums: the voices of a kit, and patterns played with their true beat times.

Pure NumPy and deterministic from a seed. The beat-tracking tests and the beat benchmark
are built from these pieces, and cue music (the demo track, the synthetic corpus) plays
them, so their ground truth is exact by construction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEPS_PER_BAR = 16  # 4/4 bars on a 16th-note grid
STEPS_PER_BEAT = 4


def midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _decay(n: int, sample_rate: int, seconds: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (seconds * sample_rate)).astype(np.float32)


def _highpass(x: np.ndarray) -> np.ndarray:
    """A first difference: enough to move white noise towards the cymbal range."""
    return np.diff(x, prepend=x[:1]).astype(np.float32)


def kick(sample_rate: int) -> np.ndarray:
    """A sine whose pitch falls from 150 to 45 Hz, with a short click on the attack."""
    n = int(0.35 * sample_rate)
    t = np.arange(n) / sample_rate
    freq = 45.0 + 105.0 * np.exp(-t / 0.04)
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    body = np.sin(phase) * _decay(n, sample_rate, 0.12)
    click = np.zeros(n, np.float32)
    click[: int(0.002 * sample_rate)] = 0.5
    return (body + click).astype(np.float32)


def snare(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A 190 Hz drum tone under a burst of brightened noise."""
    n = int(0.2 * sample_rate)
    t = np.arange(n) / sample_rate
    tone = 0.5 * np.sin(2 * np.pi * 190.0 * t) * _decay(n, sample_rate, 0.05)
    noise = 0.6 * _highpass(rng.standard_normal(n).astype(np.float32)) * _decay(n, sample_rate, 0.06)
    return (tone + noise).astype(np.float32)


def hihat(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.06 * sample_rate)
    noise = _highpass(_highpass(rng.standard_normal(n).astype(np.float32)))
    return (0.15 * noise * _decay(n, sample_rate, 0.012)).astype(np.float32)


def place(track: np.ndarray, sound: np.ndarray, at_seconds: float, sample_rate: int,
          gain: float = 1.0) -> None:
    """Mix `sound` into mono `track` starting at `at_seconds`, clipped at the track's end."""
    start = int(round(at_seconds * sample_rate))
    if start >= len(track):
        return
    end = min(len(track), start + len(sound))
    track[start:end] += gain * sound[: end - start]


@dataclass(frozen=True)
class DrumStyle:
    """A one-bar drum pattern on the 16th-note grid, and how it is played."""

    kick_steps: tuple[int, ...] = (0, 8)           # on beats 1 and 3
    snare_steps: tuple[int, ...] = (4, 12)         # the backbeat, 2 and 4
    hat_steps: tuple[int, ...] = tuple(range(0, 16, 2))  # straight 8ths
    swing: float = 0.0      # offbeat 8ths are late by this fraction of an 8th (1/3: triplet feel)
    fill_every: int = 0     # every N bars, the last beat is a snare roll (0: never)
    gain: float = 1.0

    def __post_init__(self) -> None:
        assert 0.0 <= self.swing < 1.0, self.swing
        assert all(0 <= s < STEPS_PER_BAR for s in self.kick_steps + self.snare_steps + self.hat_steps)


STEADY = DrumStyle()
BUSY = DrumStyle(kick_steps=(0, 8, 10), hat_steps=tuple(range(16)))
SWUNG = DrumStyle(swing=1 / 3)
FILLS = DrumStyle(fill_every=4)


def render_drums(track: np.ndarray, sample_rate: int, start: float, bars: int, bpm: float,
                 style: DrumStyle, rng: np.random.Generator) -> np.ndarray:
    """Play `bars` bars of `style` into mono `track` from `start` seconds; return the beat times."""
    step = 60.0 / bpm / STEPS_PER_BEAT
    voices = {"kick": kick(sample_rate), "snare": snare(sample_rate, rng), "hat": hihat(sample_rate, rng)}
    for bar in range(bars):
        fill = style.fill_every > 0 and bar % style.fill_every == style.fill_every - 1
        for s in range(STEPS_PER_BAR):
            offbeat_eighth = s % STEPS_PER_BEAT == 2
            at = start + (bar * STEPS_PER_BAR + s) * step + (style.swing * 2 * step if offbeat_eighth else 0.0)
            # Small random velocities keep the track from being a loop of identical samples.
            velocity = style.gain * (0.85 + 0.15 * rng.random())
            if s in style.kick_steps:
                place(track, voices["kick"], at, sample_rate, velocity)
            if fill and s >= 12:  # a crescendo of 16ths into the next bar
                place(track, voices["snare"], at, sample_rate, velocity * (0.6 + 0.1 * (s - 11)))
            elif s in style.snare_steps:
                place(track, voices["snare"], at, sample_rate, velocity)
            if s in style.hat_steps:
                place(track, voices["hat"], at, sample_rate, velocity)
    return start + np.arange(bars * STEPS_PER_BAR // STEPS_PER_BEAT) * STEPS_PER_BEAT * step


@dataclass(frozen=True)
class DrumTrack:
    samples: np.ndarray      # [n] float32 mono, peak 0.9
    sample_rate: int
    beats: np.ndarray        # true quarter-note times in seconds
    bpm: float


def drum_track(bpm: float, seconds: float, sample_rate: int = 44100,
               style: DrumStyle = STEADY, seed: int = 0) -> DrumTrack:
    """Whole bars of drums filling about `seconds`, starting at time 0."""
    rng = np.random.default_rng(seed)
    bars = max(1, int(round(seconds * bpm / 240.0)))
    track = np.zeros(int((bars * 240.0 / bpm + 0.5) * sample_rate), np.float32)
    beats = render_drums(track, sample_rate, 0.0, bars, bpm, style, rng)
    track *= 0.9 / np.abs(track).max()
    return DrumTrack(track, sample_rate, beats, bpm)
