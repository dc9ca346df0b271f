"""The C libraries' lines on fd 2 (ALSA, PortAudio, SDL) kept off the terminal while they work:
what they print about a failure the show says in its own words only buries that line."""
from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from typing import Any

# What ALSA and PortAudio's ALSA host API print to fd 2 on each failed open (five lines every
# retry while a device is gone, burying the show's one line: review 99), and SDL on a bad DISPLAY.
C_NOISE = re.compile(r"\s*$|ALSA lib |Expression '.*' failed in '|error: XDG_RUNTIME_DIR is invalid"
                     r"|Cannot connect to server|jack server is not running|JackShmReadWritePtr")
# fd 2 is the process's: one QuietStderr holds it at a time (another's work prints as it is).
_FD2 = threading.Lock()


class QuietStderr:
    """fd 2 pointed at a file while C libraries work (the ALSA and PortAudio lines of a stream's
    open that fails, SDL's of a display it probes, whose failures the show says in its own words),
    then put back, and what was written meanwhile (the show's own lines too) replayed less the C
    libraries' noise. `release` may come from another thread: an open that hangs must not keep
    fd 2. Not around PortAudio's start: sounddevice points fd 2 elsewhere and back on its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._saved: int | None = None
        self._capture: Any = None
        self._released = False  # for good: a release before the work began leaves fd 2 alone

    def __enter__(self) -> QuietStderr:
        with self._lock:
            if not self._released and _FD2.acquire(blocking=False):
                sys.stderr.flush()
                self._capture = tempfile.TemporaryFile()
                self._saved = os.dup(2)
                os.dup2(self._capture.fileno(), 2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        with self._lock:
            self._released = True
            if self._saved is None:
                return
            sys.stderr.flush()  # the show's lines written meanwhile, into the capture
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved, capture = None, self._capture
            _FD2.release()
        capture.seek(0)
        kept = [line for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                if not C_NOISE.match(line)]
        capture.close()
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
