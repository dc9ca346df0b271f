"""StyleGAN2 residual discriminator, used only to train generators.

Names follow NVlabs stylegan2-ada-pytorch (`b{res}.fromrgb|conv0|conv1|skip`,
`b4.mbstd|conv|fc|out`) so a reader who knows theirs knows this one.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from live.nets import ops
from live.nets.stylegan2 import FullyConnectedLayer

SKIP_GAIN = math.sqrt(0.5)  # a Python float: a NumPy scalar would break torch.compile's graph at every use


class Conv2dLayer(nn.Module):
    """Equalized-learning-rate convolution with optional 2x FIR downsampling."""

    def __init__(self,
                 in_channels: int,          # Number of input channels.
                 out_channels: int,         # Number of output channels.
                 kernel_size: int,          # Width and height of the convolution kernel.
                 bias: bool = True,         # Apply additive bias before the activation?
                 activation: str = "linear",  # 'linear' or 'lrelu'.
                 down: bool = False,        # Downsample by 2 before the strided convolution?
                 resample_filter: tuple[float, ...] = (1, 3, 3, 1),  # Low-pass filter for downsampling.
                 conv_clamp: float | None = None):  # Clamp the output to +-X, None = disable clamping.
        super().__init__()
        self.activation, self.down, self.conv_clamp = activation, down, conv_clamp
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, gain: float = 1) -> torch.Tensor:
        w = self.weight * self.weight_gain
        k = w.shape[-1]
        if self.down:
            fw = self.resample_filter.shape[-1]
            if k == 1:
                # Blur and decimate first, then the 1x1 projection (cheapest order).
                p0, p1 = (fw - 1) // 2, (fw - 2) // 2
                x = ops.upfirdn2d(x, self.resample_filter, down=2, padding=(p0, p1, p0, p1))
                x = F.conv2d(x, w)
            else:
                p0 = k // 2 + (fw - 1) // 2
                p1 = k // 2 + (fw - 2) // 2
                x = ops.upfirdn2d(x, self.resample_filter, padding=(p0, p1, p0, p1))
                x = F.conv2d(x, w, stride=2)
        else:
            x = F.conv2d(x, w, padding=k // 2)
        gain = gain * (ops.LRELU_GAIN if self.activation == "lrelu" else 1)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, self.bias, act=self.activation, gain=gain, clamp=clamp)


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int,
                 img_channels: int, conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=True, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(img)
        assert x.shape[2] == self.resolution, (x.shape, self.resolution)
        # Residual branches are summed with gain sqrt(1/2) to keep the signal's variance.
        y = self.skip(x, gain=SKIP_GAIN)
        x = self.conv1(self.conv0(x), gain=SKIP_GAIN)
        return y + x


class MinibatchStdLayer(nn.Module):
    """Appends the std of features across groups of samples: lets D see lack of variety."""

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        assert n % g == 0, f"batch {n} must be divisible by the mbstd group {g}"
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    def __init__(self, in_channels: int, resolution: int = 4, mbstd_group_size: int = 4,
                 mbstd_num_channels: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels)
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.mbstd(x))
        return self.out(self.fc(x.flatten(1)))


class Discriminator(nn.Module):
    def __init__(self,
                 img_resolution: int,       # Input resolution.
                 img_channels: int = 3,     # Number of input color channels.
                 channel_base: int = 32768,  # Overall multiplier for the number of channels.
                 channel_max: int = 512,    # Maximum number of channels in any layer.
                 mbstd_group_size: int = 4,  # Group size for the minibatch standard deviation layer.
                 conv_clamp: float | None = None):  # Clamp the output of convolution layers to +-X.
        super().__init__()
        self.init_kwargs = dict(img_resolution=img_resolution, img_channels=img_channels,
                                channel_base=channel_base, channel_max=channel_max,
                                mbstd_group_size=mbstd_group_size, conv_clamp=conv_clamp)
        log2 = int(np.log2(img_resolution))
        self.img_resolution = img_resolution
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        for res in self.block_resolutions:
            in_channels = channels[res] if res < img_resolution else 0
            setattr(self, f"b{res}", DiscriminatorBlock(in_channels, channels[res], channels[res // 2],
                                                        resolution=res, img_channels=img_channels,
                                                        conv_clamp=conv_clamp))
        self.b4 = DiscriminatorEpilogue(channels[4], mbstd_group_size=mbstd_group_size, conv_clamp=conv_clamp)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """img [N, C, R, R] in [-1, 1] -> logits [N, 1]."""
        assert img.shape[2:] == (self.img_resolution, self.img_resolution), img.shape
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        return self.b4(x)
