"""Fast batch-1 StyleGAN2 synthesis for the live path: frozen weights, modulated activations.

The reference (`ops.modulated_conv2d`, fused) folds each frame's styles into a fresh copy
of every conv weight, then convolves. That copy is as large as the weights, costs a pass
over them per layer and per frame, and cannot be prepacked by the conv library.
Modulation scales input channels and demodulation output channels, so the same numbers
come from weights that never change:

    y = conv(x * s, weight) * d,   d = rsqrt(sum_{i,k} (weight[o,i,k] * s[i])^2 + 1e-8)
                                     = rsqrt((weight^2 summed over k) @ s^2 + 1e-8)

which turns the per-frame weight work into one small matrix-vector product per layer,
done for all layers at once (`FrozenStyles`).
What does not change per frame (the const input, noise * strength, biases, folded affine
gains, the up-sampling kernels) is computed once, when the wrapper is built: rebuild it
after loading other weights. `FastSynthesis` adds `torch.compile` with freezing, which
prepacks the constant conv weights for oneDNN and fuses the elementwise tail of each
layer (demodulation, noise, bias, leaky ReLU, next layer's modulation) into one pass.

`ops` stays the reference; `tests/test_fast_generator.py` checks that both agree.
"""
from __future__ import annotations

import logging
import time
import types
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from live.nets import ops
from live.nets.packaged import Package
from live.nets.stylegan2 import SynthesisBlock, SynthesisLayer, SynthesisNetwork, ToRGBLayer

FROZEN_NOISE_MODES = ("const", "none")
UP_CONVS = ("transpose", "split")


def transpose_phase_kernels(weight: torch.Tensor) -> list[torch.Tensor]:
    """The stride-2 transposed 3x3 conv of `ops.conv2d_up` (before its FIR) as four plain
    convs at input resolution, one per output phase (row, column parity), phase-major.

    Output row 2m reads x[m-1] through tap 2 and x[m] through tap 0; row 2m+1 reads x[m]
    through tap 1 only. So the phases' kernels are 2x2, 2x1, 1x2 and 1x1: the transposed
    conv's 9 multiply-adds per input pixel and channel pair, as plain convs, which oneDNN
    runs well in bf16 where its transposed conv does not. (Phases that also carry the
    4x4 FIR are 3x3 each, 36 multiply-adds; that form ran 1.2-1.6x slower here.)
    """
    assert weight.shape[2:] == (3, 3), weight.shape
    taps = [torch.tensor([2, 0], device=weight.device), torch.tensor([1], device=weight.device)]  # by parity
    return [weight[:, :, taps[ry]][:, :, :, taps[rx]].contiguous() for ry in (0, 1) for rx in (0, 1)]


_PHASE_PADDING = ((1, 1), (1, 0), (0, 1), (0, 0))  # (rows, columns) of each phase's conv


def transposed_conv_phases(x: torch.Tensor, kernels: list[torch.Tensor]) -> torch.Tensor:
    """[N, in, H, W] -> [N, out, 2H + 2, 2W + 2]: `F.conv_transpose2d(x, weight.transpose(0, 1),
    stride=2)` for `kernels = transpose_phase_kernels(weight)`, with one extra row and column
    of zeros at the end (where the odd phases have no input)."""
    h, w = x.shape[2], x.shape[3]
    phases = [F.conv2d(x, k, padding=p) for k, p in zip(kernels, _PHASE_PADDING)]
    phases = [F.pad(y, [0, w + 1 - y.shape[3], 0, h + 1 - y.shape[2]]) for y in phases]
    return interleave_phases(torch.cat(phases, dim=1))


