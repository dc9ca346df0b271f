import pytest
import torch

from live.nets import ops
from live.nets.stylegan2 import Generator, to_uint8


def tiny(resolution=32, **synthesis):
    torch.manual_seed(0)
    synthesis = {"channel_base": 256, "channel_max": 32, **synthesis}
    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=resolution, img_channels=3,
                  mapping_kwargs={"num_layers": 2}, synthesis_kwargs=synthesis).eval()
    # Nonzero noise strengths and w_avg so noise modes and truncation are exercised.
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
        G.mapping.w_avg.normal_()
    return G


@pytest.mark.parametrize("resolution", [32, 64])
def test_names_shapes_and_num_ws(resolution):
    G = tiny(resolution)
    names = dict(G.named_parameters()) | dict(G.named_buffers())
    assert names["mapping.fc0.weight"].shape == (16, 16)
    assert names["mapping.w_avg"].shape == (16,)
    assert names["synthesis.b4.const"].shape == (32, 4, 4)
    assert "synthesis.b4.conv0.weight" not in names
    assert names[f"synthesis.b{resolution}.conv0.weight"].shape[2:] == (3, 3)
    assert names[f"synthesis.b{resolution}.conv1.noise_const"].shape == (resolution, resolution)
    assert names[f"synthesis.b{resolution}.torgb.weight"].shape[:2] == (3, G.synthesis.channels[resolution])
    assert names["synthesis.b8.resample_filter"].shape == (4, 4)
    log2 = resolution.bit_length() - 1
    assert G.num_ws == 2 * log2 - 2
    img = G(torch.randn(2, 16), noise_mode="const")
    assert img.shape == (2, 3, resolution, resolution)


def test_fused_and_unfused_modconv_agree():
    G = tiny()
    ws = G.mapping(torch.randn(3, 16))
    a = G.synthesis(ws, noise_mode="const", fused_modconv=True)
    b = G.synthesis(ws, noise_mode="const", fused_modconv=False)
    assert torch.allclose(a, b, atol=1e-5)


def test_noise_modes():
    G = tiny()
    ws = G.mapping(torch.randn(1, 16))
    const = [G.synthesis(ws, noise_mode="const") for _ in range(2)]
    assert torch.equal(const[0], const[1])
    torch.manual_seed(1)
    r1 = G.synthesis(ws, noise_mode="random")
    torch.manual_seed(1)
    r2 = G.synthesis(ws, noise_mode="random")
    assert torch.equal(r1, r2) and not torch.allclose(r1, const[0])
    none = G.synthesis(ws, noise_mode="none")
    assert not torch.allclose(none, const[0])
    with pytest.raises(ValueError):
        G.synthesis(ws, noise_mode="loud")


def test_truncation_pulls_toward_w_avg_and_cutoff_limits_it():
    G = tiny()
    z = torch.randn(2, 16)
    w = G.mapping(z)
    w0 = G.mapping(z, truncation_psi=0)
    assert torch.allclose(w0, G.mapping.w_avg.expand_as(w0))
    half = G.mapping(z, truncation_psi=0.5)
    assert torch.allclose(half, (w + w0) / 2, atol=1e-6)
    cut = G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    assert torch.allclose(cut[:, :2], half[:, :2]) and torch.equal(cut[:, 2:], w[:, 2:])


def test_w_plus_layers_act_separately():
    G = tiny()
    ws = G.mapping(torch.randn(1, 16))
    ws2 = ws.clone()
    ws2[:, -1] += 1.0  # only the last toRGB style changes
    a, b = G.synthesis(ws, noise_mode="const"), G.synthesis(ws2, noise_mode="const")
    assert not torch.allclose(a, b)
    with pytest.raises(AssertionError):
        G.synthesis(ws[:, :-1], noise_mode="const")


def test_conv_clamp_bounds_activations():
    G = tiny(conv_clamp=0.01)
    img = G(torch.randn(1, 16), noise_mode="const")
    # Every toRGB output is clamped to +-0.01; 4 blocks add up (with unit-gain upsampling).
    assert img.abs().max() <= 4 * 0.01 + 1e-6


def test_upsample_preserves_a_constant_image():
    f = ops.setup_filter([1, 3, 3, 1])
    x = torch.full((1, 2, 8, 8), 0.7)
    y = ops.upsample2d(x, f)
    assert y.shape == (1, 2, 16, 16)
    # Away from the zero-padded border, the filter's gain keeps the level.
    assert torch.allclose(y[..., 2:-2, 2:-2], torch.full_like(y[..., 2:-2, 2:-2], 0.7), atol=1e-6)


def test_to_uint8_matches_nvlabs_formula():
    img = torch.tensor([-1.5, -1.0, 0.0, 0.999, 2.0]).reshape(1, 1, 1, 5).expand(1, 3, 1, 5)
    out = to_uint8(img)
    assert out.shape == (1, 1, 5, 3) and out.dtype == torch.uint8
    assert out[0, 0, :, 0].tolist() == [0, 0, 128, 255, 255]


# w_avg is a slow moving average (beta 0.995): one batch moves it 0.5% of the way.
def test_w_avg_moves_a_two_hundredth_of_the_way_per_batch():
    G = tiny()
    G.mapping.w_avg.zero_()
    z = torch.randn(8, 16)
    with torch.no_grad():
        w = G.mapping(z)[:, 0]
        G.mapping(z, update_w_avg=True)
    assert torch.allclose(G.mapping.w_avg, 0.005 * w.mean(dim=0), atol=1e-6)


# z is normalized to unit second moment before the mapping (NVlabs), so the
# mapping of z does not depend on z's length.
def test_mapping_reads_only_the_direction_of_z():
    G = tiny()
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.allclose(G.mapping(z), G.mapping(3 * z), atol=1e-5)
