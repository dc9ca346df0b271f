"""Our own network weights on disk: one safetensors file per module, loaded strictly."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import nn
from torch.overrides import TorchFunctionMode

from live.errors import UserError, printable, some
from live.files import write_whole


def write_safetensors(tensors: dict[str, torch.Tensor], path: str | Path,
                      metadata: dict[str, str] | None = None) -> Path:
    """Write `tensors` (and `metadata` into the header) to `path` whole or not at all, with
    the file mode of any new file (safetensors' own writer makes it private, 0600)."""
    return write_whole(path, safetensors.torch.save(tensors, metadata))


DIVERGED = "the training diverged, or its values are past the type's range"


def save_weights(module: nn.Module, path: str | Path, dtype: torch.dtype = torch.float16,
                 metadata: dict[str, str] | None = None, remedy: str = DIVERGED) -> Path:
    """All parameters and persistent buffers; floating-point tensors stored as `dtype`.
    A tensor that is not finite in `dtype` is a UserError (`remedy` says what to do), and
    nothing is written: float16 turns values past 65504 into infinities without a word."""
    return write_safetensors(stored_weights(module, path, dtype, remedy), path, metadata)


def stored_weights(module: nn.Module, path: str | Path, dtype: torch.dtype = torch.float16,
                   remedy: str = DIVERGED) -> dict[str, torch.Tensor]:
    """What `save_weights` writes to `path`, checked, for a caller that must know it can
    be written before it writes anything else."""
    state = {k: (t.detach().to("cpu", dtype) if t.is_floating_point() else t.detach().cpu()).contiguous()
             for k, t in module.state_dict().items()}
    bad = [k for k, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise UserError(f"{some(bad)} are not finite in {str(dtype).removeprefix('torch.')}; "
                        f"{remedy}; {path} was not written")
    return state


def reader_path(path: str | Path) -> str:
    """`path` for safetensors' readers, which take only UTF-8 paths: a file under a folder
    with a Latin-1 name was reported as damaged."""
    name = os.fsdecode(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{printable(name, 200)}: its path is not UTF-8 text, which safetensors cannot open; "
                        "rename the file or the folder it is in") from None
    return name


def weights_metadata(path: str | Path) -> dict[str, str]:
    """The header's metadata of a safetensors file (read without its tensors); {} if none."""
    try:
        with safetensors.safe_open(reader_path(path), "pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e})") from None


class _ShapesOnly(TorchFunctionMode):
    """In-place fills of meta tensors (a network's initialization) skipped: they change no
    shape, and their reference kernels import torch's compiler (0.9 s of a bundle's load)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name.endswith("_") and not name.startswith("_") and args and isinstance(args[0], torch.Tensor) \
                and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


def load_weights(build: Callable[[], nn.Module], path: str | Path) -> nn.Module:
    """The module `build` makes, filled from `path`; any missing, extra or misshapen tensor is
    a UserError, found before the module is made: built first, a bundle.toml edited to
    networks far larger than its weights took 7.5 GB to say they do not fit."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist")
    try:
        with safetensors.safe_open(reader_path(path), "pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e})") from None
    with torch.device("meta"), _ShapesOnly():
        expected = {k: tuple(t.shape) for k, t in build().state_dict().items()}
    missing = sorted(expected.keys() - stored.keys())
    extra = sorted(stored.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & stored.keys() if expected[k] != stored[k])
    if missing or extra or wrong:
        problems = [f"missing {missing[:3]}" if missing else "", f"unexpected {extra[:3]}" if extra else "",
                    f"wrong shape {wrong[:3]}" if wrong else ""]
        raise UserError(f"{path} does not fit its network ({'; '.join(p for p in problems if p)}); "
                        "was it written for another configuration?")
    try:
        state = safetensors.torch.load_file(reader_path(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e})") from None
    module = build()
    types = {k: t.dtype for k, t in module.state_dict().items()}
    state = {k: v.to(types[k]) for k, v in state.items()}
    # In the dtype the weights are used in; `save_weights` never writes such values, so only a
    # damaged or foreign file has them, and one NaN made a whole show black without a word.
    not_finite = [k for k, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if not_finite:
        raise UserError(f"{path}: {some(not_finite)} hold NaN or infinite values; the file is damaged, "
                        "or the training that wrote it diverged")
    module.load_state_dict(state)
    return module
