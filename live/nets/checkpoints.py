"""Generator checkpoints: NVlabs `.pkl` and rosinality `.pt` in, our safetensors in and out.

`load_generator(path)` detects the format from the file's first bytes:
- NVlabs stylegan2-ada-pytorch `.pkl` (and the StyleGAN2 generators of the stylegan3
  repository), read by the restricted unpickler of `live.nets.unpickle`;
- rosinality stylegan2-pytorch `.pt`, read with `torch.load(weights_only=True)` and
  converted onto the NVlabs names;
- ours: `NAME.safetensors` (every parameter and buffer) with `NAME.json` beside it
  holding the generator's `init_kwargs`.
Each reader yields constructor arguments and a flat state dict, which must match the
generator those arguments build key for key and shape for shape.
"""
from __future__ import annotations

import argparse
import math
import pickle
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from live.errors import UserError, first_line, printable, some
from live.files import file_stamp, read_json, real_path, write_json
from live.nets import ops
from live.nets.device import checked_device
from live.nets.stylegan2 import Generator, MappingNetwork
from live.nets.unpickle import LOADED_PER_FILE_BYTE, PersistentObject, read_network_pickle
from live.nets.weights import reader_path, save_weights
from live.torch_files import load_torch_file, torch_format

FORMAT_NVLABS = "nvlabs-pkl"
FORMAT_ROSINALITY = "rosinality-pt"
FORMAT_LIVE = "live-safetensors"

LIVE_FORMAT_NAME = "live-stylegan2"
LIVE_FORMAT_VERSION = 1
SAVE_DTYPES = (torch.float16, torch.float32)


_GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
_MAPPING_ARGS = frozenset({"num_layers", "embed_features", "layer_features", "activation",
                           "lr_multiplier", "w_avg_beta"})
_SYNTHESIS_ARGS = frozenset({"channel_base", "channel_max", "num_fp16_res", "architecture",
                             "resample_filter", "conv_clamp", "use_noise", "activation"})
# NVlabs arguments that choose memory layout or op fusion, never the numbers computed.
_LAYOUT_ONLY_ARGS = frozenset({"fp16_channels_last", "fused_modconv_default"})
_STYLEGAN3_KEY = re.compile(r"^synthesis\.(input\.|L\d+_\d+_\d+\.)")

# rosinality's Generator(blur_kernel=[1, 3, 3, 1], lr_mlp=0.01) defaults: neither is
# stored in the file, and both equal NVlabs' defaults (resample_filter, lr_multiplier).
_ROSINALITY_BLUR_TAPS = [1, 3, 3, 1]
_W_AVG_SAMPLES = 4096  # rosinality's mean_latent(4096), for files without latent_avg


@dataclass(frozen=True)
class CheckpointInfo:
    path: str
    format: str                  # FORMAT_NVLABS, FORMAT_ROSINALITY or FORMAT_LIVE
    resolution: int
    img_channels: int            # colour channels of the pictures (3: RGB; the project draws only those)
    z_dim: int
    c_dim: int
    w_dim: int
    num_ws: int
    mapping_layers: int
    channels: dict[int, int]     # synthesis channels per block resolution
    parameter_count: int
    stored_dtype: str            # dtype(s) of the floating-point tensors in the file
    notes: tuple[str, ...] = ()  # what the loader had to fill in


@dataclass(frozen=True)
class _Contents:
    init_kwargs: dict[str, Any]
    state: dict[str, torch.Tensor]
    notes: tuple[str, ...] = ()


def load_generator(path: str | Path, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32) -> tuple[Generator, CheckpointInfo]:
    """Read a generator checkpoint of any supported format, in eval mode without gradients.

    Raises UserError (one line) for a missing, empty, truncated, unknown, hostile or
    unsupported (StyleGAN3) file, and for weights that do not fit the stored architecture.
    """
    path = Path(path)
    target = checked_device(device)
    try:
        fmt = detect_format(path)
        contents = _READERS[fmt](path)
    except OSError as e:  # a failing stick, a share gone: an OSError names no file
        raise UserError(f"cannot read {path} ({e.strerror or e}); check that it is still there and readable") from None
    G = _assemble(contents, str(path), dtype)
    G = G.to(device=target, dtype=dtype).eval().requires_grad_(False)
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in contents.state.values() if t.is_floating_point()})
    info = CheckpointInfo(
        path=str(path), format=fmt, resolution=G.img_resolution, img_channels=G.img_channels, z_dim=G.z_dim,
        c_dim=G.c_dim, w_dim=G.w_dim, num_ws=G.num_ws, mapping_layers=G.mapping.num_layers,
        channels=dict(G.synthesis.channels), parameter_count=sum(p.numel() for p in G.parameters()),
        stored_dtype="/".join(dtypes), notes=contents.notes)
    return G, info


