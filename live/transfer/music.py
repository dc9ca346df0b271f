"""Music embeddings for the transfer: mel windows cut from clips, encoded once by the bundle's E_M.

E_M is frozen while the predictor trains and while the refiner picks its directions, so a
bank of f_M computed once stands in for the music: training then samples rows of it
instead of decoding and encoding audio every step.

Where the music comes from (`music_records`): "4q" reads the 4Q clips under the data
folder, "synthetic" renders cue-rule music (live.space.data.synth_music), which needs no
data at all. Each side of the split is chosen as the space's training does: 4Q by the
stable hash of its split keys, synthetic music by seed (the held-out corpus is
live.space.sources.HELDOUT_SEED).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from tqdm import tqdm

from live.audio.mel import LogMel, MelWindow
from live.bundle import Bundle
from live.errors import UserError, note
from live.files import real_path
from live.nets.weights import reader_path, write_safetensors
from live.space.data.fourq import read_4q
from live.space.data.records import LabelledClip, report_skipped
from live.space.data.split import split
from live.space.data.synth_music import SynthMusicConfig, synthetic_music
from live.space.sources import HELDOUT_SEED

MUSIC_KINDS = ("4q", "synthetic")
TRAIN_SYNTH_SEED = 0


@dataclass(frozen=True)
class MusicBank:
    features: torch.Tensor  # f_M [M, D]
    va: torch.Tensor        # E_M's VA head on each row [M, 2]

    def __post_init__(self) -> None:
        assert self.features.ndim == 2 and self.va.shape == (len(self.features), 2), (self.features.shape, self.va.shape)

    def __len__(self) -> int:
        return len(self.features)

    def save(self, path: Path) -> None:
        write_safetensors({"features": self.features.contiguous(), "va": self.va.contiguous()}, path)

    @classmethod
    def load(cls, path: Path) -> MusicBank:
        tensors = safetensors.torch.load_file(reader_path(path))
        return cls(tensors["features"], tensors["va"])


def synthetic_clips(count: int, held_out: bool) -> list[LabelledClip]:
    """Cue-rule synthetic music: the training corpus, or the held-out one."""
    return synthetic_music(SynthMusicConfig(seed=HELDOUT_SEED if held_out else TRAIN_SYNTH_SEED), count)


def has_4q_clips(data_root: str | Path) -> bool:
    return (Path(data_root) / "4q" / "annotations.csv").is_file()


def reads_synthetic(kinds: Sequence[str], data_root: str | Path) -> bool:
    """Whether `music_records` makes synthetic clips: asked for, or in place of absent 4Q clips."""
    return "synthetic" in kinds or not has_4q_clips(data_root)


def music_records(kinds: Sequence[str], data_root: Path, synthetic_count: int, held_out: bool,
                  noting: bool = True) -> list[LabelledClip]:
    """Clips of the named kinds, one side of the split. 4Q clips are skipped, with a note
    (unless `noting` is off: the other side of the split said it), when the data folder lacks
    them; synthetic music is used when nothing else is left."""
    unknown = sorted(set(kinds) - set(MUSIC_KINDS))
    if unknown:
        raise UserError(f"unknown music {unknown}; choose from {', '.join(MUSIC_KINDS)}")
    records: list[LabelledClip] = []
    if "4q" in kinds:
        root = Path(data_root) / "4q"
        if has_4q_clips(data_root):
            parts = split(read_4q(root))
            records += parts.test if held_out else parts.train
        elif noting:  # the default folder is relative to the working folder: say which one it was
            note("music", f"no 4Q clips at {real_path(root)}; using synthetic music only (give the shared data "
                          "folder with --data)")
    if "synthetic" in kinds or not records:
        records += synthetic_clips(synthetic_count, held_out)
    return records


def window_ends(samples: int, window: int, count: int) -> list[int]:
    """`count` window end positions spread evenly over a clip of `samples` samples."""
    if samples <= window or count == 1:
        return [samples]
    return [int(round(e)) for e in np.linspace(window, samples, count)]


def encode_clips(bundle: Bundle, clips: Sequence[LabelledClip], windows_per_clip: int = 3,
                 batch: int = 32, progress: bool = True) -> MusicBank:
    """f_M and VA of `windows_per_clip` mel windows of every clip."""
    mel: MelWindow = bundle.mel
    log_mel = LogMel(mel, mel.sample_rate)
    features, va, pending = [], [], []

    def flush() -> None:
        with torch.inference_mode():
            f, v = bundle.music_features(torch.cat(pending).to(bundle.device))
        features.append(f.float().cpu())
        va.append(v.float().cpu())
        pending.clear()

    skipped: list[str] = []
    for clip in tqdm(clips, desc="music", unit="clip", disable=not progress):
        try:
            samples = clip.load(mel.sample_rate)
        except UserError as error:  # one bad file among hundreds: as the space's trainer, skip it
            skipped.append(str(error))
            continue
        for end in window_ends(len(samples), mel.samples, windows_per_clip):
            pending.append(log_mel(samples[:end]))
            if len(pending) == batch:
                flush()
    if pending:
        flush()
    report_skipped(skipped, "clips")
    if not features:
        raise UserError("no music to encode; give music clips")
    return MusicBank(torch.cat(features), torch.cat(va))
