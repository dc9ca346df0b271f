import json
import math
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
import soundfile as sf
import torch

from live.__main__ import main
from live.audio.beatfiles import file_beats
from live.audio.decode import scan_audio
from live.audio.demo import render_demo
from live.engine.keyframes import KeyframeMaker
from live.engine.screen import ScreenDirector


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    track = render_demo(seed=1, sample_rate=22050)
    path = tmp_path_factory.mktemp("audio") / "song.wav"
    stereo = np.stack([track.samples, track.samples * 0.5], axis=1)
    sf.write(path, stereo[: 22050 * 4], 22050)
    return path


def test_render_writes_video_with_audio(tmp_path, song, preset_dir, monkeypatch, capsys):
    out = tmp_path / "out.mp4"
    stats = tmp_path / "stats.json"
    code = main(["render", str(song), "-o", str(out), "--preset", "test", "--presets-dir", str(preset_dir),
                 "--fps", "10", "--size", "96x64", "--duration", "3", "--stats", str(stats), "--quiet"])
    assert code == 0
    assert "frame/s" not in capsys.readouterr().err  # --quiet: no bar, as the trainers take it (review 65)
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (96, 64)
        frames = sum(1 for _ in container.decode(video=0))
        assert frames == 30
        assert len(container.streams.audio) == 1
        assert container.streams.audio[0].channels == 2
    s = json.loads(stats.read_text())
    assert s["frames"] == 30 and 0 < s["keyframes"] == s["keyframes_shown"]  # only those shown are made
    assert len(s["emotion"]) == s["keyframes_shown"] and all(0 <= v <= 1 and 0 <= a <= 1 for _, v, a in s["emotion"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "presets", "stats.json"]


def test_a_render_draws_with_the_shaders_given(tmp_path, song, preset_dir):
    """--shaders: a performer's own copy to edit, where an error named an option none took (review)."""
    import shutil

    from live.render.shaders import default_shader_dir

    mine = tmp_path / "mine"
    shutil.copytree(default_shader_dir(), mine)
    crossfade = mine / "crossfade.frag"
    text = crossfade.read_text()
    crossfade.write_text(text[:text.rindex("}")] + "    f_color = vec4(0.0, 1.0, 0.0, 1.0);\n}\n")
    green = []
    for name, shaders in (("theirs", []), ("mine", ["--shaders", str(mine)])):
        assert main(["render", str(song), "-o", str(tmp_path / name), "--preset", "test", "--presets-dir",
                     str(preset_dir), "--fps", "4", "--size", "32x32", "--duration", "1", *shaders]) == 0
        picture = np.asarray(Image.open(tmp_path / name / "frame_000003.png"))
        green.append(np.mean((picture == (0, 255, 0)).all(axis=-1)))
    assert green[0] == 0 and green[1] > 0.2  # the pixels the crossfade pass draws


def test_a_render_contains_the_square_picture_when_asked_and_fills_the_screen_by_default(tmp_path, song, preset_dir):
    """--fit: a 16:9 projector shows the middle 56 % of the picture's height unless told to contain it (review 97)."""
    edges = {}
    for fit in ("cover", "contain"):
        assert main(["render", str(song), "-o", str(tmp_path / fit), "--preset", "test", "--presets-dir",
                     str(preset_dir), "--fps", "4", "--size", "64x32", "--duration", "1", "--fit", fit]) == 0
        picture = np.asarray(Image.open(tmp_path / fit / "frame_000003.png"))
        assert picture[:, 20:44].max() > 0  # the picture's middle, in both
        edges[fit] = picture[:, 50:].max()  # the right edge (the test preset's HUD is on the left)
    # A bar 16 px wide beside the 32 px picture, less the 2 px a beat's zoom and the filter reach into.
    assert edges["cover"] > 0 and edges["contain"] == 0


@pytest.mark.parametrize("crossfade_beats", [1.0, 0.5, 0.0])  # a fade, a short fade and a cut wait differently
def test_a_render_makes_the_keyframes_it_shows_from_the_windows_they_were_due(tmp_path, song, preset_dir,
                                                                              monkeypatch, crossfade_beats):
    made = {}  # capture time: log-mel window
    make = KeyframeMaker.make
    monkeypatch.setattr(KeyframeMaker, "make", lambda self, log_mel, settings, capture_time, clock, **kw: (
        made.__setitem__(capture_time, log_mel.clone()), make(self, log_mel, settings, capture_time, clock, **kw))[1])
    # Unsynced cuts take each keyframe due at once: all are made, as live inference makes them.
    text = (preset_dir / "test.toml").read_text()
    (preset_dir / "unsynced.toml").write_text(text.replace("[settings]\n",
                                                           "[settings]\nbeat_sync = false\ncrossfade_beats = 0.0\n"))
    (preset_dir / "synced.toml").write_text(text.replace("[settings]\n",
                                                         f"[settings]\ncrossfade_beats = {crossfade_beats}\n"))

    def render(preset: str) -> tuple[dict, dict]:
        made.clear()
        stats = tmp_path / f"{preset}.json"
        assert main(["render", str(song), "-o", str(tmp_path / preset), "--preset", preset, "--presets-dir",
                     str(preset_dir), "--fps", "10", "--size", "32x32", "--duration", "3", "--stats", str(stats)]) == 0
        return dict(made), json.loads(stats.read_text())

    every, _ = render("unsynced")
    # keyframe_rate 5: due every other frame, evenly (a running sum of 1 / rate put the one
    # due at 0.6 s on frame 7).
    assert sorted(every) == [i / 10 for i in range(0, 30, 2)]
    shown, stats = render("synced")
    assert stats["keyframes"] == stats["keyframes_shown"] == len(shown) < len(every)  # one a fade, or a cut
    # Made at the fade's start, from the window of the time it was due, not of the fade's.
    assert shown and all(torch.equal(mel, every[t]) for t, mel in shown.items())


def test_an_interrupted_render_leaves_no_video_and_keeps_an_earlier_one(tmp_path, song, preset_dir, monkeypatch,
                                                                       capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"yesterday's video")
    frame = ScreenDirector.frame
    calls = []

    def interrupted(self, t, *args):
        calls.append(t)
        if len(calls) == 12:
            raise KeyboardInterrupt
        return frame(self, t, *args)

    monkeypatch.setattr(ScreenDirector, "frame", interrupted)
    assert main(["render", str(song), "-o", str(out), "--preset", "test", "--presets-dir", str(preset_dir),
                 "--fps", "10", "--size", "96x64", "--duration", "3"]) != 0
    assert "interrupted" in capsys.readouterr().err
    assert out.read_bytes() == b"yesterday's video"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "presets"]


