"""The amortized transfer: P(w_o, f_I(G(w_o)), f_M) -> w_m in one forward pass.

In the manner of StyleCLIP's latent mapper: the W+ layers are split into coarse,
medium and fine groups; each group has its own MLP (PixelNorm, fully connected layers
with a low learning-rate multiplier) that reads a layer's w together with the source
image's and the music's embeddings and returns a residual, so
w_m = w_o + step * M(w_o, f_I, f_M). The optimization it amortizes is
min L_S + lambda * L_O; lambda is an input so one predictor serves every setting.

lambda enters as its position in [lambda_min, lambda_max] on a log scale (it is trained
log-uniformly over that range; values outside are clamped to its ends), in [-1, 1],
repeated `lambda_width` times: under the equalized learning rate every input coordinate
weighs the same, so one coordinate among the ~1,000 of w, f_I and f_M would be ignored.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from live.errors import UserError
from live.nets import ops
from live.nets.stylegan2 import FullyConnectedLayer


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

    def __post_init__(self) -> None:
        if not 0 < self.lambda_min < self.lambda_max:
            raise UserError(f"predictor config: need 0 < lambda_min < lambda_max, got "
                            f"{self.lambda_min}, {self.lambda_max}")
        if min(self.lambda_width, self.layers, self.hidden) < 1:
            raise UserError("predictor config: lambda_width, layers and hidden must be positive")

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


class GroupMapper(nn.Module):
    """One layer group's MLP: [w_l, f_I, f_M, lambda] -> delta w_l, shared across the group."""

    def __init__(self, cfg: PredictorConfig):
        super().__init__()
        widths = [cfg.w_dim + 2 * cfg.feature_dim + cfg.lambda_width] + [cfg.hidden] * (cfg.layers - 1) + [cfg.w_dim]
        self.net = nn.Sequential(*[
            FullyConnectedLayer(a, b, activation="lrelu" if i < cfg.layers - 1 else "linear",
                                lr_multiplier=cfg.lr_multiplier)
            for i, (a, b) in enumerate(zip(widths, widths[1:]))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LatentPredictor(nn.Module):
    def __init__(self, cfg: PredictorConfig):
        super().__init__()
        self.cfg = cfg
        self.mappers = nn.ModuleList([GroupMapper(cfg) for _ in cfg.groups()])

    @torch.no_grad()
    def reset_to_identity(self) -> None:
        """Zero every group's output layer, so w_m = w_o: where training starts, and what an
        untrained predictor should do (a random one would add a random residual)."""
        for mapper in self.mappers:
            mapper.net[-1].weight.zero_()
            mapper.net[-1].bias.zero_()

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
            deltas.append(mapper(x.reshape(n * (b - a), -1)).reshape(n, b - a, cfg.w_dim))
        return w_o + cfg.step * torch.cat(deltas, dim=1)
