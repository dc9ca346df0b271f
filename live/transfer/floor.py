"""A lightness floor on the move toward the music: the largest part of w_o -> w_m whose
picture stays visible.

On the default bundle, music of low valence and high arousal (4Q's Q2) moves pictures
toward black. Presets that move far (a low lambda, an intensity above 1) ended there:
on a Q2 clip three of the seven shipped presets had keyframes of mean CIELAB L* 3-7, a
black screen where a show needs its picture most. Shortening the move keeps its
direction, and the source's identity, as far as the picture stays above the floor.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def longest_step(lightness_at: Callable[[float], tuple[float, T]], start: float, floor: float, tries: int,
                 tolerance: float = 1.0, first: float = 1.0, extrapolate: bool = True) -> tuple[float, T]:
    """The largest fraction s of the move, among `tries` tried, whose picture's lightness
    is at least `floor` (or, if none is, the brightest tried: the nearest the floor from
    below, rather than a jump back to the source); and what `lightness_at(s)` gave there.

    `lightness_at(s)` -> (lightness, anything) of the picture at w_o + s (w_m - w_o);
    `start` is the lightness at s = 0, above `floor`. The whole move (s = 1) is taken when it
    keeps the floor. `first`, in (0, 1], is tried first: the last keyframe's answer, for music
    that holds still, which then costs one picture. A try within `tolerance` above the floor
    ends the search when a longer step is known to be darker than the floor, or when the
    line from the source through it is below the floor by the whole move (lightness falls
    about monotonically along most moves that darken; `extrapolate` False does not trust it,
    since along some a short step darkens and the whole move is bright); else, as for a move
    that now keeps its lightness or brightens, the whole move is tried, and when it is below the
    floor the try within the tolerance is the answer. Between a try above and one below the
    floor, false position with the Illinois rule; lightness falls about linearly and flattens
    toward black, so its tries tend to approach the floor from below.
    """
    assert start > floor and tries >= 1 and 0 < first <= 1, (start, floor, tries, first)
    lo, above = 0.0, start - floor
    hi, below = None, 0.0  # the shortest step tried below the floor, once there is one
    found: tuple[float, float, T] | None = None  # (s, lightness, result) of the largest s at or above the floor
    brightest: tuple[float, float, T] | None = None
    kept = None  # which end the last false-position try replaced: one kept twice is pulled in (Illinois)
    s, guessed = first, False
    for _ in range(tries):
        lightness, result = lightness_at(s)
        side = "lo" if lightness >= floor else "hi"
        if side == "lo":
            found = (s, lightness, result)
            darkens_past = hi is not None or (extrapolate and start + (lightness - start) / s < floor)
            if s == 1.0 or (lightness - floor < tolerance and darkens_past):
                break
            lo, above = s, lightness - floor
        else:
            hi, below = s, lightness - floor
            if brightest is None or lightness > brightest[1]:
                brightest = (s, lightness, result)
            if found is not None and found[1] - floor < tolerance:
                break  # a shorter step within the tolerance, and now a longer one known darker
        if guessed and side == kept:
            if side == "lo":
                below /= 2
            else:
                above /= 2
        kept = side if guessed else None
        # Nothing below the floor yet: the music may have let go, so the whole move is next.
        s, guessed = (1.0, False) if hi is None else (lo + (hi - lo) * above / (above - below), True)
    s, _, result = found or brightest
    return s, result