def test_a_render_whose_predictor_gives_no_finite_latent_ends_in_one_line(tmp_path, song, preset_dir, monkeypatch,
                                                                          capsys):
    # A show keeps its last picture; a render rendered black frames, then a traceback (review 51).
    monkeypatch.setattr(KeyframeMaker, "latent", lambda self, log_mel, settings: (_ for _ in ()).throw(
        ValueError("the predictor's latent is not finite")))
    out = tmp_path / "out.mp4"
    assert main(["render", str(song), "-o", str(out), "--preset", "test", "--presets-dir", str(preset_dir),
                 "--fps", "4", "--size", "32x32", "--duration", "2"]) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("the keyframe at 0.0 s cannot be made: the predictor's latent is not finite")
    assert "Traceback" not in err and not out.exists()


def test_a_render_of_a_file_cut_short_says_so(tmp_path, song, preset_dir, capsys):
    cut = tmp_path / "cut.wav"
    cut.write_bytes(song.read_bytes()[:22050 * 4])  # a second of the four its header states
    assert main(["render", str(cut), "-o", str(tmp_path / "frames"), "--preset", "test", "--presets-dir",
                 str(preset_dir), "--fps", "4", "--size", "32x32", "--duration", "3"]) == 0
    err = capsys.readouterr().err
    assert "cut.wav holds 1.00 s of the 4.00 s its header states" in err
    assert "--duration 3 s go past the end of" in err and "the video ends with the audio" in err
    assert len(list((tmp_path / "frames").glob("*.png"))) == 4


def test_a_render_of_a_silent_or_surround_file_says_so_before_the_networks_load(tmp_path, preset_dir, capsys,
                                                                              monkeypatch):
    """A silent file made a video of the picture the space reads for silence, and a 5.1 file a video
    of its mixdown, without a word (review 97)."""
    import live.cli.render

    class NetworksLoading(Exception):
        pass

    def networks(*args, **kwargs):
        raise NetworksLoading

    monkeypatch.setattr(live.cli.render, "open_show", networks)
    quiet = tmp_path / "quiet.wav"
    for level, channels, said in ((0.0009, 2, True), (0.0011, 6, False)):  # -61 dBFS; -59, sound to a show
        sf.write(quiet, np.full((22050, channels), level, np.float32), 22050)
        with pytest.raises(NetworksLoading):
            main(["render", str(quiet), "-o", str(tmp_path / "frames"), "--preset", "test", "--presets-dir",
                  str(preset_dir), "--fps", "4", "--size", "32x32"])
        err = capsys.readouterr().err
        assert (f"{quiet} is silent (its loudest sample is at -61 dBFS, below the -60 dBFS" in err) == said, err
        assert (f"{quiet} has 6 channels: the video's sound is their mix at equal weights" in err) == (channels == 6)


