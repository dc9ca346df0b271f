"""The seed's transfer by optimization: the reference every faster path is measured against.

Adam over w_m, started at w_o, for 300 steps at learning rate 0.1 with the schedule of the
sound-guided manipulation work the seed follows (StyleCLIP's `get_lr`): a linear warm-up
over the first 5% of the steps and a cosine ramp-down over the last 25%. The latent is
W+ (one w per synthesis layer, the default) or W (one w shared by every layer).
Samples of a batch are optimized independently: Adam's update is element-wise and the
frozen networks treat each sample alone (E_I's BatchNorm is in eval mode).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from live.bundle import Bundle
from live.transfer.embed import true_transfer_loss

SPACES = ("w+", "w")


@dataclass(frozen=True)
class OptimizeConfig:
    steps: int = 300        # Adam steps (the seed: 300)
    lr: float = 0.1         # peak learning rate
    warmup: float = 0.05    # fraction of the steps ramping the rate up linearly
    rampdown: float = 0.25  # fraction of the steps ramping it down along a half cosine
    space: str = "w+"       # "w+": every layer its own w; "w": one w for all layers

    def __post_init__(self) -> None:
        assert self.steps >= 1 and self.lr > 0, (self.steps, self.lr)
        assert 0 < self.warmup <= 1 and 0 < self.rampdown <= 1, (self.warmup, self.rampdown)
        assert self.space in SPACES, self.space


def learning_rate(step: int, steps: int, peak: float, warmup: float = 0.05, rampdown: float = 0.25) -> float:
    """The rate of step `step` in 0..steps-1 (StyleCLIP's get_lr at t = step / steps)."""
    t = step / steps
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return peak * ramp * min(1.0, t / warmup)


@dataclass(frozen=True)
class OptimizeResult:
    w_m: torch.Tensor    # [N, num_ws, w_dim]
    losses: torch.Tensor  # [steps + 1, N]: L_transfer before each step, then at w_m


def scheduled_adam(param: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor], steps: int,
                   peak: float, warmup: float = 0.05, rampdown: float = 0.25,
                   on_step: Callable[[int, torch.Tensor], None] | None = None) -> list[torch.Tensor]:
    """Adam on `param` (a leaf requiring grad) under the schedule above; `loss_fn` returns one
    loss per sample [N] and their sum is minimized. Returns the losses before each step."""
    adam = torch.optim.Adam([param], lr=peak, betas=(0.9, 0.999))
    losses = []
    for step in range(steps):
        for group in adam.param_groups:
            group["lr"] = learning_rate(step, steps, peak, warmup, rampdown)
        loss = loss_fn(param)
        adam.zero_grad(set_to_none=True)
        loss.sum().backward()
        adam.step()
        losses.append(loss.detach())
        if on_step is not None:
            on_step(step, losses[-1])
    return losses


def optimize_transfer(bundle: Bundle, w_o: torch.Tensor, f_m: torch.Tensor, lam: float | torch.Tensor,
                      config: OptimizeConfig = OptimizeConfig(),
                      on_step: Callable[[int, torch.Tensor], None] | None = None) -> OptimizeResult:
    """w_o [N, num_ws, w_dim], f_m [N, D], lambda scalar or [N] -> the optimized w_m (each
    sample's lowest-loss iterate) and the loss curve, its last row at w_m; `on_step` as for
    `scheduled_adam`."""
    G = bundle.G
    n = w_o.shape[0]
    assert w_o.shape[1:] == (G.num_ws, G.w_dim) and f_m.shape[0] == n, (w_o.shape, f_m.shape)
    w_o, f_m = w_o.detach(), f_m.detach()
    start = w_o if config.space == "w+" else w_o.mean(dim=1, keepdim=True)

    def loss(param: torch.Tensor) -> torch.Tensor:
        return true_transfer_loss(bundle, param.expand(n, G.num_ws, G.w_dim), w_o, f_m, lam).total

    with torch.inference_mode(False), torch.enable_grad():
        # clone() outside inference mode: the start may be an inference tensor.
        param = start.clone().requires_grad_(True)
        # Each sample's best iterate, the start included: at large lambdas the source is the
        # optimum (the norm's kink), and the steps' last iterate was worse than it.
        best, best_loss = start.clone(), torch.full((n,), float("inf"), device=start.device)

        def tracked(p: torch.Tensor) -> torch.Tensor:
            value = loss(p)
            with torch.no_grad():
                better = value.detach() < best_loss
                best[better], best_loss[better] = p.detach()[better], value.detach()[better]
            return value

        losses = scheduled_adam(param, tracked, config.steps, config.lr, config.warmup, config.rampdown, on_step)
        with torch.no_grad():
            tracked(param.detach())  # the last step's result
            w_m = best.expand(n, G.num_ws, G.w_dim).clone()
            losses.append(best_loss.clone())
    return OptimizeResult(w_m, torch.stack(losses))