def separable_taps(f: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(vertical, horizontal) taps whose outer product is the 2-D FIR `f`, in the order
    `fir_separable` applies them, or None if `f` is not separable."""
    rows, cols = f.sum(dim=1), f.sum(dim=0)
    if f.sum() == 0 or not torch.allclose(torch.outer(rows, cols) / f.sum(), f, atol=1e-7):
        return None
    # upfirdn2d applies the filter as a true convolution: flipped, against a correlation.
    return tuple((rows / f.sum()).flip(0).tolist()), tuple(cols.flip(0).tolist())


def fir_separable(x: torch.Tensor, taps: tuple[tuple[float, ...], tuple[float, ...]],
                  padding: tuple[int, int, int, int], gain: float) -> torch.Tensor:
    """`ops.upfirdn2d(x, f, padding=padding, gain=gain)` for `taps = separable_taps(f)`, as
    shifted adds one direction at a time: 8 multiply-adds a pixel instead of 16, in a form
    that inductor fuses with the layer's elementwise tail (oneDNN's depthwise conv took
    as long as a 64-channel layer's conv)."""
    px0, px1, py0, py1 = padding
    x = F.pad(x, [px0, px1, py0, py1])  # a negative side crops (filters of fewer than 4 taps)
    ty, tx = taps
    h, w = x.shape[2] - len(ty) + 1, x.shape[3] - len(tx) + 1
    x = sum(x[:, :, :, k:k + w] * (t * gain) for k, t in enumerate(tx))
    return sum(x[:, :, k:k + h] * t for k, t in enumerate(ty))


def interleave_phases(x: torch.Tensor) -> torch.Tensor:
    """[N, 4C, H, W] phase-major (row parity, column parity, channel) -> [N, C, 2H, 2W].

    Unlike `pixel_shuffle`'s channel-minor order, each phase's channels sit together, so
    in channels_last memory the interleaving reads whole contiguous channel vectors."""
    n, c4, h, w = x.shape
    x = x.reshape(n, 2, 2, c4 // 4, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(n, c4 // 4, 2 * h, 2 * w)


@dataclass(frozen=True)
class FastOptions:
    """How to run synthesis. Defaults are the fastest measured on a 2-core AVX-512/AMX CPU
    (`python -m live bench generator`)."""

    dtype: torch.dtype = torch.float32  # conv dtype; styles, demodulation and the image stay float32
    channels_last: bool = True          # NHWC: oneDNN's native layout, no reorders
    compile: bool = True                # inductor with frozen, prepacked weights
    packages: Path | None = None        # compile ahead of time into this directory (kept across
                                        # processes, see live.nets.packaged); None: torch.compile
    up_conv: str | None = None          # "transpose" (as the reference) or "split"; None = by dtype
    noise_mode: str = "const"           # "const" or "none": per-frame random noise is not frozen

    def __post_init__(self) -> None:
        if self.noise_mode not in FROZEN_NOISE_MODES:
            raise ValueError(f"fast synthesis needs noise_mode in {FROZEN_NOISE_MODES}, not {self.noise_mode!r}")
        if self.up_conv not in (None, *UP_CONVS):
            raise ValueError(f"up_conv must be one of {UP_CONVS} or None, not {self.up_conv!r}")

    @property
    def resolved_up_conv(self) -> str:
        # oneDNN's fp32 transposed conv is efficient; its bf16 one is not, while a plain
        # conv over the phases runs on AMX tiles or AVX-512 BF16.
        if self.up_conv is not None:
            return self.up_conv
        return "transpose" if self.dtype == torch.float32 else "split"

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


class FrozenStyles(nn.Module):
    """Every layer's styles (the affine of its w) and every conv layer's demodulation
    coefficients for one frame, each in one pass over all layers' weights.

    Per layer these are a [1, w_dim] x [w_dim, in] and a [1, in] x [in, out] product: 28
    library calls at the default generator's sizes, each 10-40 us of call overhead and
    cold weights for microseconds of arithmetic. Concatenated, they are two reductions
    that inductor compiles into one streaming loop each (`python -m live bench generator`).
    """

    def __init__(self, layers: list[tuple[SynthesisLayer | ToRGBLayer, int]]):
        """`layers`: each layer with the index of its w in ws, in the order `forward` returns them."""
        super().__init__()
        weights, biases, w_index = [], [], []
        for layer, index in layers:
            affine = layer.affine
            assert affine.activation == "linear" and affine.bias is not None
            gain = layer.weight_gain if isinstance(layer, ToRGBLayer) else 1  # toRGB scales its styles
            weights.append((affine.weight * (affine.weight_gain * gain)).detach().float())
            biases.append((affine.bias * (affine.bias_gain * gain)).detach().float())
            w_index.append(torch.full([affine.weight.shape[0]], index, device=affine.weight.device))
        self.spans = spans([len(b) for b in biases])
        self.register_buffer("weight", torch.cat(weights))  # [sum of in, w_dim]
        self.register_buffer("bias", torch.cat(biases))
        self.register_buffer("w_index", torch.cat(w_index))
        # Demodulation reads each layer's squared weights summed over the kernel, [out, in],
        # padded to the widest input so that all layers' rows form one [sum of out, max in] table.
        self.demodulated = [i for i, (layer, _) in enumerate(layers) if isinstance(layer, SynthesisLayer)]
        squares = [layers[i][0].weight.detach().float().square().sum(dim=[2, 3]) for i in self.demodulated]
        self.max_in = max(sq.shape[1] for sq in squares)
        self.row_spans = spans([len(sq) for sq in squares])
        self.register_buffer("weight_sq", torch.cat([F.pad(sq, [0, self.max_in - sq.shape[1]]) for sq in squares]))
        self.register_buffer("row_layer", torch.cat([torch.full([len(sq)], j, device=sq.device)
                                                     for j, sq in enumerate(squares)]))

    def forward(self, ws: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
        """ws [1, num_ws, w_dim] -> per layer: styles [1, in], demodulation coefficients [1, out] or None."""
        flat = (self.weight * ws[0, self.w_index]).sum(dim=1) + self.bias
        styles = [flat[start:end].unsqueeze(0) for start, end in self.spans]
        padded = torch.stack([F.pad(styles[i][0], [0, self.max_in - styles[i].shape[1]]) for i in self.demodulated])
        rows = ((self.weight_sq * padded[self.row_layer].square()).sum(dim=1) + 1e-8).rsqrt()
        dcoefs: list[torch.Tensor | None] = [None] * len(styles)
        for i, (start, end) in zip(self.demodulated, self.row_spans):
            dcoefs[i] = rows[start:end].unsqueeze(0)
        return styles, dcoefs


def spans(lengths: list[int]) -> list[tuple[int, int]]:
    """(start, end) of consecutive pieces of these lengths."""
    ends = [sum(lengths[:i + 1]) for i in range(len(lengths))]
    return list(zip([0, *ends[:-1]], ends))


class FrozenLayer(nn.Module):
    """`SynthesisLayer` (modulated 3x3 conv, noise, bias, leaky ReLU) at batch 1."""

    def __init__(self, layer: SynthesisLayer, options: FastOptions):
        super().__init__()
        weight = layer.weight.detach().float()
        self.activation = layer.activation
        self.up_conv = options.resolved_up_conv if layer.up == 2 else None
        self.padding = weight.shape[-1] // 2
        self.dtype, self.memory_format = options.dtype, options.memory_format
        self.clamp = layer.conv_clamp
        self.register_buffer("resample_filter", layer.resample_filter.detach().clone())
        kernels = [weight]
        if self.up_conv == "split":
            kernels = transpose_phase_kernels(weight)
            p0, p1 = ops.conv2d_up_fir_padding(weight.shape[-1], layer.resample_filter.shape[-1])
            self.fir_padding = (p0, p1 - 1, p0, p1 - 1)  # the phases' result ends in a row and column of zeros
            self.fir_taps = separable_taps(layer.resample_filter.detach().float())
        self.num_kernels = len(kernels)
        for i, k in enumerate(kernels):
            self.register_buffer(f"conv_weight{i}", k.to(options.dtype).contiguous(memory_format=self.memory_format))
        noise = torch.zeros([], device=weight.device)
        if layer.use_noise and options.noise_mode == "const":
            noise = (layer.noise_const * layer.noise_strength).detach().float()
        self.register_buffer("noise", noise)
        self.register_buffer("bias", layer.bias.detach().float())

    @property
    def conv_weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"conv_weight{i}") for i in range(self.num_kernels)]

    def forward(self, x: torch.Tensor, styles: torch.Tensor, dcoefs: torch.Tensor) -> torch.Tensor:
        """styles [1, in] and demodulation coefficients [1, out] from `FrozenStyles`."""
        x = x * styles.to(x.dtype).reshape(1, -1, 1, 1)
        if self.up_conv == "split":
            x = transposed_conv_phases(x, self.conv_weights).float()
            if self.fir_taps is None:
                x = ops.upfirdn2d(x, self.resample_filter, padding=self.fir_padding, gain=4)
            else:
                x = fir_separable(x, self.fir_taps, self.fir_padding, gain=4)
        elif self.up_conv == "transpose":
            x = ops.conv2d_up(x, self.conv_weights[0], self.resample_filter)
        else:
            x = F.conv2d(x, self.conv_weights[0], padding=self.padding)
        x = x.float() * dcoefs.reshape(1, -1, 1, 1) + self.noise
        x = ops.bias_act(x, self.bias, act=self.activation, clamp=self.clamp)
        return x.to(self.dtype).contiguous(memory_format=self.memory_format)


class FrozenToRGB(nn.Module):
    """`ToRGBLayer` (modulated 1x1 conv, no demodulation) at batch 1."""

    def __init__(self, layer: ToRGBLayer, options: FastOptions):
        super().__init__()
        self.clamp = layer.conv_clamp
        self.register_buffer("weight", layer.weight.detach().to(options.dtype)
                             .contiguous(memory_format=options.memory_format))
        self.register_buffer("bias", layer.bias.detach().float())

    def forward(self, x: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x * styles.to(x.dtype).reshape(1, -1, 1, 1), self.weight).float()
        return ops.bias_act(y, self.bias, clamp=self.clamp)


class FrozenBlock(nn.Module):
    """`SynthesisBlock` ('skip' architecture) at batch 1."""

    def __init__(self, block: SynthesisBlock, options: FastOptions):
        super().__init__()
        self.num_ws = block.num_conv + block.num_torgb
        self.conv0 = FrozenLayer(block.conv0, options) if block.in_channels > 0 else None
        self.conv1 = FrozenLayer(block.conv1, options)
        self.torgb = FrozenToRGB(block.torgb, options)
        const = None
        if block.in_channels == 0:
            const = block.const.detach().unsqueeze(0).to(options.dtype).contiguous(memory_format=options.memory_format)
        self.register_buffer("const", const)
        self.register_buffer("resample_filter", block.resample_filter.detach().clone())

    @staticmethod
    def styled_layers(block: SynthesisBlock) -> list[SynthesisLayer | ToRGBLayer]:
        """The block's layers in the order their ws (and styles) come."""
        return [block.conv1, block.torgb] if block.in_channels == 0 else [block.conv0, block.conv1, block.torgb]

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, styles: list[torch.Tensor],
                dcoefs: list[torch.Tensor | None]) -> tuple[torch.Tensor, torch.Tensor]:
        """styles and dcoefs: per layer, in `styled_layers` order."""
        assert len(styles) == len(dcoefs) == self.num_ws
        if self.conv0 is None:
            x = self.conv1(self.const, styles[0], dcoefs[0])
        else:
            x = self.conv1(self.conv0(x, styles[0], dcoefs[0]), styles[1], dcoefs[1])
        y = self.torgb(x, styles[-1])
        img = y if img is None else ops.upsample2d(img, self.resample_filter) + y
        return x, img


