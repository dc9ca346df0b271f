"""The encoders and heads of the shared valence-arousal space.

E_I maps an RGB image to f_I, E_M maps a one-channel log-mel spectrogram to f_M; both
are ResNets (live.nets.resnet, torchvision's layout) ending in a linear projection, so the
512-d features are signed and can meet in one space. A VA head per modality regresses
(valence, arousal) in [0, 1]^2 from a feature; the similarity head predicts the VA
similarity of an image-music pair from their two features.

No weights are ever downloaded: the backbones start random, or, for E_I, from a local
ImageNet weight file (torchvision state dict, `.pth` / `.pt` or `.safetensors`).
"""
from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import nn

from live.errors import UserError, first_line
from live.nets.resnet import ResNet, resnet18, resnet50
from live.nets.weights import reader_path
from live.torch_files import load_torch_file

IMAGE_BACKBONES: dict[str, Callable[..., ResNet]] = {
    "resnet50": resnet50,  # the paper's E_I
    "resnet18": resnet18,  # for tests and CPU-constrained runs
}
MIN_IMAGE_SIZE = 64  # below this ResNet's 32x downsampling leaves a 1x1 map or less
MAX_IMAGE_SIZE = 1024  # E_I resizes every picture to this; larger only costs time


def check_image_size(value: object, where: str) -> int:
    """A config's image_size (E_I's input side), or a UserError naming `where`."""
    if type(value) is not int or not MIN_IMAGE_SIZE <= value <= MAX_IMAGE_SIZE:
        raise UserError(f"{where}: image_size must be a whole number of pixels in {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}, "
                        f"got {value!r}")
    return value

# ImageNet statistics the torchvision weights were trained with, on RGB in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check_features(name: str, f: torch.Tensor, dim: int) -> None:
    if f.ndim != 2 or f.shape[1] != dim:
        raise ValueError(f"{name}: expected features [N, {dim}], got {list(f.shape)}")


