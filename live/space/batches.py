"""Mixed training batches: image-music pairs drawn by source mix and paired by VA, augmented.

A batch is `pairs` image-music pairs. Some pairs come from a listed pair file (IMEMNet)
when one is given; of the rest, a share is anchored on an image and the others on a
clip. An anchor's source is drawn by its modality's mix, the item uniformly within the
source; its partner's source is drawn by the other modality's mix and the partner is one
of the `partner_k` items of that source nearest to the anchor in VA (pairing.py). Images
are cropped, flipped and rotated, never recoloured; colour-rule labels are recomputed on
the augmented pixels, so they describe exactly what the encoder sees. Clips contribute a
window at a random position of their spectrogram, then SpecAugment.

A batch is a pure function of the pools, the config and the generator's state.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch

from live.errors import UserError
from live.space.augment import ImageAugmentConfig, SpecAugmentConfig, augment_images, spec_augment
from live.space.data.color_emotion import valdez_mehrabian_va
from live.space.inputs import encoder_range
from live.space.pairing import nearest_partners
from live.space.pools import ImagePool, MusicPool
from live.space.sources import IMAGE_SOURCES, MUSIC_SOURCES

# Real ratings and the colour rule share the image side; real clips dominate the music side,
# with the cue-rule clips for the continuous spread of labels that 4Q and EMOPIA lack.
DEFAULT_IMAGE_MIX = {"oasis": 0.5, "naps": 0.5, "emotic": 0.5, "procedural": 0.4, "generator": 0.1}
DEFAULT_MUSIC_MIX = {"4q": 0.35, "emopia": 0.25, "vgmidi": 0.1, "synth-music": 0.3, "deam": 0.5}


@dataclass(frozen=True)
class BatchConfig:
    pairs: int = 32                      # image-music pairs per step (per rank)
    image_anchor_fraction: float = 0.5   # pairs anchored on an image; the rest on a clip
    listed_fraction: float = 0.5         # with a pair list: the share of pairs taken from it
    partner_k: int = 16                  # a partner is one of this many VA-nearest items
    image_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_IMAGE_MIX))  # source -> share
    music_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MUSIC_MIX))  # (absent ones drop out)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    image_augment: ImageAugmentConfig = field(default_factory=ImageAugmentConfig)

    def __post_init__(self) -> None:
        if self.pairs < 3:
            raise UserError(f"batch.pairs must be >= 3 (the triple losses need three items), got {self.pairs}")
        if not (0.0 <= self.image_anchor_fraction <= 1.0 and 0.0 <= self.listed_fraction <= 1.0):
            raise UserError("batch: image_anchor_fraction and listed_fraction must lie in [0, 1]")
        if self.partner_k < 1:
            raise UserError(f"batch.partner_k must be >= 1, got {self.partner_k}")
        for name, mix, known in (("image_mix", self.image_mix, IMAGE_SOURCES),
                                 ("music_mix", self.music_mix, MUSIC_SOURCES)):
            unknown = sorted(set(mix) - set(known))
            if unknown or not all(0 <= share < math.inf for share in mix.values()):  # NaN fails too
                raise UserError(f"batch.{name}: sources must be some of {', '.join(known)} with finite shares >= 0; "
                                f"got {mix}")


@dataclass(frozen=True)
class Batch:
    images: torch.Tensor        # [B, 3, S, S] in [-1, 1]
    mels: torch.Tensor          # [B, 1, n_mels, frames] log-mel
    image_va: torch.Tensor      # [B, 2]
    music_va: torch.Tensor      # [B, 2]; pair b is (images[b], mels[b])
    image_weight: torch.Tensor  # [B]
    music_weight: torch.Tensor  # [B]

    def to(self, device: torch.device) -> Batch:
        return Batch(*(getattr(self, f.name).to(device) for f in fields(self)))


class _Mix:
    """The sources of one pool that the mix draws from, with their shares."""

    def __init__(self, shares: dict[str, float], ranges: dict[str, tuple[int, int]], what: str) -> None:
        names = [name for name in ranges if shares.get(name, 0.0) > 0.0]
        if not names:
            raise UserError(f"the {what} mix {shares} gives no share to the sources present "
                            f"({', '.join(ranges)}); add one of them to batch.{what}_mix")
        self.names = names
        self.probs = torch.tensor([shares[name] for name in names], dtype=torch.float64)
        self.start = torch.tensor([ranges[name][0] for name in names])
        self.size = torch.tensor([ranges[name][1] - ranges[name][0] for name in names])

    def sources(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.multinomial(self.probs, n, replacement=True, generator=generator)

    def items(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n rows: a source by its share, then an item uniformly within it."""
        source = self.sources(n, generator)
        offset = (torch.rand(n, generator=generator, dtype=torch.float64) * self.size[source]).long()
        return self.start[source] + offset

    def partners(self, anchor_va: torch.Tensor, pool_va: torch.Tensor, k: int,
                 generator: torch.Generator) -> torch.Tensor:
        """One row per anchor: a source by its share, then a VA-near item of that source."""
        source = self.sources(len(anchor_va), generator)
        rows = torch.empty(len(anchor_va), dtype=torch.long)
        for s in range(len(self.names)):
            chosen = source == s
            if chosen.any():
                lo, hi = int(self.start[s]), int(self.start[s] + self.size[s])
                rows[chosen] = lo + nearest_partners(anchor_va[chosen], pool_va[lo:hi], k, generator)
        return rows


