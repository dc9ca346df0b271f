import pytest

from live.engine.schedule import BeatGrid, FadeScheduler
from live.render.crossfade import NO_TEMPO_BEAT_S


def test_one_fade_per_beat_lands_on_beats():
    s = FadeScheduler()
    period = 0.5
    landings = []
    version = 0
    t = 0.0
    while t < 4.0:
        version += 1  # a new keyframe every frame, much faster than the beat
        if s.due(t, version, 1, beat_sync=True):
            nb = (int(t / period) + 1) * period
            fade = s.start(t, version, BeatGrid(nb, period), crossfade_beats=1)
            landings.append(fade.end)
        t = round(t + 1 / 60, 9)
    # Fades land on beat times, one per beat (the first may skip a too-close beat).
    assert all(abs(e / period - round(e / period)) < 1e-6 for e in landings)
    assert len(landings) >= 7
    assert all(b - a == pytest.approx(period) for a, b in zip(landings[1:], landings[2:]))


def test_no_beat_sync_runs_each_fade_from_its_keyframe_and_zero_beats_is_a_cut():
    s = FadeScheduler()
    fade = s.start(0.0, 1, BeatGrid(0.3, 0.5), crossfade_beats=1, beat_sync=False)
    assert (fade.start, fade.end) == (0.0, pytest.approx(0.5))  # a beat long from now, not to the beat at 0.3
    assert not s.due(0.1, 2, 0, beat_sync=False)        # the fade runs whole
    assert s.due(0.5, 2, 0, beat_sync=False)            # then the newest keyframe, at once
    s.start(0.5, 2, BeatGrid(1.0, 0.5), crossfade_beats=0, beat_sync=False)
    assert s.mix(0.5) == 1.0                            # unsynced: a cut now
    assert s.due(0.51, 3, 0, beat_sync=False)           # and the next at once
    assert s.start(0.6, 3, BeatGrid(1.0, 0.5), crossfade_beats=0) is None  # synced: the cut waits for the beat
    assert s.shown_version == 2 and not s.due(0.8, 3, 0, beat_sync=True) and s.due(1.0, 3, 0, beat_sync=True)
    assert s.start(1.0, 4, BeatGrid(1.5, 0.5), crossfade_beats=0) is not None  # on the beat, the newest then
    assert s.shown_version == 4 and s.mix(1.0) == 1.0


def test_an_unsynced_fade_lasts_its_beats_at_the_tempo_heard_not_the_fallback_s():
    # Every unsynced test ran at 0.5 s a beat, the fallback's own: a fade timed by the fallback passed (review 49).
    fade = FadeScheduler().start(0.0, 1, BeatGrid(0.3, 60 / 140), crossfade_beats=4, beat_sync=False)
    assert (fade.start, fade.end) == (0.0, pytest.approx(4 * 60 / 140))


@pytest.mark.parametrize("beat_sync", [True, False])
@pytest.mark.parametrize("beats", [0.5, 1, 4])
def test_with_keyframes_every_frame_the_picture_reaches_them(beat_sync, beats):
    """Unsynced, each keyframe restarted the fade: eased from zero slope, the picture moved
    less per restart than an 8-bit plate keeps and never reached a keyframe (found by review)."""
    s, period, landed = FadeScheduler(), 0.5, []
    for frame in range(300):  # 10 s at 30 fps, a new keyframe each frame
        t = frame / 30
        grid = BeatGrid((int(t / period) + 1) * period, period)
        if s.due(t, frame + 1, beats, beat_sync) and s.start(t, frame + 1, grid, beats, beat_sync) is not None:
            landed.append(s.fade.end)
    spacing = (max(beats, 1) if beat_sync else beats) * period  # synced: at most one fade a beat
    assert len(landed) >= 10 / spacing - 2  # a whole fade each, one after another
    assert all(b - a >= spacing - 1e-6 for a, b in zip(landed[1:], landed[2:]))


def test_a_fractional_fade_length_lands_on_the_nearest_whole_beat():
    """1.5 beats landed half a beat off, and the next fade, from there, lasted one beat."""
    s, period, landed = FadeScheduler(), 0.5, []
    for frame in range(240):
        t = frame / 30
        if s.due(t, frame + 1, 1.5, True):
            landed.append(s.start(t, frame + 1, BeatGrid((int(t / period) + 1) * period, period), 1.5).end)
    assert len(landed) >= 7  # 8 s of fades a second: a check over one landing held of any (review 64)
    assert all(abs(e / period - round(e / period)) < 1e-6 for e in landed)
    assert all(b - a == pytest.approx(2 * period) for a, b in zip(landed[1:], landed[2:]))


@pytest.mark.parametrize("beat_sync", [True, False])
def test_without_a_tempo_the_fade_length_still_counts(beat_sync):
    """In beatless music every fade lasted 0.5 s whatever its length in beats (found by review)."""
    short = FadeScheduler().start(0.0, 1, BeatGrid(None, None), 1, beat_sync)
    long = FadeScheduler().start(0.0, 1, BeatGrid(None, None), 8, beat_sync)
    assert long.end == pytest.approx(8 * short.end) == pytest.approx(8 * NO_TEMPO_BEAT_S)


