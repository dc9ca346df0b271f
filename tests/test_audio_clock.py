import pytest

from live.audio.clock import CaptureTimes

RATE = 48000
BLOCK = 480  # 10 ms


def test_late_callbacks_do_not_move_the_capture_times():
    times = CaptureTimes(RATE, drift=0.0)
    # Blocks captured every 10 ms, each delivered 5 ms after its end, some 5-40 ms later still.
    lateness = [0.0, 0.03, 0.0, 0.04, 0.035, 0.0, 0.005, 0.0]
    for k, late in enumerate(lateness, start=1):
        end = k * BLOCK
        assert times.block_end(end, 100.0 + end / RATE + 0.005 + late) == pytest.approx(100.005 + end / RATE)


def test_an_early_block_lowers_the_estimate_at_once_and_drift_raises_it_slowly():
    times = CaptureTimes(RATE, drift=1e-3)
    assert times.block_end(BLOCK, 10.03) == pytest.approx(10.03)  # the first block sets the offset
    # A block that comes sooner than the first one says: the first was late.
    assert times.block_end(2 * BLOCK, 10.02) == pytest.approx(10.02)
    # A device clock 500 ppm slow: every callback 0.5 ms later than its count says, per second.
    for second in range(1, 11):
        end = 2 * BLOCK + second * RATE
        now = 10.02 + second * 1.0005
        assert times.block_end(end, now) == pytest.approx(now, abs=1e-9)


def test_a_reset_takes_the_next_callback_as_it_comes():
    times = CaptureTimes(RATE)
    times.block_end(BLOCK, 1.0)
    # 100 ms of samples lost: the count is behind the time, which the estimate would
    # otherwise reach at 1 ms per second.
    times.reset()
    assert times.block_end(2 * BLOCK, 1.11) == pytest.approx(1.11)
