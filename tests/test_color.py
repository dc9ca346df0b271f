from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from live.corpus.color import circular_mean, color_stats, mean_lightness, rgb_to_hsv, rgb_to_lab


def swatches(*rgb: tuple[float, float, float]) -> torch.Tensor:
    """One 2x2 image per colour, [N,3,2,2]."""
    return torch.tensor(rgb, dtype=torch.float64).view(-1, 3, 1, 1).expand(-1, 3, 2, 2).contiguous()


def first_pixel(img: torch.Tensor) -> torch.Tensor:
    return img[:, :, 0, 0]


def test_hsv_of_primaries_secondaries_and_greys():
    img = swatches((1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1), (1, 0, 1),
                   (1, 1, 1), (0.5, 0.5, 0.5), (0, 0, 0), (0.5, 0.25, 0.25))
    hsv = first_pixel(rgb_to_hsv(img))
    expected = torch.tensor([
        [0, 1, 1], [1 / 6, 1, 1], [2 / 6, 1, 1], [3 / 6, 1, 1], [4 / 6, 1, 1], [5 / 6, 1, 1],
        [0, 0, 1], [0, 0, 0.5], [0, 0, 0], [0, 0.5, 0.5],
    ], dtype=torch.float64)
    torch.testing.assert_close(hsv, expected)


def test_hue_just_below_red_stays_below_one():
    hsv = rgb_to_hsv(swatches((1.0, 0.0, 1e-12)))
    assert 0.0 <= hsv[0, 0, 0, 0].item() < 1.0


@pytest.mark.parametrize("rgb, lab", [
    ((1.0, 0.0, 0.0), (53.2408, 80.0925, 67.2032)),
    ((0.0, 1.0, 0.0), (87.7347, -86.1827, 83.1793)),
    ((0.0, 0.0, 1.0), (32.2970, 79.1875, -107.8602)),
    ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
    ((0.5, 0.5, 0.5), (53.3890, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
])
def test_lab_matches_reference_values(rgb, lab):
    got = first_pixel(rgb_to_lab(swatches(rgb)))[0]
    torch.testing.assert_close(got, torch.tensor(lab, dtype=torch.float64), atol=0.01, rtol=0)


def test_lab_works_in_float32():
    lab = first_pixel(rgb_to_lab(swatches((1.0, 0.0, 0.0)).float()))[0]
    assert lab.dtype == torch.float32
    torch.testing.assert_close(lab, torch.tensor([53.2408, 80.0925, 67.2032]), atol=0.02, rtol=0)


def test_circular_mean_across_the_wrap():
    turns = torch.tensor([[0.95, 0.05], [0.9, 0.0]], dtype=torch.float64)
    mean = circular_mean(turns, torch.ones_like(turns), dims=(1,))
    # 0.95 and 0.05 are both near red: their mean is 0 (red), not 0.5 (cyan).
    assert min(mean[0].item(), 1 - mean[0].item()) < 1e-9
    assert mean[1].item() == pytest.approx(0.95)


def test_circular_mean_honours_weights():
    turns = torch.tensor([[0.2, 0.6]])
    mean = circular_mean(turns, torch.tensor([[1.0, 0.0]]), dims=(1,))
    assert mean.item() == pytest.approx(0.2, abs=1e-6)


def test_color_stats_of_flat_and_mixed_images():
    red_magenta = torch.zeros(1, 3, 2, 2, dtype=torch.float64)
    red_magenta[0, 0] = 1.0
    red_magenta[0, 2, :, 1] = 0.5  # right half (1, 0, 0.5): hue 11/12, just below red
    stats = color_stats(torch.cat([swatches((1, 0, 0), (0.5, 0.5, 0.5), (0, 0, 1)), red_magenta]))

    torch.testing.assert_close(stats.brightness, torch.tensor([1.0, 0.5, 1.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(stats.saturation, torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64))
    assert stats.hue[0].item() == pytest.approx(0.0, abs=1e-9)
    assert stats.hue[2].item() == pytest.approx(2 / 3)
    # Red and 11/12 average across the wrap to 23/24, not to ~0.46.
    assert stats.hue[3].item() == pytest.approx(23 / 24)
    assert stats.lightness[1].item() == pytest.approx(53.389, abs=0.01)
    assert stats.chroma[1].item() == pytest.approx(0.0, abs=1e-6)
    assert stats.chroma[0].item() == pytest.approx(math.hypot(80.0925, 67.2032), abs=0.01)
    assert stats.hue_angle[0].item() == pytest.approx(40.0, abs=0.1)
    assert stats.hue_angle[2].item() == pytest.approx(306.3, abs=0.1)
    assert all(0.0 <= h < 1.0 for h in stats.hue.tolist())


def test_mean_lightness_of_a_uint8_picture_is_rgb_to_lab_s():
    image = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    lab = rgb_to_lab(torch.from_numpy(image).permute(2, 0, 1)[None].double() / 255.0)
    assert mean_lightness(image) == pytest.approx(float(lab[0, 0].mean()), abs=1e-9)
    assert mean_lightness(np.zeros((2, 2, 3), np.uint8)) == 0.0
    assert mean_lightness(np.full((2, 2, 3), 255, np.uint8)) == pytest.approx(100.0, abs=1e-6)


def test_mean_lightness_of_a_large_picture_reads_a_grid_of_its_pixels():
    image = np.random.default_rng(1).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    assert mean_lightness(image) == pytest.approx(mean_lightness(image[::8, ::8], side=128), abs=1e-12)
    assert mean_lightness(image) == pytest.approx(mean_lightness(image, side=4096), abs=0.5)


def test_dark_grey_takes_the_linear_toe_of_srgb_and_of_cielab():
    # sRGB below 0.04045 is value / 12.92 in linear light; L* below Y = 0.008856 is 903.3 Y.
    lab = rgb_to_lab(torch.full((1, 3, 1, 1), 0.02, dtype=torch.float64))
    assert float(lab[0, 0]) == pytest.approx(903.2963 * 0.02 / 12.92, rel=1e-3)
