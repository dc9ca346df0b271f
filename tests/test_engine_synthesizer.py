import numpy as np
import pytest
import torch

from live.engine.synthesizer import Synthesizer
from live.nets.fast import FastOptions
from live.nets.stylegan2 import Generator, to_uint8


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                     mapping_kwargs=dict(num_layers=2),
                     synthesis_kwargs=dict(channel_base=256, channel_max=32)).eval().requires_grad_(False)


def _w(G, seed):
    return G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed)))[0]


def test_reference_path_is_the_generator_with_constant_noise(G):
    w = _w(G, 1)
    synth = Synthesizer(G)
    assert synth.path == "reference" and synth.wait() is False
    expected = to_uint8(G.synthesis(w[None], noise_mode="const"))[0].numpy()
    assert np.array_equal(synth(w), expected)


def test_fast_path_takes_over_when_built_and_draws_the_same_picture(G):
    w = _w(G, 2)
    synth = Synthesizer(G, FastOptions(dtype=torch.float32, compile=False))
    assert synth.wait(timeout=60) and synth.path == "fast"
    expected = to_uint8(G.synthesis(w[None], noise_mode="const"))[0].numpy()
    assert np.abs(synth(w).astype(int) - expected).max() <= 1


def test_a_failed_build_reports_once_and_keeps_the_reference(G, monkeypatch):
    import live.engine.synthesizer as module

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler\nlong details")

    monkeypatch.setattr(module, "FastSynthesis", broken)
    heard = []
    synth = Synthesizer(G, FastOptions(), on_error=heard.append)
    assert synth.wait(timeout=60) is False and synth.path == "reference"
    assert len(heard) == 1 and "no C++ compiler" in heard[0] and "\n" not in heard[0]
    w = _w(G, 3)
    assert synth(w).shape == (32, 32, 3)


def test_a_switch_keeps_the_synthesizer_of_the_same_generator(G):
    synth = Synthesizer(G)
    assert synth.for_generator(G) is synth
    other = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                      synthesis_kwargs=dict(channel_base=256, channel_max=32)).eval()
    assert synth.for_generator(other).G is other


def test_compiled_path_survives_autograd_on_another_thread(G):
    """The refinement differentiates G on its own thread while keyframes are drawn: a graph
    compiled on one thread and run on another crashed torch here; the worker runs it."""
    import threading

    synth = Synthesizer(G, FastOptions(dtype=torch.float32, compile=True))
    assert synth.wait(timeout=300) and synth.path == "fast"
    stop = threading.Event()

    def differentiate():
        while not stop.is_set():
            w = _w(G, 4)[None].clone().requires_grad_(True)
            with torch.inference_mode(False), torch.enable_grad():
                torch.autograd.grad(G.synthesis(w, noise_mode="const").square().sum(), w)

    def draw(out):
        out.extend(synth(_w(G, 5)) for _ in range(200))

    frames = []
    grads = threading.Thread(target=differentiate)
    drawer = threading.Thread(target=draw, args=(frames,))
    grads.start(), drawer.start()
    drawer.join()
    stop.set()
    grads.join()
    synth.close()
    expected = to_uint8(G.synthesis(_w(G, 5)[None], noise_mode="const"))[0].numpy()
    assert len(frames) == 200 and all(np.abs(f.astype(int) - expected).max() <= 1 for f in frames)
