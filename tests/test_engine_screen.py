"""The screen director's pulses: by the events' times, whichever snapshots a frame reads."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from live.audio.analyzer import AudioAnalyzer, AudioFeatures
from live.audio.beatmap import BeatMap
from live.engine.keyframes import Keyframe
from live.engine.screen import BEAT_DECAY_S, ScreenDirector
from live.settings import Settings

QUIET = AudioFeatures(time=0.0, sample_index=0, rms=0.0, beats=(), newest_beat=-math.inf,
                      newest_onset=-math.inf, onset_strength=0.0, bpm=120.0, last_beat=0.0, phase=0.0,
                      next_beat=0.5, beat_confidence=0.0)
SETTINGS = Settings().with_value("pulse", 1.0)


def test_a_beat_in_a_snapshot_the_frame_skipped_still_pulses():
    director = ScreenDirector()
    # The audio thread made a snapshot with the beat at 1.00 s and another after it (no
    # news of its own) before this frame read the latest.
    latest = replace(QUIET, time=1.02, newest_beat=1.0)
    state = director.frame(1.03, latest, None, SETTINGS).state
    assert state.beat_pulse == pytest.approx(math.exp(-0.03 / BEAT_DECAY_S))


def test_a_snapshot_read_again_does_not_pulse_again():
    director = ScreenDirector()
    stalled = replace(QUIET, time=1.0, newest_beat=1.0, newest_onset=1.0, onset_strength=1.0)
    director.frame(1.0, stalled, None, SETTINGS)
    later = director.frame(2.0, stalled, None, SETTINGS).state
    assert later.beat_pulse < 1e-3 and later.onset_pulse < 1e-3


def test_a_beat_analysed_before_it_is_heard_pulses_when_it_is():
    # Played back, the analysis runs an output buffer ahead of what the frame shows.
    director = ScreenDirector()
    ahead = replace(QUIET, time=1.1, newest_beat=1.0, newest_onset=1.0, onset_strength=1.0)
    early = director.frame(0.9, ahead, None, SETTINGS).state
    assert early.beat_pulse == 0.0 and early.onset_pulse == 0.0
    on_time = director.frame(1.0, ahead, None, SETTINGS).state
    assert on_time.beat_pulse == 1.0 and on_time.onset_pulse == 1.0


def test_events_analysed_ahead_each_pulse_when_heard_though_a_newer_one_came_first():
    # Onsets every 80 ms, the analysis 100 ms ahead of what is heard: each still pulses, when heard.
    director = ScreenDirector()
    onsets = [0.08 * n for n in range(1, 12)]
    hits = []
    for k in range(1, 40):
        t = k * 0.025
        newest = max((o for o in onsets if o <= t + 0.1), default=-math.inf)
        director.frame(t, replace(QUIET, time=t + 0.1, newest_onset=newest, onset_strength=1.0), None, SETTINGS)
        if director.onset.hit_time not in hits and director.onset.hit_time > -math.inf:
            hits.append(director.onset.hit_time)
            assert t - 0.025 < director.onset.hit_time <= t  # heard in this frame, not before
    assert hits == [o for o in onsets if o <= 39 * 0.025]


def test_past_the_most_waiting_events_the_newest_are_dropped_not_the_next_to_be_heard():
    from live.engine.screen import HeardEvents

    events = HeardEvents(most=4)
    for k in range(1, 7):
        events.add(k * 0.1)
    assert [t for t, _ in events.heard(1.0)] == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_no_event_no_pulse():
    state = ScreenDirector().frame(1.0, QUIET, None, SETTINGS).state
    assert state.beat_pulse == 0.0 and state.onset_pulse == 0.0


@pytest.mark.parametrize("fade_in", [True, False])
def test_the_first_picture_fades_in_at_a_show_s_start_and_is_whole_on_a_video_s_first_frame(fade_in):
    first = Keyframe(version=1, image=np.zeros((4, 4, 3), np.uint8), w=torch.zeros(1, 1), valence=0.5,
                     arousal=0.5, capture_time=0.0, ready_time=0.0, compute_seconds=0.0, audio_time=0.0)
    director = ScreenDirector(fade_in=fade_in)
    decision = director.frame(0.0, QUIET, first, SETTINGS)
    assert decision.upload is first
    assert (decision.state.mix < 0.1) if fade_in else (decision.state.mix == 1.0)
    # After it, fades as always.
    second = replace(first, version=2)
    assert director.frame(1.0, QUIET, second, SETTINGS).state.mix < 0.1


def test_a_show_s_fade_in_on_beats_known_ahead_lands_on_the_downbeat_and_a_cut_still_comes_at_once():
    # The demo's first bars (132 bpm), known ahead: the fade in of 4 beats ends on the second downbeat,
    # at least half its beats on (it had ended at 2.0 s, 4 x 0.5 s, off every beat).
    analyzer = AudioAnalyzer(44100, beat_map=BeatMap((np.arange(32) * 60 / 132,), (np.arange(32) % 4 + 1,)))
    features = analyzer.feed(np.zeros(round(0.14 * 44100), np.float32))
    director = ScreenDirector()
    director.frame(features.time, features, _keyframe(1), SETTINGS.with_value("crossfade_beats", 4.0))
    assert director.fades.fade.start == features.time and director.fades.fade.end == pytest.approx(4 * 60 / 132)
    cut = ScreenDirector()
    assert cut.frame(features.time, features, _keyframe(1), SETTINGS.with_value("crossfade_beats", 0.0)).upload


@pytest.mark.parametrize("beats", [4.0, 8.0, 12.0, 16.0])
def test_a_fade_of_bars_lands_on_the_one_of_bars_counted_live(beats):
    # Beats found live in a drum track at 120 bpm, a downbeat marked on one of them: a fade of a bar
    # or bars ends on a beat counted 1 (the grid's beats ahead carry their places, as a map's do).
    from live.audio.synth import STEADY, drum_track

    analyzer, drums = AudioAnalyzer(16000), drum_track(120.0, 6.0, 16000, STEADY, seed=1).samples
    found = [beat for i in range(0, 4 * 16000, 512) for beat in analyzer.feed(drums[i:i + 512]).beats]
    one = analyzer.mark_downbeat(found[-3])
    features = analyzer.feed(drums[4 * 16000:4 * 16000 + 512])
    assert len(features.places_ahead) == len(features.beats_ahead) >= 16 + 4
    settings = SETTINGS.with_value("crossfade_beats", beats)
    director = ScreenDirector(fade_in=False)
    director.frame(0.0, replace(QUIET, rms=0.1, beat_confidence=1.0), _keyframe(1), settings)
    assert director.frame(features.time, features, _keyframe(2), settings).upload is not None
    ends = director.fades.fade.end
    assert round((ends - one) / features.period) % 4 == 0 and ends - features.time >= beats / 2 * features.period


@pytest.mark.parametrize("beat_sync, shown_by", [(False, 0.12), (True, 0.5)])
def test_a_cut_waits_for_the_beat_only_with_beat_sync(beat_sync, shown_by):
    """A tempo heard, a hard cut: with beat_sync off the new picture shows on the first frame
    after it is ready (0.1 s), with it on the next beat (0.5 s)."""
    locked = replace(QUIET, rms=0.1, beat_confidence=1.0)
    settings = Settings().with_value("beat_sync", beat_sync).with_value("crossfade_beats", 0.0)
    first = Keyframe(version=1, image=np.zeros((4, 4, 3), np.uint8), w=torch.zeros(1, 1), valence=0.5, arousal=0.5,
                     capture_time=0.0, ready_time=0.0, compute_seconds=0.0, audio_time=0.0)
    director = ScreenDirector(fade_in=False)
    director.frame(0.0, locked, first, settings)
    shown = next(t for t in 0.1 + np.arange(1, 40) / 60
                 if director.frame(t, replace(locked, time=t), replace(first, version=2), settings).upload)
    assert shown_by - 0.1 < shown <= shown_by


def _keyframe(version):
    return Keyframe(version=version, image=np.zeros((4, 4, 3), np.uint8), w=torch.zeros(1, 1), valence=0.2,
                    arousal=0.8, capture_time=0.0, ready_time=0.0, compute_seconds=0.0, audio_time=0.0)


def test_frozen_before_any_picture_the_first_is_shown_then_held_still():
    """A preset with `freeze = true` rendered a whole video black; frozen, the beat pulse
    still zoomed the picture (found by review)."""
    frozen = SETTINGS.with_value("freeze", True)
    director = ScreenDirector(fade_in=False)
    assert director.frame(0.0, QUIET, _keyframe(1), frozen).upload is not None
    beat = replace(QUIET, newest_beat=0.5, beats=(0.5,))
    state = director.frame(0.5, beat, _keyframe(2), frozen).state
    assert state.beat_pulse == 0 and state.onset_pulse == 0
    assert director.frame(0.6, beat, _keyframe(3), frozen).upload is None  # held
    assert director.frame(0.51, beat, _keyframe(3), SETTINGS).state.beat_pulse > 0.5  # unfrozen: pulses


def test_a_fade_of_several_beats_lands_on_the_beat_map_s_beat_across_a_change_of_tempo():
    """A render knows its beats: a 4-beat fade from 1.1 s lands on the 4th, 2.8 s, though the tempo
    changes on the way (at the interval of the moment it landed on 3.0 s, 80-90 ms off on music)."""
    beats = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.4, 2.8, 3.2, 3.6])
    analyzer = AudioAnalyzer(1000, beat_map=BeatMap((beats,)))
    features = analyzer.feed(np.zeros(1100, np.float32))
    fades = SETTINGS.with_value("crossfade_beats", 4.0)
    director = ScreenDirector(fade_in=False)
    director.frame(1.0, features, _keyframe(1), fades)
    assert director.frame(1.1, features, _keyframe(2), fades).upload is not None
    assert director.frame(2.79, features, _keyframe(2), fades).state.mix < 1.0
    assert director.frame(2.8, features, _keyframe(2), fades).state.mix == 1.0


def test_fades_of_a_bar_land_on_the_downbeats_of_the_beat_map():
    beats = np.arange(0.0, 12.0, 0.5)
    places = np.arange(2, 2 + len(beats)) % 4 + 1  # 3 4 1 2 ...: the downbeats at 1, 3, 5 ... s
    analyzer = AudioAnalyzer(1000, beat_map=BeatMap((beats,), (places,)))
    fades = SETTINGS.with_value("crossfade_beats", 4.0)
    director = ScreenDirector(fade_in=False)
    landings, version = [], 1
    for t in np.arange(0.05, 10.0, 0.05):  # a keyframe a frame, a frame every 50 ms
        features = analyzer.feed(np.zeros(50, np.float32))
        if director.frame(t, features, _keyframe(version), fades).upload is not None and version > 1:
            landings.append(director.fades.fade.end)
        version += 1
    assert landings == pytest.approx([3.0, 5.0, 7.0, 9.0, 11.0])  # the first at least 2 beats: not 1.0 s


def test_a_fade_asked_just_before_a_beat_its_audio_heard_past_still_lands_by_the_map():
    """A render's frame comes hops behind its audio: asked 20 ms before a beat the audio had passed,
    a bar's fade counted 4 beats at the period and landed off the downbeat (review 83)."""
    beats = np.arange(0.0, 12.0, 0.5)
    places = np.arange(len(beats)) % 4 + 1  # downbeats at 0, 2, 4 ... s
    analyzer = AudioAnalyzer(1000, beat_map=BeatMap((beats,), (places,)))
    fades = SETTINGS.with_value("crossfade_beats", 4.0)
    director = ScreenDirector(fade_in=False)
    director.frame(0.9, analyzer.feed(np.zeros(900, np.float32)), _keyframe(1), fades)
    features = analyzer.feed(np.zeros(2130, np.float32))  # heard to 3.03 s, past the beat at 3.0
    assert director.frame(2.98, features, _keyframe(2), fades).upload is not None
    assert director.fades.fade.end == 4.0  # the downbeat 2 beats on, not a third beat's (3.0) or 4 beats' (4.5)


