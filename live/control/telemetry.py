"""Telemetry waiting to be sent: events kept in order, state kept latest-wins.

Any thread may publish; only the control thread takes. Two kinds of topic:
- "state" is a set of fields (bpm, valence, arousal, fps, latency, ...) that stages
  publish separately and often; each field keeps its latest value, and the control
  thread sends the whole set on a fixed tick.
- every other topic ("beat", "error", ...) is an event: each one is sent, in order, as
  soon as the control thread wakes. If the control thread falls behind by more than
  `max_events`, the oldest are dropped (and counted): a late beat is worth less than a
  new one.
"""
from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Mapping

from live.control.protocol import plain

STATE = "state"
TOPICS = ("beat", "error", "notice", STATE)  # what the engine sends (PROTOCOL.md)
_TOPIC = re.compile(r"[a-z][a-z0-9_]{0,31}")


class TelemetryBuffer:
    def __init__(self, max_events: int = 256):
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {max_events}")
        self._lock = threading.Lock()
        self._events: deque[tuple[str, dict]] = deque(maxlen=max_events)
        self._state: dict = {}
        self._dropped = 0

    def publish(self, topic: str, body: Mapping) -> bool:
        """Queue an event or merge state fields; True if an event was queued (the sender
        should wake). The body is converted to plain JSON data here, in the caller's
        thread, so a value that cannot be sent fails where it was made."""
        if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
            raise ValueError(f"telemetry topic must match {_TOPIC.pattern}, got {topic!r}")
        fields = plain(body)
        if not isinstance(fields, dict):
            raise TypeError(f"telemetry body must be a mapping, got {type(body).__name__}")
        with self._lock:
            if topic == STATE:
                self._state.update(fields)
                return False
            if len(self._events) == self._events.maxlen:
                self._dropped += 1
            self._events.append((topic, fields))
            return True

    def take_events(self) -> list[tuple[str, dict]]:
        """Every queued event, oldest first; the queue is left empty."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
            return events

    def state(self) -> dict:
        """A copy of the latest value of every state field."""
        with self._lock:
            return dict(self._state)

    @property
    def dropped_events(self) -> int:
        with self._lock:
            return self._dropped
