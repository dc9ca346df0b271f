"""Our own network weights on disk: one safetensors file per module, loaded strictly."""
from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import nn

from live.errors import UserError


def save_weights(module: nn.Module, path: str | Path, dtype: torch.dtype = torch.float16) -> Path:
    """All parameters and persistent buffers; floating-point tensors stored as `dtype`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (t.detach().to("cpu", dtype) if t.is_floating_point() else t.detach().cpu()).contiguous()
             for k, t in module.state_dict().items()}
    safetensors.torch.save_file(state, str(path))
    return path


def load_weights(module: nn.Module, path: str | Path) -> nn.Module:
    """Fill `module` from `path`; any missing, extra or misshapen tensor is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist")
    try:
        state = safetensors.torch.load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e})") from None
    expected = module.state_dict()
    missing = sorted(expected.keys() - state.keys())
    extra = sorted(state.keys() - expected.keys())
    wrong = [k for k in expected.keys() & state.keys() if expected[k].shape != state[k].shape]
    if missing or extra or wrong:
        problems = [f"missing {missing[:3]}" if missing else "", f"unexpected {extra[:3]}" if extra else "",
                    f"wrong shape {wrong[:3]}" if wrong else ""]
        raise UserError(f"{path} does not fit its network ({'; '.join(p for p in problems if p)}); "
                        "was it written for another configuration?")
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return module