def check_new_generator(path: Path, force: bool, run: Path | None = None) -> None:
    """Refuse to replace a generator file, or its .json, unless `force`, or unless the
    training `run` folder exported it (a resume writes it again at each snapshot): a mistyped
    output would destroy a checkpoint with no undo."""
    for existing in (path, path.with_suffix(".json")):
        if existing.is_dir():  # found after the weights were written, which replaced a --force'd file
            raise UserError(f"{existing} is a folder; choose another name")
    if force or (run is not None and _exported_from(path) == str(real_path(run))):
        return
    for existing in (path, path.with_suffix(".json")):
        if existing.exists():
            raise UserError(f"{existing} exists; pass --force to overwrite it")


def _exported_from(path: Path) -> str | None:
    """The training run folder that exported the generator `path`, if its .json says so and
    the weights are still those it wrote, or gone (moved away to try them: review 68)."""
    try:
        config = read_json(path.with_suffix(".json"))
    except UserError:
        return None
    if not isinstance(config, dict) or not isinstance(export := config.get("exported"), dict):
        return None
    stamp = file_stamp(path)
    return export.get("from") if stamp is None or export.get("stamp") == list(stamp) else None


def save_generator(G: Generator, path: str | Path, dtype: torch.dtype = torch.float16,
                   run: Path | None = None) -> Path:
    """Write `NAME.safetensors` (all parameters and buffers in `dtype`) and `NAME.json`,
    which names the training `run` folder it comes from, if any."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise UserError(f"{path}: our checkpoints are named NAME.safetensors (NAME.json goes beside it)")
    if dtype not in SAVE_DTYPES:
        raise ValueError(f"dtype must be one of {SAVE_DTYPES}, not {dtype}")
    save_weights(G, path, dtype, remedy="save in float32 (convert --fp32)")
    config = {"format": LIVE_FORMAT_NAME, "version": LIVE_FORMAT_VERSION, "init_kwargs": G.init_kwargs,
              "dtype": str(dtype).removeprefix("torch.")}
    if run is not None:
        config["exported"] = {"from": str(real_path(run)), "stamp": list(file_stamp(path) or ())}
    write_json(path.with_suffix(".json"), config)
    return path


def detect_format(path: Path) -> str:
    """The checkpoint format from the file's content (the suffix is not trusted)."""
    if not path.exists():
        raise UserError(f"{path} does not exist; give a generator checkpoint (.pkl, .pt or .safetensors)")
    if not path.is_file():
        raise UserError(f"{path} is not a file; give a generator checkpoint (.pkl, .pt or .safetensors)")
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise UserError(f"{path} is empty; download or export the checkpoint again")
    if torch_format(path) is not None:
        return FORMAT_ROSINALITY
    if len(head) >= 2 and head[0] == pickle.PROTO[0] and 2 <= head[1] <= pickle.HIGHEST_PROTOCOL:
        return FORMAT_NVLABS
    if len(head) >= 9 and head[8:9] == b"{":  # safetensors: u64 header length, then JSON
        return FORMAT_LIVE
    raise UserError(f"{path} is not a checkpoint format this program reads "
                    "(NVlabs .pkl, rosinality .pt, or .safetensors with its .json)")


# ---------------------------------------------------------------- NVlabs pickles

def _read_nvlabs(path: Path) -> _Contents:
    source = str(path)
    with open(path, "rb") as f:
        snapshot = read_network_pickle(f, source)
    if not isinstance(snapshot, dict):
        raise UserError(f"{path} is a pickle but not an NVlabs network snapshot (a dict with G_ema)")
    kind = next((k for k in ("G_ema", "G") if snapshot.get(k) is not None), None)
    if kind is None:
        raise UserError(f"{path} holds no generator (neither G_ema nor G); is it an NVlabs network snapshot?")
    network = snapshot[kind]
    if not isinstance(network, PersistentObject):
        raise UserError(f"{path}: its generator is not an NVlabs persistent network")
    state = _flatten(network, source)
    if any(_STYLEGAN3_KEY.match(k) for k in state):
        raise UserError(f"{path} is a StyleGAN3 checkpoint; StyleGAN3 checkpoints are not supported, "
                        "only StyleGAN2 ones")
    if network.class_name != "Generator":
        raise UserError(f"{path}: its generator is a {printable(network.class_name)}, not a StyleGAN2 'Generator'")
    notes = () if kind == "G_ema" else ("the file has no G_ema (the smoothed generator): its training G is read",)
    return _Contents(nvlabs_generator_kwargs(network.state, source), state, notes)


