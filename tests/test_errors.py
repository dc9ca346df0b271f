"""What commands say: notes."""
from __future__ import annotations

import pytest
import torch


def test_a_note_during_a_progress_bar_gets_its_own_line(capsys):
    import sys

    from tqdm import tqdm

    from live.errors import note

    bar = tqdm(total=3, file=sys.stderr)
    bar.update(1)
    note("data", "skipping x.png")
    bar.close()
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert "live: note: data: skipping x.png" in lines  # the whole line, not after the bar's text



def _failing_parser(error: BaseException):
    import argparse

    def fails(args):
        raise error

    parser = argparse.ArgumentParser()
    parser.add_subparsers().add_parser("work").set_defaults(func=fails)
    return parser


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore"),
                                   MemoryError(), "cpu"])
def test_out_of_memory_is_one_line_and_other_runtime_errors_stay_tracebacks(monkeypatch, capsys, error):
    """A GPU out of memory in va, generate, preset new ... was a traceback (review 62); so was the CPU
    allocator's, a plain RuntimeError (review 67)."""
    import live.__main__ as entry

    if error == "cpu":
        try:
            torch.empty(1 << 62, dtype=torch.uint8)
        except RuntimeError as e:
            error = e

    monkeypatch.setattr(entry, "build_parser", lambda: _failing_parser(error))
    assert entry.main(["work"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("live: error: out of memory (") and err.count("\n") == 1 and "--device" in err
    monkeypatch.setattr(entry, "build_parser", lambda: _failing_parser(RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):  # a bug of ours is not dressed as memory
        entry.main(["work"])
