"""An endless, seeded corpus of abstract paintings for training the default generator.

Each image is painted in layers: a colour wash and a domain-warped fractal noise field
(Quilez's f(p + r(p + q(p)))) read through a cosine palette a + b cos(2 pi (c t + d)),
with isolines and relief shading; soft colour blobs; dry-brush strokes with bristle
streaks; then a grade of saturation and exposure. The grade is drawn so that brightness,
saturation and hue each cover their whole range: the emotion edits learned later move
exactly those.

Image k is a pure function of (seed, k). All randomness of one image is drawn first, from
a generator seeded by (seed, k) alone, into a `Recipe`; painting is batched tensor math in
which no image reads another's pixels, so an image does not depend on its batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from live.errors import UserError
from live.imageio import to_uint8

_COARSEST = 4  # side of the coarsest noise lattice
_WARP_FINEST = 16  # the warp holds only broad swirls; finer warps read as noise
MIN_CORPUS_RESOLUTION = 32  # its lattices and strokes need the room
_CHUNK = 16  # images painted together: big enough to amortize per-op overhead, small enough for cache


@dataclass(frozen=True)
class ProceduralConfig:
    resolution: int = 128  # side of the square images in pixels; a power of two, >= 32
    seed: int = 0  # names the corpus: the same seed gives the same endless sequence
    strokes: int = 4  # brush strokes per image at most; each costs a few full-resolution passes
    blobs: int = 6  # soft colour blobs per image at most (painted at quarter resolution)

    def __post_init__(self) -> None:
        r = self.resolution
        if r < MIN_CORPUS_RESOLUTION or r & (r - 1):
            raise UserError(f"procedural resolution {r} is not a power of two >= {MIN_CORPUS_RESOLUTION}; "
                            "use e.g. 64, 128, 256")
        if self.seed < 0:
            raise UserError(f"procedural seed {self.seed} is negative; use a seed >= 0")
        if self.strokes < 0 or self.blobs < 0:
            raise UserError(f"procedural strokes ({self.strokes}) and blobs ({self.blobs}) must be >= 0")


def _lattice_sides(finest: int) -> list[int]:
    return [_COARSEST << k for k in range(int(math.log2(finest // _COARSEST)) + 1)]


@dataclass
class Recipe:
    """Everything random about a batch of N images; painting is a pure function of it.

    Positions are in [-1, 1] image coordinates (x right, y down), angles in radians.
    """

    field: tuple[torch.Tensor, ...]  # lattices of the painted field, coarse to fine, [N,1,s,s]
    warp: tuple[torch.Tensor, ...]  # lattices of the two warp steps q and r, [N,4,s,s]
    roughness: torch.Tensor  # [N] amplitude ratio between successive octaves of the field
    view: torch.Tensor  # [N,3] zoom into the field plane (small = broad shapes), pan x, y
    warp_amount: torch.Tensor  # [N,2] displacement by q and by r
    palette: torch.Tensor  # [N,4,3] cosine palette rows a, b, c, d per channel
    wash: torch.Tensor  # [N,5] gradient direction cos, sin; gradient, field weight; palette shift
    bands: torch.Tensor  # [N,2] posterized bands per unit of palette index t; how much to posterize
    contours: torch.Tensor  # [N,3] isolines per unit of t, their strength, ink (0 black, 1 white)
    relief: torch.Tensor  # [N,3] light direction cos, sin; strength of the relief shading
    blob_shape: torch.Tensor  # [N,B,5] centre x, y, radius along, across, angle
    blob_paint: torch.Tensor  # [N,B,3] palette index, value scale, opacity
    stroke_path: torch.Tensor  # [N,S,6] centre x, y, angle, half length, half width, bow in half lengths
    stroke_paint: torch.Tensor  # [N,S,6] palette index, value scale, opacity, dryness, bristle freq, phase
    grade: torch.Tensor  # [N,2] saturation gain (0 = grey), exposure bias k (> 1 darkens)

    @staticmethod
    def draw(generators: list[np.random.Generator], config: ProceduralConfig,
             device: torch.device) -> "Recipe":
        """One image per generator, stacked on `device`."""
        drawn = [_draw_image(g, config) for g in generators]

        def stack(values: list) -> torch.Tensor | tuple[torch.Tensor, ...]:
            if isinstance(values[0], tuple):
                return tuple(stack(list(level)) for level in zip(*values))
            return torch.from_numpy(np.stack(values).astype(np.float32)).to(device)

        return Recipe(**{f.name: stack([d[f.name] for d in drawn]) for f in fields(Recipe)})

    def __len__(self) -> int:
        return self.grade.shape[0]


def _draw_image(rng: np.random.Generator, config: ProceduralConfig) -> dict[str, np.ndarray | tuple]:
    """The random choices of one image. Drawn in one fixed order: reordering the draws
    changes every image of every seed."""
    u = rng.uniform
    r, b, s = config.resolution, config.blobs, config.strokes

    def lattice(channels: int, side: int) -> np.ndarray:
        # Uniform lattice values scaled to unit variance: cheaper to draw than normals.
        return (rng.random((channels, side, side), dtype=np.float32) * 2.0 - 1.0) * math.sqrt(3.0)

    field = tuple(lattice(1, side) for side in _lattice_sides(r // 2))
    warp = tuple(lattice(4, side) for side in _lattice_sides(_WARP_FINEST))
    zoom = u(0.3, 1.0)
    gradient_angle, light_angle = u(0, 2 * math.pi, 2)
    palette = np.stack([
        u(0.25, 0.75, 3),  # a: mean colour
        u(0.15, 0.55, 3),  # b: swing around it
        u(0.4, 1.4) + u(-0.3, 0.3, 3),  # c: cycles per unit of t, near-equal keeps hues related
        u(0.0, 1.0, 3),  # d: phases, i.e. which hues
    ])
    # Strokes lean one way in some paintings and scatter in others.
    flow, spread = u(0, 2 * math.pi), u(0.1, math.pi)
    half_width = u(0.03, 0.15, s)
    # Bristle stripes no finer than 3 pixels, so they stay strokes rather than aliasing.
    cycles = np.minimum(u(2.0, 6.0, s), half_width * r / 3.0)
    stroke_presence, blob_presence = u(0.2, 1.0, 2)
    return dict(
        field=field,
        warp=warp,
        roughness=u(0.4, 0.7),
        view=np.array([zoom, *(u(-1, 1, 2) * (1 - zoom))]),
        warp_amount=u(0.0, 0.7, 2),
        palette=palette,
        wash=np.array([math.cos(gradient_angle), math.sin(gradient_angle), u(0.0, 1.2),
                       1.2 * u() ** 1.5, u()]),
        bands=np.array([u(2.0, 6.0), u() < 0.3]),
        contours=np.array([u(1.5, 6.0), (u() < 0.3) * u(0.3, 0.9), u() < 0.5]),
        relief=np.array([math.cos(light_angle), math.sin(light_angle), u() ** 2]),
        blob_shape=np.column_stack([u(-1, 1, (b, 2)), u(0.1, 0.6, (b, 2)), u(0, 2 * math.pi, b)]),
        blob_paint=np.column_stack([u(0, 1, b), u(0.3, 1.4, b), (u(0, 1, b) < blob_presence) * u(0.3, 1, b)]),
        stroke_path=np.column_stack([u(-0.9, 0.9, (s, 2)), flow + u(-spread, spread, s), u(0.25, 0.85, s),
                                     half_width, u(-0.3, 0.3, s)]),
        stroke_paint=np.column_stack([u(0, 1, s), u(0.4, 1.5, s),
                                      (u(0, 1, s) < stroke_presence) * u(0.6, 1, s),
                                      u(0, 1, s) ** 2, math.pi * cycles, u(0, 2 * math.pi, s)]),
        grade=np.array([1.7 * u() ** 0.8, math.exp(u(-1.5, 2.5))]),
    )


def _column(values: torch.Tensor, k: int) -> torch.Tensor:
    """values[..., k] shaped to broadcast over [N, C, H, W] images."""
    return values[..., k].reshape(values.shape[0], -1, 1, 1)


def _centres(side: int, device: torch.device) -> torch.Tensor:
    """Pixel centres of `side` pixels in [-1, 1], as grid_sample reads them (align_corners=False)."""
    return (torch.arange(side, device=device, dtype=torch.float32) + 0.5) * (2.0 / side) - 1.0


def _plane(side: int, device: torch.device) -> torch.Tensor:
    """[1,side,side,2] (x, y) pixel centres in [-1, 1]."""
    c = _centres(side, device)
    return torch.stack(torch.meshgrid(c, c, indexing="xy"), dim=-1)[None]


def _fbm(lattices: tuple[torch.Tensor, ...], roughness: torch.Tensor) -> torch.Tensor:
    """Fractal value noise at the finest lattice's size: the running sum is upsampled
    smoothly and octave k added with amplitude roughness^k; about unit variance."""
    gain = roughness.view(-1, 1, 1, 1)
    total = lattices[0]
    power = torch.ones_like(gain)
    for k, octave in enumerate(lattices[1:], start=1):
        total = F.interpolate(total, scale_factor=2, mode="bicubic", align_corners=False) + gain**k * octave
        power = power + gain ** (2 * k)
    return total / power.sqrt()


def _cosine_palette(t: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """a + b cos(2 pi (c t + d)) per channel: t [N,1,H,W] -> [N,3,H,W]."""
    a, b, c, d = (palette[:, row, :, None, None] for row in range(4))
    return a + b * torch.cos(2.0 * math.pi * (c * t + d))


def _swatches(paint: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Colours of blobs or strokes, [N,K,3], from paint[..., 0] palette index and [..., 1] value."""
    t = paint[:, None, :, 0, None]  # [N,1,K,1]: K swatches laid out as a one-pixel-wide image
    return _cosine_palette(t, palette)[..., 0].transpose(1, 2) * paint[..., 1:2]


