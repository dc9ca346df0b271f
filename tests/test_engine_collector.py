"""The show's collector policy: long-lived objects frozen at each new state, later garbage still freed."""
import gc
import weakref

from live.engine.collector import ShowCollector


class Node:
    def __init__(self):
        self.me = self  # a cycle: only the collector frees it


def test_settled_objects_are_frozen_and_later_cycles_still_collected():
    collector = ShowCollector()
    before = Node()
    before_alive = weakref.ref(before)
    gc.collect()  # `before` moves to the oldest generation, which only a full collection looks at
    del before
    try:
        collector.start(("show", "reference"))
        assert before_alive() is None  # collected, not frozen for the run
        frozen = gc.get_freeze_count()
        assert frozen > 0
        kept = [Node() for _ in range(100)]
        # Frozen objects still die by their counts (another thread's, in a parallel worker):
        # the count may fall, and must not rise without a new state.
        collector.settle(("show", "reference"))  # same state: nothing more frozen
        assert gc.get_freeze_count() <= frozen
        collector.settle(("show", "fast"))  # the fast path took over: its objects join
        assert gc.get_freeze_count() >= frozen + 90
        later = []
        for _ in range(10 * gc.get_threshold()[0]):  # no gc.collect(): the automatic collector must run
            garbage = Node()
            later.append(weakref.ref(garbage))
            del garbage
        assert sum(ref() is None for ref in later) > len(later) // 2
    finally:
        collector.stop()
    assert gc.get_freeze_count() == 0
    del kept
