import pytest

from live.audio.clock import CaptureTimes, RecentMinimum

RATE = 48000
BLOCK = 480  # 10 ms


def test_late_callbacks_do_not_move_the_capture_times():
    times = CaptureTimes(RATE)
    # Blocks captured every 10 ms, each delivered 5 ms after its end, some 5-40 ms later still.
    lateness = [0.0, 0.03, 0.0, 0.04, 0.035, 0.0, 0.005, 0.0]
    for k, late in enumerate(lateness, start=1):
        end = k * BLOCK
        assert times.block_end(end, 100.0 + end / RATE + 0.005 + late) == pytest.approx(100.005 + end / RATE)


def test_an_early_block_lowers_the_estimate_at_once_and_a_slow_device_clock_is_followed():
    times = CaptureTimes(RATE)
    assert times.block_end(BLOCK, 10.03) == pytest.approx(10.03)  # the first block sets the offset
    # A block that comes sooner than the first one says: the first was late.
    assert times.block_end(2 * BLOCK, 10.02) == pytest.approx(10.02)
    # A device clock 500 ppm slow: every second, the callbacks come 0.5 ms later than the count says.
    for block in range(3, 2000):
        now = 10.0 + block / 100 * 1.0005
        end_time = times.block_end(block * BLOCK, now)
    assert end_time == pytest.approx(now, abs=0.003)  # within the window's share of the drift


def test_samples_lost_without_a_flag_are_caught_up_within_the_window():
    times = CaptureTimes(RATE, window=4.0)
    now = 0.0
    for block in range(1, 300):  # 3 s of steady blocks
        now = block / 100
        times.block_end(block * BLOCK, now)
    for block in range(300, 1100):  # 0.3 s of audio never arrived: the count is behind the time
        now = block / 100 + 0.3
        end_time = times.block_end(block * BLOCK, now)
    assert end_time == pytest.approx(now, abs=1e-6)


def test_a_reset_takes_the_next_callback_as_it_comes():
    times = CaptureTimes(RATE)
    times.block_end(BLOCK, 1.0)
    times.reset()  # 100 ms of samples lost, with the overflow flag
    assert times.block_end(2 * BLOCK, 1.11) == pytest.approx(1.11)


def test_the_recent_minimum_keeps_a_value_for_a_window_give_or_take_half_and_then_forgets_it():
    lowest = RecentMinimum(window=4.0)  # spans of 2 s: the current one's minimum and the one before's
    assert lowest.add(5.0, now=0.5) == 5.0
    assert lowest.add(7.0, now=1.9) == 5.0
    assert lowest.add(8.0, now=2.1) == 5.0  # the span before still counts
    assert lowest.add(9.0, now=4.1) == 8.0  # two spans on: 5 is forgotten, 8 is the span before's
    assert lowest.add(9.5, now=9.0) == 9.5  # after a gap of spans, nothing older counts
