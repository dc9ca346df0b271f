"""The CPU work runs on: its cores, and background work beside a show (a local model's build,
a picture's projection) at a lower priority than the keyframes and frames, cancelled between
its passes through the networks once its result is no longer wanted."""
from __future__ import annotations

import os
import threading


def cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class BuildCancelled(Exception):
    """Raised between the passes of background work through the networks (a local model's
    build, a picture's projection) once its result is no longer wanted."""


def yield_to_the_show(niceness: int = 10) -> None:
    """Lower this thread's CPU priority (Linux schedules threads alone): on a busy machine
    keyframes and frames come first, and a local model arrives a little later."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at the normal priority
        pass
