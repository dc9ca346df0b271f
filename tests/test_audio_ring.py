from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from live.audio.ring import RingBuffer


def frames(start: int, stop: int, channels: int = 1) -> np.ndarray:
    """Frames whose every sample holds its own frame index, so any mix-up shows."""
    return np.repeat(np.arange(start, stop, dtype=np.float32)[:, None], channels, axis=1)


def test_reads_what_was_written_across_the_wrap():
    ring = RingBuffer(capacity=10, channels=2)
    ring.write(frames(0, 7, 2))
    block, pos = ring.read_since(0)
    np.testing.assert_array_equal(block, frames(0, 7, 2))
    ring.write(frames(7, 15, 2))      # wraps: slots 7..9 then 0..4
    block, pos = ring.read_since(pos)
    np.testing.assert_array_equal(block, frames(7, 15, 2))
    assert pos == ring.written == 15
    assert ring.overflows == 0


def test_latest_pads_before_the_start_and_follows_the_wrap():
    ring = RingBuffer(capacity=8)
    ring.write(frames(0, 3))
    np.testing.assert_array_equal(ring.latest(5)[:, 0], [0, 0, 0, 1, 2])
    ring.write(frames(3, 21))
    np.testing.assert_array_equal(ring.latest(8), frames(13, 21))


def test_a_slow_consumer_loses_the_oldest_frames_and_it_is_counted():
    ring = RingBuffer(capacity=8)
    ring.write(frames(0, 5))
    ring.write(frames(5, 20))         # 12 frames behind with room for 8
    block, pos = ring.read_since(0)
    np.testing.assert_array_equal(block, frames(12, 20))
    assert pos == 20
    assert ring.overflows == 1 and ring.frames_lost == 12


def test_a_block_longer_than_the_ring_keeps_its_end():
    ring = RingBuffer(capacity=4)
    ring.write(frames(0, 10))
    assert ring.written == 10
    np.testing.assert_array_equal(ring.latest(4), frames(6, 10))


def test_reading_ahead_of_the_writer_is_a_bug():
    ring = RingBuffer(capacity=4)
    with pytest.raises(AssertionError):
        ring.read_since(1)


def test_frames_the_producer_is_overwriting_are_never_returned():
    """The producer has claimed frames 8..11 (slots 0..3) and is halfway through copying."""
    ring = RingBuffer(capacity=8)
    ring.write(frames(0, 8))
    ring._claimed = 12
    ring._data[0:2] = -1.0            # the part of the new block already copied
    block, pos = ring.read_since(0)
    np.testing.assert_array_equal(block, frames(4, 8))
    assert pos == 8 and ring.frames_lost == 4
    latest = ring.latest(8)[:, 0]
    np.testing.assert_array_equal(latest, [0, 0, 0, 0, 4, 5, 6, 7])


def test_concurrent_reader_never_sees_a_torn_frame():
    """A producer thread races a consumer around a small ring; every frame the consumer
    gets must hold its own index, and lost frames must be accounted for."""
    ring = RingBuffer(capacity=64)   # barely one block: the producer laps the reader often
    total, block = 100_000, 61

    def produce() -> None:
        for start in range(0, total, block):
            ring.write(frames(start, min(total, start + block)))

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)      # switch threads as often as possible: many interleavings
    try:
        producer = threading.Thread(target=produce)
        producer.start()
        pos, received = 0, 0
        while producer.is_alive() or pos < ring.written:
            data, end = ring.read_since(pos)
            np.testing.assert_array_equal(data[:, 0], np.arange(end - len(data), end, dtype=np.float32))
            received += len(data)
            pos = end
            latest = ring.latest(50)[:, 0]
            assert np.all(np.diff(latest[latest > 0]) == 1)
        producer.join()
    finally:
        sys.setswitchinterval(previous)
    assert pos == total
    assert received + ring.frames_lost == total
