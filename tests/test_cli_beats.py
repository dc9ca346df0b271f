"""`python -m live beats SONG`: the render's beats of a file, printed."""
import json

import numpy as np
import pytest
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
    lines = [line.split() for line in out.splitlines() if line]
    printed = np.array([float(time) for time, _ in lines])
    assert out.count("\n\n") == 1  # a blank line between the runs
    again = len(track.samples) / rate + 5
    truth = np.concatenate([track.beats, track.beats + again])
    assert score_beats(printed, truth, tolerance=0.07).f_measure >= 0.95
    found = json.loads(report.read_text())
    runs = found["runs"]
    assert len(runs) == 2 and np.allclose(np.concatenate(runs), printed, atol=6e-4)  # printed to the ms
    places = np.concatenate(found["places"])
    assert [int(place) for _, place in lines] == places.tolist()
    for run, place in zip(runs, found["places"]):  # four a bar, on, from wherever the run starts
        assert np.all(np.diff(place) % 4 == 1) and len(run) == len(place)
    assert max(runs[0]) < again - 4 and min(runs[1]) > again - 0.1  # none in the silence between
    assert err.strip() == f"live: {len(printed)} beats in 2 runs, 120 bpm"


def test_a_file_that_is_no_audio_is_one_line(tmp_path, capsys):
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    assert main(["beats", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot decode audio" in err


def test_beats_are_read_as_written_by_hand_by_beats_or_by_audacity(tmp_path):
    from live.audio.beatfiles import beats_text, read_beats
    from live.audio.beatmap import BeatMap

    path = tmp_path / "beats.txt"
    written = BeatMap((np.array([0.5, 1.0, 1.5]), np.array([4.25, 4.75])))
    path.write_text(beats_text(written))
    assert [run.tolist() for run in read_beats(path).runs] == [[0.5, 1.0, 1.5], [4.25, 4.75]]
    assert not np.concatenate(read_beats(path).places).any()  # no bars
    barred = BeatMap(written.runs, (np.array([3, 4, 1]), np.array([0, 0])))
    path.write_text(beats_text(barred))
    assert path.read_text() == "0.500 3\n1.000 4\n1.500 1\n\n4.250\n4.750\n"
    assert [p.tolist() for p in read_beats(path).places] == [[3, 4, 1], [0, 0]]
    # Places left out count on from the beat before, around the bar: a file of its downbeats alone.
    path.write_text("0.0\n0.5 1\n1.0\n1.5\n2.0\n2.5 1\n3.0\n3.5\n4.0\n4.5 1\n5.0\n")
    assert read_beats(path).places[0].tolist() == [0, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2]
    path.write_text("0.5 1\n1.0 2\n1.5\n2.0 3\n2.5\n3.0\n")  # one missed, a bar of three
    assert read_beats(path).places[0].tolist() == [1, 2, 3, 3, 1, 2]
    path.write_text("0.5 1\n1.0\n1.5\n2.0\n2.5 1\n3.0 2\n3.5\n4.0\n")  # a stray 2 makes no bars of two
    assert read_beats(path).places[0].tolist() == [1, 2, 3, 4, 1, 2, 3, 4]
    path.write_text("0.5 0\n1.0 1\n1.5\n2.0\n2.5\n3.0\n")  # a lone downbeat: bars of four; 0, as JSON has it
    assert read_beats(path).places[0].tolist() == [0, 1, 2, 3, 4, 1]
    path.write_text("0.500000\t0.500000\tbeat\n1.000000\t1.000000\tbeat\n")  # Audacity's labels
    assert [run.tolist() for run in read_beats(path).runs] == [[0.5, 1.0]]
    path.write_text("# the intro\n0.5, kick\n\n# a comment is no break\n1.0  # snare\n\n\n2.0\n")
    assert [run.tolist() for run in read_beats(path).runs] == [[0.5], [1.0], [2.0]]


@pytest.mark.parametrize("text, message", [
    ("0.5\n0.5\n", "line 2: 0.5 s comes after 0.5 s; the beats must rise"),
    ("0,5\n1,5\n", "line 1: 0,5 has a decimal comma"),  # read as 0 and 1 (review 80)
    ("0,500000\t0,500000\tbeat\n", "line 1: 0,500000 has a decimal comma"),
    ("1_000\n", "line 1: 1_000 is not a time in seconds"),
    ("0.5\nsoon\n", "line 2: soon is not a time in seconds"),
    ("-1\n", "line 1: -1 is not a time in seconds"),
    ("nan\n", "line 1: nan is not a time in seconds"),
    ("0.5 33\n", "line 1: 33 is no place in a bar; after the time, give 1 on the bar's first beat"),
    ("# nothing\n\n", "holds no beats"),
])
def test_a_beat_file_that_cannot_be_read_says_its_line(tmp_path, text, message):
    from live.audio.beatfiles import read_beats
    from live.errors import UserError

    path = tmp_path / "beats.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_beats(path)


def test_a_huge_file_is_no_beat_file(tmp_path):
    from live.audio.beatfiles import MAX_BEAT_FILE_BYTES, read_beats
    from live.errors import UserError

    path = tmp_path / "song.wav"
    with open(path, "wb") as f:
        f.truncate(MAX_BEAT_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(UserError, match="is no beat file: over 16 MB"):
        read_beats(path)


def test_a_device_is_no_beat_file():
    from live.audio.beatfiles import read_beats
    from live.errors import UserError

    with pytest.raises(UserError, match="/dev/zero is no beat file: over 16 MB"):
        read_beats("/dev/zero")  # read whole, it never ended (review 80)


def test_a_file_s_beats_are_found_once_and_again_when_it_changes(tmp_path, monkeypatch):
    import live.audio.beatfiles as beatfiles
    from live.audio.decode import scan_audio

    rate = 22050
    path = tmp_path / "song.wav"
    sf.write(path, drum_track(120, 6, rate, STEADY).samples, rate)
    first = beatfiles.file_beats(scan_audio(path))
    monkeypatch.setattr(beatfiles, "_find", lambda *a: pytest.fail("found again"))
    again = beatfiles.file_beats(scan_audio(path), first=rate)  # a render of an excerpt: the same, from 1 s
    assert np.array_equal(again.beats, first.beats - 1.0)
    monkeypatch.undo()
    sf.write(path, drum_track(100, 6, rate, STEADY).samples, rate)  # another take of the song
    changed = beatfiles.file_beats(scan_audio(path))
    assert np.median(np.diff(changed.beats)) == pytest.approx(0.6, abs=0.01)


def test_a_song_rewritten_in_place_with_its_old_time_is_found_again(tmp_path):
    # rsync -t --inplace, or a FAT stick's 2 s clock: the same size and time served the old beats (review 81).
    import os

    import live.audio.beatfiles as beatfiles
    from live.audio.decode import scan_audio

    rate, n = 22050, 22050 * 8
    path = tmp_path / "song.wav"
    sf.write(path, drum_track(120, 8, rate, STEADY).samples[:n], rate, subtype="PCM_16")
    before = os.stat(path)
    assert np.median(np.diff(beatfiles.file_beats(scan_audio(path)).beats)) == pytest.approx(0.5, abs=0.01)
    other = np.zeros(n, np.float32)
    take = drum_track(90, 8, rate, STEADY).samples[:n]
    other[:len(take)] = take
    sf.write(path, other, rate, subtype="PCM_16")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    assert np.median(np.diff(beatfiles.file_beats(scan_audio(path)).beats)) == pytest.approx(0.667, abs=0.01)


def test_the_cache_of_beats_is_of_the_code_that_found_them(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import live.audio.beatfiles as beatfiles
    from live.audio.decode import scan_audio

    path = tmp_path / "song.wav"
    sf.write(path, drum_track(120, 3, 22050, STEADY).samples, 22050)
    audio = scan_audio(path)
    entry = beatfiles._cache_entry(audio)
    changed = tmp_path / "beatmap.py"
    changed.write_text("ONSET_DB = 30\n")  # a retuned finder (the threshold moved this session)
    monkeypatch.setattr(beatfiles, "beatmap_module", SimpleNamespace(__file__=str(changed)))
    assert beatfiles._cache_entry(audio) != entry


def test_a_file_gone_since_it_was_checked_is_one_line(tmp_path):
    from live.audio.beatfiles import file_beats
    from live.audio.decode import scan_audio
    from live.errors import UserError

    path = tmp_path / "song.wav"
    sf.write(path, drum_track(120, 3, 22050, STEADY).samples, 22050)
    audio = scan_audio(path)
    path.unlink()
    with pytest.raises(UserError, match="song.wav .*; check that it is still there and readable"):
        file_beats(audio)


def test_the_cache_is_keyed_by_the_code_that_finds_beats_and_bars(tmp_path, monkeypatch):
    # A retuned bars.py kept serving the old places (review 83).
    import live.audio.bars as bars
    import live.audio.beatfiles as beatfiles
    from live.audio.decode import scan_audio

    path = tmp_path / "song.wav"
    sf.write(path, drum_track(120, 3, 22050, STEADY).samples, 22050)
    before = beatfiles._cache_entry(scan_audio(path))
    retuned = tmp_path / "bars.py"
    retuned.write_text(open(bars.__file__).read().replace("SWITCH_COST = 12.0", "SWITCH_COST = 6.0"))
    monkeypatch.setattr(bars, "__file__", str(retuned))
    assert beatfiles._cache_entry(scan_audio(path)) != before


def test_the_cache_keeps_the_songs_used_last(tmp_path, monkeypatch):
    import os

    import live.audio.beatfiles as beatfiles
    from live.audio.decode import scan_audio

    monkeypatch.setattr(beatfiles, "CACHE_ENTRIES", 2)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # this test's entries alone
    songs = []
    for i, bpm in enumerate((100, 120, 140)):
        songs.append(tmp_path / f"song{i}.wav")
        sf.write(songs[-1], drum_track(bpm, 3, 22050, STEADY).samples, 22050)
    entries = [beatfiles._cache_entry(scan_audio(song)) for song in songs]
    beatfiles.file_beats(scan_audio(songs[0]))
    beatfiles.file_beats(scan_audio(songs[1]))
    os.utime(entries[0], (1, 1))  # an hour ago, as it were; then used again
    os.utime(entries[1], (2, 2))
    beatfiles.file_beats(scan_audio(songs[0]))
    beatfiles.file_beats(scan_audio(songs[2]))
    assert [entry.exists() for entry in entries] == [True, False, True]