def _warped_field(recipe: Recipe, resolution: int) -> torch.Tensor:
    """The fractal field read at doubly warped coordinates, [N,1,R,R]."""
    n, device = len(recipe), recipe.grade.device
    half = resolution // 2
    warp = _fbm(recipe.warp, torch.full((n,), 0.5, device=device))
    plane = _plane(half, device).expand(n, -1, -1, -1)
    amount = recipe.warp_amount[:, :, None, None, None]
    q = F.interpolate(warp[:, :2], size=half, mode="bilinear", align_corners=False)
    moved = plane + amount[:, 0] * q.permute(0, 2, 3, 1)
    r = F.grid_sample(warp[:, 2:], moved, mode="bilinear", padding_mode="reflection", align_corners=False)
    view = recipe.view[:, None, None, :]
    moved = (plane + amount[:, 1] * r.permute(0, 2, 3, 1)) * view[..., :1] + view[..., 1:]
    # The warp is smooth, so computing coordinates at half resolution and upsampling them
    # loses nothing; the field itself is read at full resolution for crisp detail.
    coords = F.interpolate(moved.permute(0, 3, 1, 2), size=resolution, mode="bilinear", align_corners=False)
    return F.grid_sample(_fbm(recipe.field, recipe.roughness), coords.permute(0, 2, 3, 1), mode="bilinear",
                         padding_mode="reflection", align_corners=False)


