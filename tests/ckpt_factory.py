"""Small generator checkpoints in each outside format, built the way their tools write them.

- `write_nvlabs_pickle`: the reduce structure of NVlabs' `torch_utils/persistence.py`:
  every network is `torch_utils.persistence._reconstruct_persistent_obj(meta)` with
  meta = dict(type='class', version=6, module_src, class_name, state=__dict__), inside
  dict(G, D, G_ema, augment_pipe, training_set_kwargs); `_init_kwargs` is a
  `dnnlib.util.EasyDict`; tensors go through torch's own reduce (so their storages are
  `torch.storage._load_from_bytes(<legacy torch.save blob>)`). Stand-ins for the two
  NVlabs modules exist in sys.modules only while pickling.
- `to_rosinality`: the inverse of our rosinality conversion, giving their key names,
  shapes, 4x blur kernels and noise buffers.
- `rosinality_forward`: their Generator's forward written from their formulas
  (EqualLinear scales, ModulatedConv2d's weight scale, Blur/Upsample pads), to check
  that converted weights give the picture their code would.
"""
from __future__ import annotations

import contextlib
import io
import math
import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from live.nets.stylegan2 import Generator, MappingNetwork

@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny convolutions run fastest on one thread; a second one only spins (and more so
    while another job loads the machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3,
            mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=512, channel_max=64))


def tiny_generator(seed: int = 0, **overrides: Any) -> Generator:
    """A 32 px generator with every parameter and buffer random (noise strengths and w_avg
    included, so noise modes and truncation matter)."""
    torch.manual_seed(seed)
    G = Generator(**{**TINY, **overrides}).eval()
    with torch.no_grad():
        for name, t in list(G.named_parameters()) + list(G.named_buffers()):
            if name.endswith("resample_filter"):
                continue
            if name.endswith("noise_strength"):
                t.uniform_(0.1, 0.5)
            elif name.endswith("bias"):
                t.normal_(0, 0.1).add_(1 if ".affine." in name else 0)
            else:
                t.normal_()
    return G


def outputs(G: Generator, seed: int = 0) -> dict[str, torch.Tensor]:
    """G's images for a fixed z in each noise mode (random noise seeded), with truncation."""
    z = torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(seed))
    out = {}
    with torch.no_grad():
        for mode in ("const", "random", "none"):
            torch.manual_seed(seed)
            out[mode] = G(z, noise_mode=mode)
        out["trunc"] = G(z, truncation_psi=0.7, noise_mode="const")
    return out


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


# ---------------------------------------------------------------- NVlabs pickles

class EasyDict(dict):
    """Stand-in for dnnlib.util.EasyDict (a dict with attribute access)."""


def _reconstruct_persistent_obj(meta: dict) -> Any:
    raise AssertionError("only pickled by reference, never called")


EasyDict.__module__ = "dnnlib.util"
_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


@contextlib.contextmanager
def nvlabs_modules() -> Iterator[None]:
    """`torch_utils.persistence` and `dnnlib.util` in sys.modules, removed on exit."""
    fakes = {name: types.ModuleType(name) for name in ("dnnlib", "dnnlib.util", "torch_utils",
                                                         "torch_utils.persistence")}
    fakes["dnnlib.util"].EasyDict = EasyDict
    fakes["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    assert not set(fakes) & set(sys.modules)
    sys.modules.update(fakes)
    try:
        yield
    finally:
        for name in fakes:
            del sys.modules[name]


def easy(d: dict) -> EasyDict:
    return EasyDict({k: easy(v) if isinstance(v, dict) else v for k, v in d.items()})


class PersistencePickler(pickle.Pickler):
    """Reduces every nn.Module as NVlabs' persistent_class.__reduce__ does."""

    def __init__(self, file: io.BufferedIOBase, protocol: int, module_src: str,
                 init_kwargs: dict[int, dict]):
        super().__init__(file, protocol=protocol)
        self.module_src, self.init_kwargs = module_src, init_kwargs

    def reducer_override(self, obj: Any) -> Any:
        if not isinstance(obj, nn.Module):
            return NotImplemented
        state = dict(obj.__dict__, _init_args=(), _init_kwargs=easy(self.init_kwargs.get(id(obj), {})))
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=type(obj).__name__,
                    state=state)
        return _reconstruct_persistent_obj, (meta,)