def test_render_is_deterministic(tmp_path, song, preset_dir):
    args = ["--preset", "test", "--presets-dir", str(preset_dir), "--fps", "8", "--size", "64x64",
            "--start", "0.5", "--duration", "1.5"]
    assert main(["render", str(song), "-o", str(tmp_path / "a"), *args]) == 0
    assert main(["render", str(song), "-o", str(tmp_path / "b"), *args]) == 0
    a = sorted((tmp_path / "a").glob("*.png"))
    b = sorted((tmp_path / "b").glob("*.png"))
    assert len(a) == 12 and [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    # The picture moves: not every frame is the same.
    assert len({p.read_bytes() for p in a}) > 1


def test_render_bad_inputs_are_one_line_errors(tmp_path, song, preset_dir, capsys):
    assert main(["render", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "x.mp4"),
                 "--presets-dir", str(preset_dir), "--preset", "test"]) == 2
    assert main(["render", str(song), "-o", str(tmp_path / "x.mp4"), "--presets-dir", str(preset_dir),
                 "--preset", "nope"]) == 2
    assert main(["render", str(song), "-o", str(tmp_path / "x.avi"), "--presets-dir", str(preset_dir),
                 "--preset", "test"]) == 2
    err = capsys.readouterr().err
    assert err.count("live: error:") == 3 and "Traceback" not in err
    # No --preset, and the folder has no default.toml: the remedy is --preset, or a preset.
    assert main(["render", str(song), "-o", str(tmp_path / "x.mp4"), "--presets-dir", str(preset_dir)]) == 2
    assert "has no default.toml: choose one with --preset (" in capsys.readouterr().err
    assert main(["render", str(song), "-o", str(tmp_path / "x.mp4"), "--presets-dir", str(tmp_path)]) == 2
    assert "it holds no presets; make one with: python -m live preset" in capsys.readouterr().err


def test_render_checks_the_excerpt_and_the_stats_path_before_the_networks_load(tmp_path, song, preset_dir,
                                                                                monkeypatch, capsys):
    def no_networks(*args, **kwargs):
        raise AssertionError("the networks loaded before the input was checked")

    monkeypatch.setattr("live.cli.render.open_show", no_networks)
    args = ["-o", str(tmp_path / "x.mp4"), "--presets-dir", str(preset_dir), "--preset", "test"]
    assert main(["render", str(song), *args, "--start", "60"]) == 2
    assert main(["render", str(song), *args, "--start", "1e305"]) == 2  # its sample index would overflow
    with pytest.raises(SystemExit) as exit_info:  # under a file: refused as the command line is read
        main(["render", str(song), *args, "--stats", str(song / "stats.json")])
    assert exit_info.value.code == 2
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "frame_000000.png").write_bytes(b"an earlier render's")
    assert main(["render", str(song), *args[2:], "-o", str(frames)]) == 2
    err = capsys.readouterr().err
    assert err.count("past the end") == 2 and f"{song} is a file, not a folder" in err and "already holds frame_*.png" in err
    assert "--start 1e+305 s is past" in err  # not its 306 digits
    assert "Traceback" not in err


def _audio_seconds(path) -> float:
    with av.open(str(path)) as container:
        return sum(frame.samples for frame in container.decode(audio=0)) / container.streams.audio[0].rate


def test_the_last_frame_covers_the_excerpt_s_tail_and_all_its_audio_is_muxed(tmp_path, song, preset_dir):
    out = tmp_path / "out.mp4"
    assert main(["render", str(song), "-o", str(out), "--preset", "test", "--presets-dir", str(preset_dir),
                 "--fps", "1", "--size", "64x64", "--start", "1.5"]) == 0
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3  # 2.5 s at 1 fps: the third frame holds the last 0.5 s
    assert _audio_seconds(out) >= 2.5 - 1e-3  # 2 s before: the tail after the last whole frame was dropped


@pytest.fixture(scope="module")
def clicks(tmp_path_factory):
    """12 s of clicks at 120 bpm, beats at 0.25 + 0.5 k s."""
    rate, bpm = 22050, 120
    samples = np.zeros(rate * 12, np.float32)
    for beat in np.arange(0.25, 12, 60 / bpm):
        i = round(beat * rate)
        samples[i:i + 400] = np.random.default_rng(i).uniform(-0.8, 0.8, 400) * np.linspace(1, 0, 400)
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    sf.write(path, samples, rate)
    return path


def test_an_excerpt_s_analyzer_has_heard_the_music_before_it(tmp_path, clicks, preset_dir):
    path = clicks
    args = ["--preset", "test", "--presets-dir", str(preset_dir), "--fps", "10", "--size", "64x64"]
    full, part = tmp_path / "full.json", tmp_path / "part.json"
    assert main(["render", str(path), "-o", str(tmp_path / "full"), *args, "--duration", "9", "--stats", str(full)]) == 0
    assert main(["render", str(path), "-o", str(tmp_path / "part"), *args, "--start", "6", "--stats", str(part)]) == 0
    heard = [t - 6 for t in json.loads(full.read_text())["beats"] if t >= 6]
    beats = json.loads(part.read_text())["beats"]
    # The same music before frame 0: the same beats, from the first second on (cold, the
    # tracker found none for 1.6 s, then beats at 187 bpm).
    assert len(heard) >= 5 and beats[:len(heard)] == pytest.approx(heard, abs=1e-6)
    assert beats[0] < 0.5


