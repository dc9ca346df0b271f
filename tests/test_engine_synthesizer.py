import contextlib
from pathlib import Path
from types import SimpleNamespace

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


def test_a_fast_path_that_fails_to_draw_reports_once_and_hands_over_to_the_reference(G):
    heard = []
    synth = Synthesizer(G, FastOptions(dtype=torch.float32, compile=False), on_error=heard.append)
    assert synth.wait(timeout=60) and synth.path == "fast"
    calls = []

    def failing(w):
        calls.append(w)
        raise RuntimeError("compiled graph failed\ndetails")

    synth._fast = failing
    w = _w(G, 4)
    expected = to_uint8(G.synthesis(w[None], noise_mode="const"))[0].numpy()
    assert np.array_equal(synth(w), expected) and np.array_equal(synth(w), expected)
    assert len(calls) == 1 and synth.path == "reference"
    assert len(heard) == 1 and "compiled graph failed" in heard[0] and "\n" not in heard[0]
    synth.close()


def test_a_switch_keeps_the_synthesizer_of_the_same_generator(G):
    synth = Synthesizer(G)
    assert synth.for_generator(G) is synth
    other = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                      synthesis_kwargs=dict(channel_base=256, channel_max=32)).eval()
    assert synth.for_generator(other).G is other


def test_compiled_path_survives_autograd_and_a_bundle_switch():
    """The refinement differentiates G on its own thread while keyframes are drawn, and a
    preset may switch bundles: both crashed torch 2.11 here when compiled graphs were
    compiled or run on more than one thread. In a child process: a crash must fail this
    test, not end the test run, and the lane's compiles must not meet other tests'."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(Path(__file__).with_name("lane_scenario.py"))],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]
    # The child's first compile imports torch's C++ extension builder, which warns into the
    # show's output where a CUDA toolkit is installed without a GPU (as here).
    assert "No CUDA runtime" not in result.stderr


def test_a_compile_for_another_bundle_does_not_hold_up_a_compiled_one(G):
    import threading
    import time

    synth = Synthesizer(G, FastOptions(dtype=torch.float32, compile=False))
    assert synth.wait(timeout=60) and synth.path == "fast"
    other = synth.for_generator(Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                                          synthesis_kwargs=dict(channel_base=256, channel_max=32)).eval())
    gate = threading.Event()
    compiling = synth._lane.submit(lambda: gate.wait(30), compile_job=True)  # stands in for other's compile
    try:
        w = _w(G, 4)
        expected = to_uint8(G.synthesis(w[None], noise_mode="const"))[0].numpy()
        start = time.perf_counter()
        assert np.array_equal(synth(w), expected)  # on the reference path,
        assert time.perf_counter() - start < 10    # not after the 30 s the lane is held
        assert synth.path == "reference"           # and says so (the HUD, telemetry)
    finally:
        gate.set()
    compiling.result(timeout=30)
    assert not synth._lane.compiling and other._lane is synth._lane and synth.path == "fast"


def test_a_closed_lane_cancels_what_waits_and_lets_the_running_job_end():
    import threading
    from concurrent.futures import CancelledError

    from live.engine.synthesizer import Lane, busy_lanes

    lane = Lane("test-lane")
    gate, started = threading.Event(), threading.Event()
    running = lane.submit(lambda: (started.set(), gate.wait(30))[1], compile_job=True)
    waiting = lane.submit(lambda: "never", compile_job=True)
    assert started.wait(30) and busy_lanes() and lane.compiling
    lane.close()
    assert waiting.cancelled() and lane.submit(lambda: "after").cancelled()
    with pytest.raises(CancelledError):
        waiting.result()
    gate.set()
    assert running.result(timeout=30) is True
    lane._thread.join(timeout=30)
    assert not lane._thread.is_alive() and not busy_lanes() and not lane.compiling


def test_a_compile_withdrawn_before_it_started_leaves_the_lane_and_comes_back_when_drawn(G):
    import threading

    synth = Synthesizer(G, FastOptions(dtype=torch.float32, compile=False))
    gate, started = threading.Event(), threading.Event()
    # Another bundle's compile, under way.
    running = synth._lane.submit(lambda: (started.set(), gate.wait(30))[1], compile_job=True)
    try:
        assert started.wait(30)
        synth._start()  # this bundle's compile waits behind it
        assert synth._build is not None and synth._lane.compiling
        synth.withdraw()  # the show moved on
        assert synth._build is None
        synth._lane.withdraw(running)  # a job under way is not taken back
        assert not running.cancelled()
    finally:
        gate.set()
    running.result(timeout=30)
    assert not synth._lane.compiling and synth.path == "reference"  # nothing else was compiled
    synth(_w(G, 6))  # shown again: its compile is asked for again
    assert synth.wait(timeout=60) and synth.path == "fast"
    synth.close()


def test_a_bundle_a_switch_brings_compiles_once_it_has_been_on_screen_a_while(G):
    from live.engine.synthesizer import SWITCH_SETTLE_S

    now = [0.0]
    first = Synthesizer(G, FastOptions(dtype=torch.float32, compile=False), clock=lambda: now[0])
    other = first.for_generator(Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                                          synthesis_kwargs=dict(channel_base=256, channel_max=32)).eval())
    assert other._settle_s == SWITCH_SETTLE_S and first._settle_s == 0 and other.clock is first.clock
    peeked = Synthesizer(G, FastOptions(dtype=torch.float32, compile=False), settle_s=0.3, clock=lambda: now[0])
    peeked(_w(G, 7))
    assert peeked._build is None  # on screen for a moment: no compile yet
    peeked.withdraw()             # the show moved on, and came back: the wait starts over
    now[0] = 1.0
    peeked(_w(G, 7))
    now[0] = 1.2
    peeked(_w(G, 7))
    assert peeked._build is None
    now[0] = 1.35
    peeked(_w(G, 7))
    assert peeked._build is not None and peeked.wait(timeout=60) and peeked.path == "fast"
    for synth in (first, peeked):
        synth.close()


def test_a_closed_synthesizer_draws_on_the_reference_path(G):
    synth = Synthesizer(G, FastOptions(dtype=torch.float32, compile=False))
    assert synth.wait(timeout=60) and synth.path == "fast"
    synth.close()

    def fast(ws):
        raise AssertionError("a closed lane must not draw")

    synth._fast = fast
    w = _w(G, 5)
    assert np.array_equal(synth(w), to_uint8(G.synthesis(w[None], noise_mode="const"))[0].numpy())


def test_a_show_that_ends_while_its_fast_path_compiles_exits_cleanly(tmp_path):
    """The compile takes tens of seconds; a 2 s show ends under it (in its export, which runs
    in the show's process). torch aborted the process (exit 134) when the interpreter
    finalized under a compile."""
    import os
    import subprocess
    import sys

    stats = tmp_path / "stats.json"
    result = subprocess.run([sys.executable, "-m", "live", "--source", "demo", "--headless", "--duration", "2",
                             "--synthesis", "fast", "--control", "off", "--size", "64x64", "--threads", "1",
                             "--stats", str(stats)],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})  # nothing built yet
    assert result.returncode == 0, result.stderr[-2000:]
    assert stats.is_file() and "terminate called" not in result.stderr


# The live fast path runs bf16 where the hardware has bf16 matrix units, float32 where bf16
# is emulated: an AVX-512 CPU without AMX drew it 2-6x slower than float32, and so does a
# CUDA GPU before Ampere (found by review).
@pytest.mark.parametrize("flags, bf16", [("fpu avx512f avx512_bf16 amx_bf16 amx_tile", True),
                                          ("fpu avx512f avx512_bf16", False), ("fpu avx512f", False), ("", False)])
def test_live_fast_options_pick_bf16_where_the_cpu_has_matrix_units_for_it(monkeypatch, flags, bf16):
    from live.engine import synthesizer
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)  # oneDNN takes it on any AVX-512
    monkeypatch.setattr(synthesizer, "cpu_flags", lambda: f"flags\t\t: {flags}")
    options = synthesizer.live_fast_options(torch.device("cpu"), Path("packages"))
    assert options.dtype == (torch.bfloat16 if bf16 else torch.float32) and options.packages == Path("packages")


@pytest.mark.parametrize("capability, bf16", [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_live_fast_options_pick_bf16_on_cuda_from_ampere(monkeypatch, capability, bf16):
    from live.engine import synthesizer
    monkeypatch.setattr(torch.cuda, "device", lambda device: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda *a: SimpleNamespace(major=capability[0]))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    options = synthesizer.live_fast_options(torch.device("cuda"), Path("packages"))
    assert options.dtype == (torch.bfloat16 if bf16 else torch.float32)
