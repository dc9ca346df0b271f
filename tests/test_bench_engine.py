"""The engine benchmark's report on a short headless run of a random bundle."""
import json

import pytest

from live.__main__ import main


def test_engine_bench_reports_targets_memory_and_model_builds(tmp_path, random_bundle_dir):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "refined.toml").write_text(f'name = "refined"\nbundle = "{random_bundle_dir}"\n[source]\nseed = 3\n'
                                          '[settings]\nkeyframe_rate = 5.0\nrefine_steps = 2\n')
    out = tmp_path / "engine.json"
    assert main(["bench", "engine", "--preset", "refined", "--presets-dir", str(presets), "--seconds", "20",
                 "--synthesis", "reference", "--size", "64x36", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = {row["metric"]: row["value"] for row in report["rows"]}
    assert {"keyframes_per_s", "render_fps", "audio_to_keyframe_p95_ms", "rss_growth_mb_2nd_half"} <= set(rows)
    assert rows["keyframes_per_s"] > 0 and 0 < rows["keyframes_shown_per_s"] <= rows["keyframes_per_s"]
    assert len(report["rss_mb"]) >= 3  # one sample a second
    assert rows["longest_frame_interval_ms"] >= 0.9 * 1000 / 30  # frames are capped at 30/s
    # The preset's first model is asked for with the first keyframe; the refinement's worker,
    # yielding to the show, fits the music basis first (1.5 s alone here, 5 s and more beside
    # the show) and then builds it: 20 s, since beside a full parallel test run 10 s did not reach it.
    assert rows["local_model_builds"] == report["model_builds"][-1] >= 1
    assert report["model_builds"] == sorted(report["model_builds"])


def test_the_report_and_the_stats_in_one_file_are_refused_before_the_show(tmp_path, capsys):
    same = str(tmp_path / "run.json")
    assert main(["bench", "engine", "--seconds", "1", "--stats", same, "--json", same]) == 2
    assert "name the same file" in capsys.readouterr().err and not (tmp_path / "run.json").exists()


def test_a_report_never_replaces_a_generator_s_config(tmp_path, capsys):
    (tmp_path / "G.safetensors").write_bytes(b"weights")
    (tmp_path / "G.json").write_text("{}")
    with pytest.raises(SystemExit) as exit:  # as the command line is read
        main(["bench", "engine", "--seconds", "1", "--json", str(tmp_path / "G.json")])
    assert exit.value.code == 2 and "is the config of G.safetensors" in capsys.readouterr().err
    assert (tmp_path / "G.json").read_text() == "{}"


def test_a_short_run_on_auto_synthesis_uses_a_package_only_if_built_as_its_help_says(tmp_path, random_bundle_dir,
                                                                                       monkeypatch):
    """`--synthesis auto` builds the fast path only for runs of FAST_SYNTHESIS_MIN_SECONDS or
    more: a 3 s bench set out on a minute's build (found by review)."""
    from live.nets import packaged

    builds = []

    def build(*args):
        builds.append(args)
        raise RuntimeError("no builds here")

    monkeypatch.setattr(packaged, "_build", build)
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "p.toml").write_text(f'name = "p"\nbundle = "{random_bundle_dir}"\n[source]\nseed = 3\n')
    assert main(["bench", "engine", "--preset", "p", "--presets-dir", str(presets), "--seconds", "3",
                 "--synthesis", "auto", "--size", "64x36", "--json", str(tmp_path / "engine.json")]) == 0
    assert builds == []


def test_a_run_stopped_by_a_signal_still_reports_what_it_measured(tmp_path, random_bundle_dir, monkeypatch):
    # SIGTERM (`timeout`) or Ctrl-C ended a soak with "interrupted" and neither its report nor its stats.
    import os
    import signal

    from live.engine.realtime import LiveEngine

    draw, frames = LiveEngine._draw_frame, []

    def drawn(self, *args):
        frames.append(None)
        if len(frames) == 20:
            os.kill(os.getpid(), signal.SIGTERM)
        return draw(self, *args)

    monkeypatch.setattr(LiveEngine, "_draw_frame", drawn)
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "p.toml").write_text(f'name = "p"\nbundle = "{random_bundle_dir}"\n[source]\nseed = 3\n')
    out, stats = tmp_path / "engine.json", tmp_path / "stats.json"
    assert main(["bench", "engine", "--preset", "p", "--presets-dir", str(presets), "--seconds", "60",
                 "--synthesis", "reference", "--size", "64x36", "--threads", "1", "--json", str(out),
                 "--stats", str(stats)]) == 0
    report = json.loads(out.read_text())
    assert report["stopped_early"] is True and json.loads(stats.read_text())["duration_s"] < 30
    assert report["machine"]["threads"] == 1  # the run's, not the machine's two (the reference path set none)
    assert report["machine"]["device"] == "cpu"
    assert len(frames) < 30 * 30
