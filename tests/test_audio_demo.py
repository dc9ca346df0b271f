from __future__ import annotations

import numpy as np
import pytest

from live.audio.demo import PLAN, demo_seconds, render_demo

RATE = 22050


@pytest.fixture(scope="module")
def demo():
    return render_demo(seed=0, sample_rate=RATE)


def test_the_same_seed_gives_the_same_track_and_another_seed_another(demo):
    np.testing.assert_array_equal(render_demo(seed=0, sample_rate=RATE).samples, demo.samples)
    assert not np.array_equal(render_demo(seed=1, sample_rate=RATE).samples, demo.samples)


def test_sections_cover_the_track_and_swing_between_emotions(demo):
    assert 60.0 <= demo.duration <= 90.0 and abs(demo_seconds() - demo.duration) < 1e-3
    assert demo.sections[0].start == 0.0 and demo.sections[-1].end <= demo.duration
    assert all(a.end == b.start for a, b in zip(demo.sections, demo.sections[1:]))
    signs = [(np.sign(s.valence), np.sign(s.arousal)) for s in demo.sections]
    assert sorted(signs) == [(-1, -1), (-1, 1), (1, -1), (1, 1)]  # one section per quadrant
    assert all(a != b for a, b in zip(signs, signs[1:]))


def test_each_section_s_cues_say_what_it_intends_by_the_synthetic_corpus_s_rule():
    from live.space.data.synth_music import cue_va

    for plan in PLAN:
        valence, arousal = cue_va(plan.cues)
        assert np.sign(valence - 0.5) == np.sign(plan.valence) and np.sign(arousal - 0.5) == np.sign(plan.arousal)


def spectral_centroid(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float((spectrum * np.fft.rfftfreq(len(x), 1 / RATE)).sum() / spectrum.sum())


def test_happy_sections_are_faster_louder_and_brighter_than_sad_ones(demo):
    def cues(section):
        x = demo.samples[int(section.start * RATE):int(section.end * RATE)]
        return section.bpm, float(np.sqrt(np.mean(x ** 2))), spectral_centroid(x)

    happy = [cues(s) for s in demo.sections if s.arousal > 0]
    sad = [cues(s) for s in demo.sections if s.arousal < 0]
    for h in happy:
        for s in sad:
            assert h[0] > s[0] and h[1] > 2 * s[1] and h[2] > s[2]


def test_beats_follow_each_sections_tempo(demo):
    for section in demo.sections:
        beats = demo.beats[(demo.beats >= section.start) & (demo.beats < section.end - 1e-9)]
        np.testing.assert_allclose(np.diff(beats), 60.0 / section.bpm)
