"""A contact sheet: the source picture and each transfer side by side, each labelled beneath."""
from __future__ import annotations

from functools import partial

import numpy as np
from PIL import Image, ImageDraw, ImageFont

GUTTER = 4          # pixels between tiles
LABEL_HEIGHT = 28   # two lines of PIL's default font
MIN_TILE = 128      # smaller pictures are enlarged (nearest neighbour) so labels fit under them


def contact_sheet(tiles: list[tuple[np.ndarray, str]]) -> Image.Image:
    """[(picture [R, R, 3] uint8, label)] -> one image, tiles in a row, labels below."""
    assert tiles, "a sheet needs at least one tile"
    resolution = tiles[0][0].shape[0]
    assert all(t.shape == (resolution, resolution, 3) and t.dtype == np.uint8 for t, _ in tiles), \
        [t.shape for t, _ in tiles]
    size = resolution * -(-MIN_TILE // resolution)
    sheet = Image.new("RGB", (len(tiles) * (size + GUTTER) + GUTTER, size + LABEL_HEIGHT + 2 * GUTTER), "black")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (picture, label) in enumerate(tiles):
        x = GUTTER + i * (size + GUTTER)
        sheet.paste(Image.fromarray(picture).resize((size, size), Image.Resampling.NEAREST), (x, GUTTER))
        width = partial(draw.textlength, font=font)
        fitted = "\n".join(fit(line, size, width) for line in label.split("\n"))
        draw.multiline_text((x, size + GUTTER + 2), fitted, fill="white", font=font, spacing=2)
    return sheet


def fit(line: str, width: float, measure) -> str:
    """`line`, cut with an ellipsis where it would run past `width` (as `measure` gives widths)
    into the next tile's label."""
    if measure(line) <= width:
        return line
    while line and measure(line + "...") > width:
        line = line[:-1]
    return line + "..."
