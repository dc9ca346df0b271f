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
    """[3, H, W] or [N, 3, H, W] in [0, 1] -> [(N,) 3, size, size]: shorter side to `size`,
    centre crop."""
    assert images.ndim in (3, 4) and images.shape[-3] == 3, images.shape
    batch = images if images.ndim == 4 else images[None]
    height, width = batch.shape[2:]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    resized = F.interpolate(batch, size=(new_h, new_w), mode="bilinear", align_corners=False,
                            antialias=scale < 1.0)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    square = resized[:, :, top:top + size, left:left + size].clamp(0.0, 1.0)
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
    """[n_mels, T] -> [W, 1, n_mels, frames]: back-to-back windows from the start, W >= 1;
    a last partial window is dropped."""
    assert spectrogram.ndim == 2 and spectrogram.shape[1] >= frames, (spectrogram.shape, frames)
    count = spectrogram.shape[1] // frames
    windows = spectrogram[:, :count * frames].reshape(spectrogram.shape[0], count, frames)
    return windows.permute(1, 0, 2).unsqueeze(1).contiguous()
