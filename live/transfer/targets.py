"""Optimized targets for the predictor: the seed's optimization run on training triples.

A predictor trained on L_transfer alone settles near a minimum of its own: on the
benchmark's pairs its move from the source and the optimization's have a mean cosine of
0.34, and local steps from its output stop near 80 % of the optimization's gain. Triples
drawn the way training batches are, each with the w_m that the 300-step optimization
reaches from its source, show the predictor the optimization's basin.

The set grows chunk by chunk into one file in the run folder, so a stopped run keeps every
finished chunk and a resumed one goes on where it stopped, drawing the same triples.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
from tqdm import tqdm

from live.bundle import Bundle
from live.nets.weights import write_safetensors
from live.transfer.optimize import OptimizeConfig, optimize_transfer

# Triples a draw returns: source latents [N, num_ws, w_dim], music f_M [N, D], lambdas [N].
Draw = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class TargetSet:
    w_source: torch.Tensor  # [N, num_ws, w_dim]
    f_music: torch.Tensor   # [N, D]
    lam: torch.Tensor       # [N]
    w_target: torch.Tensor  # the optimization's w_m [N, num_ws, w_dim]

    def __post_init__(self) -> None:
        n = len(self.w_source)
        assert self.w_target.shape == self.w_source.shape and self.f_music.shape[0] == n \
            and self.lam.shape == (n,), (self.w_source.shape, self.f_music.shape, self.lam.shape, self.w_target.shape)

    def __len__(self) -> int:
        return len(self.w_source)

    def save(self, path: Path) -> None:
        write_safetensors({k: v.contiguous().cpu() for k, v in vars(self).items()}, path)

    @classmethod
    def load(cls, path: Path) -> TargetSet:
        return cls(**safetensors.torch.load_file(str(path)))

    def extended(self, other: TargetSet) -> TargetSet:
        return TargetSet(*(torch.cat([a, b]) for a, b in zip(vars(self).values(), vars(other).values())))

    def to(self, device: torch.device) -> TargetSet:
        return TargetSet(*(v.to(device) for v in vars(self).values()))


def grow_targets(bundle: Bundle, draw: Draw, path: Path, count: int, seed: int, chunk: int = 16,
                 config: OptimizeConfig = OptimizeConfig(), progress: bool = True) -> TargetSet:
    """The target set at `path`, grown to `count` triples (a larger set is kept whole).

    The chunk starting at triple i draws from a generator seeded with (seed, i), so a
    count gives the same set wherever earlier runs stopped.
    """
    assert count >= 1 and chunk >= 1, (count, chunk)
    targets = TargetSet.load(path) if path.is_file() else None
    done = len(targets) if targets is not None else 0
    bar = tqdm(total=count, initial=min(done, count), unit="target", desc="targets", disable=not progress)
    try:
        while done < count:
            rng = torch.Generator().manual_seed(seed * 1_000_003 + done)
            w_o, f_m, lam = draw(min(chunk, count - done), rng)
            w_m = optimize_transfer(bundle, w_o, f_m, lam, config).w_m
            fresh = TargetSet(w_o, f_m, lam, w_m).to(torch.device("cpu"))
            targets = fresh if targets is None else targets.extended(fresh)
            targets.save(path)
            done = len(targets)
            bar.update(min(done, count) - bar.n)
    finally:
        bar.close()
    return targets
