"""Valence and arousal of a picture from its colour, by Valdez & Mehrabian (1994).

Valdez & Mehrabian (J. Exp. Psychol. General 123(4)) regressed people's emotional
reactions to colour samples on the samples' brightness B and saturation S:

    pleasure = 0.69 B + 0.22 S
    arousal  = -0.31 B + 0.60 S

Here B and S are the image means of HSV value and saturation (live.corpus.color
`color_stats`), both in [0, 1] -- a stand-in for the Munsell-like brightness and saturation
of their colour chips. Each equation is mapped to [0, 1] by its exact extremes over
B, S in [0, 1]: pleasure runs from 0 (B = S = 0) to 0.91 (B = S = 1), arousal from -0.31
(B = 1, S = 0) to 0.60 (B = 0, S = 1), so

    valence = (0.69 B + 0.22 S) / 0.91
    arousal = (-0.31 B + 0.60 S + 0.31) / 0.91

A black image gets (0, 0.34), white (0.76, 0), a bright fully saturated one (1, 0.66).
Hue, which the study also found to matter (blues and greens most pleasant), is not used.
Labels from this rule get labels.RULE_WEIGHT.
"""
from __future__ import annotations

import torch

from live.corpus.color import color_stats

PLEASURE = (0.69, 0.22)  # weights of (brightness, saturation)
AROUSAL = (-0.31, 0.60)


def _extremes(weights: tuple[float, float]) -> tuple[float, float]:
    """Min and max of w_B B + w_S S over B, S in [0, 1]: each term at whichever end its sign favours."""
    return sum(min(0.0, w) for w in weights), sum(max(0.0, w) for w in weights)


def _unit(weights: tuple[float, float], brightness: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    low, high = _extremes(weights)
    return ((weights[0] * brightness + weights[1] * saturation - low) / (high - low)).clamp(0.0, 1.0)


def valdez_mehrabian(brightness: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    """[N] brightness and saturation in [0, 1] -> [N, 2] (valence, arousal) in [0, 1]."""
    assert brightness.shape == saturation.shape and brightness.ndim == 1, (brightness.shape, saturation.shape)
    return torch.stack([_unit(PLEASURE, brightness, saturation), _unit(AROUSAL, brightness, saturation)], dim=1)


def valdez_mehrabian_va(images: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] sRGB in [0, 1] -> [N, 2] (valence, arousal) in [0, 1].

    Images in StyleGAN's [-1, 1] convention must be mapped first: (x + 1) / 2.
    """
    stats = color_stats(images)
    return valdez_mehrabian(stats.brightness, stats.saturation)