class FrozenSynthesis(nn.Module):
    """`SynthesisNetwork(ws, noise_mode)` at batch 1 with the weights as constants."""

    def __init__(self, synthesis: SynthesisNetwork, options: FastOptions):
        super().__init__()
        self.num_ws, self.w_dim = synthesis.num_ws, synthesis.w_dim
        blocks = [getattr(synthesis, f"b{res}") for res in synthesis.block_resolutions]
        self.blocks = nn.ModuleList(FrozenBlock(block, options) for block in blocks)
        layers, first = [], 0
        for block in blocks:
            layers += [(layer, first + i) for i, layer in enumerate(FrozenBlock.styled_layers(block))]
            first += block.num_conv  # a block's toRGB shares its w with the next block's conv0
        self.styles = FrozenStyles(layers)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        assert ws.shape == (1, self.num_ws, self.w_dim), (ws.shape, self.num_ws, self.w_dim)
        styles, dcoefs = self.styles(ws)
        x = img = None
        first = 0
        for block in self.blocks:
            last = first + block.num_ws
            x, img = block(x, img, styles[first:last], dcoefs[first:last])
            first = last
        return img


def compile_frozen(module: nn.Module, example: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """`torch.compile` a one-input inference module with its parameters and buffers frozen as
    constants, compiling now on `example`. Inductor's freezing prepacks conv and linear
    weights for oneDNN and folds what only depends on them.

    Call the result under `torch.inference_mode()` with inputs shaped like `example`:
    anything else would recompile, without freezing.
    """
    from torch._inductor import config

    # Dynamo keeps compiled graphs per code object, and would keep every instance's frozen
    # weights alive (and refuse a ninth instance) if all shared `module.forward`'s code. A
    # copy of the code object per call gives each compilation its own cache, freed with it.
    def forward(x: torch.Tensor) -> torch.Tensor:
        return module(x)

    forward = types.FunctionType(forward.__code__.replace(), forward.__globals__, forward.__name__,
                                 forward.__defaults__, forward.__closure__)
    compiled = torch.compile(forward, fullgraph=True, dynamic=False)
    # Freezing must be on while dynamo traces (it marks the weights static) and while
    # inductor compiles (it prepacks them). The C++ wrapper saves ~1 ms a frame of Python
    # dispatch between the ~80 kernels of a synthesis pass.
    with torch.inference_mode(), config.patch(freezing=True, cpp_wrapper=True), errors_only(CPP_EXTENSION_LOG):
        compiled(example)
    return compiled


# Building the C++ wrapper looks for a CUDA toolkit too, and where one is installed without a
# GPU this logger warns "No CUDA runtime is found" into the show's output: nothing a compile
# for the CPU needs (and on a GPU machine there is nothing to warn about).
CPP_EXTENSION_LOG = "torch.utils.cpp_extension"


@contextmanager
def errors_only(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def package_on_disk(synthesis: SynthesisNetwork, options: FastOptions) -> bool:
    """Would `FastSynthesis(synthesis, options)`, made on this thread, load its package rather
    than build it? In tens of milliseconds (nothing is loaded)."""
    assert options.packages is not None
    example = torch.zeros(1, synthesis.num_ws, synthesis.w_dim, device=synthesis.b4.const.device)
    frozen = FrozenSynthesis(synthesis, options).eval()
    return Package(frozen, example, options.packages, torch.get_num_threads()).on_disk


class FastSynthesis:
    """`ws [1, num_ws, w_dim] -> img [1, C, R, R]` float32, as `synthesis(ws, noise_mode=...)`.

    Build one per set of weights and keep it. With `compile`, building takes tens of
    seconds on a small CPU (`compile_seconds`): in this process with `torch.compile`, whose
    code cache keeps each compilation's frozen weights until the process exits, even after
    this object is gone; or, with `packages`, in a child process, once per set of weights,
    and milliseconds to load after that. torch.compile's frames were up to a fifth faster here
    (one thread: 4.0-5.0 against 4.85 ms a frame, the package built for one thread).
    With `build` False, a package not yet on disk is left `pending`: `package.prepare_build()`
    on this thread, `package.build()` from any (it waits for the child), then `use_package()`
    on this one; until then frames are drawn uncompiled. The device is the synthesis network's.
    """

    def __init__(self, synthesis: SynthesisNetwork, options: FastOptions = FastOptions(), build: bool = True):
        self.options = options
        self.num_ws, self.w_dim = synthesis.num_ws, synthesis.w_dim
        self.device = synthesis.b4.const.device
        self.frozen = FrozenSynthesis(synthesis, options).eval()
        self.run: Callable[[torch.Tensor], torch.Tensor] = self.frozen
        # Every call goes through this one input tensor: a tensor made under inference mode
        # (or on another device, or in another dtype) would not match the compiled graph's
        # guards and would silently recompile, without freezing. Not thread-safe.
        self.ws = torch.zeros(1, self.num_ws, self.w_dim, device=self.device)
        self.compile_seconds = 0.0
        # Dynamo guards on the calling thread's intra-op thread count (OpenMP keeps it per
        # thread): called with another count, the graph would recompile without freezing,
        # which crashes torch 2.11. Calls run with the count it was compiled with.
        self.threads = torch.get_num_threads()
        self.package: Package | None = None
        if options.compile:
            start = time.perf_counter()
            if options.packages is None:
                self.run = compile_frozen(self.frozen, self.ws)
            else:
                self.package = Package(self.frozen, self.ws, options.packages, self.threads)
                on_disk = self.package.on_disk
                if build and not on_disk:
                    self.package.build()  # RuntimeError with the builder's reason if it fails
                if build or on_disk:
                    self.use_package()
            self.compile_seconds = time.perf_counter() - start

    @property
    def pending(self) -> bool:
        """A package to build and load before frames are drawn compiled."""
        return self.package is not None and self.run is self.frozen

    def use_package(self) -> None:
        """Draw with the package, which is on disk."""
        assert self.package is not None
        self.run = self.package.load()

    def __call__(self, ws: torch.Tensor) -> torch.Tensor:
        assert ws.shape == self.ws.shape, (ws.shape, self.ws.shape)
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        with torch.inference_mode():
            self.ws.copy_(ws)
            return self.run(self.ws)
