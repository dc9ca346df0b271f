import pytest
import torch

from live.errors import UserError
from live.gan.grow import grow_discriminator, grow_generator, grow_state
from live.gan.config import GanConfig
from live.gan.train import CHECKPOINT, GanTrainer
from live.nets.checkpoints import save_generator
from live.nets.discriminator import Discriminator
from live.nets.stylegan2 import Generator

NARROW = dict(resolution=32, z_dim=16, w_dim=16, channel_base=256, channel_max=32, batch=4,
              snapshot_kimg=0.008, r1_interval=2, seed=3)
WIDE = {**NARROW, "channel_base": 1024, "channel_max": 64}  # every block wider, the 4x4 one too
WIDER_ABOVE_4 = {**NARROW, "channel_base": 1024}  # 8-32 px wider; D's 4x4 block (its mbstd) as it was


def _params(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def _generator(cfg: dict, seed: int) -> Generator:
    torch.manual_seed(seed)
    return Generator(**GanConfig(**cfg).generator_kwargs())


def _trained_like(net: torch.nn.Module) -> torch.nn.Module:
    """Nonzero biases and noise strengths, as after training (fresh ones are zero and hide mistakes)."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("bias", "noise_strength")):
                p.copy_(torch.randn_like(p) * 0.3)
    return net


def test_a_grown_generator_draws_the_same_pictures():
    narrow = _trained_like(_generator(NARROW, 0))
    wide = _generator(WIDE, 1)
    assert wide.synthesis.channels[4] > narrow.synthesis.channels[4]
    grow_generator(wide, narrow.state_dict())
    z = torch.randn(3, 16)
    with torch.no_grad():
        expected = narrow(z, truncation_psi=0.7, noise_mode="const")
        got = wide(z, truncation_psi=0.7, noise_mode="const")
    assert (got - expected).abs().max() < 1e-5
    # New channels are live: their fresh weights are kept, not zeroed.
    conv = wide.synthesis.b8.conv1.weight
    assert conv[narrow.synthesis.channels[8]:].abs().min() > 0


def test_a_grown_discriminator_scores_the_same():
    torch.manual_seed(0)
    narrow = _trained_like(Discriminator(32, channel_base=256, channel_max=32, mbstd_group_size=2))
    img = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = narrow(img)
        same_epilogue = Discriminator(32, channel_base=1024, channel_max=32, mbstd_group_size=2)
        grow_discriminator(same_epilogue, narrow.state_dict())
        assert (same_epilogue(img) - expected).abs().max() < 1e-5
        # A wider 4x4 block: exact but for the minibatch std, which averages over the new
        # channels too; with the std channel read as a feature it would be off by ~0.1.
        wider_epilogue = Discriminator(32, channel_base=1024, channel_max=64, mbstd_group_size=2)
        grow_discriminator(wider_epilogue, narrow.state_dict())
        assert (wider_epilogue(img) - expected).abs().max() < 1e-3


def test_growing_refuses_what_is_not_a_widening():
    wide = _generator(WIDE, 0).state_dict()
    with pytest.raises(UserError, match="does not fit"):
        grow_state(wide, _generator(NARROW, 0).state_dict())  # narrowing
    deeper = _generator({**NARROW, "mapping_layers": 3}, 0).state_dict()
    with pytest.raises(UserError, match="differ in layers"):
        grow_state(deeper, wide)


def test_a_run_grows_from_a_narrower_runs_state_and_goes_on(tmp_path):
    first = GanTrainer(GanConfig(total_kimg=0.008, **NARROW), tmp_path / "narrow")
    first.run()
    grown = GanTrainer(GanConfig(total_kimg=0.016, init=str(tmp_path / "narrow" / CHECKPOINT), **WIDER_ABOVE_4),
                       tmp_path / "wide")
    assert grown.state.images_seen == 8 and grown.state.d_steps == first.state.d_steps
    z, img = torch.randn(4, 16), torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert (grown.G_ema(z, noise_mode="const") - first.G_ema(z, noise_mode="const")).abs().max() < 1e-5
        assert (grown.D(img) - first.D(img)).abs().max() < 1e-5
    # G_ema's new channels start as G's, so the average does not mix two initializations.
    c = first.G.synthesis.channels[16]
    assert torch.equal(grown.G_ema.synthesis.b16.conv1.weight[c:], grown.G.synthesis.b16.conv1.weight[c:])
    zero_block = grown.G.synthesis.b16.conv1.weight[:c, c:]
    assert zero_block.abs().max() == 0
    grown.run()
    assert grown.state.images_seen == 16
    assert grown.G.synthesis.b16.conv1.weight[:c, c:].abs().max() > 0  # old channels now read new ones
    # Run again, it resumes from its own checkpoint and does not grow from --init again.
    resumed = GanTrainer(GanConfig(total_kimg=0.016, init=str(tmp_path / "narrow" / CHECKPOINT), **WIDER_ABOVE_4),
                         tmp_path / "wide")
    assert resumed.state.images_seen == 16 and torch.equal(_params(resumed.G_ema), _params(grown.G_ema))
    with pytest.raises(UserError, match="nothing to train"):
        GanTrainer(GanConfig(total_kimg=0.008, init=str(tmp_path / "narrow" / CHECKPOINT), **WIDER_ABOVE_4),
                   tmp_path / "again")


def test_a_run_grows_from_a_narrower_generator_file(tmp_path):
    narrow = _trained_like(_generator(NARROW, 0))
    path = save_generator(narrow, tmp_path / "narrow.safetensors", dtype=torch.float32)
    grown = GanTrainer(GanConfig(total_kimg=0, init=str(path), **WIDE), tmp_path / "wide")
    assert grown.state.images_seen == 0  # a generator file has no run counters
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert (grown.G_ema(z, noise_mode="const") - narrow(z, noise_mode="const")).abs().max() < 1e-5


def test_bad_inits_are_one_line_errors(tmp_path):
    GanTrainer(GanConfig(total_kimg=0.008, **WIDE), tmp_path / "wide").run()
    wide = "--res 32 --z-dim 16 --w-dim 16 --mapping-layers 2 --channel-base"
    torch.save({"G": {(1 << 61) - 1: 0, (1 << 62) - 2: 0}}, tmp_path / "flood.pt")  # keys of one hash
    for init, expected in ((tmp_path / "wide" / CHECKPOINT, f"--init .*architecture.*it has {wide}"),  # wider
                           (tmp_path / "missing.pt", "--init .*no such file"),
                           (tmp_path / "flood.pt", "dict keys that are neither names nor integers below 2\\*\\*61")):
        with pytest.raises(UserError, match=expected) as caught:
            GanTrainer(GanConfig(total_kimg=0.016, init=str(init), **NARROW), tmp_path / "n")
        assert "\n" not in str(caught.value)


def test_an_nvlabs_pickle_init_that_does_not_fit_names_its_architecture_and_no_torch_warning(tmp_path, recwarn):
    from ckpt_factory import tiny_generator, write_nvlabs_pickle

    path = write_nvlabs_pickle(tmp_path / "network.pkl", G_ema=tiny_generator(0))  # 32 px, z 32, w 32
    with pytest.raises(UserError, match="it has --res 32 --z-dim 32 --w-dim 32 --mapping-layers 2 "
                                        "--channel-base 512 --channel-max 64, this run --res 32 --z-dim 16"):
        GanTrainer(GanConfig(total_kimg=0.008, init=str(path), **NARROW), tmp_path / "run")
    # torch.load was tried on it first, and warned of "pickle protocol 4 ... please file an issue".
    assert not [w for w in recwarn if "pickle" in str(w.message)]

