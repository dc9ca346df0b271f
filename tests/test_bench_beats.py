"""`bench beats`: the live beat path scored as a show would run it."""
from __future__ import annotations

import argparse

import pytest

from live.__main__ import main
from live.audio.beat_metrics import score_beats
from live.audio.beats import BeatConfig
from live.bench.beats import drum_cases, tracked


@pytest.mark.parametrize("block", [512, 4096])
def test_taps_count_at_their_own_time_whatever_the_block(block):
    # Stamped at the end of the block they fell in, 4096-frame blocks made taps up to 93 ms late,
    # and the grid they anchor scored F 0.5 where the show's taps, stamped by the input, give 1.
    args = argparse.Namespace(seconds=10.0, sample_rate=22050, seed=0)
    case = next(c for c in drum_cases(args) if c.name == "steady 174 + 4 taps")
    beats, _ = tracked(case, args.sample_rate, block, BeatConfig.tempo_method)
    assert score_beats(beats, case.beats, tolerance=0.07, skip=6.0).f_measure == 1.0


def test_a_warm_up_past_the_demo_track_is_refused(capsys):
    # The demo lasts 74 s whatever --seconds says: its row read F = 0 and pulled the mean down.
    assert main(["bench", "beats", "--seconds", "80", "--warmup", "75", "--sample-rate", "8000"]) == 2
    assert "leaves none of the demo track's beats" in capsys.readouterr().err

