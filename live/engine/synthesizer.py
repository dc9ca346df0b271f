"""Latent -> picture for the keyframes: the reference synthesis, or the compiled fast path.

Compiling the fast path (`live.nets.fast`) takes tens of seconds on a small CPU. Live, a
show cannot wait that long, so the compile runs on a worker thread while keyframes come
from the reference synthesis, and the fast path takes over when it is ready. Offline,
every frame comes from the reference path, so a render does not depend on when a
compile finished.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import torch

from live.nets.fast import FastOptions, FastSynthesis
from live.nets.stylegan2 import Generator, to_uint8


class Synthesizer:
    """`w [num_ws, w_dim] -> uint8 [R, R, 3]` for one generator, constant noise.

    Called from one thread only (the inference thread). `fast` None keeps the reference
    path; otherwise a worker compiles `FastSynthesis(fast)` and `on_error` hears, once,
    why it could not (the reference path then stays).
    """

    def __init__(self, G: Generator, fast: FastOptions | None = None,
                 on_error: Callable[[str], None] | None = None):
        self.G, self.options = G, fast
        self.fast: FastSynthesis | None = None  # set once, by the worker, when ready
        self._worker: threading.Thread | None = None
        if fast is not None:
            self._worker = threading.Thread(target=self._build, args=(fast, on_error),
                                            name="fast-synthesis", daemon=True)
            self._worker.start()

    def _build(self, options: FastOptions, on_error: Callable[[str], None] | None) -> None:
        try:
            fast = FastSynthesis(self.G.synthesis, options)
        except Exception as e:  # noqa: BLE001 - e.g. no C++ compiler for inductor: stay on the reference
            if on_error is not None:
                on_error(f"fast synthesis unavailable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                         "using the reference synthesis")
            return
        self.fast = fast

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the fast path is built or has failed; True if it is in use."""
        if self._worker is not None:
            self._worker.join(timeout)
        return self.fast is not None

    @property
    def path(self) -> str:
        return "fast" if self.fast is not None else "reference"

    def for_generator(self, G: Generator, on_error: Callable[[str], None] | None = None) -> Synthesizer:
        """This one if it draws `G`, else a new one with the same options (a bundle switch)."""
        return self if G is self.G else Synthesizer(G, self.options, on_error)

    @torch.inference_mode()
    def __call__(self, w: torch.Tensor) -> np.ndarray:
        G = self.G
        assert w.shape == (G.num_ws, G.w_dim), (w.shape, G.num_ws, G.w_dim)
        fast = self.fast
        img = fast(w[None]) if fast is not None else G.synthesis(w[None], noise_mode="const")
        return to_uint8(img)[0].cpu().numpy()


def live_fast_options(device: torch.device) -> FastOptions:
    """bf16 where the hardware runs it natively (AMX/AVX-512 CPUs, CUDA), float32 elsewhere:
    at most ~2 levels of 255 from the reference, invisible at 30 fps."""
    bf16 = device.type == "cuda" or torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return FastOptions(dtype=torch.bfloat16 if bf16 else torch.float32)
