"""Keep Python's cycle collector off the objects a show holds for its whole life.

A process with a show open tracks hundreds of thousands of Python objects (the networks
and what torch keeps for them: 257,000 for the default show, 670,000 when the fast path
still compiled in the show's process), and a full collection walks every one: about 330 ms
(`gc.collect(2)` after `open_show`), ten frames at 30 fps with the interpreter lock held,
so the render loop and every other thread stand still. Frozen objects (`gc.freeze`) are
left out of all later collections, which then walk only what was made since: the garbage
of keyframes and model builds, collected as before.

Full collections come when many objects have outlived the young generations: after a
bundle loads during a show (a switch to a preset of another bundle). Measured when the fast
path compiled during the show: in 90 s of the engine benchmark, the longest frame interval
was 407 ms without this and 139 ms with it (29.6 and 29.9 frames/s).
"""
from __future__ import annotations

import gc
from collections.abc import Hashable


class ShowCollector:
    """Freezes the live objects each time the show settles into a new state (the run's
    start, the fast synthesis taking over, a preset or bundle switch).

    A show replaced by a switch stays frozen: reference counting frees its objects, but
    any it holds in reference cycles stay until the run ends."""

    def __init__(self) -> None:
        self._state: Hashable | None = None

    def start(self, state: Hashable) -> None:
        # Collect first, once, before the show starts: garbage frozen now would never be freed.
        gc.collect()
        self.settle(state)

    def settle(self, state: Hashable) -> None:
        """Call often (it is a comparison until the state changes). A state change after the
        start collects the young generations only (a full collection would stall the show)
        and then freezes: cycles that had already reached the oldest generation, such as
        leftovers of a bundle's load, are kept for the run."""
        if state != self._state:
            gc.collect(1)
            gc.freeze()
            self._state = state

    def stop(self) -> None:
        """The run is over: later collections see everything again (everything the process
        froze, which is only this collector's doing in a show)."""
        gc.unfreeze()
        self._state = None
