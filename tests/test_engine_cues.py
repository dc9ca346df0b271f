"""The cue sheet's reading: times, fields, and one line for each thing wrong."""
import pytest

import numpy as np

from live.audio.beatmap import BeatMap
from live.engine.cues import (Cue, CueLog, CueSheet, acting_order, cue, presets_named, read_cues, seconds, snapped,
                             write_cues)
from live.errors import UserError


@pytest.mark.parametrize("text, expected", [
    (64.5, 64.5), (0, 0.0), ("1:04.5", 64.5), ("0:00", 0.0), ("1:02:03", 3723.0), ("10:00.25", 600.25),
    (__import__("datetime").time(0, 1, 4, 500000), 64.5),  # at = 00:01:04.5, unquoted: a TOML time
])
def test_times_are_seconds_or_a_clock(text, expected):
    assert seconds(text) == expected


@pytest.mark.parametrize("text, fragment", [
    (-1, "0 or more seconds"), (float("nan"), "0 or more seconds"), (True, r"seconds \(64.5\)"),
    ("1:60", "run to 59"), ("1:60:00", "run to 59"), ("a minute", "a time like"), ("1:2:3:4", "a time like"),
    ("1:2", "a time like"), ("1:02:3", "a time like"),  # 1:20 or 1:23 mistyped, not 62 s (review 97)
    (10**400, "less than a year"),  # past a float's range: OverflowError, a traceback (review 77)
])
def test_a_bad_time_says_what_a_time_is(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        seconds(text)


def test_a_cue_reads_its_preset_settings_and_cut():
    assert cue({"at": "0:30", "preset": "storm", "set": {"lambda": 0.01, "freeze": True}, "cut": True}) == \
        Cue(30.0, "storm", (("lambda", 0.01), ("freeze", True)), True)
    assert cue({"at": 2, "set": {"refine_steps": 3.0}}).values == (("refine_steps", 3),)


@pytest.mark.parametrize("table, fragment", [
    ({"at": 1, "preset": "x", "go": 1}, "unknown field 'go'; a cue takes at, preset, set, cut, snap"),
    ({"preset": "x"}, "no time"),
    ({"at": 1}, "does nothing"),
    ({"at": 1, "preset": "../x"}, "the name of a preset"),
    ({"at": 1, "preset": "x.toml"}, "the name of a preset"),
    ({"at": 1, "set": {"speed": 1}}, "unknown parameter 'speed'"),
    ({"at": 1, "set": {"lambda": 11}}, "lambda must be a number in 0.0..1.0, got 11"),
    ({"at": 1, "set": 3}, "set must be a table"),
    ({"at": 1, "cut": "yes"}, "cut must be true or false"),
    ({"at": 1, "cut": True, "snap": "downbeat"}, 'snap must be "beat" or "bar", got \'downbeat\''),
    ({"at": 1, "cut": True, "snap": True}, 'snap must be "beat" or "bar"'),
])
def test_a_bad_cue_names_its_problem(table, fragment):
    with pytest.raises(ValueError, match=fragment):
        cue(table)


def test_a_sheet_names_the_cue_at_fault(tmp_path):
    sheet = tmp_path / "cues.toml"
    sheet.write_text('[[cue]]\nat = 1\ncut = true\n\n[[cue]]\nat = "0:02"\nset = { lambda = 5 }\n')
    with pytest.raises(UserError, match=r"cues.toml: cue 2 \(at 0:02\): lambda must be a number"):
        read_cues(sheet)
    for text, fragment in (("", "no cues"), ("[cues]\nat = 1\n", "unknown table 'cues'"),
                           ("cue = 3\n", "no cues"), ("[[cue]\n", "cannot read"),
                           ("[cue]\nat = 1\ncut = true\n", "written \\[\\[cue\\]\\], with two brackets"),
                           ("[[cue]]\nat = 0:45\ncut = true\n", 'a time is quoted, at = "0:45"'),
                           # A syntax error elsewhere gets no hint about times (review 97).
                           ('[[cue]]\nat = 1\nset = { lambda = 0.1\n', r"cannot read [^(]*\(at line 3, column \d+\)$"),
                           ('name = "x"\n[source]\nseed = 1\n', "is a preset, not a cue sheet; give it with --preset")):
        sheet.write_text(text)
        with pytest.raises(UserError, match=fragment):
            read_cues(sheet)


def test_cues_are_handed_over_in_time_order_those_at_one_time_in_the_file_s():
    cues = [Cue(2.0, "b"), Cue(1.0, "a"), Cue(2.0, cut=True), Cue(3.0, "a")]
    sheet = CueSheet(cues)
    assert sheet.due(0.5) == []
    assert sheet.due(2.0) == [cues[1], cues[0], cues[2]]
    assert sheet.due(2.5) == [] and sheet.due(9.0) == [cues[3]] and sheet.due(9.0) == []
    assert presets_named(cues) == ["b", "a"]


def test_a_written_sheet_reads_back_to_the_same_cues(tmp_path):
    cues = [Cue(0.0, "storm"), Cue(1.25, values=(("lambda", 1e-05), ("refine_steps", 3), ("freeze", True))),
            Cue(2.5, cut=True, snap="bar"), Cue(3.0, 'odd "name" é\x7f', (("intensity", 1.5),), True, "beat")]
    path = write_cues(tmp_path / "set.toml", cues, "a show of demo\nrender it again: ...")
    assert read_cues(path) == cues
    assert path.read_text().startswith("# a show of demo\n# render it again: ...\n\n[[cue]]\nat = 0.000\n")



def test_a_cue_that_snaps_moves_to_the_nearest_beat_or_downbeat_and_one_with_none_near_is_said():
    # 120 bpm from 1.0 to 8.5, bars from 2.0 (a beat before the first downbeat), then a break, then
    # 10.0-13.0 with no bars known.
    beats = BeatMap((np.arange(1.0, 8.6, 0.5), np.arange(10.0, 13.1, 0.5)),
                    ((np.arange(16) + 2) % 4 + 1, np.zeros(7, np.int64)))
    cues = [Cue(4.1, cut=True, snap="bar"), Cue(4.3, cut=True, snap="beat"), Cue(4.3, values=(("pulse", 0.0),)),
            Cue(3.2, values=(("blackout", True),), snap="bar"), Cue(9.3, cut=True, snap="beat"),
            Cue(11.1, cut=True, snap="bar"), Cue(0.1, cut=True, snap="beat"), Cue(0.6, cut=True, snap="beat"),
            Cue(7.0, cut=True)]
    moved, lines = snapped(cues, beats)
    # The cue at 4.3 without a snap goes with the one at 4.3 that has one; they act in the order of their times.
    assert [c.at for c in moved] == [4.0, 4.5, 4.5, 4.0, 9.3, 11.1, 0.1, 1.0, 7.0]
    assert acting_order(cues, moved) == [Cue(0.1, cut=True, snap="beat"), Cue(1.0, cut=True, snap="beat"),
                     Cue(4.0, values=(("blackout", True),), snap="bar"), Cue(4.0, cut=True, snap="bar"),
                     Cue(4.5, cut=True, snap="beat"), Cue(4.5, values=(("pulse", 0.0),)), Cue(7.0, cut=True),
                     Cue(9.3, cut=True, snap="beat"), Cue(11.1, cut=True, snap="bar")]
    assert lines == ["cue 5 (at 9.3 s) snaps to the beat, but no beat lies within a beat of it; it acts at its time",
                     "cue 6 (at 11.1 s) snaps to the bar, but no downbeat lies within a bar of it; it acts at its time",
                     "cue 7 (at 0.1 s) snaps to the beat, but no beat lies within a beat of it; it acts at its time"]
    # Snapped past another cue's time: said, once for the cues of a time (the first that snaps decides
    # where they go); they act in the order of their new times.
    crossing = [Cue(4.1, values=(("blackout", False),)), Cue(4.2, values=(("blackout", True),), snap="bar"),
                Cue(4.2, values=(("pulse", 0.5),), snap="beat"), Cue(5.7, cut=True), Cue(5.6, cut=True, snap="bar")]
    moved, lines = snapped(crossing, beats)
    assert [c.at for c in moved] == [4.1, 4.0, 4.0, 5.7, 6.0]
    assert lines == ["cue 2 (at 4.2 s) snaps to 4 s, before cue 1 (at 4.1 s): the two act in that order",
                     "cue 5 (at 5.6 s) snaps to 6 s, after cue 4 (at 5.7 s): the two act in that order"]
    assert acting_order(crossing, moved) == [moved[1], moved[2], moved[0], moved[3], moved[4]]
    # Two times landing on one downbeat act in the order of their times, whatever the file's.
    two = [Cue(4.3, cut=True, snap="bar"), Cue(3.8, values=(("freeze", True),), snap="bar")]
    assert acting_order(two, snapped(two, beats)[0]) == [Cue(4.0, values=(("freeze", True),), snap="bar"),
                                                          Cue(4.0, cut=True, snap="bar")]
    parted = BeatMap((np.arange(0.0, 3.9, 0.25), 6.0 + np.arange(8.0)), (np.arange(16) % 4 + 1, np.arange(8) % 4 + 1))
    assert snapped([Cue(4.5, cut=True, snap="bar")], parted)[0] == [Cue(6.0, cut=True, snap="bar")]  # 3.0's bar: 1 s
    # No bars known at all (a beat file of bare times): said so.
    bare = BeatMap((np.arange(1.0, 8.6, 0.5),))
    assert snapped([Cue(4.1, cut=True, snap="bar")], bare)[1] == [
        "cue 1 (at 4.1 s) snaps to the bar, but the beats have no bars (no places); it acts at its time"]
    # No beats at all (a track in which none were found): the cues stay, and say so.
    assert [line.split(", but ")[1] for line in snapped([Cue(1.0, cut=True, snap="beat"),
                                                         Cue(2.0, cut=True, snap="bar")], BeatMap(()))[1]] == [
        "no beat lies within a beat of it; it acts at its time",
        "the beats have no bars (no places); it acts at its time"]
    # A looping track's (the demo in a show): the downbeat of the loop the cue falls in, and not one of the
    # loop before the audio's start, which never plays.
    looped = BeatMap((np.arange(0.0, 9.9, 0.5),), (np.arange(20) % 4 + 1,), loop=10.0)
    assert [c.at for c in snapped([Cue(41.9, cut=True, snap="bar")], looped)[0]] == [42.0]
    late = BeatMap((0.3 + np.arange(0.0, 9.6, 0.5),), loop=10.0)  # the loop before: a beat at -0.2
    assert snapped([Cue(0.0, cut=True, snap="beat")], late)[0] == [Cue(0.3, cut=True, snap="beat")]


def test_the_notes_on_cues_that_snap_name_them_by_their_place_in_the_file(capsys):
    from types import SimpleNamespace

    from live.cli.common import timed_cues

    beats = BeatMap((np.arange(0.0, 10.0, 0.5),), (np.arange(20) % 4 + 1,))
    cues = [Cue(30.0, cut=True), Cue(1.1, cut=True, snap="bar")]
    assert timed_cues(SimpleNamespace(cues="cues.toml"), cues, beats, "", end=20.0, plays="render") == [
        Cue(2.0, cut=True, snap="bar"), Cue(30.0, cut=True)]
    assert "cue 1 at 30 s comes after the render's end (20 s)" in capsys.readouterr().err


def test_the_log_keeps_the_order_commands_came_in():
    log = CueLog()
    for at in (1.0, 2.0, 1.997, 3.0):  # the third read on another thread, its stream time a hair behind
        log.add(Cue(at, cut=True))
    assert [c.at for c in log.cues()] == [1.0, 2.0, 2.0, 3.0]


def test_the_readme_s_cue_sheet_reads(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("    [[cue]]", readme.index("A cue sheet changes the look"))
    block = readme[start:readme.index("\n\n", readme.rindex("    [[cue]]", start, readme.index("Each cue acts")))]
    (tmp_path / "readme.toml").write_text("\n".join(line[4:] for line in block.splitlines()))
    cues = read_cues(tmp_path / "readme.toml")
    assert [c.at for c in cues] == [45.5, 72.0, 80.0, 90.0] and cues[0].cut and cues[1].preset == "tide"
