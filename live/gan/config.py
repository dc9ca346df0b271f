"""The settings of `train gan` and `eval gan`: dataclasses without torch, so that the command
line reads them (its options and defaults) without importing the networks."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from live.errors import UserError

NVLABS_FLAGS = {"resolution": "--res", "total_kimg": "--kimg"}  # NVlabs' spelling of two options


def flag(name: str) -> str:
    """The `train gan` option that sets the GanConfig field `name`."""
    return NVLABS_FLAGS.get(name, "--" + name.replace("_", "-"))


def _option(default, help: str):
    """A GanConfig field with the help text `train gan --help` shows for it."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class GanConfig:
    data: str = _option("procedural", "'procedural' or a folder of images")
    resolution: int = _option(128, "image side in pixels, a power of two (>= 32 for procedural data)")
    z_dim: int = _option(256, "size of z")
    w_dim: int = _option(256, "size of w")
    mapping_layers: int = _option(2, "mapping depth (NVlabs' 'auto' config: 2, enough for one image domain)")
    channel_base: int = _option(4096, "channels at a block are min(channel_base / resolution, channel_max)")
    channel_max: int = _option(256, "most channels of any block")
    batch: int = _option(16, "images per step")
    lr: float = _option(0.0025, "Adam learning rate of G and D")
    r1_gamma: float | None = _option(None, "R1 weight (default: 0.0002 * resolution^2 / batch, NVlabs' "
                                           "'auto' heuristic)")
    r1_interval: int = _option(16, "discriminator steps between R1 penalties (lazy regularization)")
    style_mixing: float = _option(0.9, "probability of mixing two latents (decorrelates the layers' styles)")
    pl_weight: float = _option(2.0, "path-length regularization weight (NVlabs' default); 0 turns it off")
    pl_interval: int = _option(4, "generator steps between path-length penalties (lazy, as R1)")
    pl_batch_shrink: int = _option(2, "the path-length penalty's batch is batch // this")
    pl_decay: float = _option(0.01, "decay of the running mean path length")
    ema_kimg: float | None = _option(None, "G_ema half-life in kimg (default: batch * 10 / 32)")
    ema_rampup: float = _option(0.05, "G_ema half-life is at most this fraction of the images seen so far")
    total_kimg: float = _option(1000, "stop after this many thousand real images")
    snapshot_kimg: float = _option(4, "write the checkpoint and a sample grid this often (kimg)")
    seed: int = _option(0, "seed of the networks' init, the latents and the procedural corpus")
    device: str = _option("cpu", "torch device, e.g. cpu or cuda")
    threads: int = _option(0, "torch CPU threads (0: torch's default)")
    bf16: bool = _option(False, "bf16 autocast for the networks' convolutions (CPU AMX or AVX-512 BF16, CUDA)")
    init: str = _option("", "a generator checkpoint or a run's training-state.pt to start from (fresh runs "
                            "only); a narrower network is grown to this run's width")
    d_warmup_kimg: float = _option(0, "only D trains until the run has seen this many kimg: a fresh D beside a "
                                      "trained --init generator starts at chance and its gradients would move G at random")
    noise_max_res: int = _option(0, "per-pixel noise only in blocks up to this resolution (0: every block)")
    compile: bool = _option(False, "torch.compile G's synthesis and D (R1 and path-length steps stay eager)")
    mirror: bool = _option(True, "flip a random half of the --data folder's pictures left to right (more variety "
                                 "from a small set); --no-mirror where sides matter: lettering, logos")

    def __post_init__(self) -> None:
        from live.nets.checkpoints import MAX_LATENT_DIM, MAX_MAPPING_LAYERS, MAX_RESOLUTION
        from live.space.sources import HELDOUT_SEED

        positive = ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "batch", "r1_interval",
                    "pl_interval", "pl_batch_shrink")
        for name in positive:
            if getattr(self, name) < 1:
                raise UserError(f"{flag(name)} must be at least 1; got {getattr(self, name)}")
        # As far as the checkpoint readers go: past them a run trained for hours exported a
        # generator no command could load (found by review).
        for name, most in (("z_dim", MAX_LATENT_DIM), ("w_dim", MAX_LATENT_DIM), ("mapping_layers", MAX_MAPPING_LAYERS),
                           ("resolution", MAX_RESOLUTION)):
            if getattr(self, name) > most:
                raise UserError(f"{flag(name)} must be at most {most} (what generators load with); "
                                f"got {getattr(self, name)}")
        if self.lr > 1:  # NVlabs' is 0.0025; past float32's range the first step raised
            raise UserError(f"--lr must be at most 1; got {self.lr}")
        for name in ("lr", "style_mixing", "pl_weight", "pl_decay", "ema_rampup", "total_kimg", "threads",
                     "d_warmup_kimg", "r1_gamma", "ema_kimg"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise UserError(f"{flag(name)} must be a finite number >= 0; got {value}")
        for name in ("style_mixing", "pl_decay", "ema_rampup"):  # probabilities and fractions
            if getattr(self, name) > 1:
                raise UserError(f"{flag(name)} must be in 0..1; got {getattr(self, name)}")
        if not 0 <= self.seed < 1 << 32:
            raise UserError(f"--seed must be in 0..2**32-1; got {self.seed}")
        if 0 < self.total_kimg < 0.001:  # counted in whole images: it trained none and exported a random G
            raise UserError(f"--kimg must be 0 (export only) or at least 0.001 (one image); got {self.total_kimg}")
        if not (math.isfinite(self.snapshot_kimg) and self.snapshot_kimg >= 0.001):
            raise UserError(f"--snapshot-kimg must be at least 0.001 (one image); got {self.snapshot_kimg}")
        if not (self.resolution >= 8 and self.resolution & (self.resolution - 1) == 0):
            raise UserError(f"--res must be a power of two from 8, e.g. 64, 128 or 256; got {self.resolution}")
        if self.batch > 4 and self.batch % 4:
            raise UserError(f"--batch must be 1 to 4 or a multiple of 4 (the discriminator's minibatch-std groups "
                            f"of 4); got {self.batch}")
        if self.channel_base < self.resolution:
            raise UserError(f"--channel-base {self.channel_base} gives the {self.resolution} px block no channels; "
                            f"use at least --res ({self.resolution})")
        r = self.noise_max_res
        if r and not (4 <= r <= self.resolution and r & (r - 1) == 0):
            raise UserError(f"--noise-max-res must be 0 (noise everywhere) or a block resolution, a power of "
                            f"two from 4 to {self.resolution}; got {r}")
        if self.data == "procedural" and self.seed == HELDOUT_SEED:
            raise UserError(f"seed {HELDOUT_SEED} names the held-out procedural corpus (eval gan scores "
                            "against it); train on another seed")

    def resolved_r1_gamma(self) -> float:
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * self.resolution ** 2 / self.batch

    def resolved_ema_kimg(self) -> float:
        return self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32

    def generator_kwargs(self) -> dict:
        return dict(z_dim=self.z_dim, c_dim=0, w_dim=self.w_dim, img_resolution=self.resolution,
                    img_channels=3, mapping_kwargs=dict(num_layers=self.mapping_layers),
                    synthesis_kwargs=dict(channel_base=self.channel_base, channel_max=self.channel_max))


@dataclass(frozen=True)
class GanEvalConfig:
    count: int = 1024       # pictures per set (more than f_I's 512 dimensions: full-rank covariances)
    seed: int = 0           # of the generator's z
    truncation: float = 1.0  # 1: the generator's whole distribution, as it was trained
    batch: int = 32
