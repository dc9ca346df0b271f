"""Training augmentation: SpecAugment on log-mel windows, geometry-only changes to images.

Images keep their colours: brightness, saturation and hue carry the labels (the
Valdez-Mehrabian rule reads them directly, and raters' valence follows them), so only
crops, flips and small rotations are applied. Rotated corners are filled by reflection,
not black, so a rotation does not darken the picture. Every draw comes from an explicit
`torch.Generator`, so a seeded step augments the same way every time.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from live.tables import check_settings


@dataclass(frozen=True)
class SpecAugmentConfig:
    """Masks of SpecAugment (Park et al. 2019), without time warping."""
    time_masks: int = 2   # masks along time per spectrogram
    max_time: int = 16    # widest time mask, frames
    freq_masks: int = 2   # masks along frequency per spectrogram
    max_freq: int = 8     # widest frequency mask, mel bands

    def __post_init__(self) -> None:
        check_settings("batch.spec_augment",
                       [(name, value, value >= 0, ">= 0") for name, value in asdict(self).items()])


@dataclass(frozen=True)
class ImageAugmentConfig:
    min_scale: float = 0.6     # smallest crop side, as a fraction of the image side
    max_rotation: float = 10.0  # degrees either way
    flip: bool = True           # mirror left-right half of the time

    def __post_init__(self) -> None:
        check_settings("batch.image_augment", [
            ("min_scale", self.min_scale, 0.0 < self.min_scale <= 1.0, "0 < min_scale <= 1"),
            ("max_rotation", self.max_rotation, 0.0 <= self.max_rotation <= 45.0, "0..45 degrees")])


def _band_mask(n: int, length: int, masks: int, widest: int, generator: torch.Generator) -> torch.Tensor:
    """[n, length] bool: `masks` bands of width 0..widest per row at uniform positions."""
    position = torch.arange(length)
    hit = torch.zeros(n, length, dtype=torch.bool)
    for _ in range(masks):
        width = torch.randint(0, min(widest, length) + 1, (n, 1), generator=generator)
        start = (torch.rand(n, 1, generator=generator) * (length - width + 1)).floor().long()
        hit |= (position >= start) & (position < start + width)
    return hit


def spec_augment(mels: torch.Tensor, config: SpecAugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """[N, 1, n_mels, frames] -> the same with masked bands set to each window's mean level.

    The mean is what a gain-invariant music encoder maps to zero, so a masked band reads as
    "no information", not as silence.
    """
    assert mels.ndim == 4 and mels.shape[1] == 1, mels.shape
    n, _, bands, frames = mels.shape
    freq = _band_mask(n, bands, config.freq_masks, config.max_freq, generator)
    time = _band_mask(n, frames, config.time_masks, config.max_time, generator)
    masked = (freq[:, :, None] | time[:, None, :]).unsqueeze(1)
    mean = mels.mean(dim=(1, 2, 3), keepdim=True)
    return torch.where(masked, mean, mels)


def augment_images(images: torch.Tensor, size: int, config: ImageAugmentConfig,
                   generator: torch.Generator) -> torch.Tensor:
    """[N, 3, S, S] in [0, 1] -> [N, 3, size, size]: a random square crop of side
    min_scale..1 of the image (inside it), rotated by up to max_rotation, maybe mirrored,
    all in one bilinear resampling."""
    assert images.ndim == 4 and images.shape[1] == 3, images.shape
    n = images.shape[0]
    scale = config.min_scale + (1.0 - config.min_scale) * torch.rand(n, generator=generator)
    angle = (torch.rand(n, generator=generator) * 2.0 - 1.0) * math.radians(config.max_rotation)
    shift = (torch.rand(n, 2, generator=generator) * 2.0 - 1.0) * (1.0 - scale)[:, None]
    mirror = torch.ones(n)
    if config.flip:
        mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * mirror, -sin, shift[:, 0]], dim=1),
                         torch.stack([sin * mirror, cos, shift[:, 1]], dim=1)], dim=1)
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out.clamp(0.0, 1.0)
