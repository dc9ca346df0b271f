"""Image files to [3, H, W] float32 tensors in [0, 1], optionally cropped to a box."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from live.errors import UserError
from live.imageio import PICTURE_ERRORS, as_shown, open_picture, unreadable

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels; x1 and y1 exclusive


@dataclass(frozen=True)
class ImageFile:
    """An image on disk, or the part of it inside `box` (EMOTIC's person boxes)."""

    path: Path
    box: Box | None = None

    def __post_init__(self) -> None:
        assert self.box is None or len(self.box) == 4, self.box

    def load(self, min_side: int | None = None, data: bytes | None = None) -> torch.Tensor:
        """[3, H, W] float32 RGB in [0, 1]. The box is clipped to the picture: annotation
        boxes stick out of the frame by a few pixels now and then. With `min_side` (no box), a
        picture over twice that on its shorter side is shrunk by a whole factor as it is read:
        a phone's 48-megapixel photo took a gigabyte as floats, which a show's heap then kept.
        `data`: the file's bytes, when the caller has read them (and keys something on them)."""
        try:
            with open_picture(self.path if data is None else io.BytesIO(data)) as image:
                if min_side is not None and self.box is None:
                    image.draft("RGB", (min_side, min_side))  # JPEG: decoded at 1/2, 1/4 or 1/8 scale
                rgb = as_shown(image, upright=self.box is None)
            if min_side is not None and self.box is None and (factor := min(rgb.size) // min_side) >= 2:
                rgb = rgb.reduce(factor)
        except PICTURE_ERRORS as error:
            raise unreadable(self.path, error) from None
        if self.box is not None:
            width, height = rgb.size
            x0, y0, x1, y1 = self.box
            x0, x1 = max(0, x0), min(width, x1)
            y0, y1 = max(0, y0), min(height, y1)
            if x1 <= x0 or y1 <= y0:
                raise UserError(f"box {self.box} lies outside {self.path} ({width}x{height})")
            rgb = rgb.crop((x0, y0, x1, y1))
        pixels = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy())
        return pixels.permute(2, 0, 1).float().div_(255.0)
