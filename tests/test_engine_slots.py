import threading
import time

from live.engine.slots import LatestSlot


def test_take_returns_newest_and_counts_drops():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take(timeout=0.01) is None
    slot.put(1)
    slot.put(2)
    slot.put(3)
    assert slot.take(timeout=0.01) == 3
    assert slot.dropped == 2
    assert slot.take(timeout=0.01) is None  # nothing newer than what was taken
    assert slot.peek() == 3


def test_take_wakes_when_a_value_arrives():
    # Woken by the put, not by its timeout (which would still find the value).
    slot: LatestSlot[str] = LatestSlot()
    got = []

    def take():
        got.append(slot.take(timeout=5))
        got.append(time.monotonic())
    t = threading.Thread(target=take)
    t.start()
    time.sleep(0.1)  # the reader waits
    put_at = time.monotonic()
    slot.put("frame")
    t.join(timeout=5)
    assert got[0] == "frame" and got[1] - put_at < 1.0 and slot.dropped == 0


def test_a_value_a_polling_reader_saw_is_not_dropped():
    # The renderer reads keyframes with peek once a frame: a keyframe it saw was not lost.
    slot: LatestSlot[int] = LatestSlot()
    slot.put(1)
    assert slot.peek() == 1
    slot.put(2)
    slot.put(3)  # 2 was never seen
    assert slot.peek() == 3 and slot.dropped == 1
    assert slot.take(timeout=0.01) is None  # 3 was seen already
