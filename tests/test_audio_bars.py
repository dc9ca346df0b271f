"""Where bars begin: each beat's place in its bar, from the kick and the harmony."""
import numpy as np

from live.audio.bars import LOW_BANDS, CountedBars, bar_positions
from live.audio.beatmap import beat_map
from live.audio.synth import DrumStyle, drum_track

RATE = 22050


def downbeats_found(found, truth):
    """Of the beats found on the true downbeats, the share placed 1; of the rest, the share placed 1."""
    beats, places = found.beats, found.beat_places
    on = np.abs(beats[:, None] - truth[0::4][None, :]).min(axis=1) < 0.05
    return np.mean(places[on] == 1), np.mean(places[~on] == 1)


def test_the_kick_on_one_places_the_bar():
    track = drum_track(112, 40, RATE, DrumStyle(kick_steps=(0,), snare_steps=(4, 8, 12)), seed=3)
    on, off = downbeats_found(beat_map([track.samples], RATE), track.beats)
    assert on > 0.95 and off < 0.02, (on, off)


def test_where_every_beat_has_a_kick_the_chord_changes_place_the_bar():
    # Four-on-the-floor kicks, and a chord struck on every beat that changes on each bar's first.
    track = drum_track(124, 40, RATE, DrumStyle(kick_steps=(0, 4, 8, 12), snare_steps=(), hat_steps=()), seed=1)
    samples = track.samples * 0.5
    chords = ((220.0, 277.2, 329.6), (246.9, 311.1, 370.0), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6))
    t = np.arange(round(0.45 * RATE)) / RATE
    for k, beat in enumerate(track.beats):
        tone = sum(np.sin(2 * np.pi * f * t) for f in chords[(k // 4) % 4]) * np.exp(-t / 0.3) * 0.15
        start = round(beat * RATE)
        samples[start:start + len(t)] += tone[:len(samples) - start]
    on, off = downbeats_found(beat_map([samples], RATE), track.beats)
    assert on > 0.95 and off < 0.02, (on, off)


def test_a_bar_of_two_moves_the_count_where_the_evidence_does():
    # Beats every 10 frames, a kick in the low bands on each bar's first; after 12 bars one bar of 2 beats.
    frames = np.arange(0, 10 * 90, 10)
    downbeats = list(range(0, 48, 4)) + [48] + list(range(50, 90, 4))
    bands = np.zeros((frames[-1] + 20, 40), np.float16)
    for k in downbeats:
        bands[frames[k]:frames[k] + 3, :LOW_BANDS] = 20.0
    places = bar_positions(frames, bands)
    assert np.flatnonzero(places == 1).tolist() == downbeats
    assert places[48:52].tolist() == [1, 2, 1, 2]


def test_a_run_too_short_to_count_bars_in_has_no_places():
    assert bar_positions(np.arange(0, 70, 10), np.zeros((100, 40), np.float16)).tolist() == [0] * 7


def test_live_beats_are_counted_in_fours_from_the_beat_marked_gaps_counted_too():
    bars, period = CountedBars(), 0.5
    assert [bars.add(t, period) for t in (1.0, 1.5, 2.02)] == [0, 0, 0]  # no mark yet: not known
    assert bars.mark(1.6, period) == 1.5  # pressed on the beat at 1.5 s, 0.1 s late
    assert (bars.place(1.0), bars.place(1.5), bars.place(2.02)) == (0, 1, 2)  # those after it counted again
    # A break dropped the beats at 3.0 and 3.5 s: they count still (3.98 s is the one's fifth beat on).
    assert [bars.add(t, period) for t in (2.5, 3.98, 4.5, 5.0)] == [3, 2, 3, 4]
    assert bars.add(4.5, period) == 3 and bars.place(9.0) == 0  # a beat added again; one never added
    assert bars.mark(6.0, period) is None  # no beat within half a beat of 6.0 s (the newest is 5.0 s)
    # Pressed just ahead of the beat the grid expects: that beat is the one, taken where it is found.
    assert bars.mark(5.45, period, [5.5]) == 5.5
    assert [bars.add(t, period) for t in (5.53, 6.03)] == [1, 2] and bars.place(5.53) == 1


def test_a_mark_among_beats_analysed_ahead_re_counts_the_later_ones():
    bars = CountedBars()
    for t in np.arange(0.0, 4.0, 0.5):
        bars.add(float(t), 0.5)
    bars.mark(0.0, 0.5)
    assert [bars.place(float(t)) for t in np.arange(0.0, 4.0, 0.5)] == [1, 2, 3, 4, 1, 2, 3, 4]
    assert bars.mark(1.1, 0.5) == 1.0  # the one is the beat at 1.0 s: beats after it count from it
    assert [bars.place(float(t)) for t in np.arange(0.0, 4.0, 0.5)] == [1, 2, 1, 2, 3, 4, 1, 2]


def test_a_mark_on_the_beat_due_holds_when_the_grid_finds_it_a_little_early_or_late():
    # Pressed 0.1 s ahead of the beat the grid expects at 2.0 s: found at 1.99 s, it went out unplaced (review 95).
    for found in (1.99, 2.02):
        bars = CountedBars()
        for t in (0.5, 1.0, 1.5):
            bars.add(t, 0.5)
        assert bars.mark(1.9, 0.5, [2.0]) == 2.0
        assert [bars.add(t, 0.5) for t in (found, found + 0.5)] == [1, 2] and bars.place(found) == 1


def test_a_mark_takes_a_beat_within_half_a_beat_only():
    bars = CountedBars()
    bars.add(1.0, 0.5)
    assert bars.mark(1.26, 0.5) is None and bars.add(1.5, 0.5) == 0
    assert bars.mark(1.74, 0.5) == 1.5


def test_a_tempo_change_since_the_mark_drops_the_count():
    # A count carried into other music (the next song, the tracker's other octave) would light the wrong beats.
    bars = CountedBars()
    bars.add(1.0, 0.5)
    bars.mark(1.0, 0.5)
    assert [bars.add(t, 0.52) for t in (1.52, 2.04)] == [2, 3]  # 4 %: a DJ's nudge, counted on
    assert bars.add(2.6, 0.56) == 0 and bars.add(3.16, 0.5) == 0  # 12 %: dropped, not back with the old tempo
    assert bars.place_at(3.66, 0.5) == 0