# A pickle can make one object reachable many times (its memo) or from itself: the walks
# below refuse what a network never has, instead of following it.
MAX_MODULE_DEPTH = 16       # NVlabs' generator nests 4 deep
MAX_ARGUMENT_VALUES = 4096  # numbers and strings in the stored constructor arguments, nested


def _flatten(network: PersistentObject, source: str, prefix: str = "",
             seen: set[int] | None = None) -> dict[str, torch.Tensor]:
    """The nested `_parameters`/`_buffers`/`_modules` of a network -> a flat state dict."""
    seen = set() if seen is None else seen
    if id(network) in seen or prefix.count(".") >= MAX_MODULE_DEPTH:
        raise UserError(f"{source}: module {prefix or 'G'} repeats or nests too deep; not a network snapshot")
    seen.add(id(network))
    state = network.state
    non_persistent = state.get("_non_persistent_buffers_set")
    if non_persistent is None:
        non_persistent = set()
    if not isinstance(non_persistent, (set, frozenset)):
        raise UserError(f"{source}: the network's _non_persistent_buffers_set is not a set")
    out: dict[str, torch.Tensor] = {}
    for group in ("_parameters", "_buffers"):
        for name, value in _dict_field(state, group, source).items():
            if value is None or (group == "_buffers" and name in non_persistent):
                continue
            if not isinstance(value, torch.Tensor):
                raise UserError(f"{source}: {printable(prefix + name)} is a {type(value).__name__}, not a tensor")
            out[prefix + name] = value
    for name, child in _dict_field(state, "_modules", source).items():
        if child is None:
            continue
        if not isinstance(child, PersistentObject):
            raise UserError(f"{source}: submodule {prefix}{name} is not an NVlabs persistent network")
        out.update(_flatten(child, source, f"{prefix}{name}.", seen))
    return out


