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


def longest_step(lightness_at: Callable[[float], tuple[float, T]], start: float, end: float, floor: float,
                 tries: int, tolerance: float = 1.0, first: float | None = None) -> tuple[float, T]:
    """The largest fraction s of the move, among `tries` tried, whose picture's lightness
    is at least `floor` (or, if none is, the brightest tried: the nearest the floor from
    below, rather than a jump back to the source); and what `lightness_at(s)` gave there.

    `lightness_at(s)` -> (lightness, anything) of the picture at w_o + s (w_m - w_o);
    `start` and `end` are the lightness at s = 0 and 1, with start > floor > end. False
    position with the Illinois rule. Lightness falls about linearly along the move and
    flattens toward black, so the tries tend to approach the floor from below; a try
    within `tolerance` above it ends the search. `first`, in (0, 1), is tried first instead
    of the straight line's guess: the last keyframe's answer, for music that holds still.
    """
    assert start > floor > end and tries >= 1, (start, floor, end, tries)
    lo, above, hi, below = 0.0, start - floor, 1.0, end - floor
    found: tuple[float, float, T] | None = None  # (s, lightness, result) of the largest s at or above the floor
    brightest: tuple[float, float, T] | None = None
    kept = None  # which end the last try replaced: a side kept twice is pulled in (Illinois)
    for attempt in range(tries):
        s = first if attempt == 0 and first is not None else lo + (hi - lo) * above / (above - below)
        lightness, result = lightness_at(s)
        if lightness >= floor:
            lo, above, found = s, lightness - floor, (s, lightness, result)
            if kept == "lo":
                below /= 2
            kept = "lo"
            if above < tolerance:
                break
        else:
            hi, below = s, lightness - floor
            if brightest is None or lightness > brightest[1]:
                brightest = (s, lightness, result)
            if kept == "hi":
                above /= 2
            kept = "hi"
    s, _, result = found or brightest
    return s, result