def test_a_render_s_beats_follow_a_tempo_change_at_once_and_live_ones_as_a_show_would(tmp_path, preset_dir):
    from live.audio.synth import STEADY, drum_track
    from live.bench.beat_metrics import score_beats

    rate = 22050
    slow, fast = drum_track(100, 8, rate, STEADY, seed=0), drum_track(140, 8, rate, STEADY, seed=1)
    change = len(slow.samples) / rate
    truth = np.concatenate([slow.beats, fast.beats + change])
    path = tmp_path / "change.wav"
    sf.write(path, np.concatenate([slow.samples, fast.samples]), rate)
    found = {}
    for beats in ("lookahead", "live"):
        stats = tmp_path / f"{beats}.json"
        assert main(["render", str(path), "-o", str(tmp_path / beats), "--preset", "test", "--presets-dir",
                     str(preset_dir), "--fps", "5", "--size", "16x16", "--beats", beats, "--stats", str(stats),
                     "--quiet"]) == 0
        found[beats] = np.array(json.loads(stats.read_text())["beats"])
    after = (truth >= change) & (truth < change + 3)
    assert score_beats(found["lookahead"], truth, tolerance=0.07).f_measure >= 0.95
    assert score_beats(found["lookahead"], truth[after], tolerance=0.07).recall == 1.0
    # The show's tracker takes seconds to hear the new tempo.
    assert score_beats(found["live"], truth[after], tolerance=0.07).recall < 0.8


def test_a_render_takes_the_beats_it_is_given(tmp_path, clicks, preset_dir, capsys):
    # The clicks' beats at 0.25 + 0.5 k s, moved by hand to 0.3 + 0.75 k s: the render beats on the file's.
    beats = tmp_path / "mine.txt"
    beats.write_text("".join(f"{0.3 + 0.75 * k:.3f}\n" for k in range(16)))
    stats = tmp_path / "stats.json"
    args = ["--preset", "test", "--presets-dir", str(preset_dir), "--fps", "5", "--size", "16x16", "--quiet"]
    assert main(["render", str(clicks), "-o", str(tmp_path / "given"), *args, "--start", "1", "--duration", "6",
                 "--beats", str(beats), "--stats", str(stats)]) == 0
    # Stream times from --start, each beat once, those in the video.
    expected = [0.3 + 0.75 * k - 1 for k in range(16) if 1 <= 0.3 + 0.75 * k < 7]
    assert json.loads(stats.read_text())["beats"] == pytest.approx(expected, abs=1e-9)
    beats.write_text("1.0\n0.5\n")
    assert main(["render", str(clicks), "-o", str(tmp_path / "bad"), *args, "--beats", str(beats)]) == 2
    assert "line 2: 0.5 s comes after 1 s; the beats must rise" in capsys.readouterr().err
    assert main(["render", str(clicks), "-o", str(tmp_path / "none"), *args, "--beats", str(tmp_path / "x")]) == 2
    assert "cannot read the beats in" in capsys.readouterr().err


def test_the_beats_printed_render_the_video_the_render_found_them_for(tmp_path, clicks, preset_dir, capsys):
    # Printed to the millisecond, they rendered other frames than the map's full precision (review 80).
    args = ["--preset", "test", "--presets-dir", str(preset_dir), "--fps", "5", "--size", "16x16", "--quiet",
            "--start", "2", "--duration", "4"]
    assert main(["render", str(clicks), "-o", str(tmp_path / "found"), *args]) == 0
    capsys.readouterr()
    assert main(["beats", str(clicks), "--quiet"]) == 0
    (tmp_path / "beats.txt").write_text(capsys.readouterr().out)
    given = ["--beats", str(tmp_path / "beats.txt")]
    assert main(["render", str(clicks), "-o", str(tmp_path / "given"), *args, *given]) == 0
    for found in sorted((tmp_path / "found").glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(found)), np.asarray(Image.open(tmp_path / "given" / found.name)))


def test_beats_given_for_other_audio_are_refused_and_those_past_its_end_said(tmp_path, clicks, preset_dir, capsys):
    beats = tmp_path / "beats.txt"
    args = ["--preset", "test", "--presets-dir", str(preset_dir), "--fps", "5", "--size", "16x16", "--quiet"]
    beats.write_text("1000\n1001\n")  # another song's, or milliseconds
    assert main(["render", str(clicks), "-o", str(tmp_path / "a"), *args, "--beats", str(beats)]) == 2
    err = capsys.readouterr().err
    assert "none of the 2 beats in" in err and f"(1000-1001 s) falls in {clicks} (0-12 s)" in err
    beats.write_text("8\n9\n")  # none in an excerpt (an intro, a break): the song's own beats (review 81)
    assert main(["render", str(clicks), "-o", str(tmp_path / "b"), *args, "--beats", str(beats), "--duration",
                 "4"]) == 0
    beats.write_text("11\n11.5\n12.5\n13\n")
    assert main(["render", str(clicks), "-o", str(tmp_path / "c"), *args, "--beats", str(beats), "--start", "10"]) == 0
    assert "live: note: beats: 2 of the 4 beats in" in capsys.readouterr().err


