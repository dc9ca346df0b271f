"""Where the refinement's local models come from: built at once, or on a worker thread.

Both keep the newest finished `Anchor` and take requests for a new one at a latent, for
the keyframe that asked (its music and lambda set the radius the model is trusted over).
`InlineAnchors` builds before `request` returns, so an offline render is deterministic;
`BackgroundAnchors` hands the newest request to a worker thread and returns at once, so
a keyframe never waits for the k passes through G and E_I a model costs: until a model
that holds for a keyframe is done, that keyframe is the predictor's output alone. A failed build is reported (to
`on_error`) and the last good model stays, as the live path must never stop on it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from live.errors import note
from live.workers import BuildCancelled, yield_to_the_show
from live.transfer.linearize import Anchor


@dataclass(frozen=True)
class AnchorRequest:
    w: torch.Tensor      # [num_ws, w_dim] where the model is wanted
    music: torch.Tensor  # [D] f_M of the keyframe it is for
    lam: float           # and that keyframe's lambda


# A builder calls `check` between its passes through the networks; `check` raises
# BuildCancelled when the model is no longer wanted.
Builder = Callable[[AnchorRequest, Callable[[], None]], Anchor]


class InlineAnchors:
    def __init__(self, build: Builder):
        self._build = build
        self._current: Anchor | None = None
        self.builds = 0

    def request(self, request: AnchorRequest) -> None:
        self._current = self._build(request, lambda: None)
        self.builds += 1

    def current(self) -> Anchor | None:
        return self._current

    def close(self, wait: bool = True) -> None:
        self._current = None

    @property
    def running(self) -> bool:
        return False


class DelayedAnchors:
    """A show's worker replayed on a keyframe clock, for measurements: a build starts when
    the worker is free and a request waits, is computed at once but is in place only
    `delay` keyframes later, and the worker then rests `rest` keyframes (its duty); a newer
    request replaces one still waiting. `tick` advances the clock by one keyframe. The
    same inputs give the same models at the same keyframes, as a show's would arrive."""

    def __init__(self, build: Builder, delay: int, rest: int):
        assert delay >= 0 and rest >= 0, (delay, rest)
        self._build, self.delay, self.rest = build, delay, rest
        self._current: Anchor | None = None
        self._request: AnchorRequest | None = None
        self._building: tuple[int, Anchor] | None = None  # (keyframe it is in place at, model)
        self._free_at = self._now = 0
        self.builds = 0

    def tick(self) -> None:
        self._now += 1
        self._arrive()
        self._start()

    def request(self, request: AnchorRequest) -> None:
        self._request = request
        self._start()

    def current(self) -> Anchor | None:
        return self._current

    def close(self, wait: bool = True) -> None:
        self._current = self._request = self._building = None

    @property
    def running(self) -> bool:
        return False

    def _start(self) -> None:
        if self._building is None and self._request is not None and self._now >= self._free_at:
            request, self._request = self._request, None
            self._building = (self._now + self.delay, self._build(request, lambda: None))
            self.builds += 1
            self._arrive()  # a delay of 0: in place at once

    def _arrive(self) -> None:
        if self._building is not None and self._now >= self._building[0]:
            done, self._current = self._building
            self._building, self._free_at = None, done + self.rest


class BackgroundAnchors:
    """`duty` caps the worker's share of wall time: after a build of t seconds it rests
    t * (1 / duty - 1). A build is k passes through G and E_I; back to back they take a
    core and, through the interpreter lock, time from the keyframes (measured: 17.3
    keyframes/s without refinement, 15.6 with builds back to back)."""

    def __init__(self, build: Builder, name: str = "anchors", duty: float = 1.0,
                 on_error: Callable[[str], None] | None = None):
        assert 0 < duty <= 1, duty
        self._build = build
        self._on_error = on_error or (lambda message: note("refinement", message))
        self._rest_factor = 1 / duty - 1
        self._cond = threading.Condition()
        self._request: AnchorRequest | None = None
        self._current: Anchor | None = None
        self._closed = False
        self._busy = False
        self.builds = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request(self, request: AnchorRequest) -> None:
        """Ask for a model; an older request not yet started is replaced."""
        request = AnchorRequest(request.w.detach().clone(), request.music.detach().clone(), request.lam)
        with self._cond:
            self._request = request
            self._cond.notify()

    def current(self) -> Anchor | None:
        with self._cond:
            return self._current

    def idle(self, timeout: float) -> bool:
        """Wait until no request is pending or being built (tests wait on it)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._request is None and not self._busy, timeout)

    def close(self, wait: bool = True) -> None:
        """Stop taking requests. A build under way stops at its next pass through the
        networks (a fraction of a second; a whole build takes seconds) and is dropped.
        Without `wait` it stops on its own: a preset switch must not wait for the last
        preset's model. A process must not exit while one runs (torch aborts), so at the
        end close with `wait`."""
        with self._cond:
            self._closed = True
            self._request = None
            self._cond.notify_all()
        if wait:
            self._thread.join(timeout=60)

    @property
    def running(self) -> bool:
        """The worker has not ended yet (after `close`: a build is reaching its next pass)."""
        return self._thread.is_alive()

    def _run(self) -> None:
        yield_to_the_show()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._request is not None or self._closed)
                if self._closed:
                    return
                request, self._request, self._busy = self._request, None, True
            start = time.perf_counter()
            try:
                anchor = self._build(request, self._check)
            except BuildCancelled:
                anchor = None
            except Exception as e:  # a live component reports and keeps the last good model
                anchor = None
                self._on_error(f"cannot build a local model ({type(e).__name__}: {e}); keeping the last one")
            with self._cond:
                if anchor is not None and not self._closed:
                    self._current = anchor
                    self.builds += 1
                self._busy = False
                self._cond.notify_all()
                # The rest; a newer request waits for its end, close() does not.
                self._cond.wait_for(lambda: self._closed, (time.perf_counter() - start) * self._rest_factor)

    def _check(self) -> None:
        if self._closed:
            raise BuildCancelled
