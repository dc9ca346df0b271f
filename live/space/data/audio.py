"""Audio files to mono float32 clips at the encoder's sample rate.

Decoding is live.audio.decode's job (libsndfile, then FFmpeg through PyAV; broken files
raise UserError). Training decodes each clip once: live.space.pools keeps its
spectrogram in the space's ArrayCache.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.audio.decode import read_audio
from live.errors import UserError


def decode_mono(path: Path, sample_rate: int) -> np.ndarray:
    """The whole file as [n] float32 mono at `sample_rate`."""
    samples = read_audio(path, sample_rate=sample_rate, channels=1).samples[:, 0]
    return np.ascontiguousarray(samples, dtype=np.float32)


@dataclass(frozen=True)
class AudioSpan:
    """A stretch of an audio file: the whole file, or `duration` seconds from `start`."""

    path: Path
    start: float = 0.0  # seconds from the file's beginning
    duration: float | None = None  # seconds; None reads to the end

    def __post_init__(self) -> None:
        assert self.start >= 0.0 and (self.duration is None or self.duration > 0.0), (self.start, self.duration)

    def load(self, sample_rate: int) -> np.ndarray:
        """[n] float32 mono. A span running past the file's end is padded with silence, so
        every span of one duration has one length (annotations may outlast the audio)."""
        whole = decode_mono(self.path, sample_rate)
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
