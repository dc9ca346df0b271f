"""Hashes of a module's weights: the names of compiled packages and of cached projections,
and what a predictor run was trained through. Apart from the weights' files, so that the
package's name does not follow every edit to the file helpers (its source files are hashed too)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


def digest_weights(digest: Any, module: nn.Module, layout: bool = False) -> None:
    """Feed `digest` every tensor of `module`, by name and bytes (with `layout` also its dtype,
    shape and strides, which a compiled graph depends on)."""
    for name, tensor in module.state_dict().items():
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)} {tensor.stride()}".encode() if layout
                      else name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