def test_the_known_beats_reach_past_the_longest_fade():
    from live.audio.analyzer import BEATS_AHEAD
    from live.settings import PARAMS

    assert BEATS_AHEAD >= PARAMS["crossfade_beats"].high + 3  # the last beat, the fade's, a shift past a served beat


def test_blackout_hides_the_hud_too():
    settings = SETTINGS.with_value("hud", True)
    director = ScreenDirector()
    assert director.frame(0.0, QUIET, _keyframe(1), settings).state.hud
    assert director.frame(0.1, QUIET, _keyframe(1), settings.with_value("blackout", True)).state.hud is None


def test_a_switched_show_s_first_keyframe_starts_at_once_and_the_old_show_s_are_not_taken():
    """The old preset's 8-beat fade held a switch back 2.4 s; a switch to a long-fade preset
    first faded all its length toward the old show's last keyframe (found by review)."""
    locked = replace(QUIET, rms=0.1, beat_confidence=1.0)
    long_fades = SETTINGS.with_value("crossfade_beats", 8.0)
    director = ScreenDirector(fade_in=False)
    director.frame(0.0, locked, _keyframe(1), long_fades)
    assert director.frame(0.1, locked, _keyframe(2), long_fades).upload is not None  # an 8-beat fade, to 4.5 s
    # Switched at version 5: the old show's keyframe 4 is not taken, even once the fade has landed.
    assert director.frame(0.2, locked, _keyframe(4), long_fades, show_from=5).upload is None
    assert director.frame(5.0, replace(locked, next_beat=5.5), _keyframe(4), long_fades, show_from=5).upload is None
    director = ScreenDirector(fade_in=False)
    director.frame(0.0, locked, _keyframe(1), long_fades)
    director.frame(0.1, locked, _keyframe(2), long_fades)
    taken = director.frame(0.2, locked, _keyframe(5), SETTINGS, show_from=5)
    assert taken.upload is not None and taken.state.mix < 0.1  # its fade starts now, from the picture shown


