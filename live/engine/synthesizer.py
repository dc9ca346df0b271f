"""Latent -> picture for the keyframes: the reference synthesis, or the compiled fast path.

Compiling the fast path (`live.nets.fast`) takes a minute on a small CPU, once per set of
weights where it is kept as a package (`live.nets.packaged`), milliseconds to load after
that. Live, a show cannot wait for a compile, so it runs on a worker thread (a package's
build in a child process, waited for off that thread) while keyframes come from the
reference synthesis, and the fast path (drawn on that worker, see `Lane`) takes over when
it is ready. Offline, a render uses the reference path, or the fast path once
its compile has finished (`--synthesis fast` waits for it), so a render never depends on
when a compile finished.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import torch

from live.errors import first_line
from live.nets.packaged import cpu_flags
from live.nets.fast import FastOptions, FastSynthesis, package_on_disk
from live.nets.stylegan2 import Generator, to_uint8


# A bundle a switch brings is compiled once it has been on screen this long: a build costs
# a minute or more of a core, and an in-process compile started for a preset only peeked at
# held the show's own bundle on the reference path meanwhile (for 7 s, no keyframe at all).
# One whose package is on disk loads at once, in milliseconds.
SWITCH_SETTLE_S = 10.0


class _LaneThread(threading.Thread):
    busy = False  # running a job, which nothing can interrupt


def busy_lanes() -> bool:
    """A lane is running a job. The interpreter must not finalize under it: torch aborts
    the process when a compile loses its interpreter (`python -m live` then exits at once)."""
    return any(isinstance(t, _LaneThread) and t.busy for t in threading.enumerate())


class Lane:
    """One daemon thread that runs every job given to it, in order, until closed.

    torch 2.11 is not safe with compiled graphs on several threads: a graph compiled on
    one thread and run on another segfaults while a third thread runs autograd (the
    refinement's local models do), and compiling on a second thread after a first has
    compiled crashes too (both seen here). So every compile and every compiled call of a
    process goes through one lane; synthesizers for later bundles share it.
    """

    def __init__(self, name: str = "fast-synthesis"):
        self._jobs: queue.Queue[tuple[Callable[[], object], Future, bool] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._compiles: set[Future] = set()  # compile jobs queued or running
        # Held by a package's build, which waits off the lane for its child process: one at a
        # time (a child takes a core and a gigabyte), and a second request for the same
        # package finds it on disk.
        self.builds = threading.Lock()
        self._closed = False
        self._thread = _LaneThread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def compiling(self) -> bool:
        """A compile is queued or running: a job submitted now waits tens of seconds."""
        with self._lock:
            return bool(self._compiles)

    def _run(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, future, compile_job = item
            if not future.set_running_or_notify_cancel():  # withdrawn while it waited
                continue
            self._thread.busy = True
            try:
                result, error = job(), None
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits on the future
                result, error = None, e
            self._thread.busy = False
            if compile_job:  # counted off first: whoever the future wakes sees the lane free
                with self._lock:
                    self._compiles.discard(future)
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

    def submit(self, job: Callable[[], object], compile_job: bool = False) -> Future:
        """The job's future; cancelled at once on a closed lane."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                future.cancel()
                return future
            if compile_job:
                self._compiles.add(future)
            self._jobs.put((job, future, compile_job))
        return future

    def withdraw(self, future: Future) -> bool:
        """Take back a job that has not started; True if it was taken back."""
        with self._lock:
            if not future.cancel():
                return False
            self._compiles.discard(future)
            return True

    def close(self) -> None:
        """Take no more jobs and cancel those not started; the running one, if any, runs
        to its end (see `busy_lanes`). Does not wait."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            while True:
                try:
                    _, future, _ = self._jobs.get_nowait()
                except queue.Empty:
                    break
                future.cancel()
                self._compiles.discard(future)
            self._jobs.put(None)


class Synthesizer:
    """`w [num_ws, w_dim] -> uint8 [R, R, 3]` for one generator, constant noise.

    Called from one thread at a time (the inference thread). `fast` None keeps the
    reference path. Otherwise, from the first call on (once it has drawn for `settle_s`),
    the lane compiles `FastSynthesis(fast)` (a package not yet on disk is built by a child
    process meanwhile, off the lane) and then draws every fast frame; until then, and while
    the lane compiles, exports or loads for another generator, frames come from the
    reference path (`withdraw` takes back a compile that has not started). `on_error`
    hears, once, why the fast path could not be built or failed to draw; the reference
    path then stays.
    """

    def __init__(self, G: Generator, fast: FastOptions | None = None,
                 on_error: Callable[[str], None] | None = None, lane: Lane | None = None,
                 settle_s: float = 0.0, clock: Callable[[], float] = time.monotonic, build: bool = True):
        """`settle_s`: draw this long, by `clock`, before the compile starts. `build` False:
        with `fast.packages`, a package already on disk is loaded, and none is built (the
        reference path stays)."""
        self.G, self.options, self.on_error, self.clock, self.build = G, fast, on_error, clock, build
        self._lane = lane if lane is not None or fast is None else Lane()
        self._build: Future | None = None
        self._fast: FastSynthesis | None = None  # set on the lane when built
        self._settle_s = settle_s
        self._drawing_since: float | None = None  # the first draw since this generator came on screen

    def _start(self) -> None:
        """Start the build with the calling thread's intra-op thread count: dynamo guards
        on it, and the first call (or `wait`) comes from the thread that will draw."""
        if self.options is not None and self._build is None:
            threads = torch.get_num_threads()
            self._build = self._lane.submit(lambda: self._compile(threads), compile_job=True)

    def _compile(self, threads: int) -> Future | None:
        """On the lane: the fast path, or the future of its package's build and load when
        the package is not yet on disk (see `_build_package`)."""
        torch.set_num_threads(threads)
        try:
            fast = FastSynthesis(self.G.synthesis, self.options, build=False)
            if not fast.pending:
                self._fast = fast
                return None
            if not self.build:
                return None
            fast.package.prepare_build()
            loaded: Future = Future()
            threading.Thread(target=self._build_package, args=(fast, loaded), name="package-build",
                             daemon=True).start()
            return loaded
        except Exception as e:  # noqa: BLE001 - e.g. no C++ compiler for inductor: stay on the reference
            self._unavailable(e)
            return None

    def _build_package(self, fast: FastSynthesis, loaded: Future) -> None:
        """Off the lane: the package is built by a child process for a minute or more, and
        the lane meanwhile draws the fast frames of the other bundles loaded (a returning
        performer's, the previous one's); then it is loaded on the lane, in milliseconds.
        `loaded` is set whatever happens: `wait` waits for it."""

        def load() -> None:
            try:
                fast.use_package()
                self._fast = fast
            except Exception as e:  # noqa: BLE001 - a package that does not load: the reference draws on
                self._unavailable(e)

        submitted = False
        try:
            with self._lane.builds:
                fast.package.build()
            # Also done when the lane has closed (the show ended): the package waits for the next show.
            self._lane.submit(load, compile_job=True).add_done_callback(lambda _: loaded.set_result(None))
            submitted = True
        except Exception as e:  # noqa: BLE001 - the builder's reason, in one line
            self._unavailable(e)
        finally:
            if not submitted:
                loaded.set_result(None)

    def _unavailable(self, e: Exception) -> None:
        if self.on_error is not None:
            self.on_error(f"fast synthesis unavailable ({type(e).__name__}: {first_line(e)}); "
                          "using the reference synthesis")

    def wait(self, timeout: float | None = None) -> bool:
        """Start the build if needed and block until it is done or has failed; True if
        the fast path is in use."""
        self._start()
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._build is not None:
            futures.wait([self._build], timeout)
            if self._build.done() and not self._build.cancelled() and (loaded := self._build.result()) is not None:
                futures.wait([loaded], None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self._fast is not None

    def _fast_now(self) -> FastSynthesis | None:
        """The fast path, unless a compile for another generator holds the lane: a frame
        would wait behind it."""
        fast = self._fast
        return fast if fast is not None and not self._lane.compiling else None

    @property
    def path(self) -> str:
        """The path drawing now."""
        return "fast" if self._fast_now() is not None else "reference"

    def withdraw(self) -> None:
        """The show moved to another bundle: this one's compile, if it has not started, leaves
        the lane, so that the bundle on screen compiles next, not after every bundle a
        performer went through (three bundles switched among stayed on the reference path
        for minutes). Drawing again asks for it again."""
        self._drawing_since = None
        if self._build is not None and self._lane.withdraw(self._build):
            self._build = None

    def for_generator(self, G: Generator, on_error: Callable[[str], None] | None = None) -> Synthesizer:
        """This one if it draws `G`, else a new one with the same options on the same lane
        (a bundle switch), which compiles once it has drawn for SWITCH_SETTLE_S, or at once
        if its package is on disk."""
        if G is self.G:
            return self
        packaged = _packaged(G, self.options)
        return Synthesizer(G, self.options, on_error, self._lane, 0.0 if packaged else SWITCH_SETTLE_S,
                           self.clock, self.build)

    @property
    def packaged(self) -> bool:
        """Whether its compiled package is on disk already (no build to wait for)."""
        return _packaged(self.G, self.options)

    @torch.inference_mode()
    def __call__(self, w: torch.Tensor) -> np.ndarray:
        G = self.G
        assert w.shape == (G.num_ws, G.w_dim), (w.shape, G.num_ws, G.w_dim)
        now = self.clock()
        if self._drawing_since is None:
            self._drawing_since = now
        if now - self._drawing_since >= self._settle_s:
            self._start()
        fast = self._fast_now()
        img = None
        if fast is not None:
            try:
                img = self._lane.submit(lambda: fast(w[None])).result()
            except futures.CancelledError:  # the lane closed: the show is ending
                pass
            except Exception as e:  # noqa: BLE001 - a compiled graph that fails in a show: the reference draws on
                self._fast = None
                if self.on_error is not None:
                    self.on_error(f"fast synthesis failed ({type(e).__name__}: {first_line(e)}); "
                                  "using the reference synthesis")
        if img is None:
            img = G.synthesis(w[None], noise_mode="const")
        return to_uint8(img)[0].cpu().numpy()

    def close(self) -> None:
        """Close the lane (shared with the synthesizers made by `for_generator`): the end of the show."""
        if self._lane is not None:
            self._lane.close()


def live_fast_options(device: torch.device, packages: Path) -> FastOptions:
    """bf16 where the hardware runs it natively, float32 elsewhere: on the shipped presets'
    keyframes bf16 is 0.3-0.5 levels of 255 from the reference on average, 12 in the worst pixel
    of 49 keyframes, over 2 somewhere in 47 of them (review 62): invisible at 30 fps. Compiled
    ahead of time into `packages`: a compile in the show's process held its interpreter for two
    minutes, every show (see live.nets.packaged)."""
    return FastOptions(dtype=torch.bfloat16 if native_bf16(device) else torch.float32, packages=packages)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` has bf16 matrix units: CUDA from compute capability 8 (Ampere), CPUs
    with AMX. Elsewhere bf16 is slower than float32, though oneDNN takes it on any AVX-512
    CPU: a 256-channel 3x3 conv at 32 px on one thread of this AMX CPU took 1.8 ms in bf16
    against 9.9 in float32; capped at AVX-512 (Skylake, Cascade Lake) 54 against 9.5, at
    AVX-512 BF16 (Cooper Lake, Zen 4) 12.4 against 6.3 (`DNNL_MAX_CPU_ISA`, session 35)."""
    if device.type == "cuda":
        with torch.cuda.device(device):
            return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and "amx_bf16" in cpu_flags().split()


def _packaged(G: Generator, options: FastOptions | None) -> bool:
    return (options is not None and options.compile and options.packages is not None
            and package_on_disk(G.synthesis, options))
