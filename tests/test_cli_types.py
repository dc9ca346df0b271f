"""Bad command-line values are refused while the arguments are read, in one line."""
import argparse
import subprocess
import sys
import time
from pathlib import Path

import pytest

from live.__main__ import build_parser, main
from live.cli.types import channel_span, count, cue_sheet_file, json_file, number, output_dir, output_file, plain_name


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "x", ""])
def test_number_refuses_what_is_not_a_finite_number(text):
    with pytest.raises(argparse.ArgumentTypeError):
        number()(text)


def test_number_ranges():
    assert number(0)("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError, match="> 0"):
        number(0, low_open=True)("0")
    with pytest.raises(argparse.ArgumentTypeError, match="<= 240"):
        number(0, 240)("241")
    assert count(1)("3") == 3
    for bad in ("0", "1.5", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            count(1)(bad)


def test_output_dir(tmp_path):
    assert output_dir(str(tmp_path / "new" / "deeper")) == tmp_path / "new" / "deeper"
    (tmp_path / "f").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match="is a file"):
        output_dir(str(tmp_path / "f"))
    with pytest.raises(argparse.ArgumentTypeError, match="f is a file, not a folder"):
        output_dir(str(tmp_path / "f" / "below"))
    with pytest.raises(argparse.ArgumentTypeError, match="give a path"):
        output_dir("")


def test_output_file(tmp_path):
    assert output_file(str(tmp_path / "new" / "stats.json")) == tmp_path / "new" / "stats.json"
    (tmp_path / "f").write_text("x")
    for text, words in [("", "give a path"), (str(tmp_path), "it is a folder"),
                        (str(tmp_path / "f" / "below" / "stats.json"), "f is a file, not a folder")]:
        with pytest.raises(argparse.ArgumentTypeError, match=words):
            output_file(text)
    assert sorted(tmp_path.iterdir()) == [tmp_path / "f"]


@pytest.mark.parametrize("text", ["", "a/b", "../x", ".hidden", "a b", "x!", 'q"uote', "caf\u00e9"])
def test_plain_name_refuses_paths(text):
    with pytest.raises(argparse.ArgumentTypeError):
        plain_name(text)


@pytest.mark.parametrize("argv", [
    ["render", "song.wav", "-o", "out.mp4", "--fps", "nan"],
    ["render", "song.wav", "-o", "out.mp4", "--fps", "0"],
    ["render", "song.wav", "-o", "out.mp4", "--fps", "0.0001"],  # a frame rate of 0 once made a fraction
    ["render", "song.wav", "-o", "out.mp4", "--start", "-1"],
    ["perform", "--duration", "-5"],
    ["control", "send", "--timeout", "-1", "get"],
    ["control", "send", "--timeout", "0", "get"],  # blamed the engine for a reply it had no time to send
    ["control", "listen", "--count", "0"],
    ["generate", "--network", "g.pkl", "--seeds", "1", "--outdir", "out", "--trunc", "1e308"],  # a traceback in lerp
    ["bench", "beats", "--method", "foo"],  # a traceback from aubio
    ["bench", "beats", "--seed", "-1"],  # tracebacks from numpy, and an out-of-memory kill:
    ["bench", "beats", "--seconds", "1e9"],
    ["bench", "beats", "--seconds", "4"],  # the "4 taps" track had three taps, at 2 s none
    ["bench", "beats", "--sample-rate", "99999999"],
    ["eval", "gan", "--network", "g.pkl", "--json", "e.json", "--seed", str(2**64)],  # after the networks loaded
    ["train", "space", "--outdir", "run", "--seed", str(2**32)],
    ["preset", "new", "x", "--seed", "-3"],
    ["bench", "lambdas", "--lambdas", "0.1", "nan"],
    ["bench", "lambdas", "--steps", "1"],  # its one step has rate 0: every lambda read "no change"
    ["perform", "--threads", "100000"],  # started 31520 threads, swamped the cores, ignored SIGTERM
    ["train", "gan", "--outdir", "run", "--threads", "100000"],
    ["transfer", "--preset", "ember", "--audio", "a.wav", "--outdir", "o", "--threads", "100000"],  # review 55
    ["preset", "new", "x", "--image", "a.png", "--threads", "100000"],
    ["perform", "--fps", "1e-9"],  # waited out a frame's interval before looking at the clock: never stopped
    ["train", "predictor", "--bundle", "default", "--lr", "nan"],  # a traceback after the bundle loaded
    ["train", "space", "--outdir", "run", "--steps", "0"],
    ["perform", "--source", "bogus"],  # refused after 4.5 s of imports
    ["bench", "beats", "--json", "song.wav"],  # `eval space --json song.wav` replaced the song with a report
    ["render", "song.wav", "-o", "out.mp4", "--stats", "notes.txt"],
    ["render", "song.wav", "-o", "video.mp4", "--stats", "video.mp4"],  # was refused later, as one file named twice
    ["perform", "--record", "show.mp4", "--stats", "show.mp4"],
    ["render", "song.wav", "-o", "out.mp4", "--shaders", "/nonexistent/shaders"],
    ["bundle", "new", "--network", "g.pkl", "--space", "default", "--name=-x"],  # printed `--bundle -x` next (review)
])
def test_bad_numbers_stop_at_the_command_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and len(err.strip().splitlines()) == 1  # no usage block above the line that matters


@pytest.mark.parametrize("argv", [["convert", "x", "a\nb.txt"], ["preset", "list", "--bogus", "z\x1b[2Jq"]])
def test_a_bad_command_line_echoes_the_user_s_value_escaped(argv, capsys):
    # A newline split the one line and an escape code reached the terminal (review 61).
    with pytest.raises(SystemExit):
        main(argv)
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "\x1b" not in err and ("\\n" in err or "\\x1b" in err)


def test_keygen_into_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    with pytest.raises(SystemExit):
        main(["control", "keygen", str(tmp_path / "f")])
    assert "is a file" in capsys.readouterr().err


def test_render_refuses_a_bad_output_name_before_reading_anything(tmp_path, capsys):
    # The audio file does not exist either: the output name is checked first, without loading networks.
    assert main(["render", str(tmp_path / "none.wav"), "-o", str(tmp_path / "out.avi")]) == 2
    assert ".mp4, .mkv or .mov" in capsys.readouterr().err


@pytest.mark.parametrize("extra, words", [
    (["--control", "garbage"], "not a ZeroMQ address"),
    (["--control", "tcp://0.0.0.0:5555"], "needs CurveZMQ keys: pass --keys DIR"),  # keygen alone was no remedy
    (["--control", "tcp://127.0.0.1:99999"], "the port must be 0..65535"),  # zmq bound 34463
    (["--telemetry", "tcp://127.0.0.1:5x"], "the port must be 0..65535"),
    # Control off: these must not depend on the default port being free.
    (["--source", "file:/nonexistent/take.wav", "--control", "off"], "audio file not found"),
    (["--source", "mic:no such device", "--control", "off"], "device"),
    (["--control", "off", "--telemetry", "tcp://127.0.0.1:6000"], "not used with --control off"),  # was ignored
    (["--control", "off", "--telemetry", "tcp://127.0.0.1:5556"], "not used with --control off"),  # the default too
    (["--control", "off", "--keys", "k"], "--keys not used with --control off"),
    (["--fullscreen", "--display", "3", "--control", "off"], "--fullscreen, --display: for a window, and --headless"),
    (["--source", "mic", "--play", "--control", "off"], "an input is not played back"),  # did nothing (review)
    (["--source", "demo", "--output", "1", "--control", "off"], "--output is the device --play plays to: add --play"),
    (["--source", "demo", "--play", "--output", "no such output", "--control", "off"], "output device"),
    (["--source", "mic", "--beats", "lookahead", "--control", "off"], "an input's are found as they come"),
    # The socket would have taken the recording's place (review).
    (["--record", "/tmp/live-test-ipc.mp4", "--control", "ipc:///tmp/live-test-ipc.mp4"], "name the same file"),
])
def test_perform_checks_its_options_before_loading_the_show(monkeypatch, capsys, extra, words):
    import live.cli.perform as perform

    def must_not_load(*args, **kwargs):
        raise AssertionError("the show was loaded before the options were checked")

    monkeypatch.setattr(perform, "open_show", must_not_load)
    assert main(["perform", "--headless", *extra]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--control", "--telemetry"])
def test_perform_names_a_port_another_show_holds_before_loading_the_show(monkeypatch, capsys, option):
    import zmq

    import live.cli.perform as perform

    monkeypatch.setattr(perform, "open_show", lambda *a, **k: pytest.fail("the show was loaded first"))
    context = zmq.Context()
    other_show = context.socket(zmq.ROUTER)
    try:
        other_show.bind("tcp://127.0.0.1:*")
        taken = other_show.getsockopt_string(zmq.LAST_ENDPOINT)
        free = {"--control": "--telemetry", "--telemetry": "--control"}[option]
        assert main(["perform", "--headless", "--source", "demo", option, taken, free, "tcp://127.0.0.1:*"]) == 2
    finally:
        context.destroy(linger=0)
    assert f"cannot bind the {option[2:]} socket to {taken}" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["--res", "100"], "power of two"),
    (["--res", "4"], "power of two from 8"),  # a discriminator with no block to read it
    (["--batch", "6"], "multiple of 4"),  # minibatch-std groups of 4: an assert at the first step
    (["--res", "32", "--channel-base", "16"], "gives the 32 px block no channels"),  # a division by zero
])
def test_train_gan_refuses_a_network_it_cannot_build_or_train(tmp_path, capsys, argv, words):
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), *argv]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_gan_refuses_a_run_folder_inside_its_pictures(tmp_path, capsys):
    (tmp_path / "pictures").mkdir()
    assert main(["train", "gan", "--data", str(tmp_path / "pictures"), "--outdir", str(tmp_path / "pictures" / "run"),
                 "--res", "32"]) == 2
    assert "lies inside --data" in capsys.readouterr().err and not (tmp_path / "pictures" / "run").exists()