def load_backbone_weights(backbone: nn.Module, path: Path) -> None:
    """Initialize `backbone` (a ResNet) from a local torchvision state dict file.

    The file's `fc.*` entries, the 1000-class ImageNet classifier, are dropped because
    our projection replaces it; every other key must match by name and shape. BatchNorm's
    `num_batches_tracked` may be absent, as in older torchvision files.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"backbone weights {path} not found; give the path of a local "
                        "torchvision ResNet state dict (.pth, .pt or .safetensors)")
    try:
        if path.suffix == ".safetensors":
            state = safetensors.torch.load_file(reader_path(path))
        else:
            state = load_torch_file(path)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, SafetensorError) as e:
        raise UserError(f"cannot read backbone weights {path} ({first_line(e)}); "
                        "give a torchvision ResNet state dict file") from e
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                 for k, v in state.items()):
        raise UserError(f"{path} is not a state dict of tensors; give a torchvision ResNet "
                        "state dict file")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    expected = backbone.state_dict()
    missing = sorted(k for k in expected.keys() - state.keys()
                     if not k.endswith("num_batches_tracked"))
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise UserError(f"{path} does not fit this backbone: missing {missing[:3]}"
                        f"{' ...' if len(missing) > 3 else ''}, unexpected {unexpected[:3]}"
                        f"{' ...' if len(unexpected) > 3 else ''}; is it the same ResNet depth?")
    wrong = [k for k, v in state.items() if v.shape != expected[k].shape]
    if wrong:
        raise UserError(f"{path} does not fit this backbone: {wrong[0]} has shape "
                        f"{list(state[wrong[0]].shape)}, expected {list(expected[wrong[0]].shape)}")
    backbone.load_state_dict(state, strict=False)  # names and shapes checked above


class ImageEncoder(nn.Module):
    """E_I: RGB image in [-1, 1] (the generator's range), any size >= 64 px -> f_I.

    The ImageNet normalization happens inside, so callers pass generator output as is.
    """

    def __init__(self,
                 backbone: str = "resnet50",       # "resnet50" (the paper) or "resnet18".
                 feature_dim: int = 512,           # Width of f_I, shared with f_M.
                 backbone_weights: Path | None = None):  # Local ImageNet state dict to start from.
        super().__init__()
        if backbone not in IMAGE_BACKBONES:
            raise UserError(f"unknown image backbone {backbone!r}; "
                            f"choose one of {', '.join(IMAGE_BACKBONES)}")
        self.feature_dim = feature_dim
        self.backbone = IMAGE_BACKBONES[backbone]()
        if backbone_weights is not None:
            load_backbone_weights(self.backbone, backbone_weights)
        self.project = nn.Linear(self.backbone.width, feature_dim)
        # [-1, 1] -> ImageNet-normalized in one affine step: ((x + 1) / 2 - mean) / std. On the CPU
        # even under a meta device (a weights file's check), where arithmetic imports torch's compiler.
        mean, std = torch.tensor(IMAGENET_MEAN, device="cpu"), torch.tensor(IMAGENET_STD, device="cpu")
        self.register_buffer("in_scale", (0.5 / std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("in_shift", ((0.5 - mean) / std).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3 or min(images.shape[2:]) < MIN_IMAGE_SIZE:
            raise ValueError(f"ImageEncoder: expected RGB images [N, 3, H, W] with H, W >= "
                             f"{MIN_IMAGE_SIZE}, got {list(images.shape)}")
        f = self.project(self.backbone(images * self.in_scale + self.in_shift))
        _check_features("ImageEncoder", f, self.feature_dim)
        return f


class MusicEncoder(nn.Module):
    """E_M: log-mel spectrogram [N, 1, n_mels, frames] (any number of frames) -> f_M.

    Normalization. With `gain_invariant` (the default) each spectrogram's mean over all
    bins and frames is subtracted: a microphone's or mixer's gain adds a constant to a
    log spectrogram, and live input has no calibrated gain, so the features then depend
    on spectral shape and on the dynamics within the window, not on the input level.
    Without it the absolute level reaches the network, a loudness cue for arousal that
    holds only where levels are comparable (mastered files, offline renders). Either
    way no fixed scale or offset is applied: the BatchNorm after the first convolution
    absorbs them, as long as training and inference use the same mel front end.
    """

    def __init__(self,
                 n_mels: int = 128,            # Mel bands of the front end; checked on every input.
                 feature_dim: int = 512,       # Width of f_M, shared with f_I.
                 gain_invariant: bool = True):  # Remove each spectrogram's mean level.
        super().__init__()
        self.n_mels, self.feature_dim, self.gain_invariant = n_mels, feature_dim, gain_invariant
        self.backbone = resnet18(in_channels=1)
        self.project = nn.Linear(self.backbone.width, feature_dim)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        if log_mel.ndim != 4 or log_mel.shape[1] != 1 or log_mel.shape[2] != self.n_mels:
            raise ValueError(f"MusicEncoder: expected log-mel [N, 1, {self.n_mels}, frames], "
                             f"got {list(log_mel.shape)}")
        if self.gain_invariant:
            log_mel = log_mel - log_mel.mean(dim=(1, 2, 3), keepdim=True)
        f = self.project(self.backbone(log_mel))
        _check_features("MusicEncoder", f, self.feature_dim)
        return f


class VAHead(nn.Module):
    """Feature -> (valence, arousal) in [0, 1]^2; one per modality."""

    def __init__(self, feature_dim: int = 512, hidden: int = 256):
        super().__init__()
        self.feature_dim = feature_dim
        self.mlp = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        _check_features("VAHead", f, self.feature_dim)
        return torch.sigmoid(self.mlp(f))


class SimilarityHead(nn.Module):
    """S_hat(f_I, f_M) in [0, 1]: the predicted VA similarity of an image-music pair.

    The MLP sees [f_I, f_M, f_I * f_M, |f_I - f_M|]: the product and the absolute
    difference hand it agreement and distance per dimension directly.
    """

    def __init__(self, feature_dim: int = 512, hidden: int = 256):
        super().__init__()
        self.feature_dim = feature_dim
        self.mlp = nn.Sequential(nn.Linear(4 * feature_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, f_image: torch.Tensor, f_music: torch.Tensor) -> torch.Tensor:
        _check_features("SimilarityHead image", f_image, self.feature_dim)
        _check_features("SimilarityHead music", f_music, self.feature_dim)
        if f_image.shape[0] != f_music.shape[0]:
            raise ValueError(f"SimilarityHead: {f_image.shape[0]} image features but "
                             f"{f_music.shape[0]} music features; pass one per pair")
        joint = torch.cat([f_image, f_music, f_image * f_music, (f_image - f_music).abs()], dim=1)
        return torch.sigmoid(self.mlp(joint)).squeeze(1)
