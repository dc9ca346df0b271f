from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from live.errors import UserError
from live.imageio import grid, save_grid, to_uint8
from live.space.data.images import ImageFile


def test_to_uint8_follows_the_stylegan_convention():
    images = torch.tensor([-1.0, 0.0, 1.0, 3.0]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    pixels = to_uint8(images)
    assert pixels.shape == (1, 1, 4, 3) and pixels.dtype == np.uint8
    assert pixels[0, 0, :, 0].tolist() == [0, 128, 255, 255]


def test_grid_places_images_row_by_row_with_gutters():
    images = torch.stack([torch.full((3, 4, 5), v) for v in (-1.0, 0.0, 1.0)])
    canvas = grid(images, nrow=2, padding=1)
    assert canvas.shape == (2 * 5 + 1, 2 * 6 + 1, 3)
    assert canvas[1, 1].tolist() == [0, 0, 0] and canvas[1, 7].tolist() == [128, 128, 128]
    assert canvas[6, 1].tolist() == [255, 255, 255]
    assert canvas[6, 7].tolist() == [0, 0, 0]  # the empty slot of the short last row


def test_save_grid_writes_a_png(tmp_path):
    path = save_grid(torch.zeros(4, 3, 8, 8), tmp_path / "sub" / "grid.png", nrow=2)
    with Image.open(path) as png:
        assert png.format == "PNG" and png.size == (2 * 10 + 2, 2 * 10 + 2)


def test_unwritable_path_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UserError):
        save_grid(torch.zeros(1, 3, 8, 8), blocker / "grid.png", nrow=1)


def test_a_png_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A Ctrl-C or a full disk while a picture was saved left a cut-short PNG under its name."""
    from pathlib import Path

    path = tmp_path / "grid.png"
    path.write_bytes(b"the last good grid")

    def full_disk(self, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", full_disk)
    with pytest.raises(UserError, match="No space left|free disk space"):
        save_grid(torch.zeros(1, 3, 8, 8), path, nrow=1)
    assert path.read_bytes() == b"the last good grid" and sorted(tmp_path.iterdir()) == [path]


def test_a_16_bit_grey_picture_reads_as_its_8_bit_copy(tmp_path):
    """Pillow's own conversion clips every level above 255 of 65535 to white."""
    ramp = np.linspace(0, 65535, 32 * 48).reshape(32, 48).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    Image.fromarray(np.rint(ramp / 257.0).astype(np.uint8)).save(tmp_path / "flat.png")
    deep, flat = ImageFile(tmp_path / "deep.png").load(), ImageFile(tmp_path / "flat.png").load()
    assert deep.shape == (3, 32, 48) and torch.equal(deep, flat)


def test_a_photo_reads_turned_as_its_exif_orientation_says_unless_boxed(tmp_path):
    """Orientation 6: the stored pixels are to be turned 90 degrees clockwise to be shown."""
    stored = np.zeros((16, 32, 3), np.uint8)
    stored[:, :4] = 255  # the stored picture's left edge: the shown picture's top edge
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "phone.png", exif=exif)
    shown = ImageFile(tmp_path / "phone.png").load()
    assert shown.shape == (3, 32, 16)
    assert shown[:, :4].min() == 1.0 and shown[:, 4:].max() == 0.0
    boxed = ImageFile(tmp_path / "phone.png", box=(0, 0, 32, 16)).load()  # boxes are given in stored pixels
    assert boxed.shape == (3, 16, 32) and boxed[:, :, :4].min() == 1.0


def test_a_float_grey_picture_of_0_to_1_reads_as_its_8_bit_copy(tmp_path):
    """Pillow's conversion truncated every level of a float picture's 0..1 to 0 or 1: black."""
    ramp = np.linspace(0, 1, 32 * 48).reshape(32, 48).astype(np.float32)
    Image.fromarray(ramp, mode="F").save(tmp_path / "float.tif")
    Image.fromarray(np.rint(ramp * 255).astype(np.uint8)).save(tmp_path / "flat.png")
    assert torch.equal(ImageFile(tmp_path / "float.tif").load(), ImageFile(tmp_path / "flat.png").load())


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_what_is_transparent_reads_as_black_whatever_colours_lie_under_it(tmp_path, mode):
    """Pillow drops alpha: one cut-out saved by two encoders (noise or white under alpha 0) read
    as two pictures, 0.15 apart in arousal."""
    rng = np.random.default_rng(0)
    read = []
    for name, hidden in (("noise", rng.integers(0, 256, (16, 8, 3))), ("white", np.full((16, 8, 3), 255))):
        pixels = np.zeros((16, 16, 4), np.uint8)
        pixels[:, :8, :3], pixels[:, 8:, :3], pixels[:, 8:, 3] = hidden, 200, 255  # transparent | opaque grey
        picture = Image.fromarray(pixels, "RGBA")
        picture = picture.convert(mode)
        picture.save(tmp_path / f"{name}.png")
        read.append(ImageFile(tmp_path / f"{name}.png").load())
    assert torch.equal(read[0], read[1])
    assert read[0][:, :, :8].max() == 0.0 and read[0][:, :, 8:].min() > 0.7


def test_a_picture_pillow_cannot_decode_is_one_line_whatever_its_error(damaged_pngs):
    for path in damaged_pngs:
        # The remedy fits a data folder's picture and a preset's own alike (it said "remove the file").
        with pytest.raises(UserError, match=
                           f"cannot read image {path} .*; save it again as PNG or JPEG, or leave it out$"):
            ImageFile(path).load()
