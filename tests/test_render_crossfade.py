"""Crossfade timing and pulse envelopes: pure math, no GL."""
from __future__ import annotations

import math

import numpy as np
import pytest

from live.render.crossfade import Crossfade, CrossfadeTiming, Pulse, bar_landing, plan_crossfade, smoothstep

PERIOD = 0.5  # 120 bpm


def test_fade_ends_on_the_next_beat_by_default():
    fade = plan_crossfade(arrival=10.0, next_beat=10.4, beat_period=PERIOD, timing=CrossfadeTiming())
    assert fade.end == pytest.approx(10.4)
    assert fade.mix(10.0) == 0.0
    assert 0.0 < fade.mix(10.2) < 1.0
    assert fade.mix(10.399) < 1.0
    assert fade.mix(10.4) == 1.0
    assert fade.mix(11.0) == 1.0


def test_crossfade_beats_ends_n_beats_after_arrival():
    fade = plan_crossfade(10.0, 10.4, PERIOD, CrossfadeTiming(beats=3))
    assert fade.end == pytest.approx(10.4 + 2 * PERIOD)


def test_a_beat_too_close_gives_way_to_a_later_one():
    timing = CrossfadeTiming(min_seconds=0.25)
    fade = plan_crossfade(10.0, 10.05, PERIOD, timing)
    assert fade.end == pytest.approx(10.55)  # still on the beat grid
    assert fade.end - fade.start >= timing.min_seconds


def test_a_stale_beat_prediction_is_moved_onto_the_grid_ahead():
    fade = plan_crossfade(10.0, 8.1, PERIOD, CrossfadeTiming(min_seconds=0.25))
    assert fade.end == pytest.approx(10.6)
    assert ((fade.end - 8.1) / PERIOD) == pytest.approx(round((fade.end - 8.1) / PERIOD))


def test_beats_known_ahead_are_landed_on_and_the_period_goes_on_after_them():
    ahead = (10.9, 11.3, 11.7)  # the tempo changes after the next beat
    assert plan_crossfade(10.0, 10.4, PERIOD, CrossfadeTiming(beats=3), ahead).end == 11.3
    assert plan_crossfade(10.2, 10.4, PERIOD, CrossfadeTiming(beats=1), ahead).end == 10.9  # 10.4 too close
    assert plan_crossfade(10.0, 10.4, PERIOD, CrossfadeTiming(beats=6), ahead).end == pytest.approx(12.7)
    assert plan_crossfade(12.0, 10.4, PERIOD, CrossfadeTiming(), ahead).end == pytest.approx(12.7)  # all stale


def test_fades_of_bars_land_on_downbeats_and_of_half_bars_on_one_and_three():
    places = (3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1)
    assert bar_landing(places, 4, first=0) == 2  # the first fade may be shorter, to reach the bar
    assert bar_landing(places, 2, first=0) == 0 and bar_landing(places, 2, first=1) == 2
    assert bar_landing(places, 8, first=0) == 6  # two bars: 5 to 8 beats, then 8 from a downbeat
    assert bar_landing((2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1), 8, first=0) == 7
    assert bar_landing(places, 3, first=0) is None  # three beats in four keep their own count
    assert bar_landing(places, 1, first=0) is None
    assert bar_landing((0,) * 11, 4, first=0) is None
    assert bar_landing(places[:6], 4, first=3) is None  # no downbeat known from there on
    # The first fade lasts at least half its beats: of 4 from 10.0 s, not to a downbeat 0.3 s or 0.8 s on.
    ahead = tuple(10.3 + 0.5 * k for k in range(1, 9))
    assert plan_crossfade(10.0, 10.3, PERIOD, CrossfadeTiming(beats=4), ahead, (1, 2, 3, 4) * 2 + (1,)).end == 12.3
    assert plan_crossfade(10.0, 10.3, PERIOD, CrossfadeTiming(beats=4), ahead, (4, 1, 2, 3) * 2 + (4,)).end == 12.8
    assert bar_landing((3, 4, 0, 0, 0, 0, 1), 4, first=0) is None  # no place within a bar: the fade counts beats
    ahead = (10.5, 11.0, 11.5, 12.0, 12.5)
    fade = plan_crossfade(10.0, 10.0, PERIOD, CrossfadeTiming(beats=2), ahead, (4, 1, 2, 3, 4, 1))
    assert fade.end == 10.5  # the downbeat a beat on (half the fade): from there 2 beats a fade


