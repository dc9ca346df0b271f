"""Pictures in and out: files read as shown, StyleGAN's [-1, 1] convention to uint8, grid PNGs."""
from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from live.errors import UserError
from live.files import write_whole

if TYPE_CHECKING:  # torch is imported by what passes tensors: the presets' checks read pictures without it
    import torch


# The picture files a folder scan or `va` takes: the formats Pillow reads that photos and
# renders come in (Pillow registers some more, for scientific stubs and MPEG stills).
PICTURE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jfif", ".png", ".apng", ".bmp", ".gif", ".webp", ".tif", ".tiff",
                              ".avif", ".ppm", ".pgm", ".pbm", ".tga", ".qoi"})


# What Pillow raises for a file it cannot read: besides OSError, a damaged chunk (SyntaxError),
# metadata past its limits (ValueError), tables cut short (struct.error, IndexError, EOFError),
# which a training run met hours in as a traceback; and a picture too large to open at all.
PICTURE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, Image.DecompressionBombError)


def open_picture(path: str | Path) -> Image.Image:
    """`path` opened (its header read), without Pillow's two-line warning for a 90-180 MP
    picture, which broke one-line output (its readers decode such pictures at a fraction
    of their size)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def unreadable(path: Path, error: Exception) -> UserError:
    """The one line for a picture file Pillow could not open or decode (`error`)."""
    if isinstance(error, FileNotFoundError):
        return UserError(f"image not found: {path}")
    if isinstance(error, Image.DecompressionBombError):
        return UserError(f"{path} is too large a picture (over {Image.MAX_IMAGE_PIXELS * 2} pixels); scale it down")
    return UserError(f"cannot read image {path} ({error}); save it again as PNG or JPEG, or leave it out")


def check_picture(path: Path) -> None:
    """UserError unless `path` decodes as a picture: its header alone passed a file cut short.
    A JPEG decodes at an eighth of its size, for the asking."""
    try:
        with open_picture(path) as image:
            image.draft("RGB", (1, 1))
            image.load()
    except PICTURE_ERRORS as error:
        raise unreadable(path, error) from None


def as_shown(image: Image.Image, upright: bool = True) -> Image.Image:
    """8-bit RGB of a picture as viewers show it: turned as its EXIF orientation says (phones
    store portraits sideways and tag them) unless `upright` is False (boxes given in stored
    pixels), 16- or 32-bit grey scaled to 8 bits (Pillow's conversion clips each level above
    255 to white, and a float picture's 0..1 to black), and what is transparent over black
    (Pillow drops alpha, keeping whatever colours the encoder left under it)."""
    if upright:
        image = ImageOps.exif_transpose(image)
    if image.mode == "F" or image.mode.startswith("I"):
        levels = np.nan_to_num(np.asarray(image).astype(np.float32))
        if image.mode != "F":
            levels /= 257.0
        elif levels.max(initial=0.0) <= 1.0:  # float pictures hold 0..1, unless their levels say otherwise
            levels *= 255.0
        image = Image.fromarray(np.clip(np.rint(levels), 0, 255).astype(np.uint8))
    if image.has_transparency_data:
        image = Image.alpha_composite(Image.new("RGBA", image.size, (0, 0, 0, 255)), image.convert("RGBA"))
    return image.convert("RGB")


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N,3,H,W] in [-1,1] -> [N,H,W,3] uint8, rounding as NVlabs' generate scripts do."""
    assert images.ndim == 4 and images.shape[1] == 3, f"expected [N,3,H,W], got {tuple(images.shape)}"
    pixels = (images.detach().float() * 127.5 + 128.0).clamp(0, 255).byte()
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def grid(images: torch.Tensor, nrow: int, padding: int = 2) -> np.ndarray:
    """Tile [N,3,H,W] in [-1,1] into one [rows*H', nrow*W', 3] uint8 image, black gutters.

    `nrow` is images per row, as in torchvision; a short last row is left black.
    """
    assert nrow >= 1 and padding >= 0
    tiles = to_uint8(images)
    n, h, w, _ = tiles.shape
    rows = -(-n // nrow)
    step_y, step_x = h + padding, w + padding
    canvas = np.zeros((rows * step_y + padding, nrow * step_x + padding, 3), dtype=np.uint8)
    for k, tile in enumerate(tiles):
        y, x = padding + (k // nrow) * step_y, padding + (k % nrow) * step_x
        canvas[y:y + h, x:x + w] = tile
    return canvas


def save_grid(images: torch.Tensor, path: str | Path, nrow: int, padding: int = 2) -> Path:
    """Write [N,3,H,W] in [-1,1] as a grid PNG with `nrow` images per row; returns the path."""
    return write_png(grid(images, nrow, padding), path)


def write_png(image: Image.Image | np.ndarray, path: str | Path, compress_level: int = 6) -> Path:
    """A picture as a PNG, whole or not at all: a Ctrl-C or a full disk while one was saved
    left a cut-short picture under the name. `compress_level`: zlib's, Pillow's default 6."""
    encoded = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(encoded, format="PNG",
                                                                                compress_level=compress_level)
    return write_whole(path, encoded.getvalue())