def test_after_a_switch_the_hud_keeps_the_newest_valence_and_arousal():
    settings = SETTINGS.with_value("hud", True)
    director = ScreenDirector(fade_in=False)
    director.frame(0.0, QUIET, _keyframe(1), settings)
    # Apart, so that the two read swapped would show (review 49).
    assert "V 0.20 A 0.80" in director.frame(0.1, QUIET, _keyframe(2), settings, show_from=5).state.hud


def test_the_hud_s_numbers_change_a_few_times_a_second_and_a_new_preset_at_once():
    # Drawn again every frame, with a new texture for each new width, the HUD took the show
    # from 28 to 22 fps (review 56).
    from live.engine.screen import HUD_REFRESH_S, HudInfo

    settings = SETTINGS.with_value("hud", True)
    director = ScreenDirector(fade_in=False)

    def text(t, fps, preset="a"):
        return director.frame(t, QUIET, _keyframe(1), settings, HudInfo(fps=fps, preset=preset)).state.hud
    assert "29.0 fps" in text(0.0, 29.0)
    assert "29.0 fps" in text(HUD_REFRESH_S * 0.9, 31.0)
    assert "31.0 fps" in text(HUD_REFRESH_S * 1.1, 31.0)
    assert "b  " in text(HUD_REFRESH_S * 1.2, 32.0, preset="b") and "32.0 fps" in text(HUD_REFRESH_S * 1.3, 33.0, "b")
    # Live, on the engine's clock: the stream's time stands still while the input is lost, and
    # the numbers of the moment it was lost stayed for the whole outage (review 59).
    lost = director.frame(5.0, QUIET, _keyframe(1), settings, HudInfo(fps=12.0, preset="b", read_at=100.0))
    later = director.frame(5.0, QUIET, _keyframe(1), settings, HudInfo(fps=3.0, preset="b", read_at=101.0))
    assert "12.0 fps" in lost.state.hud and "3.0 fps" in later.state.hud


