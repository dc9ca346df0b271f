"""When the render loop sleeps to hold its frame-rate cap.

Without vsync it always does. With vsync the flip already waits for the display, and a
sleep as well would land frames between its refreshes when the display runs at about the
cap (60 Hz under a 60 fps cap). So the pacer lets frames run unpaced, measuring them
MEASURE_FRAMES at a time, and sleeps once they come well faster than the cap: a 120 or
144 Hz display under a 60 fps cap, or a flip that stops waiting later in the show (some
compositors stop for a hidden or minimized window), which would otherwise take CPU from
the keyframes for frames no one needs. Every RECHECK_S of sleep it measures again.
"""
from __future__ import annotations

import statistics

MEASURE_FRAMES = 30   # unpaced frames whose intervals measure the display
OUTPACE = 1.2         # sleep when the display's rate is above this times the cap
RECHECK_S = 10.0      # with vsync, how long the loop sleeps before it measures its flips again


class FramePacer:
    def __init__(self, fps: float, vsync: bool):
        assert fps > 0, fps
        self.period = 1.0 / fps
        self.vsync = vsync
        self.sleeps = not vsync
        self._shown: list[float] = []
        self._slept_from = 0.0

    def shown(self, t: float) -> None:
        """A frame reached the screen at clock time `t`."""
        if self.sleeps:
            # Sleeping, the loop cannot tell whether the flips wait again (the window was
            # shown again): a sleep on top of them would put frames between refreshes.
            if self.vsync and t - self._slept_from >= RECHECK_S:
                self.sleeps, self._shown = False, [t]
            return
        self._shown.append(t)
        if len(self._shown) > MEASURE_FRAMES:
            intervals = [b - a for a, b in zip(self._shown, self._shown[1:])]
            self.sleeps = statistics.median(intervals) * OUTPACE < self.period
            self._slept_from = t
            del self._shown[:-1]  # the next measure starts at this frame

    def remeasure(self, vsync: bool) -> None:
        """The display may have changed (a fullscreen switch to another monitor), and with
        it whether the flip waits for vsync."""
        self.vsync, self.sleeps = vsync, not vsync
        self._shown.clear()
