import pytest

from live.engine.schedule import BeatGrid, FadeScheduler


def test_one_fade_per_beat_lands_on_beats():
    s = FadeScheduler()
    period = 0.5
    landings = []
    version = 0
    t = 0.0
    while t < 4.0:
        version += 1  # a new keyframe every frame, much faster than the beat
        if s.due(t, version, beat_sync=True):
            nb = (int(t / period) + 1) * period
            fade = s.start(t, version, BeatGrid(nb, period), crossfade_beats=1)
            landings.append(fade.end)
        t = round(t + 1 / 60, 9)
    # Fades land on beat times, one per beat (the first may skip a too-close beat).
    assert all(abs(e / period - round(e / period)) < 1e-6 for e in landings)
    assert len(landings) >= 7
    assert all(b - a == pytest.approx(period) for a, b in zip(landings[1:], landings[2:]))


def test_no_beat_sync_takes_each_new_keyframe_and_zero_beats_is_a_cut():
    s = FadeScheduler()
    s.start(0.0, 1, BeatGrid(0.5, 0.5), crossfade_beats=1)
    assert not s.due(0.1, 1, beat_sync=False)        # nothing newer
    assert s.due(0.1, 2, beat_sync=False)            # newer: go now
    assert not s.due(0.1, 2, beat_sync=True)         # synced: wait for the fade to land
    s.start(0.1, 2, BeatGrid(0.5, 0.5), crossfade_beats=0)
    assert s.mix(0.1) == 1.0


def test_fraction_of_a_beat():
    s = FadeScheduler()
    fade = s.start(1.0, 1, BeatGrid(1.2, 0.5), crossfade_beats=0.5)
    assert fade.end == pytest.approx(1.25)
    assert 0 < s.mix(1.1) < 1