def test_the_hud_gives_the_input_s_level():
    # In silence it said only "--- bpm", a silent input and a dead one alike (review 99).
    settings = SETTINGS.with_value("hud", True)

    def level(rms):
        hud = ScreenDirector(fade_in=False).frame(0.0, replace(QUIET, rms=rms), _keyframe(1), settings).state.hud
        return hud.splitlines()[1].split("level")[1].split("dBFS")[0].strip()
    assert [level(rms) for rms in (0.1, 1e-3, 0.0)] == ["-20", "-60", "-120"]


def test_the_hud_counts_the_bar_on_each_beat_heard_where_the_bars_are_known():
    settings = SETTINGS.with_value("hud", True)
    director = ScreenDirector(fade_in=False)

    def text(t, beat, place):
        features = replace(QUIET, time=t, newest_beat=beat, newest_place=place)
        return director.frame(t, features, _keyframe(1), settings).state.hud.splitlines()[0]
    assert "bar" not in text(0.01, -math.inf, 0)
    # Beats 0.2 s apart (300 bpm), each frame 10 ms after one: sooner than the HUD's numbers change.
    assert [text(b + 0.01, b, place) for b, place in ((0.5, 3), (0.7, 4), (0.9, 1), (1.1, 2))] == [
        f"  --- bpm  bar {count}  V 0.20 A 0.80" for count in ("123.", "1234", "1...", "12..")]
    assert "bar 12.." in text(2.9, 1.1, 2) and "bar" not in text(3.2, 1.1, 2)  # gone 2 s after the last beat
    assert "bar" not in text(4.6, 4.59, 0)  # the bars no longer known (taps took the beats over)