@pytest.mark.parametrize("beat_sync, cuts", [(True, 4), (False, 40)])
def test_cuts_waiting_for_a_tempo_come_one_a_fallback_length(beat_sync, cuts):
    """A strobe preset (cuts on the beat) cut at every keyframe until a tempo was found: 43
    cuts in a song's first 2 s, up to 20 a second (found by review). Unsynced cuts are the
    preset's own rate."""
    s, no_tempo, made = FadeScheduler(fade_in=False), BeatGrid(None, None), []
    for frame in range(60):  # 2 s at 30 fps, a new keyframe each frame (20 a second and more)
        t = frame / 30
        if s.due(t, frame + 1, 0, beat_sync) and s.start(t, frame + 1, no_tempo, 0, beat_sync) is not None:
            made.append(t)
    assert len(made) == cuts if beat_sync else len(made) >= cuts
    # The video's first picture too (it lasted 2 frames).
    assert not beat_sync or all(b - a >= NO_TEMPO_BEAT_S - 1e-9 for a, b in zip(made, made[1:]))


def test_fraction_of_a_beat():
    s = FadeScheduler()
    fade = s.start(1.0, 1, BeatGrid(1.2, 0.5), crossfade_beats=0.5, beat_sync=False)
    assert fade.end == pytest.approx(1.25)
    assert 0 < s.mix(1.1) < 1
    assert s.start(1.0, 2, BeatGrid(1.4, 0.5), crossfade_beats=0.5) is None  # synced: waits for 1.15,
    fade = s.start(1.15, 3, BeatGrid(1.4, 0.5), crossfade_beats=0.5)  # then the last quarter second before the beat
    assert (fade.start, fade.end) == (pytest.approx(1.15), pytest.approx(1.4)) and s.shown_version == 3


@pytest.mark.parametrize("beats", [0.0, 0.25])
def test_cuts_and_short_fades_land_on_the_beat_once_per_beat(beats):
    """Keyframes far faster than the beat: the picture still changes once a beat, on it."""
    s = FadeScheduler()
    period, t, version, landings = 0.5, 0.01, 0, []
    while t < 4.0:
        version += 1
        if s.due(t, version, beats, beat_sync=True):
            nb = (int(t / period) + 1) * period
            fade = s.start(t, version, BeatGrid(nb, period), crossfade_beats=beats)
            if fade is not None:
                landings.append(t if beats == 0 else fade.end)
                assert s.shown_version == version  # the keyframe newest when the change shows, not a beat older
        t = round(t + 1 / 60, 9)
    assert len(landings) >= 7 and landings == pytest.approx([period * (k + 1) for k in range(len(landings))], abs=1 / 60)


@pytest.mark.parametrize("beats", [0.0, 0.25])
def test_a_wait_whose_beat_went_by_waits_for_the_next_beat(beats):
    """A cut waiting for the beat at 1.0 s when the screen froze: after the freeze it lands on a beat."""
    s = FadeScheduler()
    s.start(0.0, 1, BeatGrid(0.5, 0.5), crossfade_beats=1)
    assert s.start(0.6, 2, BeatGrid(1.0, 0.5), crossfade_beats=beats) is None  # waits for the beat at 1.0
    # Frozen until 3.13 s: no call in between.
    assert s.due(3.13, 3, beats, beat_sync=True)
    assert s.start(3.13, 3, BeatGrid(3.5, 0.5), crossfade_beats=beats) is None  # not a cut off the beat now
    assert not s.due(3.2, 3, beats, beat_sync=True)  # the wait is for the beat at 3.5 now
    fade = s.start(3.5 - beats * 0.5, 3, BeatGrid(3.5, 0.5), crossfade_beats=beats)
    assert fade is not None and s.shown_version == 3
    assert fade.end == pytest.approx(3.5) if beats else fade.mix(3.5) == 1.0  # lands on the beat at 3.5


def test_a_fade_of_several_beats_lands_on_the_last_of_them():
    fade = FadeScheduler().start(0.1, 1, BeatGrid(0.5, 0.5), crossfade_beats=4)
    assert fade.end == pytest.approx(2.0)  # the fourth beat from 0.1: 0.5, 1.0, 1.5, 2.0


def test_a_cut_whose_beat_went_by_in_a_stall_waits_for_the_next_beat():
    s = FadeScheduler()
    s.start(0.0, 1, BeatGrid(0.5, 0.5), crossfade_beats=1)
    assert s.start(0.6, 2, BeatGrid(1.0, 0.5), crossfade_beats=0) is None  # waits for the beat at 1.0
    # The screen stalled to 1.3, more than half a beat past 1.0: a cut now would be off the beat.
    assert s.start(1.3, 3, BeatGrid(1.5, 0.5), crossfade_beats=0) is None
    assert not s.due(1.4, 3, 0, beat_sync=True) and s.due(1.5, 3, 0, beat_sync=True)