class MixedBatches:
    def __init__(self, images: ImagePool, music: MusicPool, config: BatchConfig, image_size: int, frames: int,
                 listed: torch.Tensor | None = None) -> None:  # [P, 2] listed (image row, music row)
        assert listed is None or (listed.ndim == 2 and listed.shape[1] == 2), listed.shape
        too_short = [k for k, s in enumerate(music.spectrograms) if s.shape[1] < frames]
        assert not too_short, f"clips {too_short[:3]} are shorter than {frames} frames"
        self.images, self.music, self.config = images, music, config
        self.image_size, self.frames = image_size, frames
        self.listed = listed if listed is not None and len(listed) else None
        self.image_mix = _Mix(config.image_mix, images.ranges, "image")
        self.music_mix = _Mix(config.music_mix, music.ranges, "music")

    def rows(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """[B] image rows and [B] music rows of the pairs."""
        c = self.config
        n_listed = round(c.pairs * c.listed_fraction) if self.listed is not None else 0
        n_image = round((c.pairs - n_listed) * c.image_anchor_fraction)
        n_music = c.pairs - n_listed - n_image
        image_rows, music_rows = [], []
        if n_listed:
            pick = self.listed[torch.randint(0, len(self.listed), (n_listed,), generator=generator)]
            image_rows.append(pick[:, 0])
            music_rows.append(pick[:, 1])
        if n_image:
            anchors = self.image_mix.items(n_image, generator)
            image_rows.append(anchors)
            music_rows.append(self.music_mix.partners(self.images.va[anchors], self.music.va, c.partner_k, generator))
        if n_music:
            anchors = self.music_mix.items(n_music, generator)
            music_rows.append(anchors)
            image_rows.append(self.image_mix.partners(self.music.va[anchors], self.images.va, c.partner_k, generator))
        return torch.cat(image_rows), torch.cat(music_rows)

    def draw(self, generator: torch.Generator) -> Batch:
        image_rows, music_rows = self.rows(generator)
        pixels = self.images.pixels[image_rows].float().div_(255.0)
        images = augment_images(pixels, self.image_size, self.config.image_augment, generator)
        rule = self.images.colour_rule[image_rows]
        image_va = self.images.va[image_rows]
        if rule.any():
            image_va = torch.where(rule[:, None], valdez_mehrabian_va(images), image_va)
        windows = []
        for row in music_rows.tolist():
            spectrogram = self.music.spectrograms[row]
            start = int(torch.randint(0, spectrogram.shape[1] - self.frames + 1, (1,), generator=generator))
            windows.append(spectrogram[:, start:start + self.frames].float())
        mels = spec_augment(torch.stack(windows).unsqueeze(1), self.config.spec_augment, generator)
        return Batch(encoder_range(images), mels, image_va, self.music.va[music_rows],
                     self.images.weight[image_rows], self.music.weight[music_rows])