def nvlabs_bytes(snapshot: dict[str, Any], protocol: int = 4, module_src: str = "",
                 init_kwargs: dict[int, dict] | None = None) -> bytes:
    """Pickle a snapshot dict; each Generator's `_init_kwargs` is its `init_kwargs`
    unless `init_kwargs` (keyed by id(module)) says otherwise."""
    kwargs = {id(v): v.init_kwargs for v in snapshot.values() if isinstance(v, Generator)}
    kwargs.update(init_kwargs or {})
    buf = io.BytesIO()
    with nvlabs_modules():
        PersistencePickler(buf, protocol, module_src, kwargs).dump(snapshot)
    return buf.getvalue()


def write_nvlabs_pickle(path: Path, G_ema: Generator | None, G: Generator | None = None,
                        protocol: int = 4, module_src: str = "", **kw: Any) -> Path:
    snapshot = dict(G=G, D=None, G_ema=G_ema, augment_pipe=None,
                    training_set_kwargs=easy(dict(class_name="training.dataset.ImageFolderDataset",
                                                  path="~/datasets/abstract.zip", use_labels=False,
                                                  max_size=np.int64(5000), xflip=True,
                                                  resolution=np.int64(32))))
    path.write_bytes(nvlabs_bytes(snapshot, protocol, module_src, **kw))
    return path


def stylegan3_shaped_generator() -> nn.Module:
    """A module tree named like NVlabs' networks_stylegan3.py (input, L{idx}_{size}_{ch})."""

    class SynthesisInput(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(8, 2))
            self.register_buffer("transform", torch.eye(3))

    class SynthesisLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(8, 8, 3, 3))
            self.register_buffer("magnitude_ema", torch.ones([]))

    class SynthesisNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.input = SynthesisInput()
            self.L0_36_8 = SynthesisLayer()

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.mapping = MappingNetwork(z_dim=8, c_dim=0, w_dim=8, num_ws=2)
            self.synthesis = SynthesisNetwork()

    return Generator()


def legacy_torch_blob(payload: Any) -> bytes:
    """A legacy torch.save stream whose main object is `payload` (no storages)."""
    sys_info = dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4))
    parts = [0x1950A86A20F9469CFC6C, 1001, sys_info, payload, []]
    return b"".join(pickle.dumps(p, protocol=2) for p in parts)


# ---------------------------------------------------------------- rosinality

