"""`bench beats`: the live beat path scored as a show would run it."""
from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest

from live.__main__ import main
from live.bench.beat_metrics import score_beats
from live.audio.beats import BeatConfig
from live.bench.beats import BAND, STEADY_BPMS, TAPPED_BPMS, VARIED, band_cases, drum_cases, tracked
from live.space.data.midi import DEFAULT_SOUNDFONT


@pytest.mark.parametrize("block", [512, 4096])
def test_taps_count_at_their_own_time_whatever_the_block(block):
    # Stamped at the end of the block they fell in, 4096-frame blocks made taps up to 93 ms late,
    # and the grid they anchor scored F 0.5 where the show's taps, stamped by the input, give 1.
    args = argparse.Namespace(seconds=10.0, sample_rate=22050, seed=0)
    case = next(c for c in drum_cases(args) if c.name == "steady 174 + 4 taps")
    beats, _ = tracked(case, args.sample_rate, block, BeatConfig())
    assert score_beats(beats, case.beats, tolerance=0.07, skip=6.0).f_measure == 1.0


def test_a_warm_up_past_the_demo_track_is_refused(capsys):
    # The demo lasts 76 s (its last beat at 74.9 s) whatever --seconds says: its row read F = 0 and pulled
    # the mean down.
    assert main(["bench", "beats", "--seconds", "80", "--warmup", "75", "--sample-rate", "8000"]) == 2
    assert "leaves none of the demo track's beats" in capsys.readouterr().err



def test_band_arrangements_are_left_out_with_a_note_where_fluidsynth_is_missing(monkeypatch, capsys):
    import live.space.data.midi as midi

    monkeypatch.setattr(midi.shutil, "which", lambda name: None)
    args = argparse.Namespace(seconds=6.0, sample_rate=22050, seed=0)
    assert list(band_cases(args)) == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "band arrangements left out: fluidsynth is not installed" in err


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not DEFAULT_SOUNDFONT.is_file(),
                    reason="fluidsynth or its General MIDI soundfont is not installed")
def test_band_arrangements_are_played_whole_with_their_beats():
    args = argparse.Namespace(seconds=6.0, sample_rate=22050, seed=0)
    cases = list(band_cases(args))
    assert [c.name for c in cases] == [f"band {style} {bpm}" for style, bpm in BAND]
    for case in cases:
        assert case.samples.dtype == np.float32 and case.samples.ndim == 1
        # Whole bars of the tempo, then fluidsynth plays on until its voices and reverb die out.
        assert case.beats[-1] < len(case.samples) / args.sample_rate < case.beats[-1] + 10.0
        assert np.sqrt(np.mean(np.square(case.samples))) > 0.01, case.name


def test_the_bench_scores_every_track_and_judges_the_target_on_the_steady_ones(tmp_path):
    out = tmp_path / "beats.json"
    assert main(["bench", "beats", "--seconds", "8", "--sample-rate", "11025", "--no-band", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = {row["track"]: row for row in report["rows"]}
    assert len(rows) == len(STEADY_BPMS) + len(VARIED) + len(TAPPED_BPMS) + 1 and report["mean_f_band"] is None
    steady = [rows[f"steady {bpm}"]["f_measure"] for bpm in STEADY_BPMS]
    assert report["min_f_steady"] == min(steady) and report["target_met"] == (min(steady) >= 0.9)
    assert report["steady_tracks_at_target"] == f"{sum(f >= 0.9 for f in steady)}/{len(steady)}"
    assert all(0.0 <= row["f_measure"] <= 1.0 for row in report["rows"])


def test_band_arrangements_are_left_out_with_a_note_above_fluidsynth_s_highest_rate(capsys):
    # fluidsynth stops at 96 kHz: at --sample-rate 192000 the bench died after the drum rows.
    assert list(band_cases(argparse.Namespace(seconds=6.0, sample_rate=192000, seed=0))) == []
    assert "band arrangements left out: fluidsynth plays at most 96000 Hz" in capsys.readouterr().err


def test_the_lookahead_tracker_is_scored_from_the_first_beat(tmp_path, capsys):
    out = tmp_path / "beats.json"
    assert main(["bench", "beats", "--tracker", "lookahead", "--seconds", "8", "--warmup", "0", "--no-band",
                 "--sample-rate", "16000", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert "lookahead" in capsys.readouterr().out
    rows = {r["track"]: r for r in result["rows"]}
    assert rows["steady 120"]["f_measure"] >= 0.95 and abs(rows["steady 120"]["bpm_error_pct"]) < 2
    # Kick on 1 and 3: the downbeats fall on either, on no other beat.
    assert rows["steady 120"]["downbeats_on_1_or_3"] == 1.0
    assert result["mean_downbeats_on_1_band_and_demo"] == rows[next(t for t in rows if t.startswith("demo"))][
        "downbeats_on_1"]


def test_downbeats_are_scored_among_those_on_true_beats():
    from live.bench.beat_metrics import downbeat_shares

    truth = np.arange(0.0, 8.0, 0.5)  # downbeats at 0, 2, 4, 6
    assert downbeat_shares(np.array([0.01, 2.0, 3.0, 5.0]), truth) == (0.5, 1.0)
    assert downbeat_shares(np.array([1.52, 4.0, 4.25]), truth) == (0.5, 0.5)  # 4.25 is on no beat
    assert downbeat_shares(np.array([0.25, 0.75]), truth) is None  # all between the beats
    assert downbeat_shares(np.zeros(0), truth) is None