def test_an_existing_folder_with_a_dot_in_its_name_takes_png_frames(tmp_path):
    from live.engine.offline import check_output, is_video
    from live.errors import UserError

    folder = tmp_path / "my.frames"
    folder.mkdir()
    check_output(folder)
    assert not is_video(folder) and is_video(tmp_path / "show.MP4")
    with pytest.raises(UserError, match="must end in .mp4.*it has a dot: a new folder .* or make it first"):
        check_output(tmp_path / "not.yet.frames")  # `-o take_1.5/` was refused without a way on (review)
    with pytest.raises(UserError, match=r"it ends in \.avi$"):
        check_output(tmp_path / "clip.avi")  # not "make a folder clip.avi"
    (tmp_path / "notes").write_text("")
    with pytest.raises(UserError, match="it is a file$"):
        check_output(tmp_path / "notes")


def test_an_excerpt_without_a_sample_is_one_line(tmp_path, song, preset_dir, capsys):
    assert main(["render", str(song), "-o", str(tmp_path / "e.mp4"), "--preset", "test", "--presets-dir",
                 str(preset_dir), "--duration", "0.00001"]) == 2
    assert "leave no audio sample" in capsys.readouterr().err


def test_an_excerpt_with_hard_cuts_shows_its_first_picture_at_once(tmp_path, clicks, preset_dir,
                                                                   random_bundle_dir):
    # The pre-roll gives the analyzer a tempo before frame 0; a cut synced to the next beat
    # left the frames black until then: 0.49 s here, from just after a beat to the next.
    (preset_dir / "cuts.toml").write_text(f'name = "cuts"\nbundle = "{random_bundle_dir}"\n[source]\nseed = 5\n'
                                          '[settings]\nkeyframe_rate = 5.0\nrefine_steps = 0\n'
                                          'crossfade_beats = 0.0\n')
    out = tmp_path / "frames"
    assert main(["render", str(clicks), "-o", str(out), "--preset", "cuts", "--presets-dir", str(preset_dir),
                 "--fps", "10", "--size", "32x32", "--start", "6.26", "--duration", "1"]) == 0
    means = [np.asarray(Image.open(p)).mean() for p in sorted(out.glob("*.png"))]
    assert len(means) == 10 and min(means) > 5, means


def test_a_render_reads_its_audio_a_block_at_a_time(tmp_path, preset_dir):
    # Two minutes of 48 kHz stereo are 46 MB as float32; the render held them all, and an
    # hour's 1.4 GB, with the mono mix beside them.
    rate = 48000
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", rate, 2, subtype="PCM_16") as f:
        for second in range(120):
            f.write(np.random.default_rng(second).uniform(-0.3, 0.3, (rate, 2)).astype(np.float32))
    import tracemalloc
    args = ["--preset", "test", "--presets-dir", str(preset_dir), "--fps", "10", "--size", "32x32", "--start", "118"]
    # Once before: what a render imports is not audio held (run alone, the test counted 50 MB of modules).
    assert main(["render", str(path), "-o", str(tmp_path / "first"), *args, "--duration", "0.1"]) == 0
    tracemalloc.start()
    try:
        assert main(["render", str(path), "-o", str(tmp_path / "frames"), *args, "--duration", "1"]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(list((tmp_path / "frames").glob("*.png"))) == 10
    # About 19 MB: two 20 s blocks (7.7 MB each) while the next is decoded, in the beat map's pass or the
    # render's (94 MB when the render held the file)
    assert peak < 25e6, peak


def test_a_render_says_when_its_soundtrack_is_clipped(tmp_path, preset_dir, capsys):
    rate = 22050
    t = np.arange(rate) / rate
    args = ["--preset", "test", "--presets-dir", str(preset_dir), "--fps", "5", "--size", "32x32"]
    for amplitude, name in ((2.0, "hot.wav"), (0.9, "fine.wav")):
        sf.write(tmp_path / name, (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, subtype="FLOAT")
        assert main(["render", str(tmp_path / name), "-o", str(tmp_path / f"{amplitude}.mp4"), *args]) == 0
        assert main(["render", str(tmp_path / name), "-o", str(tmp_path / f"frames{amplitude:.0f}"), *args]) == 0
    err = capsys.readouterr().err
    assert err.count("clipped at full scale") == 1 and "hot.wav peaks at 2, 6.0 dB over full scale" in err


def test_a_video_past_the_file_system_s_largest_file_says_so(tmp_path):
    # RLIMIT_FSIZE makes write() fail with EFBIG, as FAT32 does at 4 GB (Python ignores SIGXFSZ).
    import resource

    from live.errors import UserError
    from live.render.sinks import AudioFormat, VideoFormat, VideoSink

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    sink = VideoSink(tmp_path / "v.mp4", VideoFormat((64, 64), 5.0), AudioFormat(22050, 1))
    noise = np.random.default_rng(0).integers(0, 255, (200, 64, 64, 3), dtype=np.uint8)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))
    try:
        with pytest.raises(UserError, match=r"File too large.*largest file is reached \(FAT32: 4 GB\)"):
            for frame in noise:
                sink.write(frame)
            sink.close()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        sink.discard()