def _dict_field(state: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = state.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise UserError(f"{source}: the network's {key} is not a dict of names")
    return value


def nvlabs_generator_kwargs(state: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The stored `_init_kwargs` of an NVlabs Generator -> arguments for our Generator.

    Layout-only arguments are dropped; anything unknown is refused by name, since a
    guess would give a different picture without saying so.
    """
    init_args, init_kwargs = state.get("_init_args"), state.get("_init_kwargs")
    # By type: == on an object from the file (a numpy number) may not even give a bool.
    no_args = init_args is None or (isinstance(init_args, (tuple, list)) and not init_args)
    if not no_args or not isinstance(init_kwargs, Mapping):
        raise UserError(f"{source}: the generator's constructor arguments are not stored as keywords")
    kwargs = _plain(init_kwargs, source, [MAX_ARGUMENT_VALUES])
    missing = [k for k in _GENERATOR_ARGS if k not in kwargs]
    if missing:
        raise UserError(f"{source}: the generator's stored arguments lack {', '.join(missing)}")
    top = {k: kwargs.pop(k) for k in _GENERATOR_ARGS}
    mapping = kwargs.pop("mapping_kwargs", None) or {}
    synthesis = kwargs.pop("synthesis_kwargs", None) or {}
    if not isinstance(mapping, dict) or not isinstance(synthesis, dict):
        raise UserError(f"{source}: mapping_kwargs and synthesis_kwargs must be dicts")
    # The stylegan3 repository's StyleGAN2 Generator takes its synthesis arguments flat.
    synthesis = {k: v for k, v in {**synthesis, **kwargs}.items() if k not in _LAYOUT_ONLY_ARGS}
    unknown = sorted(set(mapping) - _MAPPING_ARGS) + sorted(set(synthesis) - _SYNTHESIS_ARGS)
    if unknown:
        raise UserError(f"{source}: unknown generator arguments {', '.join(map(printable, unknown))}; "
                        "refusing to guess what they change")
    return {**top, "mapping_kwargs": mapping, "synthesis_kwargs": synthesis}


def _plain(value: Any, source: str, budget: list[int], depth: int = 0) -> Any:
    """Stored arguments -> JSON-able Python values (numpy scalars become Python numbers).
    `budget`: how many more values may be read, shared by the whole walk."""
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_MODULE_DEPTH:
        raise UserError(f"{source}: the generator's stored arguments are far larger or deeper than a network's")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{source}: the generator's stored arguments hold NaN or infinite numbers")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, source, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, source, budget, depth + 1) for v in value]
    raise UserError(f"{source}: the generator's stored arguments hold a {type(value).__name__}, not plain data")


# ---------------------------------------------------------------- rosinality .pt

def _read_rosinality(path: Path) -> _Contents:
    ckpt = _torch_load_weights(path)
    g_ema = ckpt.get("g_ema") if isinstance(ckpt, dict) else None
    if not isinstance(g_ema, Mapping) and isinstance(ckpt, dict) and {"G_ema", "D", "state"} <= ckpt.keys():
        raise UserError(f"{path} is a `train gan` run's state, not a generator; export its generator first: "
                        f"python -m live train gan --outdir {shlex.quote(str(path.parent))} --kimg 0 "
                        "--export G.safetensors")
    if not isinstance(g_ema, Mapping):
        if isinstance(ckpt, Mapping) and any(str(k).startswith(("synthesis.b4.", "mapping.fc0.")) for k in ckpt):
            # A state dict taken out of an NVlabs network: its names without the arguments that built it.
            raise UserError(f"{path} holds an NVlabs generator's weights without the arguments that built it (a "
                            "state_dict); give the network pickle (.pkl) it came from")
        raise UserError(f"{path} is a torch file but not a rosinality StyleGAN2 checkpoint (no g_ema)")
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is not None and not isinstance(latent_avg, torch.Tensor):
        raise UserError(f"{path}: latent_avg is a {type(latent_avg).__name__}, not a tensor")
    _check_views({**g_ema, "latent_avg": latent_avg}, path)
    kwargs, state = convert_rosinality(g_ema, latent_avg, str(path))
    if latent_avg is not None:
        return _Contents(kwargs, state)
    _check_arguments(kwargs, str(path))  # before the estimate, which takes memory by z_dim
    state["mapping.w_avg"] = _estimate_w_avg(kwargs, state, str(path))
    return _Contents(kwargs, state, (f"w_avg estimated from {_W_AVG_SAMPLES} random z: the file has no latent_avg",))


def _check_views(tensors: Mapping[str, Any], path: Path) -> None:
    """torch.save keeps a tensor's strides, so a few stored bytes can come back as a view of
    any size (a zero stride repeats one element): every weight must be a plain float tensor
    no larger than its storage, and all of them, copied as they load, about the file's size."""
    total = 0
    for key, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            continue
        if not _is_weight(t):
            raise UserError(f"{path}: {printable(key)} is a {_kind(t)} tensor, not dense float16, bfloat16, "
                            "float32 or float64 weights; is the file damaged?")
        nbytes = t.numel() * t.element_size()
        if nbytes > t.untyped_storage().nbytes():
            raise UserError(f"{path}: {printable(key)} is a view larger than the data stored for it; "
                            "is the file damaged?")
        total += nbytes
    if total > LOADED_PER_FILE_BYTE * path.stat().st_size:
        raise UserError(f"{path}: its weights share their stored data many times over; is the file damaged?")


def _torch_load_weights(path: Path) -> Any:
    try:
        # rosinality's training checkpoints keep their options as an argparse Namespace.
        return load_torch_file(path, "cpu", allowed=(argparse.Namespace,))
    except UserError:
        raise
    except pickle.UnpicklingError as e:
        refused = re.search(r"GLOBAL ([\w.]+)", str(e))
        if refused:
            raise UserError(f"refusing to load {path}: the checkpoint references {refused.group(1)}, "
                            "which is not data") from None
        raise UserError(f"{path} is truncated or not a valid torch checkpoint; download it again") from None
    except Exception as e:  # noqa: BLE001 - torch's readers fail on damaged files in a dozen ways
        raise UserError(f"{path} is truncated or not a valid torch checkpoint "
                        f"({type(e).__name__}: {first_line(e)}); download it again") from None


def _average_w(latent_avg: torch.Tensor, w_dim: int, source: str) -> torch.Tensor:
    """`latent_avg` as [w_dim]. Encoders' exports (pSp, e4e) keep it per layer, [num_ws, w_dim]
    of one row repeated: flattened, it was num_ws times too long, and the error named a key
    the file does not hold."""
    if latent_avg.ndim == 2 and latent_avg.shape[1] == w_dim and bool((latent_avg == latent_avg[:1]).all()):
        latent_avg = latent_avg[0]
    if tuple(latent_avg.shape) != (w_dim,):
        raise UserError(f"{source}: latent_avg is {list(latent_avg.shape)}; the average w of this generator is "
                        f"[{w_dim}] (or one row per layer, all equal)")
    return latent_avg


def convert_rosinality(g_ema: Mapping[str, torch.Tensor], latent_avg: torch.Tensor | None,
                       source: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A rosinality `g_ema` state dict -> (Generator arguments, NVlabs-named state dict).

    Their equalized-learning-rate scales are applied at run time, as ours are: the
    mapping's EqualLinear(lr_mul=0.01) is FullyConnectedLayer(lr_multiplier=0.01);
    ModulatedConv2d's weight scale 1/sqrt(in*k*k) is cancelled by demodulation, which
    ours skips; ToRGB's 1/sqrt(in) on the weight is ours on the styles. So weights copy
    as they are, only reshaped. Their blur kernels are 4x our normalized filter; they are
    checked, not loaded. Without `latent_avg` the state has no `mapping.w_avg`.
    """
    take = _KeyTaker(g_ema, source)
    n_mlp = _count(g_ema, "style.{}.weight", start=1)
    n_up = _count(g_ema, "to_rgbs.{}.conv.weight")
    if 4 << n_up > MAX_RESOLUTION or n_mlp > MAX_MAPPING_LAYERS:
        raise UserError(f"{source}: g_ema describes a {4 << n_up} px generator with {n_mlp} mapping layers; "
                        f"the most read here is {MAX_RESOLUTION} px, {MAX_MAPPING_LAYERS} layers")
    if n_mlp == 0 or "input.input" not in g_ema or "to_rgb1.conv.weight" not in g_ema:
        raise UserError(f"{source}: g_ema is not a rosinality StyleGAN2 generator (no style, input or to_rgb1)")
    w_dim, z_dim = take.peek("style.1.weight", ndim=2).shape
    const = _unbatch(take("input.input"), "input.input", source, ndim=4)
    channels = {4: const.shape[0]} | {8 << i: take.peek(f"convs.{2 * i}.conv.weight", ndim=5).shape[1]
                                      for i in range(n_up)}
    channel_base, channel_max = _channel_table(channels, source)
    kwargs = dict(z_dim=z_dim, c_dim=0, w_dim=w_dim, img_resolution=4 << n_up,
                  img_channels=take.peek("to_rgb1.conv.weight", ndim=5).shape[1],
                  mapping_kwargs=dict(num_layers=n_mlp),
                  synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max))

    state = {"synthesis.b4.const": const}
    for i in range(n_mlp):
        state[f"mapping.fc{i}.weight"] = take(f"style.{i + 1}.weight")
        state[f"mapping.fc{i}.bias"] = take(f"style.{i + 1}.bias")
    if latent_avg is not None:
        state["mapping.w_avg"] = _average_w(latent_avg, w_dim, source)

    # In the file's precision, so that `inspect` reports a half-precision file as one.
    blur = ops.setup_filter(_ROSINALITY_BLUR_TAPS).to(const.dtype)
    convs = [("conv1", "synthesis.b4.conv1", False)]
    rgbs = [("to_rgb1", "synthesis.b4.torgb", False)]
    for i in range(n_up):
        block = f"synthesis.b{8 << i}"
        convs += [(f"convs.{2 * i}", f"{block}.conv0", True), (f"convs.{2 * i + 1}", f"{block}.conv1", False)]
        rgbs.append((f"to_rgbs.{i}", f"{block}.torgb", True))
        state[f"{block}.resample_filter"] = blur.clone()  # one tensor each: safetensors refuses shared ones
    state["synthesis.b4.resample_filter"] = blur.clone()
    # Their noise buffers are numbered in the order the convolutions run.
    for k, (theirs, ours, up) in enumerate(convs):
        state[f"{ours}.weight"] = _unbatch(take(f"{theirs}.conv.weight"), f"{theirs}.conv.weight", source, ndim=5)
        state[f"{ours}.affine.weight"] = take(f"{theirs}.conv.modulation.weight")
        state[f"{ours}.affine.bias"] = take(f"{theirs}.conv.modulation.bias")
        state[f"{ours}.noise_strength"] = _unbatch(take(f"{theirs}.noise.weight"), f"{theirs}.noise.weight", source,
                                                   ndim=1)
        state[f"{ours}.bias"] = take(f"{theirs}.activate.bias")
        state[f"{ours}.noise_const"] = _unbatch(take(f"noises.noise_{k}"), f"noises.noise_{k}", source,
                                                ndim=4, lead=2)
        state[f"{ours}.resample_filter"] = blur.clone()
        if up:
            _check_blur(take(f"{theirs}.conv.blur.kernel"), blur, f"{theirs}.conv.blur.kernel", source)
    for theirs, ours, up in rgbs:
        state[f"{ours}.weight"] = _unbatch(take(f"{theirs}.conv.weight"), f"{theirs}.conv.weight", source, ndim=5)
        state[f"{ours}.affine.weight"] = take(f"{theirs}.conv.modulation.weight")
        state[f"{ours}.affine.bias"] = take(f"{theirs}.conv.modulation.bias")
        state[f"{ours}.bias"] = _unbatch(take(f"{theirs}.bias"), f"{theirs}.bias", source, ndim=4).reshape(-1)
        if up:
            _check_blur(take(f"{theirs}.upsample.kernel"), blur, f"{theirs}.upsample.kernel", source)
    if take.left:
        raise UserError(f"{source}: g_ema has keys this converter does not know: "
                        f"{some(sorted(printable(k) for k in take.left))}")
    return kwargs, state


class _KeyTaker:
    """Hands out the tensors of a state dict once each, so leftovers can be reported."""

    def __init__(self, state: Mapping[str, Any], source: str):
        if not all(isinstance(k, str) for k in state):
            raise UserError(f"{source}: g_ema's keys are not all names; not a rosinality checkpoint")
        self.left = dict(state)
        self._source = source

    def __call__(self, key: str) -> torch.Tensor:
        value = self.peek(key)
        del self.left[key]
        return value

    def peek(self, key: str, ndim: int | None = None) -> torch.Tensor:
        """The tensor under `key`, left in place (to read shapes before converting)."""
        if key not in self.left:
            raise UserError(f"{self._source}: g_ema lacks {key}; the checkpoint is incomplete")
        value = self.left[key]
        if not isinstance(value, torch.Tensor):
            raise UserError(f"{self._source}: g_ema's {key} is not a tensor")
        if ndim is not None and value.ndim != ndim:
            raise UserError(f"{self._source}: g_ema's {key} has shape {list(value.shape)}, expected {ndim} dims")
        return value


def _count(state: Mapping[str, Any], pattern: str, start: int = 0) -> int:
    n = 0
    while pattern.format(start + n) in state:
        n += 1
    return n


def _unbatch(t: torch.Tensor, key: str, source: str, ndim: int, lead: int = 1) -> torch.Tensor:
    """Drop `lead` leading singleton dims of a rosinality tensor (e.g. [1, o, i, k, k])."""
    if t.ndim != ndim or any(n != 1 for n in t.shape[:lead]):
        raise UserError(f"{source}: {key} has shape {list(t.shape)}, expected {ndim} dims, "
                        f"the first {lead} of size 1")
    return t.reshape(t.shape[lead:])


def _check_blur(kernel: torch.Tensor, blur: torch.Tensor, key: str, source: str) -> None:
    # Their Blur/Upsample kernels carry the upsampling gain factor**2 = 4.
    if kernel.shape != blur.shape or not torch.allclose(kernel.float(), 4 * blur.float()):
        raise UserError(f"{source}: {key} is not the [1, 3, 3, 1] blur kernel; other kernels are not supported")


def _channel_table(channels: dict[int, int], source: str) -> tuple[int, int]:
    """(channel_base, channel_max) whose min(base // res, max) gives exactly `channels`."""
    channel_max, top = max(channels.values()), max(channels)
    for base in range(channels[top] * top, (channels[top] + 1) * top):
        if all(min(base // res, channel_max) == c for res, c in channels.items()):
            return base, channel_max
    table = ", ".join(f"{res}:{c}" for res, c in sorted(channels.items()))
    raise UserError(f"{source}: its channels per resolution ({table}) follow no "
                    "min(channel_base // resolution, channel_max) table; this generator cannot hold them")


def check_truncation(G: Generator, psi: float) -> None:
    """Truncation toward w_avg needs a network that keeps one (NVlabs allows w_avg_beta null)."""
    if psi != 1 and G.mapping.w_avg_beta is None:
        raise UserError("this network keeps no average w (its w_avg_beta is null): truncation needs one; "
                        "use --trunc 1")


def keeping_w_avg(G: Generator, source: str) -> tuple[Generator, str | None]:
    """G, or for a generator that tracks no average w (NVlabs' `w_avg_beta` null) a copy that
    holds one estimated from random z, and a note saying so: truncation starts from it."""
    if G.mapping.w_avg_beta is not None:
        return G, None
    kwargs = {**G.init_kwargs, "mapping_kwargs": {**G.init_kwargs.get("mapping_kwargs", {}),
                                                  "num_layers": G.mapping.num_layers, "w_avg_beta": 0.995}}
    state = {k: t.float().cpu() for k, t in G.state_dict().items()}
    state["mapping.w_avg"] = _estimate_w_avg(kwargs, state, source)
    tracked = _assemble(_Contents(kwargs, state), source, torch.float32)
    return (tracked.to(next(G.parameters()).device).eval().requires_grad_(False),
            f"w_avg estimated from {_W_AVG_SAMPLES} random z: the network keeps none (its w_avg_beta is null)")


def _estimate_w_avg(kwargs: Mapping[str, Any], state: Mapping[str, torch.Tensor], source: str) -> torch.Tensor:
    # Every setting of its own: lr_multiplier scales each weight, activation shapes W.
    # On the meta device, its memory the file's: built for real, a 50 KB file's 64 layers of
    # 4096 x 4096 took 4.6 GB before their shapes were found not to fit.
    with torch.device("meta"):
        mapping = MappingNetwork(z_dim=kwargs["z_dim"], c_dim=0, w_dim=kwargs["w_dim"], num_ws=None,
                                 **{**kwargs["mapping_kwargs"], "w_avg_beta": None})
    try:
        mapping.load_state_dict({k.removeprefix("mapping."): t for k, t in state.items() if k.startswith("mapping.")},
                                assign=True)
    except RuntimeError as e:  # torch's first line is a heading ("Error(s) in loading ..."); the reason follows
        reason = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), first_line(e))
        raise UserError(f"{source}: its mapping network's weights do not fit together ({reason})") from None
    z = torch.randn([_W_AVG_SAMPLES, kwargs["z_dim"]], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return mapping(z).mean(dim=0)


# ---------------------------------------------------------------- ours

def _holds_a_generator(path: Path) -> bool:
    """From the tensor names alone; a file whose header cannot be read is for the full read to report."""
    try:
        with safetensors.safe_open(reader_path(path), "pt") as file:
            names = list(file.keys())
    except (safetensors.SafetensorError, OSError):
        return True
    return any(name.startswith(("mapping.", "synthesis.")) for name in names)


def _read_live(path: Path) -> _Contents:
    config_path = path.with_suffix(".json")
    if config_path.is_dir():
        raise UserError(f"{config_path} is a folder; {path.name} needs its config file there")
    if not config_path.is_file():
        if not _holds_a_generator(path):
            raise UserError(f"{path} holds no generator (no mapping or synthesis weights: a bundle's space or "
                            "predictor?); give a generator checkpoint")
        raise UserError(f"{path} needs its config {config_path.name} beside it (`convert` and `train gan --export` "
                        "write both: copy it from where the file was made, or make the pair again)")
    config = read_json(config_path)
    if not isinstance(config, dict) or config.get("format") != LIVE_FORMAT_NAME:
        raise UserError(f"{config_path} is not a {LIVE_FORMAT_NAME} config")
    if config.get("version") != LIVE_FORMAT_VERSION:
        version = config.get("version")
        shown = printable(version) if isinstance(version, (str, list, dict)) else version  # a million items: cut
        raise UserError(f"{config_path} has version {shown}; "
                        f"this program reads version {LIVE_FORMAT_VERSION}")
    if not isinstance(config.get("init_kwargs"), dict):
        raise UserError(f"{config_path} has no init_kwargs")
    try:
        state = safetensors.torch.load_file(reader_path(path))
    except safetensors.SafetensorError as e:
        raise UserError(f"{path} is truncated or not a valid safetensors file ({e})") from None
    return _Contents(config["init_kwargs"], state)


_READERS: dict[str, Callable[[Path], _Contents]] = {
    FORMAT_NVLABS: _read_nvlabs,
    FORMAT_ROSINALITY: _read_rosinality,
    FORMAT_LIVE: _read_live,
}


# ---------------------------------------------------------------- common

# Stored arguments decide how long building the network takes (its loops); its memory
# comes from the file, since the network is built on the meta device and takes the
# file's tensors. Larger than any published StyleGAN2, and far below what hurts.
MAX_RESOLUTION = 4096
MAX_LATENT_DIM = 4096  # StyleGAN2's are 512
MAX_MAPPING_LAYERS = 64
MAX_FILTER_TAPS = 16
ACTIVATIONS = ("lrelu", "linear")


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_arguments(kwargs: Mapping[str, Any], source: str) -> None:
    kwargs = _plain(kwargs, source, [MAX_ARGUMENT_VALUES])  # bounded, plain and finite, whatever the format
    problem = None
    mapping, synthesis = kwargs.get("mapping_kwargs") or {}, kwargs.get("synthesis_kwargs") or {}
    if not isinstance(mapping, Mapping) or not isinstance(synthesis, Mapping):
        problem = "mapping_kwargs and synthesis_kwargs must be tables"
    elif not isinstance(kwargs.get("img_resolution"), int) or not 4 <= kwargs["img_resolution"] <= MAX_RESOLUTION:
        problem = f"img_resolution must be a whole number from 4 to {MAX_RESOLUTION}"
    elif not (_whole(kwargs.get("z_dim"), 1, MAX_LATENT_DIM) and _whole(kwargs.get("w_dim"), 1, MAX_LATENT_DIM)):
        problem = f"z_dim and w_dim must be whole numbers from 1 to {MAX_LATENT_DIM}"
    elif not _whole(kwargs.get("img_channels", 3), 1, 4):  # what a picture holds: grey, grey + alpha, RGB, RGBA
        problem = "img_channels must be 1 to 4"
    elif (clamp := synthesis.get("conv_clamp")) is not None and (not isinstance(clamp, (int, float)) or clamp < 0):
        problem = "conv_clamp must be a number >= 0 or null"
    elif not isinstance(mapping.get("num_layers", 8), int) or not 1 <= mapping.get("num_layers", 8) <= MAX_MAPPING_LAYERS:
        problem = f"the mapping network must have 1 to {MAX_MAPPING_LAYERS} layers"
    elif not isinstance(taps := synthesis.get("resample_filter", []), list) or len(taps) > MAX_FILTER_TAPS:
        problem = f"the resampling filter must be a list of at most {MAX_FILTER_TAPS} taps"
    elif any(table.get("activation", "lrelu") not in ACTIVATIONS for table in (mapping, synthesis)):
        problem = f"the activation must be one of {', '.join(ACTIVATIONS)}"
    if problem:
        raise UserError(f"{source}: cannot build a StyleGAN2 generator from its stored arguments ({problem})")


def _assemble(contents: _Contents, source: str, dtype: torch.dtype) -> Generator:
    """The generator of `contents`, its weights still in the file's dtype; every one fits `dtype`."""
    _check_arguments(contents.init_kwargs, source)
    try:
        with torch.device("meta"):
            G = Generator(**contents.init_kwargs)
    except (TypeError, ValueError, AssertionError, KeyError, RuntimeError, ArithmeticError) as e:
        raise UserError(f"{source}: cannot build a StyleGAN2 generator from its stored arguments "
                        f"({first_line(e)})") from None
    expected = G.state_dict()
    problems = []
    missing = [k for k in expected if k not in contents.state]
    unexpected = [k for k in contents.state if k not in expected]
    resized = [f"{k} is {list(t.shape)}, not {list(expected[k].shape)}"
               for k, t in contents.state.items() if k in expected and t.shape != expected[k].shape]
    if missing:
        problems.append(f"missing {some(missing)}")
    if unexpected:
        problems.append(f"unexpected {some([printable(k) for k in unexpected])}")
    if resized:
        problems.append(some(resized))
    if problems:
        raise UserError(f"{source}: the weights do not fit the architecture its arguments describe: "
                        + "; ".join(problems))
    not_weights = [f"{k} ({_kind(t)})" for k, t in contents.state.items() if not _is_weight(t)]
    if not_weights:
        raise UserError(f"{source}: {some(not_weights)} are not dense float16, bfloat16, float32 or float64 "
                        "weights; is the file damaged?")
    # In the dtype the weights are used in: float64's 1e300 is float32's infinity.
    not_finite = [k for k, t in contents.state.items() if not torch.isfinite(t.to(dtype)).all()]
    if not_finite:
        raise UserError(f"{source}: {some(not_finite)} hold NaN or infinite values (or values beyond "
                        f"{str(dtype).removeprefix('torch.')}'s range); the network diverged in training or "
                        "the file is damaged")
    G.load_state_dict({k: t.contiguous() for k, t in contents.state.items()}, assign=True)
    return G


WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _is_weight(t: torch.Tensor) -> bool:
    """What a generator's weights are: a plain (strided) tensor of a real float type, holding
    data; torch cannot even test float8 or sparse tensors for NaN, and a meta tensor (a model
    saved before its weights were loaded) has no values at all."""
    return t.layout == torch.strided and t.dtype in WEIGHT_DTYPES and not t.is_meta


def _kind(t: torch.Tensor) -> str:
    if t.is_meta:
        return "meta (no data: saved before its weights were loaded)"
    return str(t.dtype).removeprefix("torch.") if t.layout == torch.strided else str(t.layout).removeprefix("torch.")
