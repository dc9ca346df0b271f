"""Label mappings shared by the readers: rating scales to [0, 1], quadrants and signs to
soft targets, and the weight each kind of label gets.

Every label in the space is a point (valence, arousal) in [0, 1]^2, with 0.5 the neutral
middle of the source scale. The mappings (also tabled in LABELS.md):

- a rating on a bipolar scale low..high (DEAM 1-9, NAPS 1-9, OASIS 1-7, EMOTIC 1-10):
  (x - low) / (high - low); weight HARD_WEIGHT.
- a value in [-1, 1] (DEAM dynamic annotations): (x + 1) / 2; weight HARD_WEIGHT.
- a Russell quadrant (4Q, EMOPIA): the centroid of that quarter of the unit square, e.g.
  Q1 (+valence, +arousal) -> (0.75, 0.75). The centroid is the point with the least
  expected squared error when the true label is anywhere in the quadrant; weight SOFT_WEIGHT.
- a sign -1/+1 per dimension (VGMIDI): 0.25 / 0.75, the same centroid per axis; SOFT_WEIGHT.
- labels computed by a published rule from measured cues (synthetic music, Valdez &
  Mehrabian colour labels): RULE_WEIGHT.
"""
from __future__ import annotations

import math

from live.errors import UserError

HARD_WEIGHT = 1.0  # continuous ratings averaged over many raters
SOFT_WEIGHT = 0.5  # a quadrant or a sign: the label names a region, the target is its centre
RULE_WEIGHT = 0.5  # a rule of thumb from emotion research applied to measured cues, not ratings

# Russell quadrants: Q1 +V+A, Q2 -V+A, Q3 -V-A, Q4 +V-A (Panda et al. 2018, Hung et al. 2021).
QUADRANT_VA: dict[int, tuple[float, float]] = {
    1: (0.75, 0.75),
    2: (0.25, 0.75),
    3: (0.25, 0.25),
    4: (0.75, 0.25),
}
_SIGN_VALUE = {-1: 0.25, 1: 0.75}
_TOLERANCE = 1e-6  # rating files print means with ~9 digits; exact bounds may round outward


def rescale(value: float, low: float, high: float, where: str) -> float:
    """A rating on the scale low..high -> [0, 1]; UserError naming `where` if off the scale."""
    if not math.isfinite(value) or not low - _TOLERANCE <= value <= high + _TOLERANCE:
        raise UserError(f"{where}: value {value} is outside the {low:g}-{high:g} scale; "
                        "check that the file is the one this reader expects")
    return float(min(1.0, max(0.0, (value - low) / (high - low))))


def parse_number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{where}: {text!r} is not a number; fix or remove that row") from None


def parse_quadrant(text: str, where: str) -> int:
    """'Q1'..'Q4' (any case, surrounding spaces allowed) -> 1..4."""
    name = text.strip().upper()
    if len(name) != 2 or name[0] != "Q" or name[1] not in "1234":
        raise UserError(f"{where}: {text!r} is not a quadrant; expected Q1, Q2, Q3 or Q4")
    return int(name[1])


def parse_sign(text: str, where: str) -> int:
    value = parse_number(text, where)
    if value not in (-1.0, 1.0):
        raise UserError(f"{where}: {text!r} is not a sign; expected -1 or 1")
    return int(value)


def sign_value(sign: int) -> float:
    return _SIGN_VALUE[sign]


def quadrant_of(valence: float, arousal: float) -> int:
    """The Russell quadrant of a point in [0, 1]^2; the neutral line 0.5 counts as positive."""
    if valence >= 0.5:
        return 1 if arousal >= 0.5 else 4
    return 2 if arousal >= 0.5 else 3