def test_blackout_blacks_the_picture_out():
    director = ScreenDirector()
    assert director.frame(0.0, QUIET, _keyframe(1), SETTINGS).state.blackout == 0.0
    assert director.frame(0.1, QUIET, _keyframe(1), SETTINGS.with_value("blackout", True)).state.blackout == 1.0


@pytest.mark.parametrize("pulse", [0.0, 0.3, 1.0])
def test_the_pulse_setting_scales_the_beat_and_onset_pulses_each_from_its_own_event(pulse):
    settings = SETTINGS.with_value("pulse", pulse)
    beat = ScreenDirector().frame(1.0, replace(QUIET, time=1.0, newest_beat=1.0), None, settings).state
    assert beat.beat_pulse == pytest.approx(pulse) and beat.onset_pulse == 0.0
    onset = replace(QUIET, time=1.0, newest_onset=1.0, onset_strength=0.5)
    state = ScreenDirector().frame(1.0, onset, None, settings).state
    assert state.beat_pulse == 0.0 and state.onset_pulse == pytest.approx(0.5 * pulse)


def test_where_the_bars_are_known_the_accent_sets_the_other_beats_pulse_below_the_downbeat_s():
    settings = SETTINGS.with_values({"pulse": 1.0, "accent": 0.6})
    for place, peak in ((1, 1.0), (3, 0.4), (0, 1.0)):  # 0: not known, every beat alike
        beat = replace(QUIET, time=1.0, newest_beat=1.0, newest_place=place)
        assert ScreenDirector().frame(1.0, beat, None, settings).state.beat_pulse == pytest.approx(peak)
    alike = ScreenDirector().frame(1.0, replace(QUIET, time=1.0, newest_beat=1.0, newest_place=3), None,
                                   settings.with_value("accent", 0.0)).state
    assert alike.beat_pulse == pytest.approx(1.0)
    # As it is when the beat is heard: a render analyses ahead of its frame, and a cue on the beat changed it.
    director = ScreenDirector()
    ahead = replace(QUIET, time=1.02, newest_beat=1.0, newest_place=3)
    assert director.frame(0.98, ahead, None, settings.with_value("accent", 0.0)).state.beat_pulse == 0.0
    assert director.frame(1.0, ahead, None, settings.with_value("accent", 1.0)).state.beat_pulse == 0.0


