"""Latent -> picture for the keyframes: the reference synthesis, or the compiled fast path.

Compiling the fast path (`live.nets.fast`) takes tens of seconds on a small CPU. Live, a
show cannot wait that long, so the compile runs on a worker thread while keyframes come
from the reference synthesis, and the fast path (drawn on that worker) takes over when
it is ready. Offline,
every frame comes from the reference path, so a render does not depend on when a
compile finished.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np
import torch

from live.nets.fast import FastOptions, FastSynthesis
from live.nets.stylegan2 import Generator, to_uint8


class Synthesizer:
    """`w [num_ws, w_dim] -> uint8 [R, R, 3]` for one generator, constant noise.

    Called from one thread at a time (the inference thread). `fast` None keeps the
    reference path. Otherwise, from the first call on, a worker thread compiles
    `FastSynthesis(fast)` and then draws every fast frame itself: a graph compiled on one
    thread and run on another crashes torch 2.11 while a third thread runs autograd (the
    refinement's local models do), seen here in `bench engine`. `on_error` hears, once,
    why the fast path could not be built; the reference path then stays.
    """

    def __init__(self, G: Generator, fast: FastOptions | None = None,
                 on_error: Callable[[str], None] | None = None):
        self.G, self.options, self.on_error = G, fast, on_error
        self._worker: threading.Thread | None = None
        self._ready = threading.Event()
        self._built = threading.Event()  # set when the build ended, built or not
        self._requests: queue.Queue[torch.Tensor | None] = queue.Queue(maxsize=1)
        self._results: queue.Queue[torch.Tensor | BaseException] = queue.Queue(maxsize=1)

    def _start(self) -> None:
        """Start the worker with the calling thread's intra-op thread count: dynamo guards
        on it, and the first call (or `wait`) comes from the thread that will draw."""
        if self.options is not None and self._worker is None:
            self._worker = threading.Thread(target=self._serve, args=(self.options, torch.get_num_threads()),
                                            name="fast-synthesis", daemon=True)
            self._worker.start()

    def _serve(self, options: FastOptions, threads: int) -> None:
        torch.set_num_threads(threads)
        try:
            fast = FastSynthesis(self.G.synthesis, options)
        except Exception as e:  # noqa: BLE001 - e.g. no C++ compiler for inductor: stay on the reference
            if self.on_error is not None:
                detail = str(e).splitlines()[0] if str(e) else ""
                self.on_error(f"fast synthesis unavailable ({type(e).__name__}: {detail}); "
                              "using the reference synthesis")
            return
        finally:
            self._built.set()
        self._ready.set()
        while (w := self._requests.get()) is not None:
            try:
                self._results.put(fast(w))
            except Exception as e:  # noqa: BLE001 - raised again in the caller's thread
                self._results.put(e)

    def wait(self, timeout: float | None = None) -> bool:
        """Start the build if needed and block until it is done or has failed; True if
        the fast path is in use."""
        self._start()
        if self._worker is not None:
            self._built.wait(timeout)
        return self._ready.is_set()

    def close(self) -> None:
        """Stop the worker (a build in progress finishes first, on its daemon thread)."""
        if self._ready.is_set():
            self._requests.put(None)

    @property
    def path(self) -> str:
        return "fast" if self._ready.is_set() else "reference"

    def for_generator(self, G: Generator, on_error: Callable[[str], None] | None = None) -> Synthesizer:
        """This one if it draws `G`, else a new one with the same options (a bundle switch);
        the caller closes the old one."""
        return self if G is self.G else Synthesizer(G, self.options, on_error)

    @torch.inference_mode()
    def __call__(self, w: torch.Tensor) -> np.ndarray:
        G = self.G
        assert w.shape == (G.num_ws, G.w_dim), (w.shape, G.num_ws, G.w_dim)
        self._start()
        if self._ready.is_set():
            self._requests.put(w[None])
            img = self._results.get()
            if isinstance(img, BaseException):
                raise img
        else:
            img = G.synthesis(w[None], noise_mode="const")
        return to_uint8(img)[0].cpu().numpy()


def live_fast_options(device: torch.device) -> FastOptions:
    """bf16 where the hardware runs it natively (AMX/AVX-512 CPUs, CUDA), float32 elsewhere:
    at most ~2 levels of 255 from the reference, invisible at 30 fps."""
    bf16 = device.type == "cuda" or torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return FastOptions(dtype=torch.bfloat16 if bf16 else torch.float32)
