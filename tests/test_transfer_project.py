"""Projecting a picture into W, and the projection cache."""
import numpy as np
import pytest
import torch
from PIL import Image

from live.bundle import random_bundle
from live.errors import UserError
from live.nets.stylegan2 import to_uint8
from live.transfer import project
from live.transfer.project import ProjectConfig, load_picture, project_image, project_image_cached
from live.transfer.source import seed_latent

FEW = ProjectConfig(steps=30, plus_steps=5)



@pytest.fixture(scope="module")
def bundle():
    return random_bundle()


@pytest.fixture(scope="module")
def picture_file(bundle, tmp_path_factory):
    """A picture the generator can make, as a PNG."""
    with torch.no_grad():
        image = bundle.G.synthesis(seed_latent(bundle.G, 11)[None], noise_mode="const")
    path = tmp_path_factory.mktemp("pictures") / "seed11.png"
    Image.fromarray(to_uint8(image)[0].numpy()).save(path)
    return path


def test_projection_comes_closer_than_the_average_latent(bundle, picture_file):
    target = load_picture(picture_file, bundle.G.img_resolution)
    w = project_image(bundle, target, FEW)
    assert w.shape == (bundle.G.num_ws, bundle.G.w_dim) and torch.isfinite(w).all()
    with torch.no_grad():
        average = bundle.G.synthesis(bundle.G.mapping.w_avg.expand(1, bundle.G.num_ws, -1), noise_mode="const")
        projected = bundle.G.synthesis(w[None], noise_mode="const")
    assert (projected - target).square().mean() < 0.8 * (average - target).square().mean()


def test_picture_is_cropped_to_its_centre_square_and_resized(tmp_path):
    pixels = np.zeros((40, 80, 3), np.uint8)
    pixels[:, 20:60] = 255  # the centre square is white, the sides black
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    picture = load_picture(tmp_path / "wide.png", 16)
    assert picture.shape == (1, 3, 16, 16) and picture.min() > 0.99


def test_cache_returns_the_stored_projection_and_keys_on_the_file(bundle, picture_file, tmp_path, monkeypatch):
    first = project_image_cached(bundle, picture_file, FEW, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("projected again")
    monkeypatch.setattr(project, "project_image", refuse)
    assert torch.equal(project_image_cached(bundle, picture_file, FEW, cache_dir=tmp_path), first)
    other = tmp_path / "other.png"
    Image.open(picture_file).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other)
    with pytest.raises(AssertionError, match="projected again"):
        project_image_cached(bundle, other, FEW, cache_dir=tmp_path)


