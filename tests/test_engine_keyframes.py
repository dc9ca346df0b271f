import numpy as np
import pytest
import torch

from live.bundle import Bundle, random_bundle
from live.corpus.color import mean_lightness
from live.engine.keyframes import KeyframeMaker
from live.engine.synthesizer import Synthesizer
from live.nets.fast import FastOptions
from live.settings import Settings
from live.transfer.source import seed_latent


def test_keyframe_from_mel_with_a_random_bundle(tmp_path):
    bundle = random_bundle()
    w_o = seed_latent(bundle.G, 3)
    maker = KeyframeMaker(bundle, w_o)
    mel = torch.randn(1, bundle.mel.n_mels, bundle.mel.frames)
    k = maker.make(mel, Settings(), capture_time=1.5, clock=lambda: 2.0, version=7, preset="ember")
    assert k.image.shape == (64, 64, 3) and k.image.dtype == np.uint8
    assert 0 <= k.valence <= 1 and 0 <= k.arousal <= 1
    assert k.capture_time == 1.5 and k.ready_time == 2.0 and (k.version, k.preset) == (7, "ember")
    # intensity 0 is the source picture exactly.
    still = maker.make(mel, Settings(intensity=0.0), 0.0, lambda: 0.0)
    assert np.array_equal(still.image, maker.source_uint8)
    assert not np.array_equal(k.image, maker.source_uint8)


def test_bundle_round_trip_on_disk(tmp_path):
    bundle = random_bundle()
    bundle.save(tmp_path / "b")
    loaded = Bundle.load(tmp_path / "b")
    w = seed_latent(bundle.G, 1)
    mel = torch.randn(1, bundle.mel.n_mels, bundle.mel.frames)
    a = KeyframeMaker(bundle, w).make(mel, Settings(), 0.0, lambda: 0.0)
    b = KeyframeMaker(loaded, w).make(mel, Settings(), 0.0, lambda: 0.0)
    # fp16 storage: the pictures agree within a few levels.
    assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 8


def test_a_bf16_fast_path_runs_the_music_encoder_in_bf16_too():
    bundle = random_bundle()
    w_o = seed_latent(bundle.G, 3)
    mel = torch.randn(1, bundle.mel.n_mels, bundle.mel.frames)
    reference = KeyframeMaker(bundle, w_o)
    fast = KeyframeMaker(bundle, w_o, synthesizer=Synthesizer(bundle.G, FastOptions(dtype=torch.bfloat16)))
    (w_ref, va_ref), (w_fast, va_fast) = reference.latent(mel, Settings()), fast.latent(mel, Settings())
    assert w_fast.dtype == va_fast.dtype == torch.float32
    assert not torch.equal(va_fast, va_ref) and torch.allclose(va_fast, va_ref, atol=0.02)
    assert torch.allclose(w_fast, w_ref, atol=0.05)
    # A second show on the bundle (a preset switch) uses the same bf16 copy of E_M.
    copies = dict(bundle._music_encoders)
    KeyframeMaker(bundle, w_o, synthesizer=fast.image).latent(mel, Settings())
    assert list(copies) == [torch.bfloat16] and bundle._music_encoders[torch.bfloat16] is copies[torch.bfloat16]


def test_a_non_finite_keyframe_is_refused_and_never_reaches_the_warm_start():
    import pytest
    from types import SimpleNamespace

    bundle = random_bundle()
    session = SimpleNamespace(resets=0, refined=[])
    session.refine = lambda w, f_m, lam, steps: session.refined.append(w) or w * float("nan")
    session.reset = lambda: setattr(session, "resets", session.resets + 1)
    maker = KeyframeMaker(bundle, seed_latent(bundle.G, 3), refiner=SimpleNamespace(open=lambda b, w: session))
    mel = torch.randn(1, bundle.mel.n_mels, bundle.mel.frames)
    with pytest.raises(ValueError, match="not finite"):
        maker.make(mel, Settings(refine_steps=2), 0.0, lambda: 0.0)
    assert session.resets == 1
    with pytest.raises(ValueError, match="music's features are not finite"):
        maker.make(mel * float("nan"), Settings(refine_steps=2), 0.0, lambda: 0.0)
    assert len(session.refined) == 1  # the NaN window never reached the refinement
    # A predictor that yields NaN (a damaged file, an overflow) is said, not drawn black (review 47).
    maker.predict = lambda f_m, lam: torch.full((1, bundle.G.num_ws, bundle.G.w_dim), float("nan"))
    with pytest.raises(ValueError, match="the predictor's latent is not finite"):
        maker.make(mel, Settings(), 0.0, lambda: 0.0)


def test_refinement_turned_off_stops_its_worker_and_turned_on_again_starts_anew():
    from types import SimpleNamespace

    bundle = random_bundle()
    sessions = []

    def open_session(b, w):
        session = SimpleNamespace(refine=lambda w, f_m, lam, steps: w, closed=[])
        session.close = lambda wait=True: session.closed.append(wait)
        sessions.append(session)
        return session

    maker = KeyframeMaker(bundle, seed_latent(bundle.G, 3), refiner=SimpleNamespace(open=open_session))
    mel = torch.randn(1, bundle.mel.n_mels, bundle.mel.frames)
    maker.latent(mel, Settings(refine_steps=3))
    maker.latent(mel, Settings(refine_steps=0))
    assert sessions[0].closed == [False]  # not waited for: the keyframes go on
    maker.latent(mel, Settings(refine_steps=0))
    maker.latent(mel, Settings(refine_steps=3))
    assert len(sessions) == 2 and sessions[0].closed == [False] and sessions[1].closed == []