def test_an_unknown_option_is_reported_by_its_command(capsys):
    with pytest.raises(SystemExit):
        main(["--presett", "storm"])  # the show's options, mistyped
    err = capsys.readouterr().err
    assert "python -m live perform: error: unrecognized arguments: --presett storm" in err
    with pytest.raises(SystemExit):
        main(["train", "gan", "--outdir", "x", "--bogus", "1"])
    assert "python -m live train gan: error: unrecognized arguments: --bogus 1" in capsys.readouterr().err


def test_a_name_that_is_not_utf8_is_printed_escaped_under_a_strict_utf8_stdout():
    import os
    # What a command prints of a Latin-1 file name ("caf\xe9.wav" decoded by the file system).
    code = "import live.__main__ as m; m.main = lambda: print('wrote caf\\udce9.mp4') or 0; m.run()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"})
    assert (done.returncode, done.stdout, done.stderr) == (0, b"wrote caf\\udce9.mp4\n", b"")


@pytest.mark.parametrize("argv, words", [
    (["perform", "--headless", "--control", "off", "--record", "{tmp}/show.flac"], "name it .mp4, .mkv or .mov"),
    (["perform", "--headless", "--control", "off", "--source", "file:{tmp}/song.mp4", "--record", "{tmp}/song.mp4"],
     "the --source file and --record name the same file"),
    (["render", "{tmp}/song.mp4", "-o", "{tmp}/song.mp4"], "the audio and -o name the same file"),
    # The files a video is written through: the input was truncated, then renamed onto the output.
    (["render", "{tmp}/song.partial.mp4", "-o", "{tmp}/song.mp4"],
     "the audio and song.mp4's unfinished file name the same file"),
    (["perform", "--headless", "--control", "off", "--source", "file:{tmp}/set.indexing.mp4", "--record",
      "{tmp}/set.mp4"], "the --source file and set.mp4's indexing file name the same file"),
    (["render", "{tmp}/song.wav", "-o", "{tmp}/notes"], "must end in .mp4, .mkv or .mov"),  # an existing file, no suffix
])
def test_outputs_that_cannot_be_written_stop_before_anything_opens(tmp_path, capsys, argv, words):
    # Nothing exists but the notes file: each is refused before the audio is read or networks load.
    (tmp_path / "notes").write_text("setlist")
    assert main([arg.format(tmp=tmp_path) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
    assert sorted(tmp_path.iterdir()) == [tmp_path / "notes"]


def test_bench_beats_refuses_a_warm_up_that_leaves_nothing_to_score(capsys):
    assert main(["bench", "beats", "--seconds", "6", "--warmup", "7"]) == 2
    assert "--warmup 7 s leaves nothing of the 6 s tracks" in capsys.readouterr().err


def test_the_command_line_is_read_without_importing_torch():
    # Options and defaults come from torch-free config modules: with torch, `--help` and every
    # mistyped command took 4-5 s and 1 GB here; without, 0.2 s.
    heavy = "print(sorted(m for m in ('torch', 'torchaudio', 'scipy', 'av', 'zmq', 'moderngl') if m in sys.modules))"
    for work in ("build_parser()",
                 "main(['preset', 'list'])"):  # which checks each preset's bundle is there
        code = f"import sys; from live.__main__ import build_parser, main; {work}; {heavy}"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert done.stdout.splitlines()[-1] == "[]"


def test_a_recording_never_replaces_a_file(tmp_path, capsys):
    kept = tmp_path / "last-night.mp4"
    kept.write_bytes(b"last night's show")
    assert main(["perform", "--headless", "--control", "off", "--record", str(kept)]) == 2
    assert "last-night.mp4 exists: a recording does not replace one" in capsys.readouterr().err
    assert kept.read_bytes() == b"last night's show"
    kept.rename(tmp_path / "last-night.partial.mp4")  # what a show that could not finish leaves
    assert main(["perform", "--headless", "--control", "off", "--record", str(kept)]) == 2
    assert "last-night.partial.mp4 exists (a recording that was not finished)" in capsys.readouterr().err


def test_the_demo_s_own_recording_is_checked_before_the_networks_load(tmp_path, monkeypatch, capsys):
    from live.cli import perform

    monkeypatch.chdir(tmp_path)
    (tmp_path / perform.FRESH_SERVER_VIDEO).mkdir()  # nowhere to write it
    monkeypatch.setattr(perform, "_has_input", lambda: False)
    monkeypatch.setattr(perform, "_has_display", lambda: False)
    monkeypatch.setattr(perform, "open_show", lambda *a, **k: pytest.fail("the networks loaded first"))
    assert main(["perform", "--control", "off"]) == 2
    err = capsys.readouterr().err  # and the option that moves it, which the performer did not type (review 76)
    assert f"cannot write {perform.FRESH_SERVER_VIDEO}: it is a folder" in err
    assert err.rstrip().endswith("(give --record PATH)")


def test_a_fresh_server_records_the_whole_demo_once(tmp_path, monkeypatch, capsys):
    """Its four sections, each in one quadrant of valence and arousal: 20 s showed the first alone."""
    from live.audio.demo import render_demo
    from live.cli import perform

    class Opened(Exception):
        pass

    def open_show(args, **kwargs):
        raise Opened(args.duration, kwargs["seconds"])

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(perform, "_has_input", lambda: False)
    monkeypatch.setattr(perform, "_has_display", lambda: False)
    monkeypatch.setattr(perform, "open_show", open_show)
    with pytest.raises(Opened) as opened:
        main(["perform", "--control", "off"])
    duration, seconds = opened.value.args
    assert duration == seconds == pytest.approx(render_demo(sample_rate=8000).duration, abs=1e-3)
    assert f"into {perform.FRESH_SERVER_VIDEO} for 75.6 s" in capsys.readouterr().out


def test_the_demo_s_own_recording_is_replaced_by_the_next_demo(tmp_path, monkeypatch, preset_dir):
    """A name the program chose: the second `python -m live` on a fresh server was refused
    ("live-demo.mp4 exists") once the sink kept existing files (found by review)."""
    from live.cli import perform

    monkeypatch.chdir(tmp_path)
    (tmp_path / perform.FRESH_SERVER_VIDEO).write_bytes(b"the last demo")
    monkeypatch.setattr(perform, "_has_input", lambda: False)
    monkeypatch.setattr(perform, "_has_display", lambda: False)
    assert main(["perform", "--control", "off", "--duration", "1", "--size", "64x64", "--preset", "test",
                 "--presets-dir", str(preset_dir), "--synthesis", "reference"]) == 0
    assert (tmp_path / perform.FRESH_SERVER_VIDEO).read_bytes()[4:8] == b"ftyp"  # a video now


def test_a_value_read_as_an_option_says_how_to_give_it(capsys):
    with pytest.raises(SystemExit):
        main(["render", "song.wav", "-o", "out.mp4", "--size", "-64x36"])
    assert "expected one argument; a value that starts with '-' is written --size=VALUE" in capsys.readouterr().err


def test_a_show_s_logged_lines_are_marked_as_ours():
    # A recovered failure (a hotkey on a broken preset) printed bare: "preset: preset x.toml ..."
    code = ("import logging; from live.__main__ import main; main(['preset', 'list']); "
            "logging.getLogger('live.engine.realtime').warning('preset: broken')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.splitlines() == ["live: preset: broken"]


def test_a_show_of_a_track_played_once_lasts_the_track_and_builds_no_fast_path(tmp_path):
    # Before: a file with no --duration was an open-ended show, and a 20 s song spent most
    # of itself compiling the fast path, which held the interpreter (keyframes 1/s, audio-
    # to-screen p95 3.2 s; played with --play, the song took 100 s).
    import numpy as np
    import soundfile

    from live.audio.sources import DemoSource, FileSource
    from live.cli.common import FAST_SYNTHESIS_MIN_SECONDS, synthesis_mode
    from live.cli.perform import show_seconds

    soundfile.write(tmp_path / "song.wav", np.zeros(22050 * 20, np.float32), 22050)
    song = FileSource(tmp_path / "song.wav")
    try:
        assert show_seconds(None, song) == pytest.approx(20.0) and show_seconds(5.0, song) == 5.0
        assert synthesis_mode("auto", True, show_seconds(None, song)) == "cached"  # only one built before
    finally:
        song.stop()
    assert show_seconds(None, DemoSource()) is None and show_seconds(300.0, DemoSource()) == 300.0  # it loops
    assert synthesis_mode("auto", True, None) == synthesis_mode("auto", True, FAST_SYNTHESIS_MIN_SECONDS) == "fast"
    assert synthesis_mode("auto", True, FAST_SYNTHESIS_MIN_SECONDS - 0.1) == "cached"
    assert synthesis_mode("fast", True, 20.0) == "fast" and synthesis_mode("fast", False, None) == "fast"
    assert synthesis_mode("auto", False, None) == synthesis_mode("reference", True, None) == "reference"


@pytest.mark.parametrize("seconds, build", [(20.0, False), (None, True)])
def test_a_live_show_asks_for_a_build_only_when_long_enough_to_see_it_through(monkeypatch, seconds, build):
    import argparse

    from live.cli.common import open_show
    from live.engine import synthesizer

    seen = {}

    class Opened(Exception):
        pass

    def synthesizer_of(G, fast=None, on_error=None, build=True, **kwargs):
        seen.update(fast=fast, build=build)
        raise Opened

    monkeypatch.setattr(synthesizer, "Synthesizer", synthesizer_of)
    args = argparse.Namespace(preset=None, presets_dir=None, bundle=None, device="cpu", synthesis="auto")
    with pytest.raises(Opened):
        open_show(args, live=True, seconds=seconds)
    assert seen["fast"] is not None and seen["fast"].packages is not None and seen["build"] is build


def test_a_render_waiting_for_a_build_says_so_first(monkeypatch):
    """`render --synthesis fast` was silent for the minutes of its package's build (review)."""
    import argparse

    from live.cli.common import open_show
    from live.engine import synthesizer

    said = []

    class Opened(Exception):
        pass

    class Building:
        packaged = False

        def __init__(self, G, fast=None, on_error=None, build=True, **kwargs):
            pass

        def wait(self):
            said.append("waited")
            raise Opened

    monkeypatch.setattr(synthesizer, "Synthesizer", Building)
    args = argparse.Namespace(preset=None, presets_dir=None, bundle=None, device="cpu", synthesis="fast")
    with pytest.raises(Opened):
        open_show(args, live=False, report=lambda stage, message: said.append(message))
    assert said[0].startswith("compiling the fast synthesis for this generator before the first frame")
    assert said[1] == "waited"
    # Without a compiler nothing is compiled, and only the synthesizer's "unavailable" is said (review 71).
    from live.nets import packaged

    monkeypatch.setattr(packaged, "has_compiler", lambda: False)
    said.clear()
    with pytest.raises(Opened):
        open_show(args, live=False, report=lambda stage, message: said.append(message))
    assert said == ["waited"]


def test_sigterm_stops_a_command_as_ctrl_c_does_so_its_cleanups_run(tmp_path, monkeypatch, capsys):
    """`timeout` or a process manager ended a render on the spot, its unfinished video left."""
    import os
    import signal

    from live.cli import render as render_cli

    before = signal.getsignal(signal.SIGTERM)
    cleaned = []

    def run(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            cleaned.append(True)
    monkeypatch.setattr(render_cli, "run", run)
    monkeypatch.setattr(render_cli, "register", lambda sub: sub.add_parser("render").set_defaults(func=run))
    assert main(["render"]) == 130
    assert cleaned == [True] and "live: interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before  # put back after the command


def test_ctrl_c_while_the_command_line_is_read_is_one_line(monkeypatch, capsys):
    """Reading --device imports torch, seconds in which a performer who started the wrong show
    presses Ctrl-C: that printed a 40-line traceback (review 50)."""
    import live.__main__ as entry
    from live.cli.types import device

    def interrupted(text):
        raise KeyboardInterrupt
    parser = _parser_with(entry.build_parser(), interrupted, device)
    monkeypatch.setattr(entry, "build_parser", lambda: parser)
    assert main(["--source", "demo"]) == 130
    err = capsys.readouterr().err
    assert err == "live: interrupted\n"


def _parser_with(parser, replacement, original):
    """`parser` with the type `original` of its commands' options replaced."""
    for sub in (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)):
        for command in sub.choices.values():
            for action in command._actions:
                if action.type is original:
                    action.type = replacement
    return parser


def _exit_process(tmp_path, code: int, before_exit: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "ends.py"
    script.write_text("import atexit, os, signal, threading, time\n"
                      "from live.__main__ import exit_process\n" + before_exit + f"\nexit_process({code})\n")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)


def test_a_stop_signal_after_the_command_ended_keeps_its_exit_status(tmp_path):
    """A second Ctrl-C a moment late landed in the interpreter's finalization: a traceback, or
    the process killed by SIGINT, which a script reads as an interrupted show (found by review)."""
    late = ("def late():\n    os.kill(os.getpid(), signal.SIGINT)\n    time.sleep(1)\n"
            "class TornDown:\n    def __del__(self):\n        late()\n")
    in_exit_callbacks = _exit_process(tmp_path, 0, late + "atexit.register(late)")
    in_module_teardown = _exit_process(tmp_path, 0, late + "kept = TornDown()")
    for ended in (in_exit_callbacks, in_module_teardown):
        assert ended.returncode == 0 and "KeyboardInterrupt" not in ended.stderr and "Traceback" not in ended.stderr


def test_an_interrupted_command_ends_at_once_with_work_still_running_in_threads(tmp_path):
    """Finalizing the interpreter under the show's threads, still inside torch or FFmpeg,
    aborted the process (SIGABRT, at times SIGSEGV) after "live: interrupted"."""
    started = time.monotonic()
    ended = _exit_process(tmp_path, 130, "threading.Thread(target=time.sleep, args=(30,)).start()")
    assert ended.returncode == 130 and time.monotonic() - started < 20


def test_openmp_threads_spin_briefly_unless_the_user_says_otherwise():
    """Threads spinning 300,000 turns made a command beside another process 25x slower."""
    from live.__main__ import OPENMP_SPIN, spin_briefly

    environ: dict[str, str] = {}
    spin_briefly(environ)
    assert environ == {"GOMP_SPINCOUNT": OPENMP_SPIN}
    for own in ({"GOMP_SPINCOUNT": "300000"}, {"OMP_WAIT_POLICY": "ACTIVE"}):
        spin_briefly(mine := dict(own))
        assert mine == own


def test_every_command_sets_the_brief_spin_before_torch_loads(tmp_path):
    """OpenMP reads the spin count once, as torch loads it: a --device option that loaded torch
    while the command line was read left every command spinning 300,000 turns again."""
    import os
    import subprocess
    import sys

    from live.__main__ import OPENMP_SPIN

    probe = ("import os, sys, live.__main__ as m\n"
             "set_spin = m.spin_briefly\n"
             "def spin(environ):\n"
             "    print('torch loaded' if 'torch' in sys.modules else 'torch not loaded')\n"
             "    set_spin(environ)\n"
             "m.spin_briefly = spin\n"
             f"m.main(['generate', '--network', {str(tmp_path / 'none.pkl')!r}, '--seeds', '0', '--outdir', "
             f"{str(tmp_path)!r}, '--device', 'cpu'])\n"
             "print(os.environ['GOMP_SPINCOUNT'])\n")
    environ = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", probe], env=environ, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["torch", "not", "loaded", OPENMP_SPIN], done.stderr
    assert "does not exist" in done.stderr  # the command ran, and failed on its missing network


def test_a_show_s_missing_preset_is_said_before_torch_loads():
    # 5 s for a typo: --device's default loaded torch as argparse read it, the show's modules too (review 99).
    import subprocess
    import sys

    probe = ("import sys\nfrom live.__main__ import main\n"
             "code = main(['--preset', 'nosuch', '--headless', '--control', 'off', '--source', 'demo'])\n"
             "print(code, 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert "no preset named 'nosuch'" in done.stderr


@pytest.mark.parametrize("headless", [False, True])
def test_a_show_that_falls_back_to_the_demo_track_says_so(monkeypatch, capsys, headless):
    # In a window (or headless with --headless on a machine with a display) it followed the demo
    # track without a word: on stage, an interface not found gave pictures following music no one heard.
    from live.cli import perform

    monkeypatch.setattr(perform, "_has_input", lambda: False)
    monkeypatch.setattr(perform, "_has_display", lambda: True)
    args = argparse.Namespace(source=None, headless=headless, record=None, duration=None)
    assert perform._source_spec(args, headless) == "demo"
    assert "no audio input found; the picture follows the demo track, unheard" in capsys.readouterr().err


def test_a_show_with_an_input_and_no_display_says_it_runs_headless(monkeypatch, capsys):
    # Without --source (what `make run` runs) nothing said where the pictures went.
    from live.cli import perform

    monkeypatch.setattr(perform, "_has_input", lambda: True)
    args = argparse.Namespace(source=None, headless=False, record=None, duration=None)
    assert perform._source_spec(args, True) == "mic"
    assert "running headless (--record FILE keeps the pictures)" in capsys.readouterr().out


def test_a_recording_at_a_lower_rate_than_the_show_says_so(tmp_path, capsys):
    # A 60 fps window show recorded a 30 fps file without a word.
    from types import SimpleNamespace

    from live.cli import perform

    args = argparse.Namespace(fps=60.0, record=str(tmp_path / "show.mp4"))
    source = SimpleNamespace(channels=1, sample_rate=16000, heard_until=lambda: None, gapless=False,
                             silence_timeout=1.0)
    engine = SimpleNamespace(clock=time.monotonic, report=lambda *a: None)
    recorder = perform._recorder(args, (64, 64), source, engine, may_replace=False)
    recorder.close()
    assert recorder.fps == 30.0
    assert "the recording is 30 fps (the show draws up to 60)" in capsys.readouterr().err


@pytest.mark.parametrize("argv, option", [
    (["train", "gan", "--outdir", "RUN", "--data", ""], "--data"),
    (["train", "gan", "--outdir", "RUN", "--init", ""], "--init"),
    (["train", "gan", "--outdir", "RUN", "--export", ""], "--export"),
    (["bundle", "new", "--network", "G.safetensors", "--space", "default", "--name", "n", "--models-dir", ""],
     "--models-dir"),
    (["preset", "new", "p", "--bundle", ""], "--bundle"),
    (["train", "predictor", "--bundle", ""], "--bundle"),
    (["va", "--bundle", "", "x.wav"], "--bundle"),
    # A preset written into the current folder, the default look played without a word (review 44).
    (["preset", "--presets-dir", "", "new", "p", "--seed", "1"], "--presets-dir"),
    (["preset", "list", "--presets-dir", ""], "--presets-dir"),
    (["preset", "new", "p", "--seed", "1", "--like", ""], "--like"),
    (["render", "x.wav", "-o", "x.mp4", "--preset", ""], "--preset"),
    (["render", "x.wav", "-o", "x.mp4", "--presets-dir", ""], "--presets-dir"),
    (["transfer", "--preset", "", "--audio", "x.wav", "--outdir", "o"], "--preset"),
    (["perform", "--telemetry", ""], "--telemetry"),
    (["perform", "--control", ""], "--control"),
    (["perform", "--keys", ""], "--keys"),
])
def test_an_empty_path_or_name_is_refused_not_read_as_the_current_folder(argv, option, capsys, tmp_path,
                                                                           monkeypatch):
    # An unset shell variable: --data "" trained on the pictures under the current folder,
    # --export "" wrote no generator, --init "" trained from scratch.
    monkeypatch.chdir(tmp_path)  # where a command that took the empty value would write
    monkeypatch.setattr("live.gan.train.GanTrainer.run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and ("give a value" in err or "give a path" in err), err


def test_an_export_onto_the_run_s_own_files_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "gan", "--outdir", str(run), "--export", str(run / "config.safetensors"),
                 "--res", "32", "--kimg", "0.004", "--threads", "1"]) == 2
    assert "would write over the run's own config.json; export it under another name" in capsys.readouterr().err
    assert not run.exists() or not any(run.iterdir())


def test_a_gan_export_onto_its_own_init_generator_is_refused_before_training(tmp_path, capsys, monkeypatch):
    # --force replaced the generator a fine-tune started from with a few steps' G_ema (review 44).
    monkeypatch.setattr("live.gan.train.GanTrainer.run", lambda *a, **k: pytest.fail("trained"))
    start = tmp_path / "start.safetensors"
    start.write_bytes(b"the generator to keep")
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--init", str(start), "--export", str(start),
                 "--force", "--kimg", "0.004", "--threads", "1"]) == 2
    assert "--init and --export name the same file" in capsys.readouterr().err
    assert start.read_bytes() == b"the generator to keep"


def test_a_run_under_way_exports_onto_the_generator_it_began_from_when_forced(tmp_path, capsys):
    """The model card's own step (--kimg 0 --export onto the run's --init --force) was refused
    once the check above came in, the run's --init read from its config (review 53)."""
    from ckpt_factory import tiny_generator
    from live.nets.checkpoints import save_generator

    start = save_generator(tiny_generator(), tmp_path / "start.safetensors")
    run = str(tmp_path / "run")
    assert main(["train", "gan", "--outdir", run, "--init", str(start), "--kimg", "0.004", "--batch", "2",
                 "--res", "32", "--z-dim", "32", "--w-dim", "32", "--channel-base", "512", "--channel-max", "64",
                 "--threads", "1"]) == 0
    before = start.read_bytes()
    assert main(["train", "gan", "--outdir", run, "--kimg", "0", "--export", str(start), "--force",
                 "--threads", "1"]) == 0
    assert start.read_bytes() != before


@pytest.mark.parametrize("options, message", [
    (["--mapping-layers", "65"], "--mapping-layers must be at most 64"),
    (["--z-dim", "5000"], "--z-dim must be at most 4096"),
    (["--res", "8192"], "--res must be at most 4096"),
    (["--lr", "1e39"], "--lr must be at most 1"),
    (["--channel-max", "1000000", "--channel-base", "100000000"], "cannot build networks of these sizes on cpu"),
])
def test_train_gan_refuses_sizes_no_command_could_load_or_build_in_one_line(options, message, tmp_path, capsys):
    # A run trained and exported a generator every reader refused; a typo's zeros ended in a traceback (review 44).
    assert main(["train", "gan", "--outdir", str(tmp_path / "run"), "--res", "32", "--channel-base", "512",
                 "--batch", "4", "--kimg", "0.001", "--threads", "1", *options]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run" / "training-state.pt").exists()


@pytest.mark.parametrize("argv, option", [
    (["train", "predictor", "--bundle", "default", "--batch", "5000"], "--batch"),
    (["train", "predictor", "--bundle", "default", "--held-out", "100000"], "--held-out"),
    (["bench", "transfer", "--pairs", "1000000000000"], "--pairs"),
    (["bench", "lambdas", "--pairs", "100000"], "--pairs"),
    (["eval", "gan", "--count", "1000000000"], "--count"),
])
def test_counts_past_any_use_are_refused_when_the_command_line_is_read(argv, option, capsys):
    # A typo's zeros ran for minutes, or ended in an allocation traceback after the setup (review 44).
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2 and f"argument {option}" in capsys.readouterr().err


def test_every_option_of_every_command_says_what_it_does():
    # Several said nothing, their defaults unknown to a user (review 48).
    def unexplained(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from unexplained(sub, [*path, name])
            elif action.option_strings and not isinstance(action, argparse._HelpAction) and not action.help:
                yield " ".join([*path, action.option_strings[-1]])
            elif (action.option_strings and not any(action.default is v for v in (None, False, True))
                  and action.default not in ("", [], argparse.SUPPRESS)  # `in` took 1 for True (review 59)
                  and "default" not in action.help):  # review 54: bench generator --threads was 1, unsaid
                yield f"{' '.join([*path, action.option_strings[-1]])}: its default {action.default!r}"

    from live.__main__ import build_parser

    commands = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)][0].choices
    assert {"perform", "bench", "train", "preset"} <= set(commands)
    assert list(unexplained(build_parser(), [])) == []


def test_a_cue_sheet_is_written_only_over_a_cue_sheet(tmp_path):
    assert cue_sheet_file(str(tmp_path / "set.toml")) == tmp_path / "set.toml"
    (tmp_path / "old.toml").write_text('[[cue]]\nat = 1\ncut = true\n')
    assert cue_sheet_file(str(tmp_path / "old.toml")) == tmp_path / "old.toml"  # last night's, replaced
    (tmp_path / "storm.toml").write_text('name = "storm"\n[source]\nseed = 3\n')
    (tmp_path / "broken.toml").write_text('[[cue]\n')
    for name, fragment in (("storm.toml", r"other than a cue sheet \(a preset\?\)"), ("broken.toml", "other than"),
                           ("set.txt", "a cue sheet is named NAME.toml")):
        with pytest.raises(argparse.ArgumentTypeError, match=fragment):
            cue_sheet_file(str(tmp_path / name))


def test_input_channels_are_a_count_or_a_span():
    assert channel_span("1") == (1, 1) and channel_span("2") == (1, 2) and channel_span("3-4") == (3, 2)
    assert channel_span("5-5") == (5, 1)
    for text in ("0", "4-3", "x", "1-65", "3-", "-2", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            channel_span(text)


def test_a_path_too_long_for_the_file_system_is_one_line(tmp_path, capsys):
    # Path.is_dir raises on a name over 255 bytes: a traceback of 60 lines, exit 1 (review 76).
    long = "a" * 300
    for args in (["render", "x.wav", "-o", "y.mp4", "--stats", str(tmp_path / f"{long}.json")],
                 ["render", "x.wav", "-o", "y.mp4", "--shaders", str(tmp_path / long)],
                 ["transfer", "--audio", "x.wav", "--outdir", str(tmp_path / long / "out")],
                 ["--save-cues", str(tmp_path / f"{long}.toml")]):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "File name too long" in err and err.count("\n") == 1, err
    # A report's name that fits is taken, though NAME.safetensors beside it would not fit.
    assert json_file(str(tmp_path / ("b" * 246 + ".json"))).name == "b" * 246 + ".json"


def test_a_leading_tilde_is_the_home_folder_where_the_shell_left_it(tmp_path, monkeypatch):
    # `--out=~/v.mp4` and `file:~/set.flac` reach us unexpanded: a folder named ~ was made in the
    # working folder, and `rm -rf ~` would have cleaned it up with the home folder (review 76).
    from live.cli.perform import parse_source
    from live.cli.types import given, output_path

    monkeypatch.setenv("HOME", str(tmp_path))
    assert output_path("~/v.mp4") == tmp_path / "v.mp4" and output_path("~") == tmp_path
    assert given("~/set.toml") == str(tmp_path / "set.toml")
    assert parse_source("file:~/set.flac") == ("file", str(tmp_path / "set.flac"))
    assert given("~storm") == "~storm" and output_path("a/~/b") == Path("a/~/b")  # not a home
    # The files read take it too: latents, pictures, checkpoints, keys.
    for args, attribute in ((["preset", "new", "x", "--w=~/w.npy"], "w"),
                            (["preset", "new", "x", "--image=~/a.png"], "image"),
                            (["bundle", "new", "--network=~/g.pkl", "--space", "default", "--name", "x"], "network"),
                            (["generate", "--network=~/g.pkl", "--seeds", "0", "--outdir", str(tmp_path)], "network"),
                            (["control", "send", "--server-key=~/s.key", "get"], "server_key")):
        parsed, _ = build_parser().parse_known_args(args)
        assert str(getattr(parsed, attribute)).startswith(str(tmp_path)), args


def test_a_show_does_not_save_its_cues_over_the_sheet_it_plays(tmp_path, capsys):
    # The sheet was rewritten with what played: an early stop lost the rest for good (review 77).
    sheet = tmp_path / "set.toml"
    sheet.write_text("[[cue]]\nat = 1\ncut = true\n")
    assert main(["--source", "demo", "--headless", "--control", "off", "--cues", str(sheet),
                 "--save-cues", str(sheet)]) == 2
    assert "--cues and --save-cues name the same file" in capsys.readouterr().err


def test_a_song_s_times_on_the_command_line_take_minutes_as_a_cue_sheet_does():
    # `at` took "1:04.5" and --start only seconds (review 78).
    parsed, _ = build_parser().parse_known_args(["render", "a.wav", "-o", "v.mp4", "--start", "1:04.5",
                                                 "--duration", "0:30"])
    assert (parsed.start, parsed.duration) == (64.5, 30.0)
    assert build_parser().parse_known_args(["perform", "--duration", "1:02:03"])[0].duration == 3723.0
    with pytest.raises(argparse.ArgumentTypeError, match="give seconds"):
        number(0, clock=True)("1:75")
    with pytest.raises(argparse.ArgumentTypeError, match="is not a number"):
        number(0)("1:04")
