import torch

from live.corpus.color import color_stats
from live.gan.directions import color_effects, principal_directions
from live.nets.stylegan2 import Generator, to_unit


def tiny():
    torch.manual_seed(0)
    return Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                     mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 256, "channel_max": 32}).eval()


def test_principal_directions_are_orthonormal_and_sorted():
    mean, vh, std = principal_directions(tiny(), samples=512)
    assert torch.allclose(vh @ vh.T, torch.eye(16), atol=1e-4)
    assert (std[:-1] >= std[1:]).all()


def test_color_effects_measure_each_component():
    effects = color_effects(tiny(), components=2, pictures=4)
    assert [e.component for e in effects] == [0, 1]
    for e in effects:
        assert 0 < e.explained < 1 and 0 <= e.brightness <= 1 and 0 <= e.hue_degrees <= 180
    # Moving along a direction of W changes the pictures' colour at all.
    assert max(e.brightness + e.saturation for e in effects) > 0
    # Component 1's brightness change, measured here along its own direction.
    G = tiny()
    mean, vh, std = principal_directions(G, seed=0)
    with torch.no_grad():
        z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(1))
        w = G.mapping(z, truncation_psi=0.7)
        step = (2.0 * std[1] * vh[1])[None, None]
        lo, hi = (color_stats(to_unit(G.synthesis(w + s * step, noise_mode="const"))) for s in (-1, 1))
    assert abs(effects[1].brightness - float((hi.brightness - lo.brightness).abs().mean())) < 1e-5
    assert (effects[0].brightness, effects[0].saturation) != (effects[1].brightness, effects[1].saturation)
