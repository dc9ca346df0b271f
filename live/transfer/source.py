"""A preset's source picture as a W+ latent w_o [num_ws, w_dim]."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from live.errors import UserError
from live.nets.stylegan2 import Generator
from live.presets import read_latent


def seed_latent(G: Generator, seed: int, truncation: float = 0.7) -> torch.Tensor:
    """w for z = RandomState(seed).randn(1, z_dim), as NVlabs' scripts draw it."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim)).to(G.mapping.w_avg)
    with torch.no_grad():
        return G.mapping(z, truncation_psi=truncation)[0]


def file_latent(G: Generator, path: str | Path, generator: str = "this generator") -> torch.Tensor:
    """A saved latent: [w_dim] (broadcast to every layer) or [num_ws, w_dim], .npy.
    `generator` names G in the message about a latent of another shape."""
    w = np.squeeze(read_latent(path))
    if w.shape == (G.w_dim,):
        w = np.broadcast_to(w, (G.num_ws, G.w_dim))
    if w.shape != (G.num_ws, G.w_dim):
        raise UserError(f"latent {path} has shape {w.shape}; {generator} needs [{G.num_ws}, {G.w_dim}] "
                        f"or [{G.w_dim}]")
    return torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)).to(G.mapping.w_avg)
