"""Calls into the audio driver that may never return.

PortAudio can wait forever on a sound server that died under it: closing a stream joins
its callback thread, which may be stuck inside the ALSA pulse plugin on the dead server's
lock (seen when PulseAudio is killed under a show). No thread of the show may wait with it,
so such calls run on a thread of their own and the caller waits a bounded time.
"""
from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from typing import Any


class DriverCall:
    """`work()` on a daemon thread; `wait` for it a bounded time, then read `error`."""

    def __init__(self, work: Callable[[], Any], name: str) -> None:
        self.started = time.monotonic()
        self.error: BaseException | None = None
        self._done = threading.Event()
        threading.Thread(target=self._run, args=(work,), name=name, daemon=True).start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - handed to the caller, on its thread
            self.error = e
        finally:
            self._done.set()

    def wait(self, seconds: float) -> bool:
        """True once the call has returned; False after `seconds` without."""
        return self._done.wait(seconds)

    def running_for(self) -> float:
        return time.monotonic() - self.started


def skip_driver_cleanup_at_exit() -> None:
    """sounddevice terminates PortAudio at exit, which closes every stream: with one hung in
    its driver, the process would never exit. Called once a call is known to hang."""
    from live.audio.devices import portaudio  # which starts PortAudio through a DriverCall

    handler = getattr(portaudio(), "_exit_handler", None)
    if handler is not None:
        atexit.unregister(handler)
