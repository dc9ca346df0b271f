"""The synthetic corpora: music labelled by its cues, images labelled by their colour."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from live.audio.cue_music import MusicCues, compose, render
from live.corpus.procedural import ProceduralConfig
from live.space.data.color_emotion import valdez_mehrabian, valdez_mehrabian_va
from live.space.data.procedural_va import ProceduralVAImages
from live.space.data.synth_music import (AROUSAL_WEIGHTS, LOUDNESS, REGISTER, TEMPO, VALENCE_WEIGHTS, SynthMusicConfig,
                                         clip_cues, cue_va, render_clip, synthetic_music)

MIDDLE = MusicCues(tempo=120.0, major=True, loudness=-12.0, register=66.0, staccato=0.5, brightness=0.5, density=2)
LOW_HIGH = {"tempo": TEMPO, "major": (False, True), "loudness": LOUDNESS, "register": REGISTER,
            "staccato": (0.0, 1.0), "brightness": (0.0, 1.0), "density": (1, 4)}


@pytest.mark.parametrize("cue", sorted(LOW_HIGH))
def test_moving_one_cue_up_moves_labels_by_its_weight_in_the_documented_direction(cue):
    low, high = (cue_va(replace(MIDDLE, **{cue: end})) for end in LOW_HIGH[cue])
    assert high[0] - low[0] == pytest.approx(VALENCE_WEIGHTS.get(cue, 0.0))
    assert high[1] - low[1] == pytest.approx(AROUSAL_WEIGHTS.get(cue, 0.0))


def test_rules_span_the_unit_square_and_mode_and_tempo_lead_valence_tempo_and_loudness_arousal():
    assert sum(VALENCE_WEIGHTS.values()) == pytest.approx(1.0) and sum(AROUSAL_WEIGHTS.values()) == pytest.approx(1.0)
    lowest = MusicCues(TEMPO[0], False, LOUDNESS[0], REGISTER[0], 0.0, 0.0, 1)
    highest = MusicCues(TEMPO[1], True, LOUDNESS[1], REGISTER[1], 1.0, 1.0, 4)
    assert cue_va(lowest) == pytest.approx((0.0, 0.0)) and cue_va(highest) == pytest.approx((1.0, 1.0))
    assert sorted(VALENCE_WEIGHTS, key=VALENCE_WEIGHTS.get)[-2:] == ["tempo", "major"]
    assert sorted(AROUSAL_WEIGHTS, key=AROUSAL_WEIGHTS.get)[-2:] == ["loudness", "tempo"]


def rendered(cues: MusicCues, sample_rate: int = 16000, drums: bool = False) -> np.ndarray:
    score = replace(compose(cues, np.random.default_rng(7), 2.0), drums=drums)
    return render(cues, score, sample_rate, 2.0, np.random.default_rng(8))


def spectral_centroid(x: np.ndarray, sample_rate: int) -> float:
    """Magnitude-weighted mean frequency, the usual correlate of perceived brightness."""
    magnitude = np.abs(np.fft.rfft(x))
    return float((np.fft.rfftfreq(len(x), 1 / sample_rate) * magnitude).sum() / magnitude.sum())


def test_the_audio_follows_the_cues():
    base = rendered(MIDDLE)
    rms = lambda x: float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))  # noqa: E731
    assert rms(rendered(replace(MIDDLE, loudness=0.0))) / rms(rendered(replace(MIDDLE, loudness=-20.0))) == \
        pytest.approx(10.0, rel=1e-3)
    assert spectral_centroid(rendered(replace(MIDDLE, brightness=0.9)), 16000) > \
        1.5 * spectral_centroid(rendered(replace(MIDDLE, brightness=0.1)), 16000)
    assert spectral_centroid(rendered(replace(MIDDLE, register=80.0)), 16000) > \
        1.5 * spectral_centroid(rendered(replace(MIDDLE, register=52.0)), 16000)
    # Staccato leaves gaps: more of the clip is near silence than when played legato.
    quiet = lambda x: float(np.mean(np.abs(x) < 0.05 * np.abs(x).max()))  # noqa: E731
    assert quiet(rendered(replace(MIDDLE, staccato=1.0))) > quiet(rendered(replace(MIDDLE, staccato=0.0))) + 0.05
    assert base.dtype == np.float32 and len(base) == 32000 and np.abs(base).max() < 1.0


def test_a_clip_is_a_pure_function_of_seed_and_index():
    config = SynthMusicConfig(seed=3, seconds=1.0)
    first = render_clip(config, 5, 8000)
    np.testing.assert_array_equal(first, render_clip(config, 5, 8000))
    assert not np.array_equal(first, render_clip(config, 6, 8000))
    assert not np.array_equal(first, render_clip(SynthMusicConfig(seed=4, seconds=1.0), 5, 8000))
    assert len(render_clip(config, 5, 16000)) == 16000  # the same clip at another rate


def test_records_carry_the_rule_labels_and_render_on_load():
    config = SynthMusicConfig(seed=1, seconds=0.5)
    records = synthetic_music(config, 3, index0=10)
    assert [r.split_key for r in records] == ["synth-music/1/10", "synth-music/1/11", "synth-music/1/12"]
    for record, index in zip(records, range(10, 13)):
        assert (record.valence, record.arousal) == cue_va(clip_cues(config, index))
        assert record.weight == 0.5 and record.source == "synth-music"
    np.testing.assert_array_equal(records[0].load(8000), render_clip(config, 10, 8000))


def flat(rgb: tuple[float, float, float]) -> torch.Tensor:
    return torch.tensor(rgb).view(1, 3, 1, 1).expand(1, 3, 4, 4)


def test_colour_emotion_of_dark_grey_and_bright_saturated_images():
    dark_grey = valdez_mehrabian_va(flat((0.2, 0.2, 0.2)))[0]
    bright_red = valdez_mehrabian_va(flat((1.0, 0.0, 0.0)))[0]
    # B = 0.2, S = 0: pleasure 0.138 / 0.91; arousal (-0.062 + 0.31) / 0.91.
    torch.testing.assert_close(dark_grey, torch.tensor([0.138 / 0.91, 0.248 / 0.91]))
    torch.testing.assert_close(bright_red, torch.tensor([1.0, 0.6 / 0.91]))
    assert bright_red[0] > dark_grey[0] and bright_red[1] > dark_grey[1]


def test_colour_emotion_scale_is_the_exact_range_of_each_equation():
    # The four corners of (B, S): black, white, dark saturated, bright saturated.
    corners = valdez_mehrabian(torch.tensor([0.0, 1.0, 0.0, 1.0]), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    expected = torch.tensor([[0.0, 0.31], [0.69, 0.0], [0.22, 0.91], [0.91, 0.60]]) / 0.91
    torch.testing.assert_close(corners, expected)
    # Each dimension reaches both ends of [0, 1]: the scale is the equation's exact range.
    torch.testing.assert_close(corners.amin(0), torch.zeros(2))
    torch.testing.assert_close(corners.amax(0), torch.ones(2))


def test_procedural_source_labels_its_paintings_by_their_colour():
    source = ProceduralVAImages(ProceduralConfig(resolution=32, seed=0))
    batch = source.batch(3, 5)
    assert batch.images.shape == (3, 3, 32, 32) and batch.va.shape == (3, 2)
    assert batch.images.min() >= 0.0 and batch.images.max() <= 1.0
    torch.testing.assert_close(batch.va, valdez_mehrabian_va(batch.images))
    torch.testing.assert_close(source.batch(1, 6).va[0], batch.va[1])  # image 6 does not depend on its batch
    assert batch.weight == 0.5
