"""Audio files to float32 arrays: libsndfile (soundfile) first, FFmpeg (PyAV) for the rest.

soundfile reads WAV, FLAC, OGG and, with libsndfile >= 1.1, MP3; PyAV covers M4A/AAC, Opus,
video containers and whatever else FFmpeg decodes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from live.errors import UserError


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray     # [frames, channels] float32
    sample_rate: int

    def __post_init__(self) -> None:
        assert self.samples.ndim == 2 and self.samples.dtype == np.float32, (self.samples.shape, self.samples.dtype)

    @property
    def channels(self) -> int:
        return self.samples.shape[1]

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def mix_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """[frames, C] -> [frames, channels]: equal channel counts pass, mono is spread, anything
    else is averaged to mono first (a plain downmix; no surround matrix)."""
    have = samples.shape[1]
    if have == channels:
        return samples
    mono = samples if have == 1 else samples.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(np.repeat(mono, channels, axis=1), dtype=np.float32)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling along time; exact for any pair of integer rates."""
    if from_rate == to_rate:
        return samples
    g = gcd(from_rate, to_rate)
    return resample_poly(samples, to_rate // g, from_rate // g, axis=0).astype(np.float32)


def convert(audio: Audio, sample_rate: int | None = None, channels: int | None = None) -> Audio:
    samples = mix_channels(audio.samples, channels or audio.channels)
    rate = sample_rate or audio.sample_rate
    return Audio(resample(samples, audio.sample_rate, rate), rate)


MIN_RATE, MAX_RATE = 1_000, 768_000  # sample rates of real audio files, Hz
# Names audio files usually have: for messages only (decoding goes by the content).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff",
                            ".wma", ".mka"})


def _read_soundfile(path: Path) -> Audio:
    # Bytes: libsndfile takes the name as the file system has it, which need not be UTF-8.
    samples, rate = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
    return Audio(samples, rate)


def _read_pyav(path: Path) -> Audio:
    with av.open(str(path)) as container:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            raise UserError(f"{path} has no audio stream (is it an audio file?); "
                            "use a WAV, FLAC, OGG, MP3 or M4A file")
        # Planar float at the stream's own rate and layout: each frame is [channels, n].
        to_float = av.AudioResampler(format="fltp", layout=stream.layout, rate=stream.rate)
        chunks = [f.to_ndarray() for frame in container.decode(stream) for f in to_float.resample(frame)]
        chunks += [f.to_ndarray() for f in to_float.resample(None)]
        rate = stream.rate
    if not chunks:
        raise UserError(f"{path} holds no audio samples")
    return Audio(np.ascontiguousarray(np.concatenate(chunks, axis=1).T, dtype=np.float32), rate)


def check_audio_file(path: str | Path) -> Path:
    """`path`, if it is a file; else a UserError saying what it is."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} is a folder, not an audio file" if path.is_dir() else f"audio file not found: {path}")
    return path


def read_audio(path: str | Path, sample_rate: int | None = None, channels: int | None = None) -> Audio:
    """Decode a whole file; resample to `sample_rate` and mix to `channels` when given."""
    path = check_audio_file(path)
    try:
        audio = _read_soundfile(path)
    except (sf.LibsndfileError, TypeError):  # TypeError: a headerless format (.raw) soundfile cannot open alone
        try:
            audio = _read_pyav(path)
        except av.FFmpegError as e:
            raise UserError(f"cannot decode audio from {path} ({e.strerror or e}); "
                            "use a WAV, FLAC, OGG, MP3 or M4A file") from e
    if len(audio.samples) == 0:
        raise UserError(f"{path} holds no audio samples")
    bad = np.count_nonzero(~np.isfinite(audio.samples))
    if bad:
        raise UserError(f"{path} holds {bad} NaN or infinite samples (a broken float file); "
                        "export it again, or convert it to 16-bit PCM")
    if not MIN_RATE <= audio.sample_rate <= MAX_RATE:  # a broken header: resampling it could ask for terabytes
        raise UserError(f"{path} claims {audio.sample_rate} samples a second (a broken header?); "
                        f"audio runs at {MIN_RATE}-{MAX_RATE} Hz")
    return convert(audio, sample_rate, channels)
