from __future__ import annotations

import pytest
import safetensors.torch
import torch
import torchvision.models as tvm  # the reference our ResNet must match

from live.audio.mel import MelWindow
from live.errors import UserError
from live.nets import resnet
from live.nets.encoders import ImageEncoder, MusicEncoder, SimilarityHead, VAHead
from live.space.model import SpaceNet, SpaceNetConfig



def _images(n: int, height: int = 64, width: int = 64) -> torch.Tensor:
    return torch.rand(n, 3, height, width) * 2 - 1


def test_tiny_encoders_run_forward_and_backward():
    torch.manual_seed(0)
    image_encoder = ImageEncoder(backbone="resnet18")
    music_encoder = MusicEncoder(n_mels=64)
    f_image = image_encoder(_images(2))
    f_music = music_encoder(torch.randn(2, 1, 64, 64))
    assert f_image.shape == f_music.shape == (2, 512)
    (f_image.square().mean() + f_music.square().mean()).backward()
    for net in (image_encoder, music_encoder):
        grads = [p.grad for p in net.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_encoders_take_any_size_above_the_minimum():
    torch.manual_seed(0)
    image_encoder = ImageEncoder(backbone="resnet18").eval()
    music_encoder = MusicEncoder(n_mels=32).eval()
    with torch.no_grad():
        assert image_encoder(_images(1, 64, 96)).shape == (1, 512)
        for frames in (1, 37, 130):
            assert music_encoder(torch.randn(3, 1, 32, frames)).shape == (3, 512)


def test_image_encoder_normalizes_generator_range_to_imagenet():
    encoder = ImageEncoder(backbone="resnet18").eval()
    seen = []
    encoder.backbone.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    images = _images(2)
    with torch.no_grad():
        encoder(images)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(seen[0], ((images + 1) / 2 - mean) / std, atol=1e-6)


def test_music_encoder_ignores_input_gain():
    # A gain in the signal chain is a constant added to a log spectrogram.
    torch.manual_seed(0)
    encoder = MusicEncoder(n_mels=32).eval()
    log_mel = torch.randn(2, 1, 32, 40)
    with torch.no_grad():
        assert torch.allclose(encoder(log_mel), encoder(log_mel + 6.0), atol=1e-5)
        assert not torch.allclose(encoder(log_mel), encoder(log_mel * 2.0), atol=1e-3)


def test_encoders_reject_wrong_shapes():
    image_encoder = ImageEncoder(backbone="resnet18")
    music_encoder = MusicEncoder(n_mels=32)
    with pytest.raises(ValueError, match="H, W >= 64"):
        image_encoder(_images(1, 32, 64))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        image_encoder(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"\[N, 1, 32, frames\]"):
        music_encoder(torch.zeros(1, 1, 64, 10))
    with pytest.raises(UserError, match="unknown image backbone"):
        ImageEncoder(backbone="vgg16")


def test_heads_output_ranges_and_shapes():
    torch.manual_seed(0)
    f_image, f_music = torch.randn(5, 512) * 10, torch.randn(5, 512) * 10
    va = VAHead()(f_image)
    similarity = SimilarityHead()(f_image, f_music)
    assert va.shape == (5, 2) and ((va >= 0) & (va <= 1)).all()
    assert similarity.shape == (5,) and ((similarity >= 0) & (similarity <= 1)).all()
    with pytest.raises(ValueError, match="one per pair"):
        SimilarityHead()(f_image, f_music[:3])
    with pytest.raises(ValueError, match=r"\[N, 512\]"):
        VAHead()(torch.zeros(5, 256))


def test_encoder_follows_module_dtype():
    encoder = MusicEncoder(n_mels=16).double().eval()
    with torch.no_grad():
        assert encoder(torch.randn(1, 1, 16, 20, dtype=torch.float64)).dtype == torch.float64


def _imagenet_style_resnet18_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return tvm.resnet18(weights=None).state_dict()  # includes the 1000-class fc


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_backbone_initializes_from_a_local_weight_file(tmp_path, suffix):
    state = _imagenet_style_resnet18_state()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        safetensors.torch.save_file(state, str(path))
    else:
        torch.save(state, path)
    encoder = ImageEncoder(backbone="resnet18", backbone_weights=path)
    loaded = encoder.backbone.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("fc."))


