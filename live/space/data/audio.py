"""Audio files to mono float32 clips at the encoder's sample rate, with an optional cache
of decoded files.

Decoding is live.audio.decode's job (libsndfile, then FFmpeg through PyAV; broken files
raise UserError). Decoding a 30 s MP3 costs tens of milliseconds, paid again every epoch;
a `DecodeCache` keeps each decoded file as a .npy (4 bytes per sample: a 30 s clip at
22.05 kHz is 2.6 MB) and memory-maps it, so cutting a short span reads only that span.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.audio.decode import read_audio
from live.errors import UserError
from live.space.cache import ArrayCache, file_identity


def decode_mono(path: Path, sample_rate: int) -> np.ndarray:
    """The whole file as [n] float32 mono at `sample_rate`."""
    samples = read_audio(path, sample_rate=sample_rate, channels=1).samples[:, 0]
    return np.ascontiguousarray(samples, dtype=np.float32)


class DecodeCache:
    """Decoded files as .npy entries of an `ArrayCache`, keyed by path, size, mtime and
    sample rate, so an edited or replaced file is decoded again."""

    def __init__(self, directory: Path | str) -> None:
        self._arrays = ArrayCache(directory)

    def decode(self, path: Path, sample_rate: int) -> np.ndarray:
        """[n] float32 mono at `sample_rate`, memory-mapped read-only."""
        return self._arrays.get(f"{file_identity(path)}|{sample_rate}", lambda: decode_mono(path, sample_rate),
                                mmap=True)


@dataclass(frozen=True)
class AudioSpan:
    """A stretch of an audio file: the whole file, or `duration` seconds from `start`."""

    path: Path
    start: float = 0.0  # seconds from the file's beginning
    duration: float | None = None  # seconds; None reads to the end

    def __post_init__(self) -> None:
        assert self.start >= 0.0 and (self.duration is None or self.duration > 0.0), (self.start, self.duration)

    def load(self, sample_rate: int, cache: DecodeCache | None = None) -> np.ndarray:
        """[n] float32 mono. A span running past the file's end is padded with silence, so
        every span of one duration has one length (annotations may outlast the audio)."""
        whole = cache.decode(self.path, sample_rate) if cache else decode_mono(self.path, sample_rate)
        first = int(round(self.start * sample_rate))
        if first >= len(whole):
            raise UserError(f"{self.path} is {len(whole) / sample_rate:.1f} s long; "
                            f"nothing to read from {self.start:.1f} s")
        if self.duration is None:
            return np.array(whole[first:], dtype=np.float32)
        length = int(round(self.duration * sample_rate))
        span = np.zeros(length, np.float32)
        piece = whole[first:first + length]
        span[:len(piece)] = piece
        return span
