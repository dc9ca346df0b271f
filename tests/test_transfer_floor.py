"""The lightness floor's search along w_o -> w_m, on lightness curves with known answers."""
import pytest

from live.transfer.floor import longest_step


def _counting(curve):
    calls = []

    def lightness_at(s):
        calls.append(s)
        return curve(s), f"picture at {s}"
    return lightness_at, calls


def test_a_straight_curve_is_solved_by_the_first_try_after_the_whole_move():
    lightness_at, calls = _counting(lambda s: 60 - 50 * s)  # 60 at the source, 10 at the full move
    s, picture = longest_step(lightness_at, start=60, floor=20, tries=4)
    assert s == pytest.approx(0.8) and picture == f"picture at {s}" and calls == [1.0, s]  # the whole move, then s


def test_a_move_that_keeps_the_floor_is_taken_whole():
    lightness_at, calls = _counting(lambda s: 60 - 30 * s)
    assert longest_step(lightness_at, start=60, floor=20, tries=4) == (1.0, "picture at 1.0") and calls == [1.0]


@pytest.mark.parametrize("curve", [lambda s: 60 - 50 * s ** 3,   # dark only at the end of the move: above first
                                   lambda s: 60 - 50 * s ** 0.3])  # dark soon: below first, then above
def test_a_bent_curve_gets_a_step_above_the_floor_within_the_tries(curve):
    lightness_at, calls = _counting(curve)
    s, picture = longest_step(lightness_at, start=curve(0), floor=20, tries=5, tolerance=0.5)
    assert len(calls) <= 5 and picture == f"picture at {s}" and 20 <= curve(s) < 21


def test_a_curve_that_flattens_toward_black_ends_near_the_floor_from_below():
    # Lightness falls fast, then flattens: the chord stays above the curve, and three tries
    # come up from below. The brightest of them, not a jump back to the source.
    curve = lambda s: 10 + 50 * (1 - s) ** 4  # noqa: E731
    lightness_at, calls = _counting(curve)
    s, picture = longest_step(lightness_at, start=60, floor=20, tries=4)
    assert len(calls) == 4 and all(curve(t) < 20 for t in calls)
    assert s == min(calls) and picture == f"picture at {s}" and curve(s) > 14


def test_the_first_try_above_the_floor_within_the_tolerance_ends_the_search():
    lightness_at, calls = _counting(lambda s: 60 - 50 * s ** 1.05)
    s, _ = longest_step(lightness_at, start=60, floor=20, tries=4, tolerance=2.0)
    assert calls == [1.0, s]


def test_the_last_keyframe_s_step_tried_first_ends_the_search_when_the_music_held_still():
    curve = lambda s: 60 - 80 * s if s < 0.6 else 12 - 10 * (s - 0.6)  # noqa: E731 - steep, then flat toward black
    lightness_at, calls = _counting(curve)
    s, _ = longest_step(lightness_at, start=60, floor=20, tries=4, tolerance=3.0, first=0.49)
    assert calls == [0.49] and s == 0.49  # 20.8: within the tolerance, and the only picture drawn
    # The music darkened: the old step is too long, and the search goes on toward the source.
    lightness_at, calls = _counting(lambda t: curve(t) - 6)
    s, _ = longest_step(lightness_at, start=54, floor=20, tries=4, tolerance=3.0, first=0.49)
    assert calls[0] == 0.49 and 1.0 not in calls and 1 < len(calls) <= 4 and 0 < s < 0.49
    assert 20 <= curve(s) - 6 < 23
    # The music brightened: the old step keeps the floor by a margin, and so may the whole move.
    lightness_at, calls = _counting(lambda t: curve(t) + 20)
    assert longest_step(lightness_at, start=80, floor=20, tries=4, tolerance=3.0, first=0.49)[0] == 1.0
    assert calls == [0.49, 1.0]
    # Or not all of it: the search goes on between the old step and the whole move.
    lightness_at, calls = _counting(lambda t: 66 - 50 * t)
    s, _ = longest_step(lightness_at, start=66, floor=20, tries=4, tolerance=3.0, first=0.49)
    assert calls == [0.49, 1.0, s] and s == pytest.approx(0.92)



@pytest.mark.parametrize("curve", [lambda s: 15 + 4 * s,     # the move brightens now
                                   lambda s: 15 - 0.5 * s])  # about level: the whole move keeps the floor
def test_a_short_step_near_a_low_floor_does_not_hold_a_move_that_no_longer_darkens(curve):
    # A dark source (L* 15, floor 13): a step the last keyframe kept, 0.2, lands within the
    # tolerance above the floor whatever the move does; the whole move is tried.
    lightness_at, calls = _counting(curve)
    s, _ = longest_step(lightness_at, start=15, floor=13, tries=4, tolerance=3.0, first=0.2)
    assert calls == [0.2, 1.0] and s == 1.0


def test_a_short_step_that_darkens_does_not_hold_a_whole_move_that_is_bright_when_not_extrapolated():
    # Lightness along a move need not fall monotonically: a short step dips toward the floor while
    # the whole move is well above it; read along the line, the picture stayed at its source (review 75).
    curve = lambda s: 22.3 - 8.9 * s + 11.9 * s * s  # noqa: E731 - 20.7 at 0.3, 25.3 at 1
    lightness_at, calls = _counting(curve)
    assert longest_step(lightness_at, start=22.3, floor=20, tries=4, tolerance=3.0, first=0.3)[0] == 0.3
    assert calls == [0.3]  # trusted: one picture
    lightness_at, calls = _counting(curve)
    s, _ = longest_step(lightness_at, start=22.3, floor=20, tries=4, tolerance=3.0, first=0.3, extrapolate=False)
    assert s == 1.0 and calls == [0.3, 1.0]
    # The whole move below the floor after all: the step near the floor is the answer, no third picture.
    lightness_at, calls = _counting(lambda s: 22.3 - 5 * s)
    s, _ = longest_step(lightness_at, start=22.3, floor=20, tries=4, tolerance=3.0, first=0.3, extrapolate=False)
    assert s == 0.3 and calls == [0.3, 1.0]
