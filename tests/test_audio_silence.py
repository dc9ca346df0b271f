"""The silence gate of `va` and `transfer`: rests between notes kept, long quiet left out."""
from __future__ import annotations

import numpy as np
import pytest

from live.audio.analyzer import SILENT_GAP_S
from live.audio.silence import SilenceGate

RATE = 16000


def tone(seconds: float, dbfs: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (np.sqrt(2) * 10 ** (dbfs / 20) * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), np.float32)


def kept(gate: SilenceGate, *blocks: np.ndarray) -> np.ndarray:
    return np.concatenate([gate.audible(b) for b in blocks] + [gate.finish()])


def test_a_rest_is_kept_and_a_break_keeps_only_its_first_gap():
    song = np.concatenate([tone(1, -20), quiet(0.1), tone(1, -20), quiet(1.0), tone(1, -20)])
    out = kept(SilenceGate(RATE), song)
    assert len(out) / RATE == pytest.approx(3.1 + SILENT_GAP_S, abs=0.021)  # a hop either way


@pytest.mark.parametrize("dbfs, audible", [(-50.0, True), (-70.0, False)])
def test_the_level_rule_is_the_documented_minus_60_dbfs(dbfs, audible):
    gate = SilenceGate(RATE)
    out = kept(gate, tone(2, dbfs))
    assert gate.heard is audible and (len(out) == len(tone(2, dbfs)) if audible else len(out) < 0.3 * RATE)


def test_blocks_split_anywhere_give_what_one_block_gives():
    song = np.concatenate([tone(0.5, -20), quiet(0.7), tone(0.33, -30), quiet(2.0)])
    whole = kept(SilenceGate(RATE), song)
    cuts = np.sort(np.random.default_rng(0).choice(len(song), 9, replace=False))
    assert np.array_equal(kept(SilenceGate(RATE), *np.split(song, cuts)), whole)


def test_a_file_is_said_silent_only_when_a_show_would_hear_none_of_it():
    from live.audio.silence import silence_note

    assert silence_note("a.wav", 0.0) == ("a.wav is silent (every sample is zero): the picture moves toward what "
                                          "the space reads in silence, not toward music")
    assert "loudest sample is at -66 dBFS, below the -60 dBFS" in silence_note("a.wav", 0.0005)
    assert silence_note("a.wav", 0.0011) is None and silence_note("a.wav", None) is None  # -59 dBFS is heard
