"""The networks of the shared VA space under one config: E_I, E_M and their heads."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from live.audio.mel import MelWindow
from live.errors import UserError
from live.tables import flat_table, from_table
from live.nets.encoders import IMAGE_BACKBONES, ImageEncoder, MusicEncoder, SimilarityHead, VAHead
from live.nets.weights import load_weights, save_weights, weights_metadata

MAX_WIDTH = 16384  # of the shared space and the heads; the paper's is 512
CONFIG_KEY = "space_config"  # the header entry holding the config a space's weights were trained under


@dataclass(frozen=True)
class SpaceNetConfig:
    """Everything needed to rebuild the space's networks before loading their weights.

    The mel front end is part of it: E_M is only meaningful on the spectrograms it was
    trained on, and the live engine builds its `LogMel` from this `mel`.
    """
    image_backbone: str = "resnet50"   # E_I backbone: "resnet50" (the paper) or "resnet18".
    feature_dim: int = 512             # Width of the shared space (f_I and f_M).
    head_hidden: int = 256             # Hidden width of the VA and similarity heads.
    music_gain_invariant: bool = True  # E_M removes each spectrogram's mean level.
    mel: MelWindow = field(default_factory=MelWindow)  # E_M's input spectrogram.

    def __post_init__(self) -> None:
        if self.image_backbone not in IMAGE_BACKBONES:
            raise UserError(f"unknown image backbone {self.image_backbone!r}; "
                            f"choose one of {', '.join(IMAGE_BACKBONES)}")
        for name in ("feature_dim", "head_hidden"):
            # Capped: the networks are built before their weights are compared with the file,
            # and a mistyped 10**9 would take the machine's memory first.
            if not 1 <= getattr(self, name) <= MAX_WIDTH:
                raise UserError(f"space config: {name} must be a whole number in 1..{MAX_WIDTH}, "
                                f"got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values, `mel` as a nested dict; None (mel.f_max by default) means the default."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SpaceNetConfig:
        """Rebuild from a stored config (e.g. bundle.toml); unknown or mistyped keys fail.

        Missing keys take their defaults, so a TOML table may leave out None values.
        """
        return from_table(cls, values, "space config")


class SpaceNet(nn.Module):
    """E_I, E_M, a VA head per modality and the similarity head, built from one config."""

    def __init__(self, config: SpaceNetConfig,
                 image_backbone_weights: Path | None = None):  # Local ImageNet init for E_I.
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(config.image_backbone, config.feature_dim,
                                          image_backbone_weights)
        self.music_encoder = MusicEncoder(config.mel.n_mels, config.feature_dim,
                                          config.music_gain_invariant)
        self.image_va = VAHead(config.feature_dim, config.head_hidden)
        self.music_va = VAHead(config.feature_dim, config.head_hidden)
        self.similarity = SimilarityHead(config.feature_dim, config.head_hidden)

    def save(self, path: Path, image_size: int) -> Path:
        """The weights (fp16), with the settings they were trained under (the config and E_I's
        input size) in the file's header."""
        record = json.dumps(_settings(self.config, image_size), sort_keys=True)
        return save_weights(self, path, metadata={CONFIG_KEY: record})

    @classmethod
    def load(cls, config: SpaceNetConfig, path: Path, image_size: int) -> SpaceNet:
        """`config`'s networks with the weights at `path`, after `check_record`."""
        check_record(path, config, image_size)
        return load_weights(lambda: cls(config), path)


def _settings(config: SpaceNetConfig, image_size: int) -> dict[str, Any]:
    return {**config.to_dict(), "image_size": image_size}


def check_record(path: Path, config: SpaceNetConfig, image_size: int) -> None:
    """Where the weights file at `path` records the settings it was trained under, `config`
    and `image_size` must match them: the mel front end, E_M's gain invariance and E_I's
    input size change no weight's shape, so nothing else would notice a hand edit."""
    stored = weights_metadata(path).get(CONFIG_KEY)
    if stored is None:  # written before the record existed
        return
    try:
        trained = json.loads(stored)
    except (ValueError, RecursionError):  # a stranger's file: deep nesting too
        trained = None
    if not isinstance(trained, dict):
        raise UserError(f"{path}: its header's {CONFIG_KEY} is not a JSON table; re-export the space")
    trained, configured = flat_table(trained), flat_table(_settings(config, image_size))
    wrong = sorted(k for k in trained.keys() & configured.keys() if trained[k] != configured[k])
    if wrong:
        key, had, has = wrong[0], trained[wrong[0]], configured[wrong[0]]
        raise UserError(f"{path} was trained with {key} = {had!r}, but the config says {has!r}; "
                        f"restore the trained value (in bundle.toml or space.toml)")