@pytest.mark.parametrize("beats", [1, 2, 4])
def test_mix_is_monotone_continuous_and_eased(beats):
    fade = plan_crossfade(3.0, 3.3, PERIOD, CrossfadeTiming(beats=beats))
    t = np.linspace(2.9, fade.end + 0.1, 2001)
    mix = np.array([fade.mix(x) for x in t])
    assert np.all(np.diff(mix) >= 0.0)
    dt = t[1] - t[0]
    # Largest step for smoothstep is 1.5 * dt / duration: no jump anywhere.
    assert np.max(np.diff(mix)) <= 1.5 * dt / (fade.end - fade.start) + 1e-9
    # Eased: slower than linear at the start, faster in the middle.
    assert fade.mix(fade.start + 0.1 * (fade.end - fade.start)) < 0.1
    assert fade.mix((fade.start + fade.end) / 2) == pytest.approx(0.5)


def test_keyframe_arriving_mid_fade_does_not_jump():
    """The renderer snapshots the shown blend as the new 'previous'; the new fade starts at 0."""
    prev, nxt, newest = 0.0, 1.0, 0.2  # keyframes as grey levels
    first = plan_crossfade(0.0, 0.5, PERIOD, CrossfadeTiming())
    arrival = 0.3
    shown_before = prev + first.mix(arrival) * (nxt - prev)
    snapshot = shown_before
    second = plan_crossfade(arrival, 0.5, PERIOD, CrossfadeTiming())
    shown_after = snapshot + second.mix(arrival) * (newest - snapshot)
    assert shown_after == pytest.approx(shown_before)
    assert second.mix(arrival + 1e-3) - second.mix(arrival) < 1e-3


def test_hold_shows_the_next_keyframe():
    assert Crossfade.hold().mix(0.0) == 1.0
    assert Crossfade.hold().done(-1e9)


def test_bad_timing_is_rejected():
    with pytest.raises(ValueError, match="beats"):
        CrossfadeTiming(beats=0.5)
    with pytest.raises(ValueError):
        CrossfadeTiming(min_seconds=0.0)


def test_smoothstep_ends():
    assert smoothstep(-1.0) == 0.0 and smoothstep(0.5) == 0.5 and smoothstep(2.0) == 1.0


def test_pulse_decays_with_its_time_constant():
    pulse = Pulse(decay_seconds=0.2)
    assert pulse.value(5.0) == 0.0
    pulse = pulse.hit(5.0)
    assert pulse.value(5.0) == 1.0
    assert pulse.value(5.2) == pytest.approx(math.exp(-1.0))
    assert pulse.value(5.6) == pytest.approx(math.exp(-3.0))
    values = [pulse.value(5.0 + 0.01 * i) for i in range(100)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_pulse_strength_and_retrigger():
    pulse = Pulse(decay_seconds=0.2).hit(0.0, strength=0.5)
    assert pulse.value(0.0) == 0.5
    strong = Pulse(decay_seconds=0.2).hit(0.0, strength=1.0)
    weak_after = strong.hit(0.01, strength=0.1)  # a weak onset must not cut a beat pulse short
    assert weak_after.value(0.01) == pytest.approx(strong.value(0.01))
    assert strong.hit(0.5, strength=1.0).value(0.5) == 1.0
    assert Pulse(0.1).hit(0.0, strength=7.0).value(0.0) == 1.0
