"""Benchmark reports: the table says what the JSON says."""
from live.bench.report import format_table


def test_a_table_prints_what_its_json_writes_as_null_as_a_dash():
    # `bench transfer` printed inf for the source's speed-up, `bench engine` nan for an unmeasured growth.
    row = {"row": "a", "x": float("inf"), "y": float("nan"), "z": None, "w": 2.5}
    assert format_table([row], ["row", "x", "y", "z", "w"]).splitlines()[-1].split() == ["a", "-", "-", "-", "2.5"]


def test_a_report_names_the_device_its_networks_ran_on_and_a_gpu_only_when_they_ran_on_one(tmp_path, monkeypatch):
    """A CPU run on a GPU machine recorded the GPU (review 62)."""
    import json

    import torch

    from live.bench.report import report

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: f"GPU {device}")
    written = report("t", [], ["row"], tmp_path / "r.json", torch.device("cpu"))
    assert written["machine"]["device"] == "cpu" and written["machine"]["gpu"] is None
    assert json.loads((tmp_path / "r.json").read_text())["machine"] == written["machine"]
    on_gpu = report("t", [], ["row"], None, torch.device("cuda:1"))["machine"]
    assert (on_gpu["device"], on_gpu["gpu"]) == ("cuda:1", "GPU cuda:1")
    assert report("t", [], ["row"], None, None)["machine"]["device"] is None  # no networks (bench beats)
