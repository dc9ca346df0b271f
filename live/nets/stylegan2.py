"""StyleGAN2 generator (Karras et al. 2020) with NVlabs stylegan2-ada-pytorch names.

Parameter and buffer names match `training/networks.py` of stylegan2-ada-pytorch
(`mapping.fc{i}`, `mapping.w_avg`, `synthesis.b{res}.const|conv0|conv1|torgb`, ...), so
their checkpoints load one to one. Constructor arguments keep their names too; the
arguments as given (defaults left out) are stored in `init_kwargs` and written beside our
own checkpoints.

`mapping` and `synthesis` are separately callable: the live path calls synthesis on w.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from live.nets import ops

NOISE_MODES = ("const", "random", "none")


class FullyConnectedLayer(nn.Module):
    def __init__(self,
                 in_features: int,          # Number of input features.
                 out_features: int,         # Number of output features.
                 bias: bool = True,         # Apply additive bias before the activation?
                 activation: str = "linear",  # 'linear' or 'lrelu'.
                 lr_multiplier: float = 1,  # Learning rate multiplier (equalized learning rate).
                 bias_init: float = 0):     # Initial value of the bias.
        super().__init__()
        self.activation = activation
        # In place: on the meta device (a checkpoint's generator is built there) torch's
        # out-of-place arithmetic imports torch._dynamo (see live/nets/resnet.py).
        self.weight = nn.Parameter(torch.randn([out_features, in_features]).div_(lr_multiplier))
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype) * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return ops.bias_act(x.matmul(w.t()), b, act=self.activation)


class MappingNetwork(nn.Module):
    def __init__(self,
                 z_dim: int,                # Input latent (Z) dimensionality, 0 = no latent.
                 c_dim: int,                # Conditioning label (C) dimensionality, 0 = no label.
                 w_dim: int,                # Intermediate latent (W) dimensionality.
                 num_ws: int | None,        # Number of intermediate latents to output, None = do not broadcast.
                 num_layers: int = 8,       # Number of mapping layers.
                 embed_features: int | None = None,  # Label embedding dimensionality, None = same as w_dim.
                 layer_features: int | None = None,  # Number of intermediate features, None = same as w_dim.
                 activation: str = "lrelu",  # Activation function.
                 lr_multiplier: float = 0.01,  # Learning rate multiplier for the mapping layers.
                 w_avg_beta: float | None = 0.995):  # Decay for tracking the moving average of W, None = do not track.
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.num_ws, self.num_layers, self.w_avg_beta = num_ws, num_layers, w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1],
                                                          activation=activation,
                                                          lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_w_avg: bool = False) -> torch.Tensor:
        x = None
        if self.z_dim > 0:
            assert z.shape[1:] == (self.z_dim,), (z.shape, self.z_dim)
            x = ops.normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            assert c is not None and c.shape[1:] == (self.c_dim,), "this generator needs a label c"
            y = ops.normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_w_avg and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            assert self.w_avg_beta is not None, "truncation needs the tracked w_avg"
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution + per-pixel noise + bias + leaky ReLU."""

    def __init__(self,
                 in_channels: int,          # Number of input channels.
                 out_channels: int,         # Number of output channels.
                 w_dim: int,                # Intermediate latent (W) dimensionality.
                 resolution: int,           # Resolution of this layer's output.
                 kernel_size: int = 3,      # Convolution kernel size.
                 up: int = 1,               # Integer upsampling factor (1 or 2).
                 use_noise: bool = True,    # Enable noise input?
                 activation: str = "lrelu",  # Activation function.
                 resample_filter: list[float] = (1, 3, 3, 1),  # Low-pass filter for upsampling.
                 conv_clamp: float | None = None):  # Clamp the output to +-X, None = disable clamping.
        super().__init__()
        assert up in (1, 2)
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                fused_modconv: bool = True) -> torch.Tensor:
        assert x.shape[2] == self.resolution // self.up, (x.shape, self.resolution)
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution],
                                device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = ops.modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up == 2,
                                 resample_filter=self.resample_filter, fused=fused_modconv)
        act_gain = ops.LRELU_GAIN if self.activation == "lrelu" else 1.0
        return ops.bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=act_gain, clamp=self.conv_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused_modconv)
        return ops.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network ('skip' architecture)."""

    def __init__(self,
                 in_channels: int,          # Number of input channels, 0 = first block.
                 out_channels: int,         # Number of output channels.
                 w_dim: int,                # Intermediate latent (W) dimensionality.
                 resolution: int,           # Resolution of this block.
                 img_channels: int,         # Number of output color channels.
                 architecture: str = "skip",  # Only 'skip' (the StyleGAN2 generator's) is supported.
                 resample_filter: list[float] = (1, 3, 3, 1),  # Low-pass filter for upsampling.
                 conv_clamp: float | None = None,  # Clamp the output of convolution layers to +-X.
                 **layer_kwargs: Any):      # Arguments for SynthesisLayer.
        super().__init__()
        if architecture != "skip":
            raise ValueError(f"synthesis architecture {architecture!r} is not supported (only 'skip')")
        self.in_channels, self.resolution = in_channels, resolution
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)))
        self.num_conv = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
        self.num_torgb = 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "random", fused_modconv: bool | None = None,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        assert ws.shape[1] == self.num_conv + self.num_torgb, ws.shape
        w_iter = iter(ws.unbind(dim=1))
        if fused_modconv is None:
            # Folding styles into weights wins at batch 1 or inference; training batches
            # share one weight tensor instead.
            fused_modconv = not self.training or ws.shape[0] == 1
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
        img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self,
                 w_dim: int,                # Intermediate latent (W) dimensionality.
                 img_resolution: int,       # Output image resolution.
                 img_channels: int,         # Number of color channels.
                 channel_base: int = 32768,  # Overall multiplier for the number of channels.
                 channel_max: int = 512,    # Maximum number of channels in any layer.
                 num_fp16_res: int = 0,     # NVlabs' FP16 layers: accepted, unused (the dtype is chosen at run time).
                 **block_kwargs: Any):      # Arguments for SynthesisBlock.
        super().__init__()
        log2 = int(np.log2(img_resolution))
        assert img_resolution >= 4 and img_resolution == 2 ** log2, "resolution must be a power of two"
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        self.channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = self.channels[res // 2] if res > 4 else 0
            is_last = res == img_resolution
            block = SynthesisBlock(in_channels, self.channels[res], w_dim=w_dim, resolution=res,
                                   img_channels=img_channels, **block_kwargs)
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", fused_modconv: bool | None = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """ws [N, num_ws, w_dim] -> image [N, img_channels, R, R], roughly in [-1, 1]."""
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), (ws.shape, self.num_ws, self.w_dim)
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, not {noise_mode!r}")
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, block_ws, noise_mode=noise_mode, fused_modconv=fused_modconv, dtype=dtype)
        return img


class Generator(nn.Module):
    def __init__(self,
                 z_dim: int,                # Input latent (Z) dimensionality.
                 c_dim: int,                # Conditioning label (C) dimensionality.
                 w_dim: int,                # Intermediate latent (W) dimensionality.
                 img_resolution: int,       # Output resolution.
                 img_channels: int,         # Number of output color channels.
                 mapping_kwargs: dict[str, Any] | None = None,  # Arguments for MappingNetwork.
                 synthesis_kwargs: dict[str, Any] | None = None):  # Arguments for SynthesisNetwork.
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        synthesis_kwargs = dict(synthesis_kwargs or {})
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels, mapping_kwargs=mapping_kwargs,
                                synthesis_kwargs=synthesis_kwargs)
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution,
                                          img_channels=img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                      **mapping_kwargs)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, noise_mode: str = "random",
                update_w_avg: bool = False) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_w_avg=update_w_avg)
        return self.synthesis(ws, noise_mode=noise_mode)


def to_unit(img: torch.Tensor) -> torch.Tensor:
    """A generator's pictures, about [-1, 1], clamped into [0, 1] (what colour measures take)."""
    return (img.clamp(-1, 1) + 1) / 2


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] in about [-1, 1] -> [N, H, W, C] uint8, as NVlabs' gen_images.py does."""
    return (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
