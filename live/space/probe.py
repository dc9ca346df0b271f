"""A trained space applied to media: features and VA of images, clips and files.

Images go through `inputs.square_image` at the space's image size and E_I; a clip's
log-mel spectrogram is cut into back-to-back windows of the space's MelWindow (and one
more ending on its last frame, where frames are left over), and its
feature and VA are the means over those windows (E_M sees only one window at a time, as
it does live). Evaluation and `python -m live va` both use this.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from live.audio.bandwidth import Bandwidth
from live.audio.beats import BeatConfig
from live.audio.decode import AUDIO_SUFFIXES, stream_converted
from live.audio.silence import SilenceGate
from live.errors import UserError
from live.imageio import PICTURE_SUFFIXES
from live.space.data.images import ImageFile
from live.space.inputs import ClipWindows, encoder_range, spectrogram_windows, square_image
from live.space.load import SpaceSpec
from live.space.model import SpaceNet

class SpaceProbe:
    def __init__(self, net: SpaceNet, spec: SpaceSpec, batch: int = 32) -> None:
        self.net, self.spec, self.batch = net.eval(), spec, batch
        self.device = next(net.parameters()).device

    @torch.no_grad()
    def images(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[N, 3, H, W] RGB in [0, 1] (any size) -> f_I [N, F], VA [N, 2] on the CPU."""
        features, va = [], []
        for chunk in images.split(self.batch):
            x = encoder_range(square_image(chunk, self.spec.image_size)).to(self.device)
            f = self.net.image_encoder(x)
            features.append(f.cpu())
            va.append(self.net.image_va(f).cpu())
        return torch.cat(features), torch.cat(va)

    def spectrogram(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A clip's log-mel [n_mels, T] -> mean f_M [F] and mean VA [2] over its windows."""
        return self._window_means([spectrogram_windows(log_mel.float(), self.spec.config.mel.frames)])

    @torch.no_grad()
    def _window_means(self, batches: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows [W, 1, n_mels, frames], any number of them at a time -> mean f_M, mean VA."""
        f_sum, va_sum, count = 0.0, 0.0, 0
        for chunk in _rebatched(batches, self.batch):
            f = self.net.music_encoder(chunk.to(self.device))
            f_sum, va_sum = f_sum + f.sum(dim=0).cpu(), va_sum + self.net.music_va(f).sum(dim=0).cpu()
            count += len(chunk)
        assert count, "a clip gives at least one window"
        return f_sum / count, va_sum / count

    def _file_windows(self, path: Path, band: Bandwidth | None = None) -> Iterator[torch.Tensor]:
        """An audio file's windows, a block of the file at a time (an hour-long file is never
        whole), of its sound: silence that lasts is left out, as the show's window leaves it
        (30 s of it after a song pulled the song's reading most of the way to silence's)."""
        mel = self.spec.config.mel
        clip, gate = ClipWindows(mel), SilenceGate(mel.sample_rate)
        for samples in stream_converted(path, mel.sample_rate, channels=1, band=band):
            yield clip.push(gate.audible(samples[:, 0]))
        yield clip.push(gate.finish())
        if not gate.heard:
            raise UserError(f"{path} is silent (below {BeatConfig.silence_db:g} dBFS throughout): no music to read")
        yield clip.finish()

    def file_va(self, path: Path, band: Bandwidth | None = None) -> tuple[float, float]:
        """(valence, arousal) of an image or audio file; UserError if it cannot be read. An audio
        file's sound, as the encoder hears it, is also fed to `band`."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path} is a folder; give the files in it" if path.is_dir()
                            else f"{path} is not a file but a pipe or a device; save it to a file first"
                            if path.exists() else f"file not found: {path}")
        if path.suffix.lower() in PICTURE_SUFFIXES:
            _, va = self.images(ImageFile(path).load()[None])
            va = va[0]
        else:
            try:
                _, va = self._window_means(self._file_windows(path, band))
            except UserError as e:
                if path.suffix.lower() in AUDIO_SUFFIXES:  # an audio file that is broken: its own message
                    raise
                # Neither a known picture nor audio: say that pictures are read too.
                raise UserError(f"{e}; `va` reads audio and pictures ({' '.join(sorted(PICTURE_SUFFIXES))})") from None
        return float(va[0]), float(va[1])


def _rebatched(batches: Iterable[torch.Tensor], size: int) -> Iterator[torch.Tensor]:
    """Rows arriving in batches of any length (none too) -> the same rows, `size` at a time."""
    held = None
    for batch in batches:
        held = batch if held is None else torch.cat([held, batch])
        while len(held) >= size:
            yield held[:size]
            held = held[size:]
    if held is not None and len(held):
        yield held
