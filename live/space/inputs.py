"""Media to the space's encoder inputs, one way for training, evaluation and the `va` probe.

Images: RGB in [0, 1] is resized so its shorter side is the bundle's `image_size`
(antialiased) and centre-cropped to a square; `encoder_range` maps it to [-1, 1], the
generator's range, which is what `ImageEncoder` takes.

Music: a whole clip's log-mel spectrogram is computed in one go by `LogMel` (the live
engine's front end) and windows of `MelWindow.frames` frames are cut from it. Inside a
clip such a window equals `LogMel` on that window's samples except in its first and last
couple of frames, where the live STFT pads by reflection while the whole-clip one sees
the neighbouring audio; computing the spectrogram once is what lets training crop
windows anywhere without recomputing them.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from live.audio.mel import LogMel, MelWindow


def square_image(images: torch.Tensor, size: int) -> torch.Tensor:
    """[3, H, W] or [N, 3, H, W] in [0, 1] -> [(N,) 3, size, size]: the centre square, scaled
    to `size`. Cropped first: a 200000 x 1 strip, its shorter side scaled up first, asked for
    22 GB."""
    assert images.ndim in (3, 4) and images.shape[-3] == 3, images.shape
    batch = images if images.ndim == 4 else images[None]
    height, width = batch.shape[2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = F.interpolate(batch[:, :, top:top + side, left:left + side], size=(size, size), mode="bilinear",
                           align_corners=False, antialias=side > size).clamp(0.0, 1.0)
    return square if images.ndim == 4 else square[0]


def encoder_range(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return images * 2.0 - 1.0


def clip_spectrogram(samples: np.ndarray, mel: MelWindow) -> torch.Tensor:
    """Mono samples at `mel.sample_rate` -> log-mel [n_mels, T] with T >= mel.frames.

    A clip shorter than one window is padded with silence at its start, as `LogMel`
    pads the live input.
    """
    assert samples.ndim == 1, samples.shape
    padded = np.pad(samples, (max(0, mel.samples - len(samples)), 0))
    spectrogram = LogMel(mel, mel.sample_rate).whole(padded)
    assert spectrogram.shape[0] == mel.n_mels and spectrogram.shape[1] >= mel.frames, spectrogram.shape
    return spectrogram


def spectrogram_windows(spectrogram: torch.Tensor, frames: int) -> torch.Tensor:
    """[n_mels, T] -> [W, 1, n_mels, frames]: back-to-back windows from the start, W >= 1, and
    where frames are left over, one more that ends on the last frame (overlapping the one
    before): dropped, the end of a file went unheard (the loud last 2.9 s of a 5.9 s clip
    changed nothing)."""
    assert spectrogram.ndim == 2 and spectrogram.shape[1] >= frames, (spectrogram.shape, frames)
    count = spectrogram.shape[1] // frames
    windows = spectrogram[:, :count * frames].reshape(spectrogram.shape[0], count, frames)
    if spectrogram.shape[1] > count * frames:
        windows = torch.cat([windows, spectrogram[:, None, -frames:]], dim=1)
    return windows.permute(1, 0, 2).unsqueeze(1).contiguous()


class ClipWindows:
    """`spectrogram_windows(clip_spectrogram(clip))` of a clip that arrives a block at a time,
    holding about a window of samples instead of the clip (an hour-long file's spectrogram
    alone is 80 MB, its STFT 0.6 GB): `push` mono samples at the window's rate and get the
    windows completed so far, `finish` for the rest; each is [W, 1, n_mels, frames], W >= 0.
    """

    def __init__(self, mel: MelWindow) -> None:
        self.mel = mel
        self._log_mel = LogMel(mel, mel.sample_rate)
        self._reflect = mel.n_fft // 2  # the centered STFT's padding at each end
        self._head: list[np.ndarray] = []  # a clip shorter than a window is padded at its start: wait for one
        self._padded: np.ndarray | None = None  # the padded clip from the next frame's first sample on
        self._last = np.zeros(0, np.float32)  # the clip's newest samples, mirrored at its end
        self._frames = torch.zeros(mel.n_mels, 0)  # frames not yet in a window
        self._newest = torch.zeros(mel.n_mels, 0)  # the last window's worth of frames: the tail window's

    def push(self, samples: np.ndarray) -> torch.Tensor:
        assert samples.ndim == 1, samples.shape
        samples = samples.astype(np.float32, copy=False)
        self._last = np.concatenate([self._last, samples])[-(self._reflect + 1):]
        if self._padded is None:
            self._head.append(samples)
            if sum(map(len, self._head)) < self.mel.samples:
                return self._windows()
            clip, self._head = np.concatenate(self._head), []
            self._padded, samples = clip[self._reflect:0:-1], clip
        self._padded = np.concatenate([self._padded, samples])
        return self._windows()

    def finish(self) -> torch.Tensor:
        if self._padded is None:  # shorter than a window: small enough to do whole
            clip = np.concatenate(self._head) if self._head else np.zeros(0, np.float32)
            return spectrogram_windows(clip_spectrogram(clip, self.mel), self.mel.frames)
        self._padded = np.concatenate([self._padded, self._last[-2::-1]])
        windows = self._windows()
        if self._frames.shape[1]:  # left over: one more window, ending on the last frame
            windows = torch.cat([windows, self._newest[None, None]])
        return windows

    def _windows(self) -> torch.Tensor:
        n_fft, hop = self.mel.n_fft, self.mel.hop_length
        if self._padded is not None and len(self._padded) >= n_fft:
            count = (len(self._padded) - n_fft) // hop + 1
            frames = self._log_mel.frames(torch.from_numpy(self._padded[:(count - 1) * hop + n_fft]))
            self._frames = torch.cat([self._frames, frames], dim=1)
            self._newest = torch.cat([self._newest, frames], dim=1)[:, -self.mel.frames:]
            self._padded = self._padded[count * hop:]
        whole = self._frames.shape[1] // self.mel.frames * self.mel.frames
        windows, self._frames = self._frames[:, :whole], self._frames[:, whole:]
        return windows.reshape(self.mel.n_mels, -1, self.mel.frames).permute(1, 0, 2).unsqueeze(1).contiguous()
