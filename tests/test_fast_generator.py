"""The fast synthesis path against the plain reference (ops.py): same images, same noise."""
from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from ckpt_factory import TINY, one_torch_thread, tiny_generator  # noqa: F401 (fixture)
from live.nets import ops
from live.nets.fast import (FastOptions, FastSynthesis, fir_separable, separable_taps, transpose_phase_kernels,
                            transposed_conv_phases)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def reference_and_ws(G, noise_mode="const", seed=0):
    # Every layer its own w (W+): with one w for all, a layer reading another's w would not show.
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn([G.num_ws, G.z_dim], generator=generator)
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=0.8)[:, 0][None]
        return G.synthesis(ws, noise_mode=noise_mode), ws


def test_transposed_conv_phases_equal_the_transposed_conv_plus_a_zero_edge():
    torch.manual_seed(2)
    weight, x = torch.randn(5, 3, 3, 3), torch.randn(2, 3, 6, 7)
    expected = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)  # conv2d_up before its FIR
    got = transposed_conv_phases(x, transpose_phase_kernels(weight))
    assert expected.shape == (2, 5, 13, 15) and got.shape == (2, 5, 14, 16)
    assert (got[:, :, :-1, :-1] - expected).abs().max() < 1e-5
    assert got[:, :, -1].abs().max() == 0 and got[:, :, :, -1].abs().max() == 0


def test_separable_fir_equals_upfirdn2d():
    # Different, asymmetric taps per direction: a flipped or transposed order would show.
    torch.manual_seed(3)
    ty, tx = torch.tensor([1.0, 2.0, 5.0, 3.0]), torch.tensor([4.0, 1.0, 1.0, 2.0])
    f = torch.outer(ty, tx) / (ty.sum() * tx.sum())
    x = torch.randn(2, 3, 9, 11)
    padding = (2, 0, 1, 3)
    expected = ops.upfirdn2d(x, f, padding=padding, gain=4)
    got = fir_separable(x, separable_taps(f), padding, gain=4)
    assert got.shape == expected.shape == (2, 3, 10, 10)
    assert (got - expected).abs().max() < 1e-5
    assert separable_taps(f + torch.eye(4)) is None


@pytest.mark.parametrize("fir", ["separable", "not separable"])
def test_split_up_conv_matches_reference(fir):
    G = tiny_generator()
    if fir == "not separable":
        for name, buffer in G.synthesis.named_buffers():
            if name.endswith("resample_filter"):
                buffer.copy_(buffer + torch.eye(4) / 16)
    expected, ws = reference_and_ws(G)
    got = FastSynthesis(G.synthesis, FastOptions(compile=False, up_conv="split"))(ws)
    assert (got - expected).abs().max() < 1e-4


@pytest.mark.parametrize("up_conv", ["transpose", "split"])
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("noise_mode", ["const", "none"])
def test_eager_fast_path_matches_reference(up_conv, channels_last, noise_mode):
    G = tiny_generator()
    expected, ws = reference_and_ws(G, noise_mode)
    fast = FastSynthesis(G.synthesis, FastOptions(compile=False, up_conv=up_conv, channels_last=channels_last,
                                                  noise_mode=noise_mode))
    got = fast(ws)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert (got - expected).abs().max() < 1e-4


@pytest.mark.parametrize("options", [{"activation": "linear"}, {"resample_filter": [1, 1]},
                                     {"resample_filter": [1, 2, 1]}, {"resample_filter": [1, 4, 6, 4, 1]}],
                         ids=["linear", "2 taps", "3 taps", "5 taps"])
@pytest.mark.parametrize("up_conv", ["transpose", "split"])
def test_other_activations_and_filters_nvlabs_allows_match_the_reference(options, up_conv):
    G = tiny_generator(synthesis_kwargs={**TINY["synthesis_kwargs"], **options})
    expected, ws = reference_and_ws(G)
    got = FastSynthesis(G.synthesis, FastOptions(compile=False, up_conv=up_conv))(ws)
    assert (got - expected).abs().max() < 1e-4


