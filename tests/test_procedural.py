from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from live.corpus.color import color_stats
from live.corpus.procedural import ProceduralConfig, ProceduralImages
from live.errors import UserError
from live.imageio import to_uint8


@pytest.fixture(scope="module")
def corpus() -> ProceduralImages:
    return ProceduralImages(ProceduralConfig(resolution=64, seed=7))


@pytest.fixture(scope="module")
def sample(corpus: ProceduralImages) -> torch.Tensor:
    return corpus.batch(256, 0)


def test_shape_dtype_and_range(sample: torch.Tensor):
    assert sample.shape == (256, 3, 64, 64)
    assert sample.dtype == torch.float32
    assert torch.isfinite(sample).all()
    assert sample.min() >= -1.0 and sample.max() <= 1.0


def test_an_image_does_not_depend_on_its_batch(corpus: ProceduralImages, sample: torch.Tensor):
    # 16..19 straddle a painting-chunk boundary in the big batch, not in the small one.
    assert torch.equal(corpus.batch(5, 15), sample[15:20])
    assert torch.equal(corpus.batch(1, 17), sample[17:18])
    assert np.array_equal(corpus.image(18), to_uint8(sample[18:19])[0])


def test_same_seed_same_images_different_seed_different_images(sample: torch.Tensor):
    again = ProceduralImages(ProceduralConfig(resolution=64, seed=7)).batch(3, 100)
    other = ProceduralImages(ProceduralConfig(resolution=64, seed=8)).batch(3, 100)
    assert torch.equal(again, sample[100:103])
    assert (other - again).abs().mean() > 0.1


def test_neighbouring_indices_give_different_images(sample: torch.Tensor):
    assert ((sample[1:] - sample[:-1]).abs().mean(dim=(1, 2, 3)) > 0.02).all()


def test_batches_iterate_consecutive_indices(corpus: ProceduralImages, sample: torch.Tensor):
    first, second = itertools.islice(corpus.batches(4, index0=8), 2)
    assert torch.equal(first, sample[8:12]) and torch.equal(second, sample[12:16])


def test_images_are_coherent_not_noise(sample: torch.Tensor):
    # Neighbouring pixels agree far more than pixels at random: shapes, not noise.
    neighbour = (sample[..., 1:] - sample[..., :-1]).abs().mean()
    shuffled = sample.flatten(2)[..., torch.randperm(64 * 64, generator=torch.Generator().manual_seed(0))]
    scattered = (shuffled[..., 1:] - shuffled[..., :-1]).abs().mean()
    assert neighbour < 0.35 * scattered


def test_brightness_saturation_and_hue_cover_their_ranges(sample: torch.Tensor):
    stats = color_stats((sample + 1.0) / 2.0)
    assert stats.brightness.min() < 0.25 and stats.brightness.max() > 0.75
    assert stats.saturation.min() < 0.2 and stats.saturation.max() > 0.7
    coloured = stats.hue[stats.saturation > 0.3]
    assert set((coloured * 6).long().tolist()) == set(range(6))


def test_without_strokes_and_blobs_still_paints():
    images = ProceduralImages(ProceduralConfig(resolution=32, strokes=0, blobs=0)).batch(2, 0)
    assert images.shape == (2, 3, 32, 32) and images.std() > 0.05


@pytest.mark.parametrize("config", [
    dict(resolution=100), dict(resolution=16), dict(seed=-1), dict(strokes=-1), dict(blobs=-2),
])
def test_bad_config_is_a_user_error(config):
    with pytest.raises(UserError):
        ProceduralConfig(**config)


def test_negative_index_is_a_user_error(corpus: ProceduralImages):
    with pytest.raises(UserError):
        corpus.batch(2, -1)
