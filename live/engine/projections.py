"""Preset pictures projected into W off the inference thread.

A preset whose source is a picture needs its projection into W on the bundle it plays on:
seconds to minutes on a CPU, cached after the first time (live.transfer.project). A live
switch to such a preset whose projection is not cached must not hold the keyframes that
long, so a worker projects it at a low priority while the picture on screen goes on, and
hands the preset back for the switch once its latent is stored. A switch to another preset
stops it; `close` stops and waits for all (torch must not be running at exit).
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from live.bundle import Bundle
from live.errors import UserError
from live.presets import Preset
from live.workers import BuildCancelled, yield_to_the_show
from live.transfer.project import CachedProjection, ProjectConfig, project_image


class Projection:
    """One picture being projected; `cancel` stops it at its next optimization step."""

    def __init__(self, preset: Preset, bundle: Bundle, cached: CachedProjection,
                 on_done: Callable[[Preset], None], on_error: Callable[[Preset, str], None],
                 config: ProjectConfig = ProjectConfig()):
        self.preset, self.cached, self.config = preset, cached, config
        self._bundle, self._on_done, self._on_error = bundle, on_done, on_error
        self._cancelled = threading.Event()
        self.steps_done = 0  # written by the worker alone, read by the show for its progress
        self.thread = threading.Thread(target=self._run, name="projection", daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def progress(self) -> float:
        """The share of its optimization steps done, in [0, 1]."""
        return min(1.0, self.steps_done / (self.config.steps + self.config.plus_steps))

    def _check(self) -> None:
        if self._cancelled.is_set():
            raise BuildCancelled
        self.steps_done += 1

    def _run(self) -> None:
        yield_to_the_show()
        try:
            self.cached.store(project_image(self._bundle, self.cached.picture, config=self.config, check=self._check))
        except BuildCancelled:
            return
        except Exception as e:  # noqa: BLE001 - a live component reports; the show on screen goes on
            if not self._cancelled.is_set():  # a cancelled job's failure is no one's: its preset was left
                detail = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
                self._on_error(self.preset, f"cannot project its picture ({detail})")
            return
        if not self._cancelled.is_set():
            self._on_done(self.preset)


class Projections:
    """The projection workers of a live engine: the inference thread starts and cancels
    them, the engine's `stop` closes them (from the main thread, possibly while a slow
    switch on the inference thread is still under way, hence the lock)."""

    def __init__(self, on_done: Callable[[Preset], None], on_error: Callable[[Preset, str], None]):
        self._on_done, self._on_error = on_done, on_error
        self._lock = threading.Lock()
        self._jobs: list[Projection] = []
        self._closed = False

    def under_way(self, preset: Preset, cached: CachedProjection) -> bool:
        """This preset's picture is being projected (by a job not cancelled: one that was
        may still be finishing its step, and hands nothing back)."""
        with self._lock:
            self._jobs = [job for job in self._jobs if job.thread.is_alive()]
            return any(not job.cancelled and job.cached.entry == cached.entry and job.preset.name == preset.name
                       for job in self._jobs)

    def progress(self) -> tuple[str, float] | None:
        """The preset being projected for and the share done, or None when none is."""
        with self._lock:
            jobs = [job for job in self._jobs if not job.cancelled and job.thread.is_alive()]
        return (jobs[-1].preset.name, jobs[-1].progress) if jobs else None

    def start(self, preset: Preset, bundle: Bundle, cached: CachedProjection) -> None:
        """Project for `preset`, stopping any other projection; nothing once closed."""
        with self._lock:
            if self._closed:
                return
            for job in self._jobs:
                job.cancel()
            self._jobs.append(Projection(preset, bundle, cached, self._on_done, self._on_error))

    def cancel(self, keep: str | None = None) -> None:
        """Stop the projections for presets other than the one named `keep`; no waiting."""
        with self._lock:
            for job in self._jobs:
                if job.preset.name != keep:
                    job.cancel()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            jobs = self._jobs
            for job in jobs:
                job.cancel()
        for job in jobs:
            job.thread.join(timeout=60)
        with self._lock:
            self._jobs = []
