from live.engine.heard import HOLD_S, HeardLine


def test_items_wait_until_heard_and_come_once_in_order():
    line: HeardLine[str] = HeardLine()
    line.put("a", heard_at=10.3, now=10.0)
    line.put("b", heard_at=10.5, now=10.0)
    assert line.due(10.29) == []
    assert line.due(10.3) == ["a"]
    assert line.due(11.0) == ["b"] and line.due(12.0) == []


def test_an_input_s_items_are_heard_already():
    line: HeardLine[int] = HeardLine()
    line.put(1, heard_at=9.95, now=10.0)  # captured before it was analysed
    assert line.due(10.0) == [1]


def test_items_heard_too_long_ago_are_dropped_not_handed_out():
    line: HeardLine[int] = HeardLine()
    for n, heard_at in enumerate((4.0, 9.4, 9.6, 10.2)):  # an audio thread held up catches up at 10.0
        line.put(n, heard_at=heard_at, now=10.0)
    assert line.due(10.0, late_s=0.5) == [2] and line.due(10.2, late_s=0.5) == [3] and not line.waiting


def test_a_stamp_far_ahead_waits_no_longer_than_the_hold():
    # A device reporting a latency of minutes must not hold every beat after it that long.
    line: HeardLine[str] = HeardLine()
    line.put("nonsense", heard_at=600.0, now=10.0)
    assert line.due(10.0 + HOLD_S - 0.01) == []
    assert line.due(10.0 + HOLD_S) == ["nonsense"]


def test_items_waiting_can_be_revised_and_those_gone_cannot():
    line: HeardLine[int] = HeardLine()
    line.put(1, heard_at=10.0, now=10.0)
    line.put(2, heard_at=10.5, now=10.0)
    assert line.due(10.0) == [1]
    line.revise(lambda n: n * 10)
    assert line.waiting and line.due(11.0) == [20] and not line.waiting