def test_a_bad_picture_is_a_user_error(bundle, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a picture")
    with pytest.raises(UserError, match="broken.jpg"):
        project_image_cached(bundle, bad, FEW, cache_dir=tmp_path)
    with pytest.raises(UserError, match="not found"):
        project_image_cached(bundle, tmp_path / "missing.png", FEW, cache_dir=tmp_path)


def test_a_projection_stops_at_the_step_its_check_raises(bundle, picture_file):
    target = load_picture(picture_file, bundle.G.img_resolution)
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # any exception: the caller's own
    with pytest.raises(KeyboardInterrupt):
        project_image(bundle, target, FEW, check=check)
    assert len(calls) == 3


def test_a_cache_entry_cut_short_is_projected_again(bundle, picture_file, tmp_path):
    cached = project.CachedProjection.find(bundle, picture_file, FEW, cache_dir=tmp_path)
    assert cached.load("cpu") is None
    cached.store(torch.zeros(cached.shape))
    cached.entry.write_bytes(cached.entry.read_bytes()[:-7])
    assert cached.load("cpu") is None


# Projections with other settings are kept apart.
def test_a_picture_saved_during_the_lookup_is_filed_under_the_picture_read(bundle, picture_file, tmp_path,
                                                                            monkeypatch):
    # Read twice, the old picture's projection went under the new file's key for good (review 57).
    path = tmp_path / "edited.png"
    path.write_bytes(picture_file.read_bytes())
    expected = project.CachedProjection.find(bundle, picture_file, cache_dir=tmp_path).entry
    read = project.load_picture

    def saved_meanwhile(*args, **kwargs):
        picture = read(*args, **kwargs)
        Image.new("RGB", (8, 8), "red").save(path)
        return picture
    monkeypatch.setattr(project, "load_picture", saved_meanwhile)
    assert project.CachedProjection.find(bundle, path, cache_dir=tmp_path).entry == expected


def test_projection_cache_keys_on_the_settings(bundle, picture_file, tmp_path):
    from live.transfer.project import CachedProjection, ProjectConfig
    a = CachedProjection.find(bundle, picture_file, ProjectConfig(steps=200), tmp_path / "cache")
    b = CachedProjection.find(bundle, picture_file, ProjectConfig(steps=50, plus_steps=20), tmp_path / "cache")
    assert a.entry != b.entry


# A stored projection that is not finite is projected again.
def test_a_non_finite_cached_projection_is_not_used(bundle, picture_file, tmp_path):
    from live.transfer.project import CachedProjection
    cached = CachedProjection.find(bundle, picture_file, cache_dir=tmp_path / "cache")
    w = torch.full(cached.shape, float("nan"))
    cached.store(w)
    assert cached.load("cpu") is None


# The W+ fine-tune runs at a tenth of the W learning rate.
def test_the_w_plus_fine_tune_uses_a_tenth_of_the_learning_rate(bundle, monkeypatch):
    peaks = []
    real = project.scheduled_adam
    monkeypatch.setattr(project, "scheduled_adam",
                        lambda param, loss, steps, peak, **kw: (peaks.append(peak), real(param, loss, steps, peak, **kw))[1])
    R = bundle.G.img_resolution
    project.project_image(bundle, torch.zeros(1, 3, R, R), project.ProjectConfig(steps=1, plus_steps=1, lr=0.2))
    assert peaks == [0.2, pytest.approx(0.02)]


def test_the_cache_key_follows_the_generator_and_the_image_encoder_only():
    bundle = random_bundle()
    key = project.bundle_fingerprint(bundle)
    with torch.no_grad():
        next(bundle.space.music_encoder.parameters()).add_(1.0)  # not what a projection depends on
    assert project.bundle_fingerprint(bundle) == key
    for module in (bundle.G, bundle.space.image_encoder):
        with torch.no_grad():
            next(module.parameters()).add_(1.0)
        assert project.bundle_fingerprint(bundle) != key
        key = project.bundle_fingerprint(bundle)


def test_a_cache_that_cannot_be_written_keeps_the_projection_made(bundle, picture_file, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    w = project_image_cached(bundle, picture_file, FEW, cache_dir=blocker / "cache")  # a minute's work, not lost
    assert w.shape == (bundle.G.num_ws, bundle.G.w_dim) and "projected again next time" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_large_photo_is_shrunk_as_it_is_read_and_gives_the_same_picture(tmp_path, suffix):
    """A phone's 48-megapixel photo took a gigabyte as floats to make a 128 px picture."""
    from live.space.data.images import ImageFile

    y, x = np.mgrid[0:600, 0:1000]
    pixels = np.stack([x * 255 // 1000, y * 255 // 600, (x + y) * 255 // 1600], axis=-1).astype(np.uint8)
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(pixels).save(path, quality=95)
    shrunk = ImageFile(path).load(min_side=64)
    assert 64 <= min(shrunk.shape[1:]) < 128 and shrunk.shape[2] > shrunk.shape[1]
    whole = ImageFile(path).load()
    assert whole.shape == (3, 600, 1000)
    picture = load_picture(path, 64)
    reference = torch.nn.functional.interpolate(whole[None, :, :, 200:800], size=(64, 64), mode="bilinear",
                                                align_corners=False, antialias=True) * 2 - 1
    assert (picture - reference).abs().mean() < 0.02
