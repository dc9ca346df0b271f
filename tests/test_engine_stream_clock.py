from types import SimpleNamespace

import pytest

from live.engine.stream_clock import INPUT_STALL_S, PROJECTION_S, StreamClock


def stamped_source(written=5000, at=100.0, sample_rate=1000):
    """A source whose newest sample (index `written`) was captured at engine time `at`."""
    stamp = {"written": written, "time": at}

    def capture_time(index):
        if stamp["written"] == 0:
            raise RuntimeError("no audio yet")
        return stamp["time"] + (index - stamp["written"]) / sample_rate

    source = SimpleNamespace(sample_rate=sample_rate, ring=SimpleNamespace(written=written), capture_time=capture_time)

    def deliver(written, at):
        stamp.update(written=written, time=at)
        source.ring.written = written

    return source, deliver


def test_stream_time_waits_for_a_stalled_input_instead_of_running_ahead():
    clock = StreamClock(stamped_source()[0])
    assert clock.stream_time(100.02) == pytest.approx(5.02)                 # between blocks: runs on
    assert clock.stream_time(130.0) == pytest.approx(5.0 + PROJECTION_S)   # 30 s of silence: waits


def test_the_pictures_clock_never_steps_back_when_a_block_is_stamped_late():
    source, deliver = stamped_source()
    clock = StreamClock(source)
    assert clock.picture_time(100.010) == pytest.approx(5.010)
    deliver(5016, 100.030)  # the next block's callback ran 14 ms late
    assert clock.stream_time(100.031) == pytest.approx(5.017) and clock.stream_time(100.020) < 5.010
    assert clock.picture_time(100.020) == pytest.approx(5.010)  # held, not stepped back
    assert clock.picture_time(100.031) == pytest.approx(5.017)


def test_before_any_audio_there_is_no_stream_time_and_a_late_input_counts_as_stalled():
    clock = StreamClock(stamped_source(written=0)[0])
    assert clock.stream_time(10.0) is None and clock.picture_time(10.0) is None
    assert not clock.stalled(10.0, started=None)                     # the show has not started
    assert not clock.stalled(10.0 + INPUT_STALL_S / 2, started=10.0)  # an input starts a moment late
    assert clock.stalled(10.0 + INPUT_STALL_S * 2, started=10.0)      # lost before its first block


def test_an_input_is_stalled_once_its_newest_sample_is_older_than_the_limit():
    clock = StreamClock(stamped_source()[0])
    assert not clock.stalled(100.0 + INPUT_STALL_S * 0.9, started=0.0)
    assert clock.stalled(100.0 + INPUT_STALL_S * 1.1, started=0.0)
