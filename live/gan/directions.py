"""How far a generator's main latent directions move colour: brightness, saturation, hue.

Main directions are the principal components of W (GANSpace, Harkonen et al. 2020): the
mapping network's outputs for random z, centred. Moving every layer's w by +-`sigma`
standard deviations along a component and measuring G's pictures says whether W has
room for the emotion edits (valence moves hue, arousal colour intensity).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from live.corpus.color import color_stats
from live.nets.stylegan2 import Generator, to_unit


@dataclass(frozen=True)
class DirectionEffect:
    component: int
    explained: float        # share of W's variance along this component
    brightness: float       # mean |change| of HSV value between -sigma and +sigma, in [0, 1]
    saturation: float
    hue_degrees: float      # mean |circular change| of the saturation-weighted hue, degrees
    lightness: float        # CIELAB L*, 0-100
    chroma: float


def principal_directions(G: Generator, samples: int = 4096, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean [w_dim], components [k, w_dim] unit rows, std along each [k]) of W."""
    z = torch.randn(samples, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(G.mapping.w_avg)
    with torch.no_grad():
        w = G.mapping(z)[:, 0]
    mean = w.mean(0)
    _, s, vh = torch.linalg.svd(w - mean, full_matrices=False)
    return mean, vh, s / (samples - 1) ** 0.5


def _hue_change(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = torch.remainder(b - a + 0.5, 1.0) - 0.5
    return d.abs() * 360


@torch.no_grad()
def color_effects(G: Generator, components: int = 5, sigma: float = 2.0, pictures: int = 16,
                  truncation: float = 0.7, seed: int = 0) -> list[DirectionEffect]:
    mean, vh, std = principal_directions(G, seed=seed)
    z = torch.randn(pictures, G.z_dim, generator=torch.Generator().manual_seed(seed + 1)).to(mean)
    w = G.mapping(z, truncation_psi=truncation)
    explained = std.square() / std.square().sum()
    effects = []
    for k in range(components):
        step = (sigma * std[k] * vh[k])[None, None]
        stats = [color_stats(to_unit(G.synthesis(w + s * step, noise_mode="const")))
                 for s in (-1, 1)]
        lo, hi = stats
        effects.append(DirectionEffect(
            component=k, explained=float(explained[k]),
            brightness=float((hi.brightness - lo.brightness).abs().mean()),
            saturation=float((hi.saturation - lo.saturation).abs().mean()),
            hue_degrees=float(_hue_change(lo.hue, hi.hue).mean()),
            lightness=float((hi.lightness - lo.lightness).abs().mean()),
            chroma=float((hi.chroma - lo.chroma).abs().mean())))
    return effects
