"""A preset's source picture as a W+ latent w_o [num_ws, w_dim]."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from live.nets.stylegan2 import Generator
from live.presets import fitted_latent, read_latent


def seed_latent(G: Generator, seed: int, truncation: float = 0.7) -> torch.Tensor:
    """w for z = RandomState(seed).randn(1, z_dim), as NVlabs' scripts draw it."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim)).to(G.mapping.w_avg)
    with torch.no_grad():
        return G.mapping(z, truncation_psi=truncation)[0]


def file_latent(G: Generator, path: str | Path, generator: str = "this generator") -> torch.Tensor:
    """A saved latent: [w_dim] (broadcast to every layer) or [num_ws, w_dim], .npy.
    `generator` names G in the message about a latent of another shape."""
    w = fitted_latent(read_latent(path), G.num_ws, G.w_dim, path, generator)
    return torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)).to(G.mapping.w_avg)
