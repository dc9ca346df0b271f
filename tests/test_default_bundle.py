"""The shipped default bundle, as its model card measured it: the same front end and weights
give the same numbers (a changed mel filterbank moved its valence and arousal by 0.1, and
no other test loads this bundle)."""
import pytest
import torch

from live.audio.mel import LogMel
from live.audio.synth import STEADY, drum_track
from live.bundle import Bundle
from live.transfer.source import seed_latent


@pytest.fixture(scope="module")
def bundle():
    return Bundle.load("default")


def test_the_music_side_gives_the_numbers_it_gave_when_shipped(bundle):
    clip = drum_track(128, bundle.mel.window_seconds, bundle.mel.sample_rate, STEADY, seed=3).samples
    mel = LogMel(bundle.mel, bundle.mel.sample_rate)(clip)
    assert mel.shape == (1, 64, 130) and float(mel.mean()) == pytest.approx(-8.4380, abs=1e-3)
    assert torch.allclose(mel[0, ::32, ::40], torch.tensor([[3.2436, 3.4586, 3.4645, -13.8155],
                                                            [-13.6721, -11.0267, -9.2386, -13.8155]]), atol=1e-3)
    with torch.no_grad():
        _, va = bundle.music_features(mel)
    assert va[0].tolist() == pytest.approx([0.4575, 0.6599], abs=2e-3)


def test_the_generator_draws_the_picture_it_drew_when_shipped(bundle):
    with torch.no_grad():
        picture = bundle.G.synthesis(seed_latent(bundle.G, 0)[None], noise_mode="const")
    assert picture.shape == (1, 3, 128, 128) and float(picture.mean()) == pytest.approx(-0.20685, abs=1e-4)