def test_backbone_weight_file_errors_are_user_errors(tmp_path):
    state = _imagenet_style_resnet18_state()
    with pytest.raises(UserError, match="not found"):
        ImageEncoder(backbone="resnet18", backbone_weights=tmp_path / "absent.pth")

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        ImageEncoder(backbone="resnet18", backbone_weights=garbage)

    missing = tmp_path / "missing.pth"
    torch.save({k: v for k, v in state.items() if k != "layer1.0.conv1.weight"}, missing)
    with pytest.raises(UserError, match="missing.*layer1.0.conv1.weight"):
        ImageEncoder(backbone="resnet18", backbone_weights=missing)

    deeper = tmp_path / "deeper.pth"
    torch.save({**state, "layer1.0.conv3.weight": torch.zeros(64, 64, 1, 1)}, deeper)
    with pytest.raises(UserError, match="unexpected.*layer1.0.conv3.weight"):
        ImageEncoder(backbone="resnet18", backbone_weights=deeper)

    reshaped = tmp_path / "reshaped.pth"
    torch.save({**state, "conv1.weight": torch.zeros(64, 1, 7, 7)}, reshaped)
    with pytest.raises(UserError, match="conv1.weight has shape"):
        ImageEncoder(backbone="resnet18", backbone_weights=reshaped)

    not_a_state_dict = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_a_state_dict)
    with pytest.raises(UserError, match="not a state dict"):
        ImageEncoder(backbone="resnet18", backbone_weights=not_a_state_dict)
    torch.save({**state, 5: torch.zeros(1)}, not_a_state_dict)  # a key no name: an AttributeError (review 47)
    with pytest.raises(UserError, match="not a state dict"):
        ImageEncoder(backbone="resnet18", backbone_weights=not_a_state_dict)


def test_music_encoder_can_keep_the_absolute_level():
    torch.manual_seed(0)
    encoder = MusicEncoder(n_mels=32, gain_invariant=False).eval()
    log_mel = torch.randn(2, 1, 32, 40)
    with torch.no_grad():
        assert not torch.allclose(encoder(log_mel), encoder(log_mel + 6.0), atol=1e-3)


def test_space_net_config_round_trip_and_validation():
    config = SpaceNetConfig(image_backbone="resnet18", music_gain_invariant=False,
                            mel=MelWindow(n_mels=32, f_max=8000.0))
    assert SpaceNetConfig.from_dict(config.to_dict()) == config
    # As read from TOML: None values left out, an int where a float is meant.
    assert SpaceNetConfig.from_dict({"mel": {"n_mels": 64, "window_seconds": 2}}).mel == MelWindow(
        n_mels=64, window_seconds=2.0)
    with pytest.raises(UserError, match="unknown keys"):
        SpaceNetConfig.from_dict({"n_mels": 32})
    with pytest.raises(UserError, match="mel: unknown keys"):
        SpaceNetConfig.from_dict({"mel": {"hop": 256}})
    with pytest.raises(UserError, match="feature_dim must be int"):
        SpaceNetConfig.from_dict({"feature_dim": "512"})
    with pytest.raises(UserError, match="music_gain_invariant must be bool"):
        SpaceNetConfig.from_dict({"music_gain_invariant": 1})
    with pytest.raises(UserError, match="feature_dim must be a whole number in 1..16384"):
        SpaceNetConfig(feature_dim=0)


def test_space_net_parts_fit_together():
    torch.manual_seed(0)
    config = SpaceNetConfig(image_backbone="resnet18", feature_dim=64, head_hidden=16,
                            mel=MelWindow(n_mels=32))
    net = SpaceNet(config).eval()
    with torch.no_grad():
        f_image = net.image_encoder(_images(2))
        f_music = net.music_encoder(torch.randn(2, 1, 32, 50))
        assert f_image.shape == f_music.shape == (2, 64)
        assert net.image_va(f_image).shape == net.music_va(f_music).shape == (2, 2)
        assert net.similarity(f_image, f_music).shape == (2,)


@pytest.mark.parametrize("depth", [18, 50])
def test_our_resnet_is_torchvision_s_with_its_weights(depth):
    # The bundles' E_I and E_M were trained as torchvision modules, whose import costs a
    # bundle 0.9 s to load: ours must take their state dicts as they are and compute the same.
    torch.manual_seed(depth)
    theirs = getattr(tvm, f"resnet{depth}")(weights=None)
    for m in theirs.modules():  # statistics of a trained net, not the fresh 0 and 1
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2)
            m.bias.data.normal_(0, 0.1)
    ours = getattr(resnet, f"resnet{depth}")()
    state = {k: v for k, v in theirs.state_dict().items() if not k.startswith("fc.")}
    assert ours.state_dict().keys() == state.keys() and ours.width == theirs.fc.in_features
    ours.load_state_dict(state)
    theirs.fc = torch.nn.Identity()
    x = torch.randn(2, 3, 96, 80)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs.eval()(x), rtol=0, atol=0)
