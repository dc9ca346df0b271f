"""Stop signals for long commands (a show, a soak, a training): the first asks the command to
stop where its work is whole, a second one later interrupts at once."""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

SAME_SIGNAL_S = 0.5  # a second stop signal this soon after the first is the same request


def stop_on_signals(stopping: threading.Event, asked: threading.Event, clock=time.monotonic) -> dict[int, object]:
    """SIGINT, SIGTERM and SIGHUP set `asked` and `stopping` (a show ends as Esc ends it:
    threads joined, recording finished, stats written); one after `asked` is set already (a
    second signal, or Esc) interrupts at once. A show that ends by itself (its --duration, its
    track) has not been asked: a signal while it finishes lets it finish, where it left the
    recording unfinished and wrote no stats. Returns the previous handlers, to restore."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set them
        return {}
    first: list[float] = []

    def stop(signum: int, frame: object) -> None:
        # One request can arrive twice at once: `timeout` signals the show and then its whole
        # process group, as a terminal's Ctrl-C reaches every process of the job.
        now = clock()
        if asked.is_set() and (not first or now - first[0] >= SAME_SIGNAL_S):
            raise KeyboardInterrupt
        if not first:
            first.append(now)
        asked.set()
        stopping.set()

    names = ("SIGINT", "SIGTERM", "SIGHUP")  # no SIGHUP on Windows
    return {sig: signal.signal(sig, stop) for sig in (getattr(signal, n) for n in names if hasattr(signal, n))}


@contextmanager
def stopped_by_signals(stopping: threading.Event, asked: threading.Event) -> Iterator[None]:
    """`stop_on_signals` for the block, the previous handlers put back after it."""
    handlers = stop_on_signals(stopping, asked)
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