def test_a_cut_lands_the_fade_under_way_at_once_and_fades_resume_on_the_beat_after_it():
    locked = replace(QUIET, rms=0.1, beat_confidence=1.0, next_beat=0.5)
    long_fades = SETTINGS.with_value("crossfade_beats", 8.0)
    director = ScreenDirector(fade_in=False)
    director.frame(0.0, locked, _keyframe(1), long_fades)
    assert director.frame(0.1, locked, _keyframe(2), long_fades).state.mix < 0.1  # an 8-beat fade toward 2
    director.cut(0.2)
    cut = director.frame(0.2, locked, _keyframe(2), long_fades)
    assert cut.upload is None and cut.state.mix == 1.0  # 2 was uploaded already: its fade lands
    director.cut(0.3)
    cut = director.frame(0.3, locked, _keyframe(3), long_fades)
    assert cut.upload is not None and cut.upload.version == 3 and cut.state.mix == 1.0  # a newer one: whole, now
    after = director.frame(0.35, locked, _keyframe(4), long_fades)
    assert after.upload is not None and after.state.mix < 0.1  # the next keyframe fades in as before
    assert director.frame(0.4, locked, _keyframe(5), long_fades).upload is None  # and runs whole


def test_a_cut_does_not_wait_for_the_beat_and_cuts_through_a_freeze():
    locked = replace(QUIET, rms=0.1, beat_confidence=1.0, next_beat=0.5)
    synced_cuts = SETTINGS.with_value("crossfade_beats", 0.0)
    director = ScreenDirector(fade_in=False)
    director.frame(0.0, locked, _keyframe(1), synced_cuts)
    assert director.frame(0.1, locked, _keyframe(2), synced_cuts).upload is None  # waits for the beat at 0.5
    director.cut(0.1)
    assert director.frame(0.11, locked, _keyframe(2), synced_cuts).upload.version == 2
    frozen = synced_cuts.with_value("freeze", True)
    assert director.frame(0.6, locked, _keyframe(3), frozen).upload is None  # held
    director.cut(0.6)
    assert director.frame(0.61, locked, _keyframe(3), frozen).upload.version == 3  # stepped by hand
    assert director.frame(1.6, locked, _keyframe(4), frozen).upload is None  # and held again


def test_a_cut_right_after_a_switch_waits_a_second_for_the_new_show_s_first_keyframe():
    director = ScreenDirector(fade_in=False)
    director.frame(0.0, QUIET, _keyframe(1), SETTINGS)
    director.cut(0.1)
    assert director.frame(0.1, QUIET, _keyframe(2), SETTINGS, show_from=3).upload is None  # the old show's
    cut = director.frame(0.6, QUIET, _keyframe(3), SETTINGS, show_from=3)
    assert cut.upload.version == 3 and cut.state.mix == 1.0
    director.cut(1.0)
    director.frame(1.0, QUIET, _keyframe(3), SETTINGS, show_from=4)
    late = director.frame(2.1, QUIET, _keyframe(4), SETTINGS, show_from=4)
    assert late.upload.version == 4 and late.state.mix < 0.1  # past the second: an ordinary fade
