"""The array module of the refinement: CuPy for CUDA tensors when it is installed, NumPy
otherwise, and the exchange with torch without copies.

CUDA tensors cross through DLPack (`cupy.from_dlpack`, `torch.from_dlpack`), so the data
stays on the device; CPU tensors through `Tensor.numpy()` / `torch.from_numpy`, which
share memory. `pip install -e .[gpu]` brings the CuPy build matching torch's CUDA.
"""
from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

import numpy as np
import torch

try:
    import cupy
except ImportError:  # no GPU extra: everything runs on NumPy
    cupy = None


def array_module(x: Any) -> ModuleType:
    """numpy or cupy, whichever `x` belongs to."""
    return cupy.get_array_module(x) if cupy is not None else np


def on_device(t: torch.Tensor) -> contextlib.AbstractContextManager:
    """CuPy's current device made `t`'s for the array work inside: CuPy runs kernels and
    cuBLAS calls on its current device (per thread, the first GPU by default), not on the
    device of their arrays, so with `--device cuda:1` they failed or crossed the bus."""
    return cupy.cuda.Device(t.device.index) if cupy is not None and t.is_cuda else contextlib.nullcontext()


def from_torch(t: torch.Tensor) -> Any:
    """A tensor as an array of the matching module, sharing its memory."""
    t = t.detach()
    if t.is_cuda and cupy is not None:
        return cupy.from_dlpack(t)
    # Without CuPy a CUDA tensor has to come to the host; CPU tensors are shared as is.
    return t.cpu().numpy()


def to_torch(a: Any, device: torch.device) -> torch.Tensor:
    """An array as a tensor on `device`, sharing its memory where the array lives there.
    Without CuPy the arrays of a CUDA run are NumPy's: their tensor goes back to the GPU."""
    t = torch.from_numpy(a) if isinstance(a, np.ndarray) else torch.from_dlpack(a)
    return t.to(device)
