from __future__ import annotations

import numpy as np
import pytest

from live.control.telemetry import TelemetryBuffer


def test_state_fields_are_merged_latest_wins():
    buf = TelemetryBuffer()
    assert buf.publish("state", {"bpm": 120.0, "fps": 30}) is False
    buf.publish("state", {"fps": 29.5, "valence": np.float32(0.25)})
    assert buf.state() == {"bpm": 120.0, "fps": 29.5, "valence": 0.25}
    assert buf.take_events() == []


def test_events_come_out_in_order_once():
    buf = TelemetryBuffer()
    for i in range(3):
        assert buf.publish("beat", {"index": i}) is True
    buf.publish("error", {"source": "audio", "message": "device lost"})
    assert [topic for topic, _ in buf.take_events()] == ["beat", "beat", "beat", "error"]
    assert buf.take_events() == []


def test_a_full_event_queue_drops_the_oldest_and_counts():
    buf = TelemetryBuffer(max_events=4)
    for i in range(10):
        buf.publish("beat", {"index": i})
    assert [body["index"] for _, body in buf.take_events()] == [6, 7, 8, 9]
    assert buf.dropped_events == 6


def test_a_state_snapshot_is_not_changed_by_later_publishing():
    buf = TelemetryBuffer()
    buf.publish("state", {"latency_ms": {"p50": 40}})
    snapshot = buf.state()
    buf.publish("state", {"latency_ms": {"p50": 90}})
    assert snapshot == {"latency_ms": {"p50": 40}}


@pytest.mark.parametrize("topic", ["", "Beat", "beat frame", "b" * 40, 3])
def test_bad_topics_are_refused_in_the_callers_thread(topic):
    with pytest.raises(ValueError, match="topic"):
        TelemetryBuffer().publish(topic, {})


def test_bodies_must_be_json_mappings():
    buf = TelemetryBuffer()
    with pytest.raises(TypeError):
        buf.publish("beat", [1, 2])
    with pytest.raises(TypeError):
        buf.publish("state", {"frame": np.zeros((2, 2))})
    assert buf.state() == {} and buf.take_events() == []
