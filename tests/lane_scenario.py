"""A show's threads around the synthesis lane, as a script for a child process (a crash
must fail the test that runs it, not end the test run): the refinement differentiates G
on one thread while another draws 50 frames through the lane, and then, with torch.compile,
a bundle switch compiles a second generator on the same lane while autograd goes on.

    python tests/lane_scenario.py [PACKAGES_DIR]    prints "ok"; with PACKAGES_DIR, the
    compiled path is the package of tiny_generator(img_resolution=8) kept there (no switch)
"""
import sys
import threading
from pathlib import Path

import numpy as np
import torch

from ckpt_factory import tiny_generator
from live.engine.synthesizer import Synthesizer
from live.nets.fast import FastOptions
from live.nets.stylegan2 import to_uint8


def main(packages: Path | None) -> None:
    G = tiny_generator(img_resolution=8).requires_grad_(False)
    w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5)))[0]
    stop = threading.Event()

    def differentiate():
        while not stop.is_set():
            x = w[None].clone().requires_grad_(True)
            with torch.enable_grad():
                torch.autograd.grad(G.synthesis(x, noise_mode="const").square().sum(), x)

    def draw(synth, frames):
        torch.set_num_threads(1)
        assert synth.wait(timeout=300) and synth.path == "fast"
        frames.extend(synth(w) for _ in range(50))

    def drawn(synth):
        frames = []
        drawer = threading.Thread(target=draw, args=(synth, frames))
        drawer.start()
        drawer.join()
        return frames

    grads = threading.Thread(target=differentiate)
    grads.start()
    first = Synthesizer(G, FastOptions(dtype=torch.float32, packages=packages))
    frames = drawn(first)
    expected = to_uint8(G.synthesis(w[None], noise_mode="const"))[0].numpy()
    assert len(frames) == 50 and all(np.abs(f.astype(int) - expected).max() <= 1 for f in frames)
    if packages is None:
        assert len(drawn(first.for_generator(tiny_generator(seed=1, img_resolution=8).requires_grad_(False)))) == 50
    stop.set()
    grads.join()
    print("ok")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