def test_a_move_that_would_be_darker_than_the_floor_is_shortened_toward_the_source():
    bundle = random_bundle()
    latents = [seed_latent(bundle.G, seed) for seed in range(12)]
    maker = KeyframeMaker(bundle, latents[0])
    lightness = [mean_lightness(maker.image(w)) for w in latents]
    source, dark = latents[int(np.argmax(lightness))], latents[int(np.argmin(lightness))]
    maker = KeyframeMaker(bundle, source)
    top, bottom = max(lightness), min(lightness)
    assert top - bottom > 6, lightness  # the random generator's pictures differ enough for a floor between
    # No floor, or one below the move's picture: the move as it is.
    for floor in (0.0, bottom - 1):
        w, image = maker.visible(dark, floor)
        assert torch.equal(w, dark) and np.array_equal(image, maker.image(dark))
    floor = (top + bottom) / 2
    w, image = maker.visible(dark, floor)
    s = float((w - source).norm() / (dark - source).norm())
    assert 0 < s < 1 and torch.allclose(w, source + s * (dark - source), atol=1e-5)  # the same move, shorter
    assert np.array_equal(image, maker.image(w)) and abs(mean_lightness(image) - floor) < 3
    # The same music again: the step the last keyframe kept is tried first, and holds.
    drawn = []
    draw = maker.image
    maker.image = lambda w: (drawn.append(w), draw(w))[1]
    again, _ = maker.visible(dark, floor)
    maker.image = draw
    assert len(drawn) == 1 and torch.equal(again, w)  # the step alone: the whole move is not drawn again
    # Through make, by the setting: the brightest source is its own floor, a little below it.
    mel = torch.randn(1, bundle.mel.n_mels, bundle.mel.frames, generator=torch.Generator().manual_seed(0))
    free = maker.make(mel, Settings(min_lightness=0.0, intensity=2.0), 0.0, lambda: 0.0)
    kept = maker.make(mel, Settings(min_lightness=100.0, intensity=2.0), 0.0, lambda: 0.0)
    assert mean_lightness(free.image) < top - 6 and mean_lightness(kept.image) > top - 5
    assert np.array_equal(kept.image, maker.image(kept.w))


def test_a_step_kept_short_is_trusted_for_half_a_second_then_the_whole_move_is_drawn_again(monkeypatch):
    # A short step that darkened held the picture at its source through music whose whole move
    # was bright: storm on a Q1 clip, 25 keyframes of 25 (review 75).
    from live.engine import keyframes

    bundle = random_bundle()
    source, music = seed_latent(bundle.G, 1), seed_latent(bundle.G, 2)
    maker = KeyframeMaker(bundle, source)
    drawn = []

    def draw(w):  # the picture's step along source -> music stands for the picture
        drawn.append(round(float((w - source).norm() / (music - source).norm()), 3))
        return np.array([drawn[-1]])

    maker.image, maker.source_lightness = draw, 22.3
    monkeypatch.setattr(keyframes, "mean_lightness", lambda image: 22.3 - 8.9 * image[0] + 11.9 * image[0] ** 2)
    for at, expected in ((10.0, [0.3, 1.0]), (10.2, [0.3]), (10.4, [0.3]), (10.6, [0.3, 1.0])):
        maker._floor_step, drawn[:] = 0.3, []  # the step darker music before it left
        w, _ = maker.visible(music, 20.0, at=at)
        assert drawn == expected, at
        assert torch.equal(w, music) == (expected[-1] == 1.0)


# A keyframe's valence is E_M's first output, arousal its second.
def test_a_keyframe_carries_valence_and_arousal_in_their_places():
    bundle = random_bundle()
    maker = KeyframeMaker(bundle, seed_latent(bundle.G, 3))
    mel = torch.randn(1, bundle.mel.n_mels, bundle.mel.frames, generator=torch.Generator().manual_seed(1))
    _, va = maker.latent(mel, Settings())
    k = maker.make(mel, Settings(), 0.0, lambda: 0.0)
    assert abs(float(va[0]) - float(va[1])) > 1e-4  # the check needs them apart
    assert k.valence == pytest.approx(float(va[0])) and k.arousal == pytest.approx(float(va[1]))


def test_the_reference_refiner_serves_the_maker_through_a_refinement_turned_off():
    """Its session had `refine` alone, as the Protocol said, and the maker's `close` failed (review 65)."""
    from live.transfer.refine import ReferenceRefiner

    bundle = random_bundle()
    maker = KeyframeMaker(bundle, seed_latent(bundle.G, 3), refiner=ReferenceRefiner())
    mel = torch.randn(1, bundle.mel.n_mels, bundle.mel.frames)
    maker.latent(mel, Settings(refine_steps=1))
    session = maker.refinement
    session.reset()
    assert session._warm._previous is None
    maker.latent(mel, Settings(refine_steps=0))
    assert maker.refinement is None
