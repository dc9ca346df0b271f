"""The music encoder's input: a log-mel spectrogram of the last few seconds of audio.

Scale: natural log of the power mel spectrogram plus 1e-6, i.e. log(mel + 1e-6). Unlike
dB referenced to each window's maximum, it keeps absolute loudness (a soft passage stays
lower than a loud one), which arousal depends on; silence sits at log(1e-6) = -13.8. Any
mean/std normalization belongs to the bundle and is applied by the encoder's side.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torchaudio

from live.audio.decode import MAX_RATE, MIN_RATE
from live.errors import UserError

LOG_OFFSET = 1e-6
MAX_WINDOW_S = 60.0  # one spectrogram's span; the trained windows are seconds long


@dataclass(frozen=True)
class MelWindow:
    """Mel parameters; a bundle's `bundle.toml` supplies them for its encoder."""

    sample_rate: int = 22050        # the rate the encoder hears; sources are resampled to it
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    window_seconds: float = 3.0     # how much past audio one spectrogram covers
    f_min: float = 20.0
    f_max: float | None = None      # None: half the sample rate

    @property
    def top_hz(self) -> float:
        """The highest frequency the encoder hears."""
        return self.f_max if self.f_max is not None else self.sample_rate / 2

    def __post_init__(self) -> None:
        top = self.top_hz
        too_long = self.window_seconds > MAX_WINDOW_S  # then its sample count is not computed: it could overflow
        problems = [
            f"sample_rate must be in {MIN_RATE}..{MAX_RATE}" if not MIN_RATE <= self.sample_rate <= MAX_RATE else "",
            # Odd, the centered STFT gives one frame less than `frames` when hop_length divides the window.
            "n_fft must be even" if self.n_fft % 2 else "",
            "hop_length must be in 1..n_fft" if not 0 < self.hop_length <= self.n_fft else "",
            # Past n_fft // 2 + 1 bands some mel filters fall between two FFT bins and stay empty.
            "n_mels must be in 1..n_fft // 2 + 1" if not 0 < self.n_mels <= self.n_fft // 2 + 1 else "",
            f"window_seconds must be at most {MAX_WINDOW_S:g}" if too_long else "",
            "window_seconds must cover at least one n_fft" if not too_long and self.samples < self.n_fft else "",
            "need 0 <= f_min < f_max <= sample_rate / 2" if not 0 <= self.f_min < top <= self.sample_rate / 2 else "",
        ]
        problems = [p for p in problems if p]
        if problems:
            raise UserError(f"bad mel settings {self}: {'; '.join(problems)}")

    @property
    def samples(self) -> int:
        """Samples in one window at `sample_rate`."""
        return round(self.window_seconds * self.sample_rate)

    @property
    def frames(self) -> int:
        """Spectrogram frames per window (centered STFT)."""
        return self.samples // self.hop_length + 1


class LogMel:
    """Audio at `source_rate` -> log-mel [1, n_mels, frames] at the window's rate.

    Stateless once built (the resampling kernel and mel filters are made here), so one
    instance may be called from any single thread at a time.
    """

    def __init__(self, window: MelWindow, source_rate: int, device: torch.device | str = "cpu") -> None:
        self.window = window
        self.source_rate = source_rate
        self.device = torch.device(device)
        self._resample = torchaudio.transforms.Resample(source_rate, window.sample_rate).to(self.device)
        self._mel = self._spectrogram(center=True)
        self._frames = self._spectrogram(center=False)

    def _spectrogram(self, center: bool) -> torchaudio.transforms.MelSpectrogram:
        w = self.window
        return torchaudio.transforms.MelSpectrogram(
            sample_rate=w.sample_rate, n_fft=w.n_fft, hop_length=w.hop_length, n_mels=w.n_mels,
            f_min=w.f_min, f_max=w.f_max, power=2.0, center=center,
        ).to(self.device)

    @property
    def source_samples(self) -> int:
        """How many source-rate samples one window needs."""
        return round(self.window.window_seconds * self.source_rate)

    @torch.inference_mode()
    def __call__(self, audio: np.ndarray) -> torch.Tensor:
        """`audio` [n] or [n, channels] at the source rate, newest last; shorter input is
        padded with silence at the start, longer input is cut to its last window."""
        mono = audio.mean(axis=1) if audio.ndim == 2 else audio
        assert mono.ndim == 1, audio.shape
        wave = torch.zeros(self.source_samples)
        tail = torch.from_numpy(np.ascontiguousarray(mono[-self.source_samples:], dtype=np.float32))
        wave[self.source_samples - len(tail):] = tail
        resampled = self._resample(wave.to(self.device))
        # Resampling rounds the length; fix it so every window has the same frame count.
        n = self.window.samples
        resampled = torch.nn.functional.pad(resampled, (max(0, n - len(resampled)), 0))[-n:]
        mel = torch.log(self._mel(resampled) + LOG_OFFSET).unsqueeze(0)
        assert mel.shape == (1, self.window.n_mels, self.window.frames), mel.shape
        return mel

    @torch.inference_mode()
    def whole(self, mono: np.ndarray) -> torch.Tensor:
        """A whole clip [n], already at the window's rate and of any length -> [n_mels, T]:
        one spectrogram, as the windows would see it, without cutting it into windows."""
        assert mono.ndim == 1 and self.source_rate == self.window.sample_rate, (mono.shape, self.source_rate)
        wave = torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32)).to(self.device)
        # The centered STFT's reflection at both ends, made here so that `frames` of a clip's
        # pieces (live.space.inputs.ClipWindows) is this to the last frame.
        padded = torch.nn.functional.pad(wave[None], (self.window.n_fft // 2,) * 2, mode="reflect")[0]
        return self.frames(padded)

    @torch.inference_mode()
    def frames(self, padded: torch.Tensor) -> torch.Tensor:
        """Samples [n] at the window's rate, already padded -> log-mel of every whole n_fft
        frame in them, hop_length apart from the first sample: [n_mels, 1 + (n - n_fft) // hop]."""
        return torch.log(self._frames(padded) + LOG_OFFSET)