def _slopes(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences per pixel along x and y, same shape as `image`."""
    dx = F.pad(image[..., :, 1:] - image[..., :, :-1], (0, 1, 0, 0), mode="replicate")
    dy = F.pad(image[..., 1:, :] - image[..., :-1, :], (0, 0, 0, 1), mode="replicate")
    return dx, dy


def _ground(recipe: Recipe, field: torch.Tensor) -> torch.Tensor:
    """Wash plus field through the palette, posterized into bands in some paintings,
    with isolines and relief shading: [N,3,R,R]."""
    resolution = field.shape[-1]
    centres = _centres(resolution, field.device)
    x, y = centres.view(1, 1, 1, -1), centres.view(1, 1, -1, 1)
    wash = recipe.wash
    t = (_column(wash, 0) * x + _column(wash, 1) * y) * _column(wash, 2) \
        + _column(wash, 3) * 0.5 * field + _column(wash, 4)
    # Steps of t per pixel, so band edges and isolines are drawn one pixel wide on steep
    # and flat ground alike.
    step = torch.hypot(*_slopes(t)).add_(1e-4)

    levels = _column(recipe.bands, 0)
    phase = t * levels
    floor = torch.floor(phase)
    # An anti-aliased staircase: flat inside a band, a one-pixel ramp up to the next.
    staircase = (phase - floor - 1.0).div_(step * levels).add_(1.0).clamp_(0.0, 1.0).add_(floor).div_(levels)
    colour = _cosine_palette(torch.lerp(t, staircase, _column(recipe.bands, 1)), recipe.palette)

    frequency = _column(recipe.contours, 0)
    phase = t * frequency
    distance = (phase - torch.round(phase)).abs_().div_(step * frequency)
    line = (1.2 - distance).clamp_(0.0, 1.0).mul_(_column(recipe.contours, 1))
    colour = torch.lerp(colour, _column(recipe.contours, 2).expand_as(colour), line)

    dx, dy = _slopes(field)
    relief = recipe.relief
    # Per-pixel slopes shrink as resolution grows; scaling by it keeps the relief the same.
    lit = _column(relief, 0) * dx + _column(relief, 1) * dy
    shade = 1.0 + _column(relief, 2) * (resolution / 80.0) * lit
    return colour * shade


def _blobs(recipe: Recipe, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft ellipses composited over each other at quarter resolution, upsampled:
    premultiplied colour [N,3,R,R] and coverage [N,1,R,R]."""
    n, quarter = len(recipe), resolution // 4
    plane = _plane(quarter, recipe.grade.device)  # [1,Q,Q,2]
    shape = recipe.blob_shape[:, :, None, None, :]  # [N,B,1,1,5]
    dx, dy = plane[..., 0] - shape[..., 0], plane[..., 1] - shape[..., 1]
    cos, sin = torch.cos(shape[..., 4]), torch.sin(shape[..., 4])
    u, v = (dx * cos + dy * sin) / shape[..., 2], (dy * cos - dx * sin) / shape[..., 3]
    alpha = recipe.blob_paint[:, :, 2, None, None] * torch.exp(-0.5 * (u * u + v * v))  # [N,B,Q,Q]
    colours = _swatches(recipe.blob_paint, recipe.palette)  # [N,B,3]
    premultiplied = torch.zeros(n, 3, quarter, quarter, device=alpha.device)
    coverage = torch.zeros(n, 1, quarter, quarter, device=alpha.device)
    for k in range(alpha.shape[1]):
        a = alpha[:, k:k + 1]
        premultiplied = colours[:, k, :, None, None] * a + premultiplied * (1.0 - a)
        coverage = a + coverage * (1.0 - a)
    both = F.interpolate(torch.cat([premultiplied, coverage], 1), size=resolution, mode="bilinear",
                         align_corners=False)
    return both[:, :3], both[:, 3:]


def _strokes(recipe: Recipe, canvas: torch.Tensor) -> torch.Tensor:
    """Dry-brush strokes painted over `canvas` [N,3,R,R], one after another."""
    resolution = canvas.shape[-1]
    centres = _centres(resolution, canvas.device)
    x, y = centres.view(1, 1, -1), centres.view(1, -1, 1)
    pixels_per_unit = resolution / 2.0
    colours = _swatches(recipe.stroke_paint, recipe.palette)
    for k in range(recipe.stroke_path.shape[1]):
        # Each parameter as [N,1,1], to broadcast over [N,H,W] planes.
        cx, cy, angle, half_length, half_width, bend = recipe.stroke_path[:, k, :, None, None].unbind(1)
        _, _, opacity, dryness, frequency, phase = recipe.stroke_paint[:, k, :, None, None].unbind(1)
        cos, sin = torch.cos(angle), torch.sin(angle)
        width = half_width * pixels_per_unit
        sag = bend * half_length * pixels_per_unit
        # Stroke frame: `along` runs -1..1 from start to end, `across` is pixels from a centre
        # line bowed by `sag`. Each is a row term plus a column term: one full-size add.
        along = (x - cx) * (cos / half_length) + (y - cy) * (sin / half_length)
        across = (cx - x) * (sin * pixels_per_unit) + ((y - cy) * (cos * pixels_per_unit) + sag / 3.0)
        along_8 = along * along
        across = torch.addcmul(across, along_8, -sag)
        along_8 = along_8.square_().square_()
        # Half width (1 - along^8) * width: full body, rounded ends, negative past them. The
        # half-pixel offset and clamp make the edge a one-pixel ramp, i.e. anti-aliased.
        body = torch.addcmul(width + 0.5, along_8, -width).sub_(across.abs()).clamp_(0.0, 1.0)
        bristles = torch.addcmul(phase, across, frequency / width).sin_()
        # Paint runs out along the stroke: the bristle stripes break apart, thinnest first.
        run_out = torch.addcmul(dryness, along, dryness)
        wet = torch.add(bristles, run_out, alpha=-2.0).mul_(2.0).add_(6.0).clamp_(0.0, 1.0)
        # Stripes also thin the paint a little, so the ground shows through as in a real stroke.
        alpha = body.mul_(wet).mul_(torch.addcmul(0.85 * opacity, bristles, 0.15 * opacity))
        canvas = torch.lerp(canvas, colours[:, k, :, None, None].expand_as(canvas), alpha[:, None])
    return canvas


def _grade(recipe: Recipe, image: torch.Tensor) -> torch.Tensor:
    """Saturation around Rec. 601 luma, then exposure; -> [0, 1].

    Exposure is Schlick's bias curve x / (x + k (1 - x)): like a gamma it keeps black and
    white and bends the middle (k > 1 darkens), at the price of one division, not a pow.
    """
    luma = 0.299 * image[:, 0:1] + 0.587 * image[:, 1:2] + 0.114 * image[:, 2:3]
    image = torch.lerp(luma.expand_as(image), image, _column(recipe.grade, 0)).clamp_(0.0, 1.0)
    k = _column(recipe.grade, 1)
    return image / torch.lerp(k.expand_as(image), torch.ones_like(image), image)


def paint(recipe: Recipe, resolution: int) -> torch.Tensor:
    """Paint a batch of recipes: [N,3,R,R] in [0, 1]."""
    ground = _ground(recipe, _warped_field(recipe, resolution))
    blob_colour, blob_coverage = _blobs(recipe, resolution)
    canvas = blob_colour + (1.0 - blob_coverage) * ground
    return _grade(recipe, _strokes(recipe, canvas))


class ProceduralImages:
    """The corpus: abstract paintings 0, 1, 2, ... of one seed, painted on `device`."""

    def __init__(self, config: ProceduralConfig, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)

    def recipes(self, n: int, index0: int) -> Recipe:
        """The recipes of images index0 .. index0 + n - 1."""
        if index0 < 0:
            raise UserError(f"procedural image index {index0} is negative; indices start at 0")
        # SeedSequence mixes (seed, index) so neighbouring indices and seeds give unrelated streams.
        generators = [np.random.default_rng([self.config.seed, index0 + k]) for k in range(n)]
        return Recipe.draw(generators, self.config, self.device)

    @torch.no_grad()
    def batch(self, n: int, index0: int) -> torch.Tensor:
        """Images index0 .. index0 + n - 1 as [n,3,R,R] float32 in [-1, 1]."""
        assert n >= 1, n
        r = self.config.resolution
        chunks = [paint(self.recipes(min(_CHUNK, n - start), index0 + start), r)
                  for start in range(0, n, _CHUNK)]
        images = torch.cat(chunks).mul_(2.0).sub_(1.0)
        assert images.shape == (n, 3, r, r), images.shape
        return images

    def image(self, index: int) -> np.ndarray:
        """Image `index` as [R,R,3] uint8."""
        return to_uint8(self.batch(1, index))[0]

    def batches(self, n: int, index0: int = 0) -> Iterator[torch.Tensor]:
        """Endless batches of n images: index0 .. index0 + n - 1, then the next n, ..."""
        while True:
            yield self.batch(n, index0)
            index0 += n
