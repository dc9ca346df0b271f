"""Run statistics: rates and latencies as the benchmark reports them."""
from types import SimpleNamespace

import pytest

from live.engine.stats import RunStats, frame_rate


def shown(capture_time: float, valence: float = 0.5, arousal: float = 0.5) -> SimpleNamespace:
    """What the stats read of a keyframe shown."""
    return SimpleNamespace(capture_time=capture_time, audio_time=capture_time + 100.0, valence=valence,
                           arousal=arousal)


def test_render_rate_is_frame_intervals_over_their_span():
    stats = RunStats()
    stats.start(0.0)
    for i in range(31):  # 30 fps for one second, the run stopped a little after the last frame
        stats.frame(None, 0.01 + i / 30)
    stats.stop(1.03)
    report = stats.as_dict(1.03)
    assert report["render_fps"] == pytest.approx(30.0)
    assert report["frames"] == 31
    assert report["frame_interval_ms"]["p50"] == pytest.approx(1000 / 30, abs=0.01)
    assert report["frame_interval_ms"]["n"] == 30


def test_the_longest_frame_interval_is_the_runs_worst_stall():
    stats = RunStats()
    for t in (0.0, 0.033, 0.066, 0.166, 0.2):
        stats.frame(None, t)
    intervals = stats.as_dict(0.3)["frame_interval_ms"]
    assert intervals["max"] == pytest.approx(100.0)
    assert intervals["p50"] == pytest.approx(33.5, abs=0.6)


def test_render_rate_with_fewer_than_two_frames_falls_back_to_the_run_length():
    stats = RunStats()
    stats.start(0.0)
    stats.frame(None, 0.5)
    stats.stop(2.0)
    assert stats.as_dict(2.0)["render_fps"] == 0.5
    assert RunStats().as_dict(1.0)["render_fps"] == 0.0


def test_keyframes_made_and_shown_are_counted_apart():
    stats = RunStats()
    stats.start(0.0)
    for i in range(6):
        stats.keyframe(i * 0.1, i * 0.1 + 0.05, 0.05)
    stats.frame(shown(0.0, 0.2, 0.9), 0.1)    # shows the first keyframe
    stats.frame(None, 0.2)   # the fade goes on; the keyframes made meanwhile are passed over
    stats.frame(shown(0.5, 0.7, 0.3), 0.6)
    d = stats.as_dict(1.0)
    assert (d["keyframes"], d["keyframes_shown"], d["frames"]) == (6, 2, 3)
    # What the picture followed, at its audio's time in the stream (a show's capture times are its
    # engine's clock: review 77).
    assert d["emotion"] == [[100.0, 0.2, 0.9], [100.5, 0.7, 0.3]]
    # From each shown keyframe's audio to its first frame (untested, it could count from the first frame: review 49).
    assert d["latency_ms"]["audio_to_screen"]["p50"] == pytest.approx(100.0)
    assert d["latency_ms"]["audio_to_keyframe"]["p50"] == pytest.approx(50.0)


# The stats JSON promises the 95th percentile.
def test_latency_p95_is_the_95th_percentile():
    stats = RunStats()
    for i in range(101):
        stats.keyframe(0.0, i / 1000, 0.0)  # 0..100 ms
    lat = stats.as_dict(1.0)["latency_ms"]["audio_to_keyframe"]
    assert lat["p50"] == pytest.approx(50.0) and lat["p95"] == pytest.approx(95.0)


# keyframes_per_s counts keyframes made, not only those shown.
def test_keyframes_per_second_counts_every_keyframe_made():
    stats = RunStats()
    stats.start(0.0)
    for i in range(10):
        stats.keyframe(i / 10, i / 10, 0.01)
    stats.frame(shown(0.0), 0.05)
    stats.stop(1.0)
    assert stats.as_dict(1.0)["keyframes_per_s"] == pytest.approx(10.0)


def test_the_frame_rate_falls_when_frames_stop_coming():
    """Telemetry said 30 fps through 8 s of frames that all failed (found by review)."""
    drawn = [i / 30 for i in range(60)]
    assert frame_rate(drawn, drawn[-1] + 0.01) == pytest.approx(30)
    assert frame_rate(drawn, drawn[-1] + 8.0) == pytest.approx(59 / (drawn[-1] + 8.0))
    assert frame_rate([], 5.0) == 0.0
