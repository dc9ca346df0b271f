from __future__ import annotations

import json
import math

import pytest

from live.files import log_line, write_json


def _refuse(constant: str) -> None:
    raise ValueError(f"not JSON: {constant}")


def test_json_files_and_log_rows_are_strict_json():
    """Python writes NaN and Infinity, which jq and JavaScript refuse: a diverged loss, a
    correlation of a constant or a ratio without meaning is null."""
    value = {"pearson": {"valence": math.nan, "arousal": 0.5}, "rows": [{"x": math.inf}, (1.0, -math.inf)], "n": 3}
    expected = {"pearson": {"valence": None, "arousal": 0.5}, "rows": [{"x": None}, [1.0, None]], "n": 3}
    assert json.loads(log_line(value), parse_constant=_refuse) == expected
    assert log_line(value).endswith("\n") and log_line(value).count("\n") == 1


def test_write_json_writes_whole_indented_and_strict(tmp_path):
    path = tmp_path / "deep" / "report.json"
    write_json(path, {"loss": math.nan, "steps": [1, 2]})
    text = path.read_text()
    assert text.endswith("}\n") and "\n  " in text
    assert json.loads(text, parse_constant=_refuse) == {"loss": None, "steps": [1, 2]}
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]


def test_write_json_refuses_what_json_cannot_hold(tmp_path):
    with pytest.raises(TypeError):
        write_json(tmp_path / "x.json", {"w": object()})
    assert list(tmp_path.iterdir()) == []


def test_a_name_near_the_file_system_s_limit_is_written(tmp_path):
    """The partial file's name, the path's plus a process and thread id, ran past 255 bytes:
    a long --stats name that worked was a traceback (found by review)."""
    path = tmp_path / ("s" * 240 + ".json")
    write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1} and sorted(tmp_path.iterdir()) == [path]


def test_an_interrupted_write_leaves_no_partial_file_and_a_run_removes_those_of_dead_writers(tmp_path, monkeypatch):
    import os
    import pathlib
    import subprocess
    import sys

    from live.files import training_in, write_whole

    original = pathlib.Path.write_bytes

    def interrupted_write(self, data):  # Ctrl-C halfway through
        original(self, data[:10])
        raise KeyboardInterrupt
    monkeypatch.setattr(pathlib.Path, "write_bytes", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        write_whole(tmp_path / "state.pt", b"a whole training state")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".state.pt.{int(dead.stdout):x}.1f.partial"  # a killed run's
    alive = tmp_path / f".state.pt.{os.getpid():x}.2e.partial"  # a writer at work
    others = [tmp_path / ".ideas.cafe.v2.partial", tmp_path / ".state.pt.0123456789abcdef.x.partial"]  # not ours
    for path in (stale, alive, *others):
        path.write_bytes(b"x")
    with training_in(tmp_path):
        assert not stale.exists() and alive.exists() and all(path.exists() for path in others)


@pytest.mark.parametrize("theirs", ["training-state.pt", "checkpoint.pt", "state.pt"])
def test_a_run_folder_of_another_trainer_is_refused(tmp_path, theirs):
    """`train gan` into a predictor run wrote over its log, the only history it has."""
    from live.errors import UserError
    from live.files import RUN_STATES, file_stamp, training_in

    (tmp_path / theirs).write_bytes(b"another trainer's state")
    (tmp_path / "log.jsonl").write_text('{"step": 250}\n')
    for mine in RUN_STATES:
        if mine != theirs:
            with pytest.raises(UserError, match=f"holds a `{RUN_STATES[theirs]}` run"):
                with training_in(tmp_path, tmp_path / mine, None):
                    pass
    with training_in(tmp_path, tmp_path / theirs, file_stamp(tmp_path / theirs)):
        pass  # its own trainer goes on
    assert (tmp_path / "log.jsonl").read_text() == '{"step": 250}\n'

