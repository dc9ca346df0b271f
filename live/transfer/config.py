"""The settings of `train predictor`: a dataclass without torch, so that the command line
reads its options and defaults without importing the networks."""
from __future__ import annotations

import math
from dataclasses import dataclass

from live.errors import UserError

# Heads trained from the identity wait this many steps: a predictor that trained its heads at
# once reached held-out L_transfer 0.147 in 300 steps, one without 0.128-0.137. A fine-tune
# (from_bundle) has learned the common move already, so its heads train from the start.
HEADS_WAIT = 300
# The seed's schedule warms up from rate 0 at the first step: one step optimizes nothing.
MIN_OPTIMIZATION_STEPS = 2


@dataclass(frozen=True)
class PredictorTraining:
    steps: int = 3000               # optimizer steps in all (a resumed run continues to this)
    batch: int = 8                  # (source, music, lambda) triples per step
    lr: float = 0.5                 # Adam; the mapper's layers scale it by their lr multiplier (0.01)
    truncation: float = 0.7         # of the source latents
    seed: int = 0
    checkpoint_every: int = 100     # steps between checkpoints (and held-out evaluations)
    music: tuple[str, ...] = ("4q", "synthetic")  # live.transfer.music.MUSIC_KINDS
    data_root: str = "../shared/data"
    synthetic_clips: int = 512      # training clips of cue-rule music (the held-out side gets a quarter)
    windows_per_clip: int = 3       # mel windows cut from each clip
    held_out_pairs: int = 32        # evaluated at every checkpoint
    # Start from the bundle's predictor rather than the identity: fine-tuning after the
    # space's music side or the generator moved on, instead of training from scratch.
    from_bundle: bool = False
    # bf16 autocast for the passes through G and E_I of the training steps (held-out
    # evaluations stay fp32): half the time of a wide generator's step on a CPU with bf16.
    bf16: bool = False
    # Give a predictor without layer heads its heads (at zero, so it starts where it was).
    layer_heads: bool = False
    # Step at which the heads start to train. None: HEADS_WAIT from the identity, 0 in a
    # fine-tune; a resumed run keeps the value it started with.
    layer_heads_from: int | None = None
    # Draw training lambdas from [lambda_min, this] instead of the whole range the predictor
    # reads (its lambda code keeps the range): training where a show's lambdas lie.
    lambda_high: float | None = None

    def __post_init__(self) -> None:
        # A set: the banks read the kinds in one order, so `--music a --music b` is `--music b --music a`.
        object.__setattr__(self, "music", tuple(sorted(set(self.music))))
        if min(self.steps, self.batch, self.checkpoint_every, self.synthetic_clips, self.windows_per_clip,
               self.held_out_pairs) < 1 or not 0 < self.lr < math.inf or \
                (self.layer_heads_from is not None and self.layer_heads_from < 0):
            raise UserError("predictor training: steps, batch, checkpoint_every, synthetic_clips, "
                            "windows_per_clip, held_out_pairs and lr must be positive, layer_heads_from "
                            "at least 0")
        if not 0 <= self.seed < 1 << 32:
            raise UserError(f"predictor training: the seed must be in 0..2**32-1, got {self.seed}")
