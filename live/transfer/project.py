"""A user's picture as a source latent: projection into W (then, optionally, W+) by optimization.

The latent starts at the generator's average w and follows Adam under the same warm-up /
ramp-down schedule as the transfer (NVlabs' projector uses it too) on two losses:

    pixel:    mean squared error to the picture, at the generator's resolution
    feature:  1 - cos(E_I(G(w)), E_I(picture))

The feature term is a perceptual loss without LPIPS's VGG weights, which a machine
without internet does not have: E_I is the bundle's own image encoder, and it is also
what the transfer then measures the picture with. W keeps the result on the generator's
distribution, where the transfer's steps behave; a W+ fine-tune (`plus_steps`) fits the
picture closer at the cost of that.

Projections take seconds to minutes, so `project_image_cached` keeps them as .npy files
keyed by the bundle's weights, the file's bytes and the settings.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from live.bundle import Bundle
from live.errors import UserError, note
from live.files import npy_bytes, user_cache, write_whole
from live.nets.digest import digest_weights
from live.imageio import unreadable
from live.space.data.images import ImageFile
from live.transfer.objective import semantic_loss
from live.transfer.optimize import scheduled_adam

CACHE_VERSION = 3  # bump when the projection itself changes (2: pictures read as shown, EXIF and 16-bit;
                   # 3: transparency over black, float grey)


@dataclass(frozen=True)
class ProjectConfig:
    steps: int = 200            # Adam steps in W
    plus_steps: int = 0         # further steps in W+ (every layer its own w)
    lr: float = 0.1             # peak learning rate in W (the W+ fine-tune uses a tenth)
    pixel_weight: float = 1.0
    feature_weight: float = 1.0

    def __post_init__(self) -> None:
        assert self.steps >= 1 and self.plus_steps >= 0 and self.lr > 0, self


def load_picture(path: str | Path, resolution: int, data: bytes | None = None) -> torch.Tensor:
    """An image file (or `data`, its bytes as read) as [1, 3, R, R] in [-1, 1]: centre square,
    resized (antialiased)."""
    rgb = ImageFile(Path(path)).load(min_side=resolution, data=data)
    _, h, w = rgb.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = rgb[:, top:top + side, left:left + side][None]
    resized = F.interpolate(square, size=(resolution, resolution), mode="bilinear", align_corners=False,
                            antialias=side > resolution)
    return resized.clamp(0, 1) * 2 - 1


def project_image(bundle: Bundle, image: torch.Tensor, config: ProjectConfig = ProjectConfig(),
                  check: Callable[[], None] = lambda: None) -> torch.Tensor:
    """image [1, 3, R, R] in [-1, 1] at G's resolution -> w [num_ws, w_dim]. `check` runs
    after every step and raises to stop a projection no longer wanted."""
    G = bundle.G
    assert image.shape == (1, 3, G.img_resolution, G.img_resolution), (image.shape, G.img_resolution)
    image = image.to(bundle.device)
    with torch.no_grad():
        target = bundle.image_features(image)

    def loss(ws: torch.Tensor) -> torch.Tensor:
        ws = ws.expand(1, G.num_ws, G.w_dim)
        picture = G.synthesis(ws, noise_mode="const")
        pixel = (picture - image).square().mean(dim=(1, 2, 3))
        feature = semantic_loss(bundle.image_features(picture), target)
        return config.pixel_weight * pixel + config.feature_weight * feature

    with torch.inference_mode(False), torch.enable_grad():
        w = G.mapping.w_avg.detach().clone()[None, None].requires_grad_(True)  # [1, 1, w_dim]: W
        scheduled_adam(w, loss, config.steps, config.lr, on_step=lambda *_: check())
        ws = w.detach().expand(1, G.num_ws, G.w_dim).clone()
        if config.plus_steps:
            ws.requires_grad_(True)
            scheduled_adam(ws, loss, config.plus_steps, config.lr / 10, on_step=lambda *_: check())
    return ws.detach()[0]


def default_cache_dir() -> Path:
    return user_cache("projections")


def bundle_fingerprint(bundle: Bundle) -> str:
    """A hash of the weights a projection depends on: G and E_I."""
    digest = hashlib.blake2b(digest_size=16)
    for module in (bundle.G, bundle.space.image_encoder):
        digest_weights(digest, module)
    digest.update(str(bundle.config.image_size).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedProjection:
    """Where the projection of one picture onto one bundle is kept, and the picture itself."""

    picture: torch.Tensor  # [1, 3, R, R] in [-1, 1], at the generator's resolution
    entry: Path
    shape: tuple[int, int]  # (num_ws, w_dim)

    @classmethod
    def find(cls, bundle: Bundle, path: str | Path, config: ProjectConfig = ProjectConfig(),
             cache_dir: str | Path | None = None, fingerprint: str | None = None) -> CachedProjection:
        """`fingerprint`: the bundle's, when the caller keeps it (hashing the weights takes a
        quarter of a second on a CPU)."""
        path = Path(path)
        try:  # once: a file saved between two reads filed the old picture's projection under the new one
            data = path.read_bytes()
        except OSError as e:
            raise unreadable(path, e) from None
        picture = load_picture(path, bundle.G.img_resolution, data)  # a bad file fails here, before any work
        key = hashlib.blake2b(digest_size=16)
        for part in (str(CACHE_VERSION), fingerprint or bundle_fingerprint(bundle), repr(config)):
            key.update(part.encode())
        key.update(data)
        entry = Path(cache_dir or default_cache_dir()) / f"{key.hexdigest()}.npy"
        return cls(picture, entry, (bundle.G.num_ws, bundle.G.w_dim))

    def load(self, device: torch.device | str) -> torch.Tensor | None:
        """The stored w, or None when there is none (or it is damaged)."""
        try:
            w = np.load(self.entry, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # none yet, or cut short: projected again
            return None
        if w.shape == self.shape and np.isfinite(w).all():
            return torch.from_numpy(w).to(device)
        return None

    def store(self, w: torch.Tensor) -> None:
        try:
            write_whole(self.entry, npy_bytes(w.cpu().numpy()))
        except UserError as e:
            raise UserError(f"{e}; make the projection cache writable or set XDG_CACHE_HOME") from None


def project_image_cached(bundle: Bundle, path: str | Path, config: ProjectConfig = ProjectConfig(),
                         cache_dir: str | Path | None = None) -> torch.Tensor:
    """`project_image` of the file at `path`, from the cache when it was projected before."""
    cached = CachedProjection.find(bundle, path, config, cache_dir)
    w = cached.load(bundle.device)
    if w is None:
        # Said before the wait: a render or transfer of a new picture's preset was silent for minutes.
        print(f"projecting {path} into bundle {bundle.label}'s W (half a minute or more on a CPU) ...",
              flush=True)
        with tqdm(total=config.steps + config.plus_steps, desc="projecting", unit="step", leave=False) as bar:
            w = project_image(bundle, cached.picture, config, check=lambda: bar.update(1))
        try:
            cached.store(w)
        except UserError as e:  # the cache saves the next run's minutes: this run's projection stands
            note("projection", f"{e} (it is projected again next time)")
    return w
