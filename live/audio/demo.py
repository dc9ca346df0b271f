"""The demo track: about 76 s of synthesized music that visits the four quadrants of
valence and arousal, a section each.

So a fresh machine has sound and a show that visibly follows it, and so tests know the
truth: every beat time and each section's intended valence and arousal are known. Each
section is cue music (live.audio.cue_music) with the cues of Gabrielsson & Lindstrom and
Eerola et al. (see shared/REFERENCES.md) set near the ends of their ranges: fast, loud,
staccato, bright and dense for high arousal; slow, soft, legato, dark and sparse for low;
major mode and a high register for high valence, minor and low for low valence.

The default space learned to read these cues from the synthetic music corpus, which the
same renderer makes, so its music encoder tells the sections apart more clearly than it
does real music (models/default/MODEL_CARD.md has its held-out numbers on both).
"""
from dataclasses import dataclass, replace

import numpy as np

from live.audio.cue_music import MusicCues, compose, render

BEATS_PER_BAR = 4  # every section is in 4/4, and whole bars long


@dataclass(frozen=True)
class SectionPlan:
    name: str
    bars: int
    cues: MusicCues
    drums: bool
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

    @property
    def places(self) -> np.ndarray:
        """Each beat's place in its bar (1 on the downbeat)."""
        return np.arange(len(self.beats)) % BEATS_PER_BAR + 1


PLAN = (
    SectionPlan("joyful", bars=12, cues=MusicCues(tempo=132.0, major=True, loudness=-3.0, register=78.0,
                                                  staccato=0.8, brightness=0.85, density=4),
                drums=True, valence=0.7, arousal=0.7),
    SectionPlan("sad", bars=5, cues=MusicCues(tempo=66.0, major=False, loudness=-20.0, register=52.0,
                                              staccato=0.1, brightness=0.1, density=1),
                drums=False, valence=-0.7, arousal=-0.7),
    SectionPlan("tense", bars=12, cues=MusicCues(tempo=156.0, major=False, loudness=-2.0, register=54.0,
                                                 staccato=0.9, brightness=0.95, density=4),
                drums=True, valence=-0.5, arousal=0.8),
    SectionPlan("serene", bars=6, cues=MusicCues(tempo=84.0, major=True, loudness=-18.0, register=76.0,
                                                 staccato=0.15, brightness=0.15, density=2),
                drums=False, valence=0.6, arousal=-0.5),
)


def demo_seconds() -> float:
    """The track's length, known without rendering it (to a sample's rounding per section)."""
    return sum(plan.bars * BEATS_PER_BAR * 60.0 / plan.cues.tempo for plan in PLAN)


def render_demo(seed: int = 0, sample_rate: int = 44100) -> DemoTrack:
    """The same seed and rate give the same samples."""
    parts, beats, sections, start = [], [], [], 0.0
    for index, plan in enumerate(PLAN):
        beat = 60.0 / plan.cues.tempo
        seconds = plan.bars * BEATS_PER_BAR * beat
        # A generator per section and per use, as the corpus draws its clips: the notes do not
        # depend on the sample rate, which only the drums' noise draws from.
        score = replace(compose(plan.cues, np.random.default_rng([seed, index, 0]), seconds), drums=plan.drums)
        parts.append(render(plan.cues, score, sample_rate, seconds, np.random.default_rng([seed, index, 1])))
        beats.append(start + np.arange(plan.bars * BEATS_PER_BAR) * beat)
        end = start + len(parts[-1]) / sample_rate
        sections.append(Section(plan.name, start, end, plan.cues.tempo, plan.valence, plan.arousal))
        start = end
    track = np.concatenate(parts)
    track *= 0.9 / np.abs(track).max()
    return DemoTrack(track, sample_rate, np.concatenate(beats), tuple(sections))
