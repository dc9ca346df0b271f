"""`python -m live beats SONG`: the render's beats of a file, printed."""
import json

import numpy as np
import soundfile as sf

from live.__main__ import main
from live.audio.synth import STEADY, drum_track
from live.bench.beat_metrics import score_beats


def test_the_beats_of_a_file_print_one_a_line_and_as_runs_in_json(tmp_path, capsys):
    rate = 22050
    track = drum_track(120, 10, rate, STEADY)
    silence = np.zeros(5 * rate, np.float32)
    path = tmp_path / "two parts.wav"
    sf.write(path, np.stack([np.concatenate([track.samples, silence, track.samples])] * 2, axis=1), rate)
    report = tmp_path / "beats.json"
    assert main(["beats", str(path), "--json", str(report), "--quiet"]) == 0
    out, err = capsys.readouterr()
    printed = np.array([float(line) for line in out.splitlines()])
    again = len(track.samples) / rate + 5
    truth = np.concatenate([track.beats, track.beats + again])
    assert score_beats(printed, truth, tolerance=0.07).f_measure >= 0.95
    runs = json.loads(report.read_text())["runs"]
    assert len(runs) == 2 and np.allclose(np.concatenate(runs), printed, atol=6e-4)  # printed to the ms
    assert max(runs[0]) < again - 4 and min(runs[1]) > again - 0.1  # none in the silence between
    assert err.strip() == f"live: {len(printed)} beats in 2 runs, 120 bpm"


def test_a_file_that_is_no_audio_is_one_line(tmp_path, capsys):
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    assert main(["beats", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot decode audio" in err