def _rosinality_layers(n_up: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    convs = [("conv1", "synthesis.b4.conv1")]
    rgbs = [("to_rgb1", "synthesis.b4.torgb")]
    for i in range(n_up):
        block = f"synthesis.b{8 << i}"
        convs += [(f"convs.{2 * i}", f"{block}.conv0"), (f"convs.{2 * i + 1}", f"{block}.conv1")]
        rgbs.append((f"to_rgbs.{i}", f"{block}.torgb"))
    return convs, rgbs


def to_rosinality(G: Generator) -> dict[str, torch.Tensor]:
    """Our state dict -> a rosinality `g_ema` state dict (their names, shapes, buffers)."""
    ours = {k: v.detach().clone() for k, v in G.state_dict().items()}
    n_up = len(G.synthesis.block_resolutions) - 1
    kernel = 4 * ours["synthesis.b8.resample_filter"]
    sd = {"input.input": ours["synthesis.b4.const"][None]}
    for i in range(G.mapping.num_layers):
        sd[f"style.{i + 1}.weight"] = ours[f"mapping.fc{i}.weight"]
        sd[f"style.{i + 1}.bias"] = ours[f"mapping.fc{i}.bias"]
    convs, rgbs = _rosinality_layers(n_up)
    for k, (theirs, our) in enumerate(convs):
        sd[f"{theirs}.conv.weight"] = ours[f"{our}.weight"][None]
        sd[f"{theirs}.conv.modulation.weight"] = ours[f"{our}.affine.weight"]
        sd[f"{theirs}.conv.modulation.bias"] = ours[f"{our}.affine.bias"]
        sd[f"{theirs}.noise.weight"] = ours[f"{our}.noise_strength"].reshape(1)
        sd[f"{theirs}.activate.bias"] = ours[f"{our}.bias"]
        sd[f"noises.noise_{k}"] = ours[f"{our}.noise_const"][None, None]
        if our.endswith("conv0"):
            sd[f"{theirs}.conv.blur.kernel"] = kernel
    for theirs, our in rgbs:
        sd[f"{theirs}.conv.weight"] = ours[f"{our}.weight"][None]
        sd[f"{theirs}.conv.modulation.weight"] = ours[f"{our}.affine.weight"]
        sd[f"{theirs}.conv.modulation.bias"] = ours[f"{our}.affine.bias"]
        sd[f"{theirs}.bias"] = ours[f"{our}.bias"].reshape(1, -1, 1, 1)
        if theirs != "to_rgb1":
            sd[f"{theirs}.upsample.kernel"] = kernel
    return sd


def _upfirdn(x: torch.Tensor, kernel: torch.Tensor, up: int, pad: tuple[int, int]) -> torch.Tensor:
    """rosinality's upfirdn2d_native for down=1: zero insertion, pad, flipped-kernel conv."""
    if up > 1:
        x = _zero_insert(x, up)
    c = x.shape[1]
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    k = torch.flip(kernel, [0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, k, groups=c)


def _zero_insert(x: torch.Tensor, up: int) -> torch.Tensor:
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, h * up, w * up)
    out[:, :, ::up, ::up] = x
    return out


def rosinality_forward(sd: dict[str, torch.Tensor], z: torch.Tensor, truncation: float = 1,
                       latent_avg: torch.Tensor | None = None) -> torch.Tensor:
    """Their Generator([z], truncation, truncation_latent, randomize_noise=False), batch 1."""
    assert z.shape[0] == 1

    def lrelu(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # FusedLeakyReLU, scale sqrt 2
        return F.leaky_relu(x + b.reshape(1, -1, *[1] * (x.ndim - 2)), 0.2) * math.sqrt(2)

    def modulated(x: torch.Tensor, prefix: str, style: torch.Tensor, demodulate: bool, up: bool) -> torch.Tensor:
        weight = sd[f"{prefix}.conv.weight"]
        _, out_ch, in_ch, k, _ = weight.shape
        mod_w = sd[f"{prefix}.conv.modulation.weight"]
        s = F.linear(style, mod_w / math.sqrt(mod_w.shape[1]), sd[f"{prefix}.conv.modulation.bias"])
        weight = (1 / math.sqrt(in_ch * k * k)) * weight * s.view(1, 1, in_ch, 1, 1)
        if demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(1, out_ch, 1, 1, 1)
        weight = weight.view(out_ch, in_ch, k, k)
        if up:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            return _upfirdn(x, sd[f"{prefix}.conv.blur.kernel"], up=1, pad=(1, 1))
        return F.conv2d(x, weight, padding=k // 2)

    def styled_conv(x: torch.Tensor, prefix: str, style: torch.Tensor, noise: torch.Tensor, up: bool) -> torch.Tensor:
        x = modulated(x, prefix, style, demodulate=True, up=up)
        x = x + sd[f"{prefix}.noise.weight"] * noise
        return lrelu(x, sd[f"{prefix}.activate.bias"])

    def to_rgb(x: torch.Tensor, prefix: str, style: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        out = modulated(x, prefix, style, demodulate=False, up=False) + sd[f"{prefix}.bias"]
        if skip is not None:
            out = out + _upfirdn(skip, sd[f"{prefix}.upsample.kernel"], up=2, pad=(2, 1))
        return out

    w = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # PixelNorm
    i = 1
    while f"style.{i}.weight" in sd:
        weight = sd[f"style.{i}.weight"]
        w = lrelu(F.linear(w, weight * (0.01 / math.sqrt(weight.shape[1]))), sd[f"style.{i}.bias"] * 0.01)
        i += 1
    if truncation < 1:
        w = latent_avg + truncation * (w - latent_avg)

    n_up = sum(1 for k in sd if k.startswith("to_rgbs.") and k.endswith(".conv.weight"))
    x = sd["input.input"]
    x = styled_conv(x, "conv1", w, sd["noises.noise_0"], up=False)
    skip = to_rgb(x, "to_rgb1", w, None)
    for i in range(n_up):
        x = styled_conv(x, f"convs.{2 * i}", w, sd[f"noises.noise_{2 * i + 1}"], up=True)
        x = styled_conv(x, f"convs.{2 * i + 1}", w, sd[f"noises.noise_{2 * i + 2}"], up=False)
        skip = to_rgb(x, f"to_rgbs.{i}", w, skip)
    return skip
