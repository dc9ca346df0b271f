from __future__ import annotations

from pathlib import Path

import pytest

from live.errors import UserError
from live.space.data.audio import AudioSpan
from live.space.data.labels import (QUADRANT_VA, parse_quadrant, parse_sign, quadrant_of, rescale,
                                    sign_value)
from live.space.data.records import LabelledClip, describe
from live.space.data.split import is_held_out, key_position, split


def test_rescale_maps_scale_ends_to_unit_interval_and_rejects_values_off_the_scale():
    assert rescale(1.0, 1.0, 9.0, "x") == 0.0
    assert rescale(5.0, 1.0, 9.0, "x") == 0.5
    assert rescale(7.0, 1.0, 7.0, "x") == 1.0
    with pytest.raises(UserError, match="outside the 1-9 scale"):
        rescale(9.5, 1.0, 9.0, "sheet line 3")
    with pytest.raises(UserError):
        rescale(float("nan"), 1.0, 9.0, "x")


def test_quadrant_targets_are_quadrant_centroids_and_map_back_to_their_quadrant():
    for quadrant, (valence, arousal) in QUADRANT_VA.items():
        assert quadrant_of(valence, arousal) == quadrant
        assert {valence, arousal} <= {0.25, 0.75}
    assert QUADRANT_VA[1] == (0.75, 0.75) and QUADRANT_VA[2] == (0.25, 0.75)


def test_parsers_accept_the_published_spellings_and_reject_others():
    assert parse_quadrant(" q3 ", "x") == 3
    assert parse_sign("-1", "x") == -1 and sign_value(-1) == 0.25 and sign_value(1) == 0.75
    with pytest.raises(UserError, match="not a quadrant"):
        parse_quadrant("Q5", "x")
    with pytest.raises(UserError, match="not a sign"):
        parse_sign("0", "x")


def clip(key: str, quadrant: int = 1) -> LabelledClip:
    return LabelledClip(AudioSpan(Path(f"{key}.mp3")), *QUADRANT_VA[quadrant], 0.5, "test", key, quadrant)


def test_split_is_stable_groups_by_key_and_holds_out_about_the_fraction():
    records = [clip(f"song/{k // 3}") for k in range(3000)]  # three clips per song
    parts = split(records, 0.15)
    assert len(parts.train) + len(parts.test) == len(records)
    assert {r.split_key for r in parts.train}.isdisjoint({r.split_key for r in parts.test})
    assert 0.12 < len(parts.test) / len(records) < 0.18
    # Independent of order and of the other records: the same key, the same side.
    first_keys = {r.split_key for r in records[:300]}
    reversed_parts = split(reversed(records[:300]), 0.15)
    assert {r.split_key for r in reversed_parts.test} == first_keys & {r.split_key for r in parts.test}
    assert is_held_out("song/7", 0.15) == (key_position("song/7") < 0.15)


def test_split_fraction_zero_trains_on_everything_and_bad_fractions_are_user_errors():
    records = [clip(f"k{k}") for k in range(50)]
    assert len(split(records, 0.0).test) == 0
    with pytest.raises(UserError):
        split(records, 1.0)


def test_describe_counts_labels_and_quadrants():
    summary = describe([clip("a", 1), clip("b", 1), clip("c", 3)])
    assert summary["count"] == 3
    assert summary["quadrants"] == {"Q1": 2, "Q2": 0, "Q3": 1, "Q4": 0}
    assert summary["valence"]["min"] == 0.25 and summary["valence"]["max"] == 0.75
