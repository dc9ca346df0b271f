"""The amortized transfer: P(w_o, f_I(G(w_o)), f_M) -> w_m in one forward pass.

In the manner of StyleCLIP's latent mapper: the W+ layers are split into coarse,
medium and fine groups; each group has its own MLP (PixelNorm, fully connected layers
with a low learning-rate multiplier) that reads a layer's w together with the source
image's and the music's embeddings and returns a residual, so
w_m = w_o + step * M(w_o, f_I, f_M); with layer heads each layer of a group also has its
own output layer. The optimization it amortizes is
min L_S + lambda * L_O; lambda is an input so one predictor serves every setting.

lambda enters as its position in [lambda_min, lambda_max] on a log scale (it is trained
log-uniformly over that range; values outside are clamped to its ends), in [-1, 1],
repeated `lambda_width` times: under the equalized learning rate every input coordinate
weighs the same, so one coordinate among the ~1,000 of w, f_I and f_M would be ignored.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from live.errors import UserError
from live.nets import ops
from live.nets.stylegan2 import FullyConnectedLayer

MAX_WIDTH = 16384  # of a group's MLP and the lambda code; StyleCLIP's mapper uses 512


@dataclass(frozen=True)
class PredictorConfig:
    num_ws: int                     # W+ layers of the generator it serves
    w_dim: int                      # width of w
    feature_dim: int = 512          # width of f_I and f_M
    hidden: int = 512               # width of each group's MLP
    layers: int = 4                 # fully connected layers per group
    coarse_end: int = 4             # layers [0, coarse_end) are coarse (StyleCLIP: 0-3)
    medium_end: int = 8             # [coarse_end, medium_end) medium, the rest fine
    lr_multiplier: float = 0.01     # StyleCLIP's mapper learning-rate multiplier
    step: float = 0.1               # scale of the residual (StyleCLIP: w + 0.1 M(w))
    lambda_min: float = 1e-3        # lambda range the predictor is trained over (log-uniform)
    lambda_max: float = 1.0         # past |grad L_S| at w_o (0.02-0.11, default bundle) w_m = w_o
    lambda_width: int = 64          # copies of the lambda code among the MLP inputs
    layer_heads: bool = True        # each W+ layer's own output beside the group's (False: versions <= 0.4)

    def __post_init__(self) -> None:
        if not 0 < self.lambda_min < self.lambda_max:
            raise UserError(f"predictor config: need 0 < lambda_min < lambda_max, got "
                            f"{self.lambda_min}, {self.lambda_max}")
        if not (1 <= self.lambda_width <= MAX_WIDTH and 1 <= self.hidden <= MAX_WIDTH and 2 <= self.layers <= 64):
            # Two layers at least: the layer heads read the hidden layers' output. Capped: the
            # network is built before its weights are compared with the file.
            raise UserError(f"predictor config: lambda_width and hidden must be in 1..{MAX_WIDTH}, layers in 2..64")
        if not (self.step > 0 and self.lr_multiplier > 0 and math.isfinite(self.step * self.lr_multiplier)):
            # Zero or infinite, the predictor's output is w_o or NaN, whatever its weights.
            raise UserError(f"predictor config: step and lr_multiplier must be finite and > 0, got "
                            f"{self.step}, {self.lr_multiplier}")

    def lambda_code(self, lam: torch.Tensor) -> torch.Tensor:
        """lambda [N] -> its log-scale position in the trained range, in [-1, 1]."""
        low, high = math.log(self.lambda_min), math.log(self.lambda_max)
        position = (lam.clamp(self.lambda_min, self.lambda_max).log() - low) / (high - low)
        return 2 * position - 1

    def groups(self) -> list[tuple[int, int]]:
        bounds = sorted({0, min(self.coarse_end, self.num_ws), min(self.medium_end, self.num_ws), self.num_ws})
        return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def _zero(layers: list[nn.Module]) -> None:
    for layer in layers:
        layer.weight.zero_()
        layer.bias.zero_()


class LayerHeads(nn.Module):
    """`count` linear layers, one per W+ layer, applied as one batched product (equalized
    learning rate as FullyConnectedLayer's)."""

    def __init__(self, count: int, in_features: int, out_features: int, lr_multiplier: float):
        super().__init__()
        # In place: on the meta device (a weights file's check) out-of-place arithmetic imports torch's compiler.
        self.weight = nn.Parameter(torch.randn([count, out_features, in_features]).div_(lr_multiplier))
        self.bias = nn.Parameter(torch.zeros([count, out_features]))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, count, in_features] -> [N, count, out_features]."""
        assert x.shape[1:] == (self.weight.shape[0], self.weight.shape[2]), (x.shape, self.weight.shape)
        bias = (self.bias.to(x.dtype) * self.bias_gain)[:, None]
        out = torch.baddbmm(bias, x.transpose(0, 1), self.weight.to(x.dtype).transpose(1, 2), alpha=self.weight_gain)
        return out.transpose(0, 1)


class GroupMapper(nn.Module):
    """One layer group's MLP: [w_l, f_I, f_M, lambda] -> delta w_l for each of its `size` layers.

    A source made from one w repeats it in every layer, so the group's shared MLP gives every
    layer the same move, where the optimum moves them apart (300-step optimizations tied per
    group reach 83 % of the untied ones' gain). Layer heads add each layer's own output layer
    to the shared one. A layer's gradient alone is noisier than the group's sum: trained from
    the identity with heads, held-out L_transfer went 0.166 -> 0.147 in 300 steps (0.157 with
    per-layer outputs and no shared one), without heads 0.128-0.137. So the heads join once
    the shared output has learned the common move (PredictorTraining.layer_heads_from).
    """

    def __init__(self, cfg: PredictorConfig, size: int):
        super().__init__()
        self.size = size
        widths = [cfg.w_dim + 2 * cfg.feature_dim + cfg.lambda_width] + [cfg.hidden] * (cfg.layers - 1) + [cfg.w_dim]
        self.net = nn.Sequential(*[
            FullyConnectedLayer(a, b, activation="lrelu" if i < cfg.layers - 1 else "linear",
                                lr_multiplier=cfg.lr_multiplier)
            for i, (a, b) in enumerate(zip(widths, widths[1:]))])
        self.heads = LayerHeads(size, cfg.hidden, cfg.w_dim, cfg.lr_multiplier) if cfg.layer_heads else None

    def output_layers(self) -> list[nn.Module]:
        return [self.net[-1]] + ([self.heads] if self.heads is not None else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, size, inputs] -> [N, size, w_dim]."""
        n = x.shape[0]
        return self.after_first(self.net[0](x.reshape(n * self.size, -1)), n)

    def after_first(self, h: torch.Tensor, n: int) -> torch.Tensor:
        """The first layer's output [N * size, hidden] -> [N, size, w_dim]."""
        h = self.net[1:-1](h)
        shared = self.net[-1](h).reshape(n, self.size, -1)
        if self.heads is None:
            return shared
        return shared + self.heads(h.reshape(n, self.size, -1))


class LatentPredictor(nn.Module):
    def __init__(self, cfg: PredictorConfig):
        super().__init__()
        self.cfg = cfg
        self.mappers = nn.ModuleList([GroupMapper(cfg, b - a) for a, b in cfg.groups()])

    @torch.no_grad()
    def reset_to_identity(self) -> None:
        """Zero every group's output layer, so w_m = w_o: where training starts, and what an
        untrained predictor should do (a random one would add a random residual)."""
        _zero([layer for mapper in self.mappers for layer in mapper.output_layers()])

    def is_identity(self) -> bool:
        """w_m = w_o for every input: untrained (`reset_to_identity`), as `bundle new` makes it."""
        return all(not layer.weight.any() and not layer.bias.any()
                   for mapper in self.mappers for layer in mapper.output_layers())

    def with_layer_heads(self) -> LatentPredictor:
        """This predictor with layer heads, at zero: the same outputs, and room to learn per-layer moves."""
        grown = LatentPredictor(replace(self.cfg, layer_heads=True)).to(next(self.parameters()).device)
        missing, unexpected = grown.load_state_dict(self.state_dict(), strict=False)
        assert not unexpected and all(".heads." in k for k in missing), (missing, unexpected)
        _zero([mapper.heads for mapper in grown.mappers])
        return grown

    def layer_head_parameters(self) -> list[nn.Parameter]:
        return [p for mapper in self.mappers if mapper.heads is not None for p in mapper.heads.parameters()]

    def forward(self, w_o: torch.Tensor, f_i: torch.Tensor, f_m: torch.Tensor,
                lam: torch.Tensor | float) -> torch.Tensor:
        """w_o [N, num_ws, w_dim], f_i and f_m [N, feature_dim], lam scalar or [N] -> w_m like w_o."""
        cfg = self.cfg
        n = w_o.shape[0]
        assert w_o.shape[1:] == (cfg.num_ws, cfg.w_dim), (w_o.shape, cfg)
        assert f_i.shape == (n, cfg.feature_dim) and f_m.shape == (n, cfg.feature_dim), (f_i.shape, f_m.shape)
        lam = torch.as_tensor(lam, dtype=w_o.dtype, device=w_o.device).expand(n)
        # Each input is brought to unit second moment on its own (PixelNorm) so none drowns
        # the others; embeddings are compared by cosine, so only their direction matters.
        cond = torch.cat([ops.normalize_2nd_moment(f_i), ops.normalize_2nd_moment(f_m),
                          cfg.lambda_code(lam)[:, None].expand(n, cfg.lambda_width)], dim=1)
        deltas = []
        for (a, b), mapper in zip(cfg.groups(), self.mappers):
            w = ops.normalize_2nd_moment(w_o[:, a:b], dim=2)
            x = torch.cat([w, cond[:, None].expand(n, b - a, cond.shape[1])], dim=2)
            deltas.append(mapper(x))
        return w_o + cfg.step * torch.cat(deltas, dim=1)


class SourcePredictor:
    """P with its source fixed, as a show holds it: the source's share of each group's first
    layer (the products with w_o's layers and f_I, half of that layer's inputs) is computed
    once, so a keyframe pays only for the music and lambda: a quarter less time a call on
    one CPU thread for the default bundle (4.0 against 5.4 ms, Zen 4). Equal to P's outputs
    up to rounding."""

    def __init__(self, predictor: LatentPredictor, w_o: torch.Tensor, f_i: torch.Tensor):
        cfg = predictor.cfg
        assert w_o.shape == (1, cfg.num_ws, cfg.w_dim) and f_i.shape == (1, cfg.feature_dim), (w_o.shape, f_i.shape)
        self.predictor, self.w_o = predictor, w_o
        source_end, music_end = cfg.w_dim + cfg.feature_dim, cfg.w_dim + 2 * cfg.feature_dim
        self._groups = []
        with torch.no_grad():
            f_i = ops.normalize_2nd_moment(f_i)
            for (a, b), mapper in zip(cfg.groups(), predictor.mappers):
                first = mapper.net[0]
                weight = first.weight.to(w_o.dtype) * first.weight_gain  # [hidden, inputs]
                w = ops.normalize_2nd_moment(w_o[0, a:b], dim=1)
                source = w @ weight[:, :cfg.w_dim].t() + f_i @ weight[:, cfg.w_dim:source_end].t()
                music = weight[:, source_end:music_end].t().contiguous()
                code = weight[:, music_end:].sum(dim=1)  # the lambda code is one value repeated
                bias = first.bias.to(w_o.dtype) * first.bias_gain
                self._groups.append((mapper, source, music, code, bias))

    def __call__(self, f_m: torch.Tensor, lam: float) -> torch.Tensor:
        """f_m [1, feature_dim] -> w_m [1, num_ws, w_dim]."""
        cfg = self.predictor.cfg
        assert f_m.shape == (1, cfg.feature_dim), f_m.shape
        f_m = ops.normalize_2nd_moment(f_m)
        code = cfg.lambda_code(torch.tensor([lam], dtype=f_m.dtype, device=f_m.device))
        deltas = []
        for mapper, source, music, code_weight, bias in self._groups:
            h = ops.bias_act(source + (f_m @ music + code[:, None] * code_weight), bias, act="lrelu")
            deltas.append(mapper.after_first(h, 1))
        return self.w_o + cfg.step * torch.cat(deltas, dim=1)
