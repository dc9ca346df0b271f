"""What commands say: notes."""
from __future__ import annotations


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
