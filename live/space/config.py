"""The configuration of a space training run: one typed tree of dataclasses.

Read from TOML (`[data]`, `[batch]`, `[batch.image_mix]`, `[loss.weights]`, `[net.mel]`, ...;
any key left out keeps its default), overridden on the command line with
`--set section.key=value` (the value in TOML syntax), checked once, and written back in
full beside the run as `config.toml`, which is what a resumed run reads.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from live.errors import UserError
from live.files import gone, read_toml, real_path, write_whole
from live.nets.encoders import check_image_size
from live.space.batches import BatchConfig
from live.space.losses import LossWeights
from live.space.model import SpaceNetConfig
from live.space.sources import DataConfig
from live.tables import check_settings, flat_table, from_table, to_toml


@dataclass(frozen=True)
class LossConfig:
    weights: LossWeights = field(default_factory=LossWeights)  # of the seed's total; the paper's is all 1
    # L_CFM's margin. L_CFR and L_SFR compare log ratios of distances, so they do not care
    # about the scale of the features; L_CFM is what fixes it. With alpha = 1 a matched pair
    # ends within distance 1 and the least similar pairs a few units apart (log D follows
    # VA distance / sigma), far above the losses' epsilon (1e-3 on squared distances).
    alpha: float = 1.0
    triples_per_anchor: int = 4  # triples drawn per anchor for L_CFR (each direction) and L_SFR
    # Epsilon added to every distance in L_CFR's and L_SFR's log ratios. Quadrant labels put
    # whole data sets on four points, so label distances of 0 are common; the epsilon then
    # sets how much closer a same-quadrant item must be than one a quadrant away:
    # log((0 + eps) / (0.25 + eps)) = -3.3 at 0.01, but -5.5 at losses.EPS (1e-3), a target
    # that swamps the other losses. 0.01 is a VA distance of 0.1: finer label differences
    # are not resolved, which the ratings' own spread (SD ~ 1 on 1-7) does not resolve either.
    eps: float = 0.01

    def __post_init__(self) -> None:
        check_settings("loss", [("alpha", self.alpha, self.alpha > 0, "> 0"),
                                ("triples_per_anchor", self.triples_per_anchor, self.triples_per_anchor >= 1, ">= 1"),
                                ("eps", self.eps, self.eps > 0, "> 0")])
        negative = {name: weight for name, weight in asdict(self.weights).items() if weight < 0}
        if negative:  # a negative weight would maximize its loss
            raise UserError(f"loss.weights must be >= 0, got {negative}")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5e-4                # AdamW peak learning rate
    weight_decay: float = 1e-4
    warmup_steps: int = 100         # linear warm-up from 0, then a cosine decay ...
    final_lr_fraction: float = 0.1  # ... to this fraction of lr at the last step
    grad_clip: float = 5.0          # max gradient norm; log-ratio losses spike on near-coincident pairs

    def __post_init__(self) -> None:
        check_settings("optim", [
            ("lr", self.lr, self.lr > 0, "> 0"),
            ("weight_decay", self.weight_decay, self.weight_decay >= 0, ">= 0"),
            ("warmup_steps", self.warmup_steps, self.warmup_steps >= 0, ">= 0"),
            ("final_lr_fraction", self.final_lr_fraction, 0.0 <= self.final_lr_fraction <= 1.0, "0..1"),
            ("grad_clip", self.grad_clip, self.grad_clip > 0, "> 0")])


@dataclass(frozen=True)
class SpaceTrainConfig:
    seed: int = 0                 # every batch, draw and initialization follows from it
    steps: int = 3000             # optimizer steps in all
    checkpoint_every: int = 100   # steps between checkpoints
    log_every: int = 10           # steps between lines of log.jsonl
    threads: int = 1              # torch CPU threads per process
    device: str = "cpu"
    cache: str = "runs/space-cache"  # precomputed spectrograms and resized images
    image_size: int = 96          # E_I's input side (the bundle's image_size)
    image_backbone_weights: str = ""  # a local ImageNet state dict for E_I; "" starts from random
    init: str = ""                # a trained space (bundle or run folder) to continue from; "" starts anew
    # E_I and its VA head keep their starting weights, so f_I, on which a bundle's predictor
    # and refinement are built, stays what it was while the music side trains on.
    freeze_image: bool = False
    net: SpaceNetConfig = field(default_factory=SpaceNetConfig)  # E_I backbone, widths, mel front end
    data: DataConfig = field(default_factory=DataConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    # What a resumed run may change: how long and how it runs, not what it learns.
    # optim.lr too: a diverged run goes on from its last good checkpoint at a lower rate.
    RESUMABLE = ("steps", "checkpoint_every", "log_every", "threads", "device", "cache", "optim.lr")

    def __post_init__(self) -> None:
        if self.steps < 1 or self.checkpoint_every < 1 or self.log_every < 1 or self.threads < 1:
            raise UserError("steps, checkpoint_every, log_every and threads must be >= 1")
        if not 0 <= self.seed < 1 << 32:
            raise UserError(f"seed must be in 0..2**32-1, got {self.seed}")
        check_image_size(self.image_size, "space training config")
        if self.freeze_image and not self.init:
            raise UserError("freeze_image keeps a trained E_I: give the space to start from with init")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SpaceTrainConfig:
        return from_table(cls, values, "config")

    @classmethod
    def read(cls, path: Path) -> SpaceTrainConfig:
        return cls.from_dict(read_toml(path))

    def write(self, path: Path) -> None:
        write_whole(path, to_toml(self.to_dict()).encode())

    def with_overrides(self, assignments: list[str]) -> SpaceTrainConfig:
        """`section.key=value` assignments, the value in TOML syntax (a bare word is a string)."""
        values = self.to_dict()
        for assignment in assignments:
            name, sep, text = assignment.partition("=")
            if not sep or not name.strip():
                raise UserError(f"--set {assignment!r}: expected key=value or section.key=value, e.g. batch.pairs=16")
            try:
                value = tomllib.loads(f"value = {text.strip()}")["value"]
            except tomllib.TOMLDecodeError:
                value = text.strip()
            except ValueError:  # an integer of over 4,300 digits, which Python will not read
                raise UserError(f"--set {name.strip()}: the number is far too large") from None
            *path, key = name.strip().split(".")
            table = values
            for part in path:
                table = table.setdefault(part, {})
                if not isinstance(table, dict):
                    raise UserError(f"--set {assignment!r}: {part} is not a section")
            table[key] = value
        return SpaceTrainConfig.from_dict(values)

    def with_absolute_paths(self) -> SpaceTrainConfig:
        """Files and folders that exist named by absolute paths, as a run stores them: the
        same relative path names another place from another working folder. (`init` may
        be a bundle's name, so it stays as given.)"""
        here = self.flat()
        return self.with_overrides([f"{k}={json.dumps(str(real_path(here[k])))}" for k in sorted(PATH_SETTINGS)
                                    if k != "init" and here.get(k) and Path(here[k]).exists()])

    def moved(self) -> list[str]:
        """Dotted names of the files and folders this config names that a resumed run reads and
        are gone (its starting weights, init's or the backbone's, it reads no more)."""
        here = self.flat()
        return sorted(k for k in PATH_SETTINGS - STARTING_POINTS if here.get(k) and gone(here[k]))

    def flat(self) -> dict[str, Any]:
        """{dotted name: value} of every setting."""
        return flat_table(self.to_dict(), ("image_mix", "music_mix"))  # a mix is one setting, not a table of them

    def differences(self, other: SpaceTrainConfig) -> list[str]:
        """Dotted names of the settings, other than RESUMABLE ones, in which `other` differs
        from this run's: a file or folder by the place it names, not by how it is written;
        one of this run's that is gone may be given anew (`moved`)."""
        mine, theirs = self.flat(), other.flat()
        return sorted(k for k in mine.keys() | theirs.keys()
                      if k not in self.RESUMABLE and not _same_setting(k, mine.get(k), theirs.get(k)))


# Settings that name a file or folder ("" where unused).
PATH_SETTINGS = frozenset({"init", "image_backbone_weights", "data.root", "data.midi_renders", "data.generator",
                           "data.deam", "data.naps_sheet", "data.naps_images", "data.emotic_annotations",
                           "data.emotic_images", "data.imemnet"})
STARTING_POINTS = frozenset({"init", "image_backbone_weights"})  # read by a new run only


def _same_setting(name: str, a: Any, b: Any) -> bool:
    if name in PATH_SETTINGS and a and b:
        return real_path(a) == real_path(b) or gone(a)
    return a == b
