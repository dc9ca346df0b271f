"""A preset loaded onto its bundle: the source latent, the keyframe maker, the settings."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from live.bundle import Bundle
from live.engine.keyframes import KeyframeMaker, Refiner
from live.engine.synthesizer import Synthesizer
from live.presets import Preset
from live.transfer.source import file_latent, seed_latent


@dataclass
class Show:
    preset: Preset
    bundle: Bundle
    maker: KeyframeMaker

    @classmethod
    def open(cls, preset: Preset, bundle: Bundle, refiner: Refiner | None = None,
             synthesizer: Synthesizer | None = None, w_source: torch.Tensor | None = None) -> Show:
        """`synthesizer` draws `bundle`'s generator (default: the reference synthesis); pass the
        previous show's when the bundle stays, so its compiled fast path carries over.
        `w_source` is the preset's source latent when the caller has it (default: found here)."""
        w_source = source_latent(preset, bundle) if w_source is None else w_source
        return cls(preset, bundle, KeyframeMaker(bundle, w_source, refiner, synthesizer))


def source_latent(preset: Preset, bundle: Bundle) -> torch.Tensor:
    """The preset's w_o [num_ws, w_dim] on `bundle`'s generator."""
    src = preset.source
    if src.seed is not None:
        return seed_latent(bundle.G, src.seed, src.truncation)
    if src.w is not None:
        return file_latent(bundle.G, src.w)
    from live.transfer.project import project_image_cached

    return project_image_cached(bundle, src.image)