def test_conv_clamp_is_applied_where_the_reference_applies_it():
    G = tiny_generator(synthesis_kwargs={**TINY["synthesis_kwargs"], "conv_clamp": 0.5})
    expected, ws = reference_and_ws(G)
    unclamped, _ = reference_and_ws(tiny_generator())
    assert (expected - unclamped).abs().max() > 0.1  # the clamp matters for this net
    got = FastSynthesis(G.synthesis, FastOptions(compile=False))(ws)
    assert (got - expected).abs().max() < 1e-4


def test_bfloat16_stays_close_to_float32():
    G = tiny_generator()
    expected, ws = reference_and_ws(G)
    got = FastSynthesis(G.synthesis, FastOptions(dtype=torch.bfloat16, compile=False))(ws)
    assert got.dtype == torch.float32
    # bf16 keeps 8 bits of mantissa: about 1% of the image's range, a level or two in 8-bit.
    assert (got - expected).abs().max() < 0.03 * expected.abs().max()


@pytest.mark.parametrize("up_conv", ["transpose", "split"])
def test_compiled_fast_path_matches_reference(up_conv):
    # Compiling costs ~10-40 s here, mostly fixed (inductor probes the CPU's vector ISAs
    # in subprocesses), so one small net covers it: const block, up-conv, both toRGBs.
    G = tiny_generator(img_resolution=8)
    expected, ws = reference_and_ws(G)
    fast = FastSynthesis(G.synthesis, FastOptions(compile=True, up_conv=up_conv))
    assert fast.compile_seconds > 0
    other, ws2 = reference_and_ws(G, seed=1)
    with torch.inference_mode():
        ws2 = ws2.clone()  # an inference tensor: it must not make the graph recompile (unfrozen)
    with torch.compiler.set_stance("fail_on_recompile"):
        assert (fast(ws) - expected).abs().max() < 1e-4
        assert (fast(ws2) - other).abs().max() < 1e-4
        assert (fast(ws.double()) - expected).abs().max() < 1e-4


def test_weights_are_copied_when_built():
    G = tiny_generator()
    expected, ws = reference_and_ws(G)
    fast = FastSynthesis(G.synthesis, FastOptions(compile=False))
    with torch.no_grad():
        G.synthesis.b32.conv1.weight.mul_(2)
    assert (fast(ws) - expected).abs().max() < 1e-4


def test_rejects_what_it_cannot_freeze_or_run():
    with pytest.raises(ValueError, match="noise_mode"):
        FastOptions(noise_mode="random")
    with pytest.raises(ValueError, match="up_conv"):
        FastOptions(up_conv="nearest")
    G = tiny_generator()
    fast = FastSynthesis(G.synthesis, FastOptions(compile=False))
    with pytest.raises(AssertionError):
        fast(torch.zeros(2, G.num_ws, G.w_dim))  # batch 1 only


# A call from a thread with another intra-op count runs with the count it
# was built (compiled) with: dynamo would otherwise recompile without freezing.
def test_fast_synthesis_calls_run_with_the_thread_count_it_was_built_with():
    G = tiny_generator()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        fast = FastSynthesis(G.synthesis, FastOptions(compile=False))
        torch.set_num_threads(1)
        fast(torch.zeros(1, G.num_ws, G.w_dim))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# The up-sampling conv is chosen by dtype (oneDNN's bf16 transposed conv is slow).
def test_up_conv_is_chosen_by_dtype():
    assert FastOptions(dtype=torch.float32).resolved_up_conv == "transpose"
    assert FastOptions(dtype=torch.bfloat16).resolved_up_conv == "split"
    assert FastOptions(dtype=torch.bfloat16, up_conv="transpose").resolved_up_conv == "transpose"
