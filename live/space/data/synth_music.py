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

Clips are rendered by live.audio.cue_music (its docstring says what each cue does to the
sound); the corpus draws each cue over a range:

| cue | range |
| --- | --- |
| tempo | 60-180 BPM |
| mode | major or minor (1/2 each overall) |
| loudness | -24 to 0 dB (0 dB is -15 dBFS RMS) |
| register | MIDI 48-84 (C3-C6) |
| staccato | 0-1 |
| brightness | 0-1 |
| density | 1-4 melody notes per beat |

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

import numpy as np

from live.audio.cue_music import MusicCues, compose, render
from live.space.data.labels import RULE_WEIGHT
from live.space.data.records import LabelledClip

TEMPO = (60.0, 180.0)  # BPM
LOUDNESS = (-24.0, 0.0)  # dB re -15 dBFS RMS (cue_music)
REGISTER = (48.0, 84.0)  # MIDI note at the melody's centre
DENSITY = (1, 4)  # melody notes per beat
CUE_COUPLING = 0.5  # share of each cue's position set by the clip's common drive

AROUSAL_WEIGHTS = {"tempo": 0.30, "loudness": 0.25, "staccato": 0.15, "brightness": 0.10,
                   "register": 0.10, "density": 0.10}
VALENCE_WEIGHTS = {"major": 0.55, "tempo": 0.30, "register": 0.15}


def normalized(cues: MusicCues) -> dict[str, float]:
    """Each cue mapped to [0, 1] over its range: the inputs of the labelling rule."""

    def unit(value: float, span: tuple[float, float]) -> float:
        return (value - span[0]) / (span[1] - span[0])

    return {"tempo": unit(cues.tempo, TEMPO), "major": float(cues.major),
            "loudness": unit(cues.loudness, LOUDNESS), "register": unit(cues.register, REGISTER),
            "staccato": cues.staccato, "brightness": cues.brightness, "density": unit(cues.density, DENSITY)}


def cue_va(cues: MusicCues) -> tuple[float, float]:
    """(valence, arousal) in [0, 1] by the additive rule of the module docstring."""
    unit = normalized(cues)
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

