"""Benchmark reports: the table says what the JSON says."""
from live.bench.report import format_table


def test_a_table_prints_what_its_json_writes_as_null_as_a_dash():
    # `bench transfer` printed inf for the source's speed-up, `bench engine` nan for an unmeasured growth.
    row = {"row": "a", "x": float("inf"), "y": float("nan"), "z": None, "w": 2.5}
    assert format_table([row], ["row", "x", "y", "z", "w"]).splitlines()[-1].split() == ["a", "-", "-", "-", "2.5"]
