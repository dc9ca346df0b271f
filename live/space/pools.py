"""The training data as tensors in memory: images at a fixed square size, whole-clip spectrograms.

Built once per run from `Sources` through an `ArrayCache`, so later runs and the other
ranks of a data-parallel run read the arrays instead of decoding files. Items are grouped
by source (`ranges`), which is how the batch mix draws from each source.

Images are kept as uint8 at `SOURCE_SCALE` times the encoder's input size, to leave room
for the random crops. Spectrograms are kept as float16 log-mel (the values span about
-14..10; float16 keeps ~3 significant digits, far finer than the encoder can use).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from live.audio.mel import MelWindow
from live.errors import UserError
from live.space.cache import ArrayCache, file_identity
from live.space.data.color_emotion import valdez_mehrabian_va
from live.space.data.labels import RULE_WEIGHT
from live.space.data.records import LabelledClip, LabelledImage, report_skipped
from live.space.inputs import clip_spectrogram, square_image
from live.space.sources import Sources

SOURCE_SCALE = 1.25  # stored image side / encoder input side


def stored_image_size(image_size: int) -> int:
    return round(image_size * SOURCE_SCALE)


@dataclass
class ImagePool:
    pixels: torch.Tensor       # [N, 3, S, S] uint8
    va: torch.Tensor           # [N, 2] labels in [0, 1]
    weight: torch.Tensor       # [N] loss weight per item
    colour_rule: torch.Tensor  # [N] bool: the label is the colour rule's, recomputed after augmentation
    ranges: dict[str, tuple[int, int]]  # source -> rows [start, stop)
    rows: dict[LabelledImage, int]      # record -> row, to find listed pairs

    def __len__(self) -> int:
        return len(self.va)


@dataclass
class MusicPool:
    spectrograms: list[torch.Tensor]  # [n_mels, T_i] float16, T_i >= the window's frames
    va: torch.Tensor                  # [N, 2]
    weight: torch.Tensor              # [N]
    ranges: dict[str, tuple[int, int]]
    rows: dict[LabelledClip, int]

    def __len__(self) -> int:
        return len(self.va)


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return images.mul(255.0).round().clamp(0, 255).to(torch.uint8).numpy()


@dataclass
class _Gathered:
    """The readable records of named sources, loaded in order."""

    items: list[Any] = field(default_factory=list)
    va: list[tuple[float, float]] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)  # source -> rows [start, stop)
    rows: dict[Any, int] = field(default_factory=dict)                # record -> row


def _gather(sources: dict[str, list], load: Callable[[Any], Any], kind: str, progress: bool) -> _Gathered:
    """Each record of each source `load`ed (from the cache); an unreadable one is skipped, and
    what was skipped is one note."""
    gathered, skipped = _Gathered(), []
    for name, records in sources.items():
        start = len(gathered.va)
        for record in tqdm(records, desc=f"{kind} {name}", disable=not progress, leave=False):
            try:
                item = load(record)
            except UserError as error:
                skipped.append(str(error))
                continue
            gathered.rows[record] = len(gathered.va)
            gathered.items.append(item)
            gathered.va.append((record.valence, record.arousal))
            gathered.weight.append(record.weight)
        gathered.ranges[name] = (start, len(gathered.va))
    report_skipped(skipped, kind)
    return gathered


def build_image_pool(sources: Sources, image_size: int, cache: ArrayCache, progress: bool = True) -> ImagePool:
    """Every image of `sources` at stored_image_size(image_size); unreadable files are skipped
    with a note on stderr."""
    side = stored_image_size(image_size)

    def load(record: LabelledImage) -> np.ndarray:
        key = f"image|{record.image!r}|{file_identity(record.image.path)}|{side}"
        return cache.get(key, lambda: _to_uint8(square_image(record.load(), side)))[None]

    gathered = _gather(sources.images, load, "images", progress)
    pixels, va, weight, ranges = gathered.items, gathered.va, gathered.weight, gathered.ranges
    rule = [False] * len(va)
    for name, corpus in sources.colour_images.items():
        def make() -> np.ndarray:
            chunks = [_to_uint8(square_image(batch, side)) for batch in
                      tqdm(corpus.batches(), desc=f"images {name}", disable=not progress, leave=False)]
            return np.concatenate(chunks)

        array = cache.get(f"colour|{corpus.identity()}|{side}", make)
        labels = valdez_mehrabian_va(torch.from_numpy(array).float().div(255.0))
        ranges[name] = (len(va), len(va) + len(array))
        pixels.append(array)
        va.extend(map(tuple, labels.tolist()))
        weight.extend([RULE_WEIGHT] * len(array))
        rule.extend([True] * len(array))
    if not va:
        raise UserError("no training images: enable data.oasis or give data.procedural_images > 0")
    return ImagePool(torch.from_numpy(np.concatenate(pixels)), torch.tensor(va, dtype=torch.float32),
                     torch.tensor(weight, dtype=torch.float32), torch.tensor(rule),
                     {k: v for k, v in ranges.items() if v[1] > v[0]}, gathered.rows)


def spectrogram_key(record: LabelledClip, mel: MelWindow) -> str:
    path = getattr(record.audio, "path", None)
    return f"mel|{record.audio!r}|{file_identity(path) if path is not None else ''}|{mel!r}"


def clip_log_mel(record: LabelledClip, mel: MelWindow, cache: ArrayCache) -> torch.Tensor:
    """The whole clip's log-mel [n_mels, T] float16, from the cache when there."""
    array = cache.get(spectrogram_key(record, mel),
                      lambda: clip_spectrogram(record.load(mel.sample_rate), mel).half().numpy())
    return torch.from_numpy(array)


def build_music_pool(sources: Sources, mel: MelWindow, cache: ArrayCache, progress: bool = True) -> MusicPool:
    """Every clip of `sources` as a whole-clip spectrogram; unreadable files are skipped with
    a note on stderr."""
    gathered = _gather(sources.music, lambda record: clip_log_mel(record, mel, cache), "clips", progress)
    if not gathered.va:
        raise UserError("no training music: enable data.fourq or give data.synth_music > 0")
    return MusicPool(gathered.items, torch.tensor(gathered.va, dtype=torch.float32),
                     torch.tensor(gathered.weight, dtype=torch.float32),
                     {k: v for k, v in gathered.ranges.items() if v[1] > v[0]}, gathered.rows)


def listed_pairs(sources: Sources, images: ImagePool, music: MusicPool) -> torch.Tensor:
    """IMEMNet pairs as [P, 2] (image row, music row); pairs with a skipped item are left out."""
    rows = [(images.rows[i], music.rows[m]) for i, m in sources.pairs if i in images.rows and m in music.rows]
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 2)