def test_turning_beat_sync_off_ends_a_wait_for_the_beat():
    s = FadeScheduler()
    s.start(0.0, 1, BeatGrid(0.5, 0.5), crossfade_beats=1)
    assert s.start(0.6, 2, BeatGrid(1.0, 0.5), crossfade_beats=0) is None
    assert not s.due(0.7, 2, 0, beat_sync=True) and s.due(0.7, 2, 0, beat_sync=False)


@pytest.mark.parametrize("waiting, chosen", [(0.5, 0.0), (0.0, 0.9), (0.25, 0.75)])
def test_a_fade_length_changed_while_a_fade_waits_still_lands_on_the_beat(waiting, chosen):
    """A preset switch or a knob changes the length while a synced fade waits for the beat at
    10: a cut chosen during a half-beat fade's wait cut at 9.5, and a 0.9-beat fade chosen
    during a cut's wait was a 1 ms flash at 10."""
    s = FadeScheduler()
    s.start(0.0, 1, BeatGrid(None, None), crossfade_beats=1)
    grid = BeatGrid(10.0, 1.0)
    assert s.start(9.0, 2, grid, crossfade_beats=waiting) is None
    t, fade = 9.0, None
    while fade is None and t < 10.5:
        t = round(t + 1 / 60, 9)
        if s.due(t, 3, chosen, beat_sync=True):
            fade = s.start(t, 3, grid if t < 10 else BeatGrid(11.0, 1.0), crossfade_beats=chosen)
    assert fade is not None and s.shown_version == 3
    assert t == pytest.approx(10.0 - chosen, abs=1 / 60)
    assert fade.mix(10.0) == 1.0 if chosen == 0 else (fade.end == pytest.approx(10.0)
                                                       and fade.end - fade.start == pytest.approx(chosen, abs=1 / 60))


@pytest.mark.parametrize("beats", [0.0, 0.25, 1.0])
def test_a_beat_re_predicted_just_after_it_was_served_is_not_served_again(beats):
    """The beat clock moves a beat it has just passed a few ms later when the tracker's own
    beat comes (10.482 s read 10.501 s): a cut or a short fade landed on it twice."""
    s = FadeScheduler()
    period, t, version, landings = 0.5, 0.01, 0, []
    while t < 4.0:
        version += 1
        beat = (int(t / period) + 1) * period
        if landings and t - landings[-1] < 0.1:
            beat = landings[-1] + 0.019  # the beat just served, re-predicted a little later
        if s.due(t, version, beats, beat_sync=True):
            fade = s.start(t, version, BeatGrid(beat, period), crossfade_beats=beats)
            if fade is not None:
                landings.append(t if beats == 0 else fade.end)
        t = round(t + 1 / 120, 9)
    gaps = [later - earlier for earlier, later in zip(landings, landings[1:])]
    assert len(landings) >= 6 and min(gaps) > period / 2, landings


def test_a_video_s_first_picture_holds_as_a_cut_and_a_tempo_found_ends_the_hold():
    # A strobe render's first picture lasted 2 frames; then its first tracked beat fell inside
    # the hold for want of a tempo, and the picture went a second uncut.
    s = FadeScheduler(fade_in=False)
    s.start(0.0, 1, BeatGrid(None, None), crossfade_beats=0)
    assert not s.due(1 / 30, 2, 0, beat_sync=True)
    assert s.due(NO_TEMPO_BEAT_S, 2, 0, beat_sync=True)
    s.start(0.5, 2, BeatGrid(None, None), crossfade_beats=0)  # held again for want of a tempo
    assert not s.due(0.6, 3, 0, beat_sync=True)
    assert s.due(0.6, 3, 0, beat_sync=True, tempo=True)  # a tempo: the cut waits for its beat instead
    assert s.start(0.6, 3, BeatGrid(0.8, 0.4), crossfade_beats=0) is None
    assert s.start(0.8, 3, BeatGrid(0.8, 0.4), crossfade_beats=0) is not None


@pytest.mark.parametrize("fade_beats, switch_beats, lands", [(8, 0, 1.5), (8, 0.5, 1.5), (8, 1, 1.5), (4, 4, 3.0)])
def test_a_switch_during_a_long_fade_lands_on_the_next_beat(fade_beats, switch_beats, lands):
    # The long fade's end, a beat still to come, was taken as served: the switch waited a beat more.
    s, period = FadeScheduler(fade_in=False), 0.5
    s.start(0.0, 1, BeatGrid(0.5, period), crossfade_beats=1)
    s.start(1.2, 2, BeatGrid(1.5, period), crossfade_beats=fade_beats)
    s.interrupt()
    t, landed = 1.25, None
    while landed is None and t < 5.0:
        grid = BeatGrid((int(t / period) + 1) * period, period)
        if s.due(t, 3, switch_beats, beat_sync=True, tempo=True):
            fade = s.start(t, 3, grid, crossfade_beats=switch_beats)
            if fade is not None:
                landed = t if switch_beats == 0 else fade.end
        t = round(t + 1 / 30, 9)
    assert landed == pytest.approx(lands, abs=1 / 30)
