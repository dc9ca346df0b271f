"""Colour measurement: HSV and CIELAB conversions and per-image colour statistics.

Pure tensor math on any device and dtype. Images are [N, 3, H, W] sRGB in [0, 1].
Emotion-driven edits move brightness, saturation and hue; these are the rulers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# sRGB primaries to CIE XYZ under D65 (IEC 61966-2-1).
_SRGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
# D65 white as the matrix maps it (row sums), so greys land exactly on a* = b* = 0.
_D65_WHITE = tuple(sum(row) for row in _SRGB_TO_XYZ)
_LAB_EPSILON = (6.0 / 29.0) ** 3


def _check_rgb(img: torch.Tensor) -> None:
    assert img.ndim == 4 and img.shape[1] == 3, f"expected [N,3,H,W], got {tuple(img.shape)}"


def rgb_to_hsv(img: torch.Tensor) -> torch.Tensor:
    """[N,3,H,W] RGB in [0,1] -> [N,3,H,W] (hue in [0,1), saturation, value).

    Greys (no chroma) get hue 0 and black gets saturation 0, by convention.
    """
    _check_rgb(img)
    r, g, b = img.unbind(1)
    value, argmax = img.max(1)
    # Dividing by at least the smallest normal number turns 0/0 on greys and black into 0.
    tiny = torch.finfo(img.dtype).tiny
    chroma = value - img.min(1).values
    safe_chroma = chroma.clamp(min=tiny)
    # Which channel is largest picks the hue sextant; on ties both formulas agree.
    hue = torch.where(
        argmax == 0, (g - b) / safe_chroma,
        torch.where(argmax == 1, (b - r) / safe_chroma + 2.0, (r - g) / safe_chroma + 4.0),
    )
    hue = torch.remainder(hue / 6.0, 1.0)
    # remainder rounds a tiny negative up to exactly 1.0; keep hue in [0, 1).
    hue = torch.where(hue >= 1.0, torch.zeros_like(hue), hue)
    saturation = chroma / value.clamp(min=tiny)
    return torch.stack([hue, saturation, value], dim=1)


def srgb_to_linear(img: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve."""
    return torch.where(img <= 0.04045, img / 12.92, ((img.clamp(min=0.0) + 0.055) / 1.055) ** 2.4)


def rgb_to_xyz(img: torch.Tensor) -> torch.Tensor:
    """[N,3,H,W] sRGB in [0,1] -> CIE XYZ (D65, Y of white = 1)."""
    _check_rgb(img)
    matrix = torch.tensor(_SRGB_TO_XYZ, device=img.device, dtype=img.dtype)
    return torch.einsum("ij,njhw->nihw", matrix, srgb_to_linear(img))


def xyz_to_lab(xyz: torch.Tensor) -> torch.Tensor:
    """CIE XYZ (D65) -> CIELAB (L in [0,100])."""
    white = torch.tensor(_D65_WHITE, device=xyz.device, dtype=xyz.dtype).view(1, 3, 1, 1)
    fx, fy, fz = _lab_f(xyz / white).unbind(1)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    # The linear segment near black keeps the cube root's slope finite.
    return torch.where(t > _LAB_EPSILON, t.clamp(min=_LAB_EPSILON) ** (1.0 / 3.0),
                       t / (3.0 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)


def rgb_to_lab(img: torch.Tensor) -> torch.Tensor:
    """[N,3,H,W] sRGB in [0,1] -> [N,3,H,W] CIELAB (L, a, b) under D65."""
    return xyz_to_lab(rgb_to_xyz(img))


def circular_mean(turns: torch.Tensor, weights: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Weighted mean of angles given in turns ([0,1) = one revolution), reduced over `dims`.

    Averaging on the circle keeps hues 0.95 and 0.05 from averaging to 0.5 (cyan) when
    they are both red. Where every weight is zero the mean angle is 0.
    """
    angle = 2.0 * math.pi * turns
    x = (weights * torch.cos(angle)).sum(dims)
    y = (weights * torch.sin(angle)).sum(dims)
    mean = torch.remainder(torch.atan2(y, x) / (2.0 * math.pi), 1.0)
    return torch.where(mean >= 1.0, torch.zeros_like(mean), mean)


@dataclass(frozen=True)
class ColorStats:
    """Per-image colour summary; every field is a tensor of shape [N]."""

    brightness: torch.Tensor  # mean HSV value, [0, 1]
    saturation: torch.Tensor  # mean HSV saturation, [0, 1]
    hue: torch.Tensor  # saturation-weighted circular mean HSV hue, turns in [0, 1)
    lightness: torch.Tensor  # mean CIELAB L*, [0, 100]
    chroma: torch.Tensor  # mean CIELAB C*ab
    hue_angle: torch.Tensor  # chroma-weighted circular mean CIELAB h_ab, degrees [0, 360)


def color_stats(img: torch.Tensor) -> ColorStats:
    """Colour statistics of each image in [N,3,H,W] sRGB in [0,1]."""
    _check_rgb(img)
    pixels = (1, 2)
    hue, saturation, value = rgb_to_hsv(img).unbind(1)
    lightness, a, b = rgb_to_lab(img).unbind(1)
    chroma = torch.hypot(a, b)
    # Summing (a, b) is the chroma-weighted circular mean of h_ab: vivid pixels decide the hue.
    hue_angle = torch.remainder(torch.rad2deg(torch.atan2(b.sum(pixels), a.sum(pixels))), 360.0)
    return ColorStats(
        brightness=value.mean(pixels),
        saturation=saturation.mean(pixels),
        hue=circular_mean(hue, saturation, pixels),
        lightness=lightness.mean(pixels),
        chroma=chroma.mean(pixels),
        hue_angle=torch.where(hue_angle >= 360.0, torch.zeros_like(hue_angle), hue_angle),
    )


def mean_lightness(image: np.ndarray, side: int = 128) -> float:
    """Mean CIELAB L* [0, 100] of an [H, W, 3] uint8 sRGB picture: rgb_to_lab's L*, from
    luminance alone through a table of the 256 levels, over a grid of about `side` x `side`
    of its pixels (every pixel up to that size). A keyframe's check costs about 0.5 ms, for
    a 1024 px generator too (every pixel of it: 43 ms)."""
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8, (image.shape, image.dtype)
    step = max(1, max(image.shape[:2]) // side)
    image = image[::step, ::step]
    y = sum(_LEVEL_LUMINANCE[torch.from_numpy(image[..., c]).long(), c] for c in range(3))
    return float(116.0 * _lab_f(y).mean() - 16.0)


# Each channel's share of the luminance Y (white = 1) at each of the 256 levels: [level, channel].
_LEVEL_LUMINANCE = (srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255.0)[:, None]
                    * torch.tensor(_SRGB_TO_XYZ[1], dtype=torch.float64) / _D65_WHITE[1])