def test_a_hair_over_full_scale_is_not_called_zero_db():
    from live.cli.render import decibels_over

    assert decibels_over(2.0) == "6.0 dB" and decibels_over(1.00001) == "under 0.1 dB"  # it printed "0.0 dB"


def test_the_clipping_note_is_about_the_excerpt_s_soundtrack(tmp_path, preset_dir, capsys):
    rate = 22050
    t = np.arange(4 * rate) / rate
    loud_start = (np.where(t < 2, 2.0, 0.5) * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(tmp_path / "a.wav", loud_start, rate, subtype="FLOAT")
    assert main(["render", str(tmp_path / "a.wav"), "-o", str(tmp_path / "quiet.mp4"), "--preset", "test",
                 "--presets-dir", str(preset_dir), "--fps", "5", "--size", "32x32", "--start", "2.5"]) == 0
    assert "clipped" not in capsys.readouterr().err  # the whole file peaks at 2, this excerpt at 0.5


def test_a_start_just_past_the_end_is_not_told_the_audio_is_longer():
    from live.audio.decode import AudioFile
    from live.engine.offline import excerpt
    from live.errors import UserError

    audio = AudioFile(Path("a.wav"), 1000, 1, 5669)  # 5.669 s
    with pytest.raises(UserError, match=r"--start 5.6695 s is past the end of the audio \(5.669 s\)"):
        excerpt(audio, 5.6695, None)  # it said "(5.7 s)"
    with pytest.raises(UserError, match=r"--start 5.6688 s leaves no audio sample of 5.669 s; give an earlier"):
        excerpt(audio, 5.6688, None)  # it named a --duration the command was not given


# A render of a surround (or 3-channel) file muxes a stereo downmix
# (the frames' audio is mixed to min(channels, 2)); the sink must be opened for stereo.
def test_a_render_sink_for_surround_audio_is_stereo(tmp_path):
    from live.engine.offline import RenderOptions, open_sink
    sink = open_sink(tmp_path / "o.mp4", RenderOptions(size=(64, 48)), 48000, 6)
    try:
        assert sink.audio.channels == 2
    finally:
        sink.discard()


def test_a_render_s_onset_pulse_starts_with_its_sound(tmp_path, clicks, preset_dir, monkeypatch):
    """aubio reports an onset a few hops after it sounds, and the onset was stamped with the
    report: every flash of a render came 52 ms after its click on average (up to 71 ms at
    30 fps), past what a viewer sees as late (found by review). A render hears ahead."""
    frames = []
    frame = ScreenDirector.frame

    def traced(self, t, *args, **kwargs):
        decision = frame(self, t, *args, **kwargs)
        frames.append((t, decision.state.onset_pulse))
        return decision

    monkeypatch.setattr(ScreenDirector, "frame", traced)
    assert main(["render", str(clicks), "-o", str(tmp_path / "frames"), "--preset", "test", "--presets-dir",
                 str(preset_dir), "--fps", "30", "--size", "32x32", "--duration", "8"]) == 0
    flashes = [t for (t, pulse), (_, before) in zip(frames[1:], frames) if pulse > before + 0.2]
    offsets = [min((f - click for f in flashes if f >= click - 0.02), default=np.inf)
               for click in np.arange(2.25, 7.5, 0.5)]  # the clicks after the tracker's first seconds
    assert max(offsets) < 1 / 30 + 0.02 and np.mean(offsets) < 0.035, offsets


def test_a_render_s_hud_gives_the_rate_of_keyframes_made(tmp_path, clicks, preset_dir, monkeypatch):
    """It burnt the preset's keyframe_rate into every frame ("20.0 kf/s" where 2 a second
    were made), where a show's HUD measures the rate (found by review)."""
    said = []
    frame = ScreenDirector.frame

    def traced(self, t, features, newest, settings, hud=None, *rest):
        said.append(hud.keyframes_per_s)
        return frame(self, t, features, newest, settings, hud, *rest)

    monkeypatch.setattr(ScreenDirector, "frame", traced)
    stats = tmp_path / "stats.json"
    assert main(["render", str(clicks), "-o", str(tmp_path / "frames"), "--preset", "test", "--presets-dir",
                 str(preset_dir), "--fps", "10", "--size", "32x32", "--duration", "6", "--stats", str(stats)]) == 0
    made = json.loads(stats.read_text())["keyframes_per_s"]
    assert made < 4.0  # the preset asks for 5 a second, and makes one a beat's fade (2 a second)
    assert np.median(said[len(said) // 2:]) == pytest.approx(made, rel=0.35)


def test_a_render_runs_on_the_threads_it_is_given(tmp_path, song, preset_dir, monkeypatch):
    """Frames depend on the thread count by a level or two, and render had no way to set it."""
    asked = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    assert main(["render", str(song), "-o", str(tmp_path / "frames"), "--preset", "test", "--presets-dir",
                 str(preset_dir), "--fps", "5", "--size", "32x32", "--duration", "0.4", "--threads", "1"]) == 0
    assert asked[:1] == [1]


def test_a_cue_sheet_switches_the_preset_sets_parameters_and_cuts_at_its_moments(tmp_path, song, preset_dir,
                                                                                 monkeypatch):
    made = []  # (capture time, preset)
    make = KeyframeMaker.make
    monkeypatch.setattr(KeyframeMaker, "make", lambda self, log_mel, settings, capture_time, clock, **kw: (
        made.append((capture_time, kw["preset"])), make(self, log_mel, settings, capture_time, clock, **kw))[1])
    frames = {}  # time: (blackout, mix, a keyframe uploaded)
    frame = ScreenDirector.frame

    def recorded(self, t, *args):
        decision = frame(self, t, *args)
        frames[round(t, 3)] = (decision.state.blackout, decision.state.mix, decision.upload is not None)
        return decision

    monkeypatch.setattr(ScreenDirector, "frame", recorded)
    (preset_dir / "test.toml").write_text((preset_dir / "test.toml").read_text().replace(
        "[settings]\n", "[settings]\ncrossfade_beats = 8.0\n"))  # fades long enough for a cut to show
    cues = tmp_path / "cues.toml"
    cues.write_text('[[cue]]\nat = "0:01"\nset = { blackout = true }\n\n'
                    '[[cue]]\nat = 2.0\npreset = "other"\nset = { blackout = false, keyframe_rate = 10 }\ncut = true\n')
    out = tmp_path / "frames"
    assert main(["render", str(song), "-o", str(out), "--preset", "test", "--presets-dir", str(preset_dir),
                 "--fps", "10", "--size", "32x32", "--duration", "3", "--cues", str(cues)]) == 0
    assert [t for t, (blackout, _, _) in frames.items() if blackout] == [i / 10 for i in range(10, 20)]
    assert np.asarray(Image.open(out / "frame_000015.png")).max() == 0
    assert [preset for t, preset in made if t < 2.0] == ["test"] * sum(t < 2.0 for t, _ in made)
    assert (2.0, "other") in made and all(preset == "other" for t, preset in made if t >= 2.0)
    assert frames[2.0][1:] == (1.0, True)  # the new preset's first keyframe, cut to whole at once
    # The preset keeps the blackout as a VJ's switch does; the cue's own set undid it.
    assert not any(blackout for t, (blackout, _, _) in frames.items() if t >= 2.0)


def test_a_cue_that_snaps_acts_on_the_beat_the_render_knows(tmp_path, song, preset_dir, monkeypatch, capsys):
    frames = {}
    frame = ScreenDirector.frame

    def recorded(self, t, *args):
        decision = frame(self, t, *args)
        frames[round(t, 3)] = decision.state.blackout
        return decision

    monkeypatch.setattr(ScreenDirector, "frame", recorded)
    beats = file_beats(scan_audio(song)).beats
    on = beats[np.abs(beats - 1.5).argmin()]
    assert 0.1 < abs(on - 1.5) < 0.25  # the beat before or after the typed time, frames away from it
    cues = tmp_path / "cues.toml"
    cues.write_text('[[cue]]\nat = 1.5\nset = { blackout = true }\nsnap = "beat"\n\n'
                    '[[cue]]\nat = 3.5\nset = { blackout = false }\nsnap = "beat"\n')
    assert main(["render", str(song), "-o", str(tmp_path / "frames"), "--preset", "test", "--presets-dir",
                 str(preset_dir), "--fps", "20", "--size", "16x16", "--cues", str(cues)]) == 0
    off = beats[np.abs(beats - 3.5).argmin()]
    dark = [t for t, blackout in frames.items() if blackout]
    assert dark == [t for t in frames if on <= t < off] and dark[0] == pytest.approx(math.ceil(on * 20) / 20), dark


def test_a_bad_cue_sheet_is_one_line_before_the_networks_load_and_a_late_cue_is_said(tmp_path, song, preset_dir,
                                                                                      monkeypatch, capsys):
    def no_networks(*args, **kwargs):
        raise AssertionError("the networks loaded before the cues were checked")

    monkeypatch.setattr("live.cli.render.open_show", no_networks)
    cues = tmp_path / "cues.toml"
    args = ["render", str(song), "-o", str(tmp_path / "x.mp4"), "--presets-dir", str(preset_dir), "--preset", "test",
            "--cues", str(cues)]
    for text, fragment in (('[[cue]]\nat = 1\npreset = "nope"\n', "preset 'nope': no preset named 'nope'"),
                           ('[[cue]]\nat = 1\nset = { hue = 1 }\n', "cue 1 (at 1): unknown parameter 'hue'")):
        cues.write_text(text)
        assert main(args) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1 and "Traceback" not in err
    cues.write_text('[[cue]]\nat = 1\ncut = true\n\n[[cue]]\nat = "1:00"\ncut = true\n')
    with pytest.raises(AssertionError, match="networks loaded"):
        main(args + ["--duration", "2"])
    assert "cue 2 at 60 s comes after the render's end (2 s): it does nothing" in capsys.readouterr().err
    # A cue that snaps needs the beats known ahead.
    cues.write_text('[[cue]]\nat = 1\ncut = true\nsnap = "bar"\n')
    assert main(args + ["--beats", "live"]) == 2
    assert "cue 1 (at 1 s) snaps to the bar, but --beats live finds the beats as the video plays" in \
        capsys.readouterr().err
    # The render's end is judged where a cue acts: snapped past it, it is said to do nothing.
    beats = file_beats(scan_audio(song)).beats
    late = beats[beats > 2.2][0]
    cues.write_text(f'[[cue]]\nat = {late - 0.05:.3f}\ncut = true\nsnap = "beat"\n')
    with pytest.raises(AssertionError, match="networks loaded"):
        main(args + ["--duration", "2.2"])
    assert f"cue 1 at {late:g} s comes after the render's end (2.2 s): it does nothing" in capsys.readouterr().err
    # A preset opened by its path is known by its name to the cues, as to a show's controls.
    mine = tmp_path / "mine.toml"
    mine.write_text((preset_dir / "other.toml").read_text())
    cues.write_text('[[cue]]\nat = 1\npreset = "test"\n\n[[cue]]\nat = 2\npreset = "mine"\n')
    with pytest.raises(AssertionError, match="networks loaded"):
        main(args[:-4] + ["--preset", str(mine), "--cues", str(cues)])


def _frames(folder) -> list:
    return [np.asarray(Image.open(path), dtype=np.int16) for path in sorted(folder.glob("frame_*.png"))]


def test_a_cue_sheet_switches_back_and_plays_another_bundle_with_its_own_mel_window(tmp_path, song, preset_dir):
    # Switching back to the opening preset was a KeyError mid-render; a bundle whose mel window
    # differs was read with the first one's (review 77).
    from live.audio.mel import MelWindow
    from live.bundle import random_bundle

    other = random_bundle(mel=MelWindow(window_seconds=2.0)).save(tmp_path / "short-window")
    (preset_dir / "short.toml").write_text(f'name = "short"\nbundle = "{other}"\n[source]\nseed = 5\n'
                                           '[settings]\nkeyframe_rate = 5.0\nrefine_steps = 0\n')
    cues = tmp_path / "cues.toml"
    args = ["--presets-dir", str(preset_dir), "--fps", "5", "--size", "32x32", "--duration", "3", "--quiet"]
    cues.write_text('[[cue]]\nat = 0\npreset = "short"\nset = { hud = false }\n')  # test's HUD is show state
    assert main(["render", str(song), "-o", str(tmp_path / "cued"), "--preset", "test", "--cues", str(cues),
                 *args]) == 0
    assert main(["render", str(song), "-o", str(tmp_path / "direct"), "--preset", "short", *args]) == 0
    assert all(np.array_equal(a, b) for a, b in zip(_frames(tmp_path / "cued"), _frames(tmp_path / "direct")))
    cues.write_text('[[cue]]\nat = 1\npreset = "other"\n\n[[cue]]\nat = 2\npreset = "test"\n')
    assert main(["render", str(song), "-o", str(tmp_path / "back"), "--preset", "test", "--cues", str(cues),
                 *args]) == 0


@pytest.mark.parametrize("case", ["frozen", "mid-fade", "before the beat"])
def test_a_cut_in_a_render_takes_a_keyframe_of_its_moment(tmp_path, song, preset_dir, monkeypatch, case):
    # wants() said no while frozen, during a fade or before the beat: a render's cut showed nothing
    # new, or the keyframe its fade headed to, made seconds before (review 77, 78).
    shown = {}  # frame time: (capture time of the keyframe uploaded last, the mix toward it)
    last = [None]
    frame = ScreenDirector.frame

    def recorded(self, t, *args):
        decision = frame(self, t, *args)
        if decision.upload is not None:
            last[0] = decision.upload.capture_time
        shown[round(t, 3)] = (last[0], decision.state.mix)
        return decision

    monkeypatch.setattr(ScreenDirector, "frame", recorded)
    setting = {"frozen": "freeze = true", "mid-fade": "crossfade_beats = 8.0",
               "before the beat": "crossfade_beats = 0.0"}[case]
    (preset_dir / "test.toml").write_text((preset_dir / "test.toml").read_text().replace(
        "[settings]\n", f"[settings]\n{setting}\n"))
    cues = tmp_path / "cues.toml"
    cues.write_text('[[cue]]\nat = 2.5\ncut = true\n')  # between the song's beats at 2.2 and 2.8 here
    assert main(["render", str(song), "-o", str(tmp_path / "out"), "--preset", "test", "--presets-dir",
                 str(preset_dir), "--fps", "10", "--size", "32x32", "--duration", "3", "--cues", str(cues)]) == 0
    assert shown[2.5] == (2.4, 1.0)  # the keyframe due last (every 0.2 s), made and shown whole at the cut's frame
