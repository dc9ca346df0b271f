"""StyleGAN2's low-level operations in plain PyTorch (no compiled extension).

These reproduce the reference paths of NVlabs stylegan2-ada-pytorch (`upfirdn2d`,
`conv2d_resample`, `bias_act`, `modulated_conv2d`) operation for operation, so a
checkpoint trained with their CUDA kernels gives the same numbers here. Every function
is written for any batch size, device and dtype.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2)  # keeps activations' second moment through a leaky ReLU


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def setup_filter(taps: list[float]) -> torch.Tensor:
    """A 1-D list of taps -> the normalized 2-D FIR filter (outer product, sum 1)."""
    # In Python, for the reason of FullyConnectedLayer's in-place division.
    total = sum(taps) ** 2
    return torch.tensor([[a * b / total for b in taps] for a in taps], dtype=torch.float32)


def bias_act(x: torch.Tensor, b: torch.Tensor | None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None) -> torch.Tensor:
    """Add a per-channel bias (dim 1), apply the activation, scale by its gain, clamp."""
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
        gain = LRELU_GAIN if gain is None else gain
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}")
    if gain is not None and gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1) -> torch.Tensor:
    """Upsample by zero insertion, pad (x0, x1, y0, y1), filter with the 2-D FIR `f`, downsample."""
    n, c, h, w = x.shape
    px0, px1, py0, py1 = padding
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    # The filter is applied as a true convolution (flipped), as NVlabs does by default.
    f = (f * gain).to(x.dtype).flip([0, 1])
    x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """2x upsampling of an image by the resampling filter, gain up**2 to keep its level."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


def conv2d_up_fir_padding(kernel_size: int, filter_size: int) -> tuple[int, int]:
    """Padding (before, after) of the FIR that follows `conv2d_up`'s stride-2 transposed conv."""
    pad = kernel_size // 2
    return pad + (filter_size + 1) // 2 - (kernel_size - 1), pad + (filter_size - 2) // 2 - (kernel_size - 2)


def conv2d_up(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """3x3 convolution fused with 2x upsampling: a stride-2 transposed conv, then the FIR filter.

    `w` is [out, in/groups, k, k] as for a forward conv; the padding arithmetic follows
    NVlabs' `conv2d_resample` for up=2, padding=k//2.
    """
    out_channels, in_per_group, kh, kw = w.shape
    px0, px1 = conv2d_up_fir_padding(kw, f.shape[-1])
    if groups == 1:
        wt = w.transpose(0, 1)
    else:
        wt = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_channels // groups, kh, kw)
    x = F.conv_transpose2d(x, wt, stride=2, groups=groups)
    return upfirdn2d(x, f, padding=(px0, px1, px0, px1), gain=4)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     noise: torch.Tensor | None = None, up: bool = False,
                     resample_filter: torch.Tensor | None = None, demodulate: bool = True,
                     fused: bool = True) -> torch.Tensor:
    """StyleGAN2's modulated convolution: scale input channels by `styles`, convolve,
    and (with `demodulate`) renormalize each output channel to unit expected variance.

    fused=True folds the styles into per-sample weights and runs one grouped conv (best
    for batch 1, the live path); fused=False scales activations instead (best for
    training batches). Both give the same result up to rounding.
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    assert x.shape[1] == in_channels, (x.shape, weight.shape)
    assert styles.shape == (batch, in_channels), (styles.shape, batch, in_channels)

    if x.dtype == torch.float16 and demodulate:
        # Pre-normalize so fp16 products cannot overflow; demodulation cancels the scale.
        weight = weight * (1 / math.sqrt(in_channels * kh * kw)
                           / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()

    padding = kw // 2
    if not fused:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        w_ = weight.to(x.dtype)
        x = conv2d_up(x, w_, resample_filter) if up else F.conv2d(x, w_, padding=padding)
        if dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x

    if dcoefs is not None:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw).to(x.dtype)
    if up:
        x = conv2d_up(x, w, resample_filter, groups=batch)
    else:
        x = F.conv2d(x, w, padding=padding, groups=batch)
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x
