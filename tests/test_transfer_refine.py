"""Refinement on a tiny random bundle: the local model against the full networks, sessions, anchors."""
import dataclasses
import gc
import threading
import time

import numpy as np
import pytest
import torch

from live.bundle import random_bundle
from live.engine.keyframes import KeyframeMaker
from live.settings import Settings
from live.transfer.anchors import AnchorRequest, BackgroundAnchors, DelayedAnchors, InlineAnchors
from live.transfer.directions import feature_gradients, music_basis, sensitive_directions
from live.transfer.embed import latent_features, true_transfer_loss
from live.transfer.linearize import MEASURE_STEPS, build_anchor, jacobian_along, measured_model, validity_radius
from live.transfer.refine import (LocalRefiner, RefineConfig, ReferenceRefiner, RefineSession, WarmStart,
                                  reference_loss_and_gradient)
from live.transfer.source import seed_latent
from live.transfer.subspace import minimize, subspace_problem

SMALL = RefineConfig(music_components=3, music_clips=6, background=False)



@pytest.fixture(scope="module")
def bundle():
    return random_bundle()


@pytest.fixture(scope="module")
def setting(bundle):
    """An anchor near (not at) the source, music in the basis, and the model there."""
    torch.manual_seed(0)
    w_source = seed_latent(bundle.G, 1)
    w_anchor = w_source + 0.3 * torch.randn_like(w_source)
    music = torch.randn(8, bundle.config.space.feature_dim)
    basis = music_basis(music, 3)
    directions = sensitive_directions(bundle, w_anchor, w_source, basis)
    anchor = build_anchor(bundle, w_anchor, directions, w_source, basis[0], 0.0)
    return w_source, w_anchor, basis, directions, anchor


def test_a_measured_model_gives_the_networks_phi_where_its_steps_went(bundle, setting):
    """One measurement: at the tangent model's optimum for this music (within reach), the
    corrected model gives what G and E_I give there."""
    w_source, w_anchor, basis, _, anchor = setting
    reach = 2 * anchor.radius
    corrected = measured_model(bundle, anchor.model, w_anchor, w_source, basis[1], 0.01, reach, 1)
    model = anchor.model
    problem, a0 = subspace_problem(model, model.anchor, w_source.reshape(-1).numpy(), basis[1].numpy(), 0.01)
    a = minimize(problem, a0, MEASURE_STEPS, reach)
    assert 0 < np.linalg.norm(a) <= reach * (1 + 1e-9)
    with torch.no_grad():
        move = torch.from_numpy(model.basis @ a).reshape(w_anchor.shape)
        phi = latent_features(bundle, (w_anchor + move)[None])[0]
    tolerance = 1e-4 * float(phi.abs().max())
    np.testing.assert_allclose(corrected.phi0 + corrected.jac @ a, phi.numpy(), atol=tolerance)
    assert np.abs(model.phi0 + model.jac @ a - phi.numpy()).max() > 10 * tolerance  # the tangent did not


def test_passes_in_chunks_give_the_same_derivatives_as_one_pass(bundle, setting):
    _, w_anchor, basis, directions, _ = setting
    rows = torch.randn(5, bundle.config.space.feature_dim)
    one = feature_gradients(bundle, w_anchor, rows, chunk=5)
    # Kernels pick other blockings for other batch sizes: equal up to float32 rounding.
    torch.testing.assert_close(feature_gradients(bundle, w_anchor, rows, chunk=2), one,
                               rtol=0, atol=1e-4 * float(one.abs().max()))
    phi_one, jac_one = jacobian_along(bundle, w_anchor, directions, chunk=len(directions))
    phi_two, jac_two = jacobian_along(bundle, w_anchor, directions, chunk=2)
    torch.testing.assert_close(phi_two, phi_one, rtol=0, atol=1e-4 * float(phi_one.abs().max()))
    torch.testing.assert_close(jac_two, jac_one, rtol=0, atol=1e-4 * float(jac_one.abs().max()))


def test_directions_are_orthonormal_and_hold_the_full_gradient(bundle, setting):
    w_source, w_anchor, basis, directions, _ = setting
    u = directions.flatten(1).double()
    assert torch.allclose(u @ u.T, torch.eye(len(u), dtype=torch.float64), atol=1e-5)
    f_m = basis[0] + 0.7 * basis[2]  # any music in the basis' span
    _, grad = reference_loss_and_gradient(bundle, w_anchor, w_source, f_m, 0.01)
    g = grad.flatten().double()
    assert (u @ g).norm() == pytest.approx(float(g.norm()), rel=1e-4)


def test_local_model_agrees_with_the_full_networks_near_the_anchor(bundle, setting):
    w_source, w_anchor, basis, directions, anchor = setting
    f_m, lam = basis[0] - 0.5 * basis[1], 0.02
    model = anchor.model
    problem, a0 = subspace_problem(model, w_anchor.flatten().numpy(), w_source.flatten().numpy(),
                                   f_m.numpy(), lam)
    u = directions.flatten(1)
    # At the anchor: loss and projected gradient exact (J comes from forward-mode AD).
    loss, grad = reference_loss_and_gradient(bundle, w_anchor, w_source, f_m, lam)
    assert problem.loss(a0) == pytest.approx(float(loss), rel=1e-5)
    np.testing.assert_allclose(problem.gradient(a0), (u @ grad.flatten()).numpy(), rtol=1e-3, atol=1e-7)
    # A short step away: close, within the model's first-order error.
    step = 0.02 * torch.nn.functional.normalize(torch.ones(len(u)), dim=0)
    w_near = w_anchor + (step @ u).reshape(w_anchor.shape)
    loss_near, grad_near = reference_loss_and_gradient(bundle, w_near, w_source, f_m, lam)
    a = a0 + step.double().numpy()
    assert problem.loss(a) - problem.loss(a0) == pytest.approx(float(loss_near - loss), rel=0.2)
    local, full = problem.gradient(a), (u @ grad_near.flatten()).numpy()
    assert np.linalg.norm(local - full) <= 0.25 * np.linalg.norm(full)


def test_one_step_within_the_radius_delivers_what_the_model_promised(bundle, setting):
    """The radius is tested along the refinement's own step for the music that asked: one
    step there realizes at least `acceptance` of the decrease the model predicts."""
    w_source, w_anchor, basis, directions, _ = setting
    f_m = basis[0] + 0.8 * basis[1]
    anchor = build_anchor(bundle, w_anchor, directions, w_source, f_m, 0.0, acceptance=0.5)
    problem, a0 = subspace_problem(anchor.model, w_anchor.flatten().numpy(), w_source.flatten().numpy(),
                                   f_m.numpy(), 0.0)
    a1 = minimize(problem, a0, 1, anchor.radius)
    assert 0 < np.linalg.norm(a1 - a0) <= anchor.radius * (1 + 1e-9)
    w1 = w_anchor + torch.from_numpy(anchor.model.basis @ (a1 - a0).astype(np.float32)).reshape(w_anchor.shape)
    with torch.no_grad():
        true = true_transfer_loss(bundle, torch.stack([w_anchor, w1]), w_source.expand(2, *w_source.shape),
                                  f_m.expand(2, -1), 0.0).total.double()
    predicted_drop = problem.loss(a0) - problem.loss(a1)
    assert predicted_drop > 0 and float(true[0] - true[1]) >= 0.5 * predicted_drop


def test_session_starts_at_the_prediction_then_warm_starts(bundle):
    w_o = seed_latent(bundle.G, 2)
    f_m = torch.randn(bundle.config.space.feature_dim)
    refiner = LocalRefiner(SMALL)
    session = refiner.open(bundle, w_o)
    predicted = w_o + 0.05 * torch.randn_like(w_o)
    with torch.inference_mode():
        first = session.refine(predicted, f_m, 0.001, 0)
        assert torch.allclose(first, predicted) and session.anchors.builds == 1
        refined = session.refine(predicted, f_m, 0.001, 3)
    assert refined.shape == w_o.shape and refined.dtype == w_o.dtype

    def loss(w):
        with torch.no_grad():
            return float(true_transfer_loss(bundle, w[None], w_o[None], f_m[None], 0.001).total)
    assert loss(refined) < loss(predicted)
    with torch.inference_mode():
        again = session.refine(predicted, f_m, 0.001, 0)  # no steps: the previous w_m, P unchanged
    assert torch.allclose(again, refined, atol=1e-6)
    refiner.close()


class _LateAnchors:
    """A worker whose builds never arrive: the model in place stays `anchor`."""

    def __init__(self, anchor):
        self.anchor, self.requests = anchor, []

    def request(self, request):
        self.requests.append(request)

    def current(self):
        return self.anchor

    def close(self, wait=True):
        pass


def test_no_steps_from_a_start_outside_the_model_in_place(bundle, setting):
    """Live, the next model arrives seconds after it is asked for: until then a keyframe
    that starts outside the last model's radius keeps its start, and one inside steps."""
    w_source, w_anchor, basis, _, anchor = setting
    refiner = LocalRefiner(SMALL)
    session = refiner.open(bundle, w_source)
    session.anchors = late = _LateAnchors(anchor)
    direction = torch.randn(w_anchor.shape, generator=torch.Generator().manual_seed(3))
    direction = direction / direction.norm()
    far, near = (w_anchor + r * anchor.radius * direction for r in (1.5, 0.5))
    with torch.inference_mode():
        kept = session.refine(far, basis[0], 0.0, 3)
        assert torch.equal(kept, far) and len(late.requests) == 1
        assert torch.equal(late.requests[0].w, far)
        session.reset()
        stepped = session.refine(near, basis[0], 0.0, 3)
        assert not torch.allclose(stepped, near) and len(late.requests) == 1
        # Outside again: the predictor's output, without the correction the last keyframe carried.
        assert torch.equal(session.refine(far, basis[0], 0.0, 3), far)
        # Inside, but for music the model was not built for: no steps either, and a model is asked for it.
        other = basis[1] - (basis[1] @ basis[0]) / (basis[0] @ basis[0]) * basis[0]
        assert torch.equal(session.refine(near, other, 0.0, 3), near)
        assert len(late.requests) == 3 and torch.equal(late.requests[-1].music, other)
    refiner.close()


def test_after_a_reset_a_blown_up_keyframe_is_not_carried_into_the_next(bundle, setting):
    """The engine resets a session whose refined latent came out NaN; without the reset the
    warm start carries the NaN into every later keyframe on the model."""
    w_source, w_anchor, basis, _, anchor = setting
    session = LocalRefiner(SMALL).open(bundle, w_source)
    session.anchors = _LateAnchors(anchor)
    direction = torch.randn(w_anchor.shape, generator=torch.Generator().manual_seed(5))
    near = w_anchor + 0.3 * anchor.radius * direction / direction.norm()
    with torch.inference_mode():
        session.refine(near, basis[0], 0.0, 2)
        descend = session._descend
        session._descend = lambda anchor, start, *rest: start * float("nan")  # one numerical blow-up
        assert not session.refine(near, basis[0], 0.0, 2).isfinite().all()
        session._descend = descend
        session.reset()
        assert session.refine(near, basis[0], 0.0, 2).isfinite().all()


def test_keyframes_on_one_model_stay_within_its_radius_of_the_anchor(bundle, setting):
    w_source, w_anchor, basis, _, anchor = setting
    refiner = LocalRefiner(SMALL)
    session = refiner.open(bundle, w_source)
    session.anchors = _LateAnchors(anchor)
    offset = torch.randn(w_anchor.shape, generator=torch.Generator().manual_seed(4))
    predicted = w_anchor + 0.1 * anchor.radius * offset / offset.norm()
    with torch.inference_mode():
        for _ in range(8):  # music that holds: the predictor's output stays
            refined = session.refine(predicted, basis[0], 0.0, 3)
            assert float((refined - w_anchor).norm()) <= anchor.radius * (1 + 1e-6)
    assert not session.anchors.requests
    refiner.close()


def test_music_basis_is_fitted_once_per_bundle_while_the_bundle_lives(bundle, monkeypatch):
    fitted = []
    monkeypatch.setattr("live.transfer.refine.synthetic_music_basis",
                        lambda b, config: fitted.append(b) or torch.randn(3, b.config.space.feature_dim))
    other = random_bundle(seed=1)
    refiner = LocalRefiner(SMALL)
    for b in (bundle, other, bundle, other):
        refiner.open(b, seed_latent(b.G, 2))
        refiner.basis(b)
    assert fitted == [bundle, other]
    refiner.close()
    del other, b, fitted[:]
    gc.collect()
    assert len(refiner._bases) == 1  # the basis went with its bundle


def test_a_session_s_first_keyframes_do_not_wait_for_the_music_basis(bundle, monkeypatch):
    # Before: opening a session fitted the basis on the keyframes' thread; turning
    # refine_steps up in a show held the picture for 2-6 s.
    release = threading.Event()

    def slow_fit(b, config):
        release.wait(10)
        return torch.randn(3, b.config.space.feature_dim)

    monkeypatch.setattr("live.transfer.refine.synthetic_music_basis", slow_fit)
    refiner = LocalRefiner(dataclasses.replace(SMALL, background=True))
    w = seed_latent(bundle.G, 2)
    try:
        started = time.monotonic()
        refined = refiner.open(bundle, w).refine(w, torch.randn(bundle.config.space.feature_dim), 0.01, 3)
        assert time.monotonic() - started < 3 and torch.equal(refined, w)  # the predictor's, until a model is in place
    finally:
        release.set()
        refiner.close()


def test_a_basis_fitted_slowly_for_one_bundle_holds_up_no_other(monkeypatch):
    # A show switched from bundle A, whose closing session still fits A's basis, to B:
    # B's first model waited for A's fit.
    class Bundle:
        pass

    slow, quick = Bundle(), Bundle()
    fitting_slow, release = threading.Event(), threading.Event()

    def fit(b, config):
        if b is slow:
            fitting_slow.set()
            release.wait(10)
        return torch.zeros(3, 8)

    monkeypatch.setattr("live.transfer.refine.synthetic_music_basis", fit)
    refiner = LocalRefiner(SMALL)
    fitting = threading.Thread(target=refiner.basis, args=(slow,))
    fitting.start()
    try:
        assert fitting_slow.wait(10)  # A's fit holds what it holds
        started = time.monotonic()
        refiner.basis(quick)
        assert time.monotonic() - started < 2
    finally:
        release.set()
        fitting.join()
    assert refiner.basis(slow) is refiner.basis(slow) and refiner.basis(quick) is refiner.basis(quick)


def test_warm_start_carries_the_correction_and_follows_the_predictor():
    warm = WarmStart()
    assert warm.start(np.array([1.0])) == 1.0
    warm.record(np.array([1.0]), np.array([1.5]))
    assert warm.start(np.array([3.0])) == 3.5
    warm.reset()
    assert warm.start(np.array([3.0])) == 3.0


def test_keyframes_with_the_fast_refiner(bundle):
    maker = KeyframeMaker(bundle, seed_latent(bundle.G, 4), LocalRefiner(SMALL))
    mel = torch.randn(1, bundle.mel.n_mels, bundle.mel.frames)
    frames = [maker.make(mel, Settings(refine_steps=2), t, lambda: 0.0) for t in (0.0, 0.2)]
    assert frames[1].image.shape == (64, 64, 3) and not torch.equal(frames[0].w, maker.w_source)
    assert maker.refinement is not None and maker.refinement.anchors.builds >= 1
    predicted = KeyframeMaker(bundle, seed_latent(bundle.G, 4)).make(mel, Settings(refine_steps=2), 0.0, lambda: 0.0)
    assert not torch.equal(frames[1].w, predicted.w)  # the refiner moved the predictor's latent


def test_reference_refiner_lowers_the_true_loss(bundle):
    w_o = seed_latent(bundle.G, 5)
    f_m = torch.randn(bundle.config.space.feature_dim)
    refined = ReferenceRefiner(step_length=0.2).open(bundle, w_o).refine(w_o, f_m, 0.001, 2)
    with torch.no_grad():
        losses = true_transfer_loss(bundle, torch.stack([w_o, refined]), w_o.expand(2, *w_o.shape),
                                    f_m.expand(2, -1), 0.001).total
    assert losses[1] < losses[0]


def test_a_reference_step_is_its_length_halved_until_the_true_loss_falls(bundle):
    w_o, w = seed_latent(bundle.G, 2), seed_latent(bundle.G, 1)
    f_m = torch.randn(bundle.config.space.feature_dim)
    moved = float((ReferenceRefiner(step_length=0.5).open(bundle, w_o).refine(w, f_m, 0.01, 1) - w).norm())
    assert any(moved == pytest.approx(0.5 / 2**k, rel=1e-4) for k in range(4))  # whatever the gradient's norm
    # A step too long to lower the loss in four halvings (125 W+ units at the least) is not taken.
    assert torch.equal(ReferenceRefiner(step_length=1000.0).open(bundle, w_o).refine(w, f_m, 0.01, 1), w)


def _request_at(w: torch.Tensor) -> AnchorRequest:
    return AnchorRequest(w, torch.zeros(8), 0.0)


def test_background_anchors_build_the_newest_request_and_survive_failures(setting):
    _, w_anchor, _, _, anchor = setting
    built, gate, fail = [], threading.Event(), threading.Event()

    def build(request, check):
        gate.wait(5)
        if fail.is_set():
            raise RuntimeError("boom")
        built.append(float(request.w[0, 0]))
        return anchor

    errors = []
    anchors = BackgroundAnchors(build, on_error=errors.append)
    try:
        for value in (1.0, 2.0, 3.0):  # the worker holds at most one while the others queue
            anchors.request(_request_at(torch.full_like(w_anchor, value)))
        gate.set()
        assert anchors.idle(10) and anchors.current() is anchor
        assert built[-1] == 3.0 and len(built) <= 2  # a replaced request is never built
        fail.set()
        anchors.request(_request_at(w_anchor))
        assert anchors.idle(10)
        assert anchors.current() is anchor and anchors.builds == len(built)
        assert len(errors) == 1 and "boom" in errors[0] and "keeping the last one" in errors[0]
    finally:
        anchors.close()


def _passes_until_stopped(started: threading.Event, passes: list):
    """A build that runs pass after pass, as long as its `check` lets it."""
    def build(*args, **kwargs):
        check = args[-1]  # after the request (the session's builder binds its other arguments by name)
        started.set()
        for _ in range(1000):  # 10 s
            check()
            passes.append(time.perf_counter())
            time.sleep(0.01)
        raise AssertionError("never stopped")
    return build


def test_closing_background_anchors_stops_a_build_at_its_next_pass(setting):
    _, w_anchor, _, _, _ = setting
    started, passes, errors = threading.Event(), [], []
    anchors = BackgroundAnchors(_passes_until_stopped(started, passes), on_error=errors.append)
    anchors.request(_request_at(w_anchor))
    assert started.wait(5)
    start = time.perf_counter()
    anchors.close(wait=False)  # a preset switch: the show must not wait for the old preset's model
    assert time.perf_counter() - start < 0.5
    anchors.close()  # the end of the show waits for the worker to end
    assert not anchors.running and passes[-1] - start < 0.5
    assert anchors.current() is None and anchors.builds == 0 and errors == []


def test_a_new_session_stops_the_last_ones_build_and_close_waits_for_all(bundle, monkeypatch):
    started, passes = threading.Event(), []
    monkeypatch.setattr("live.transfer.refine._anchor_at", _passes_until_stopped(started, passes))
    refiner = LocalRefiner(dataclasses.replace(SMALL, background=True))
    w_o = seed_latent(bundle.G, 1)
    f_m = torch.randn(bundle.config.space.feature_dim)
    first = refiner.open(bundle, w_o)
    assert not started.wait(0.5)  # no model before a keyframe asks, for its music
    assert torch.equal(first.refine(w_o, f_m, 0.01, 3), w_o)  # no model yet: no steps; one is asked for here
    assert started.wait(10)
    start = time.perf_counter()
    started.clear()
    second = refiner.open(bundle, w_o)  # a preset switch
    second.refine(w_o, f_m, 0.01, 3)
    assert time.perf_counter() - start < 1.0 and started.wait(10)
    deadline = time.monotonic() + 5
    while first.anchors.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not first.anchors.running and second.anchors.running  # the switch stopped the old build only
    refiner.close()  # the show's end: nothing may still run in torch when the process exits
    assert not first.anchors.running and not second.anchors.running


def test_inline_anchors_build_at_once(setting):
    _, w_anchor, _, _, anchor = setting
    anchors = InlineAnchors(lambda request, check: anchor)
    assert anchors.current() is None
    anchors.request(_request_at(w_anchor))
    assert anchors.current() is anchor and anchors.builds == 1


def test_delayed_anchors_replay_a_workers_clock(setting):
    anchor = setting[4]
    built = []

    def build(request, check):
        built.append(request)
        return anchor

    anchors = DelayedAnchors(build, delay=3, rest=2)
    first, second, third = (_request_at(setting[1] + i) for i in range(3))
    anchors.request(first)
    assert built == [first] and anchors.current() is None
    anchors.request(second)  # waits: the worker is busy
    for _ in range(2):
        anchors.tick()
        assert anchors.current() is None
    anchors.request(third)  # replaces the waiting one
    anchors.tick()  # keyframe 3: the first model is in place, the worker rests
    assert anchors.current() is anchor and built == [first]
    anchors.tick()
    anchors.tick()  # keyframe 5: rested, it starts the newest request
    assert built == [first, third] and anchors.builds == 2
    inline = DelayedAnchors(build, delay=0, rest=0)
    inline.request(first)
    assert inline.current() is anchor


def test_background_anchors_rest_between_builds_to_keep_their_duty(setting):
    _, w_anchor, _, _, anchor = setting
    spans = []

    def build(request, check):
        start = time.perf_counter()
        time.sleep(0.2)
        spans.append((start, time.perf_counter()))
        return anchor

    anchors = BackgroundAnchors(build, duty=0.5)
    try:
        anchors.request(_request_at(w_anchor))
        assert anchors.idle(10)
        anchors.request(_request_at(w_anchor))  # asked at once: built only after a rest as long as the build
        deadline = time.perf_counter() + 10
        while len(spans) < 2 and time.perf_counter() < deadline:
            time.sleep(0.01)
        assert len(spans) == 2 and spans[1][0] - spans[0][1] >= 0.18
    finally:
        anchors.close()
    resting = BackgroundAnchors(build, duty=0.05)  # rests 19x a build: close() must not wait for that
    resting.request(_request_at(w_anchor))
    assert resting.idle(10)
    start = time.perf_counter()
    resting.close()
    assert time.perf_counter() - start < 1.0


def test_a_closed_refiner_opens_no_new_session():
    """A keyframe still under way when the show ends must not start a model-building worker."""

    refiner = LocalRefiner()
    refiner.close()
    with pytest.raises(RuntimeError, match="closed"):
        refiner.open(None, None)


def test_a_correction_is_not_carried_to_another_model(bundle, setting):
    """Steps move within a model's directions: a correction made on one model, carried to
    the next, would keep what lies outside the next one's reach, model after model."""
    w_source, w_anchor, basis, _, anchor = setting
    refiner = LocalRefiner(SMALL)
    session = refiner.open(bundle, w_source)
    session.anchors = late = _LateAnchors(anchor)
    offset = torch.randn(w_anchor.shape, generator=torch.Generator().manual_seed(5))
    predicted = w_anchor + 0.3 * anchor.radius * offset / offset.norm()
    with torch.inference_mode():
        stepped = session.refine(predicted, basis[0], 0.0, 3)
        assert not torch.allclose(stepped, predicted)
        assert torch.allclose(session.refine(predicted, basis[0], 0.0, 0), stepped)  # the same model: carried
        late.anchor = dataclasses.replace(anchor)  # a new model arrives (here with the same numbers)
        assert torch.equal(session.refine(predicted, basis[0], 0.0, 0), predicted)
    refiner.close()


# The radius is the LARGEST probed radius that passes (all pass: the first,
# none pass: half the last, 1/64 of the first).
def test_validity_radius_is_the_largest_passing_probe():
    torch.manual_seed(0)
    bundle = random_bundle()
    G = bundle.G
    w_source = seed_latent(G, 1)
    w_anchor = w_source + 0.3 * torch.randn_like(w_source)
    q, _ = torch.linalg.qr(torch.randn(G.num_ws * G.w_dim, 3))
    directions = q.T.reshape(3, G.num_ws, G.w_dim).contiguous()
    music = torch.randn(bundle.config.space.feature_dim)
    every = build_anchor(bundle, w_anchor, directions, w_source, music, 0.1, acceptance=-1e30).radius
    none = build_anchor(bundle, w_anchor, directions, w_source, music, 0.1, acceptance=1e30).radius
    assert every == pytest.approx(64 * none)


class _RecordedRequests:
    def __init__(self):
        self.requests = []

    def current(self):
        return None

    def request(self, request):
        self.requests.append(request)


def test_a_model_is_asked_for_on_the_networks_device_when_the_arrays_live_on_the_host():
    """CUDA without CuPy: the NumPy round trip sent a CPU latent to G on the GPU, so every
    build failed on device mixing (found by review)."""
    recorded = _RecordedRequests()
    session = RefineSession(bundle=None, w_source=torch.zeros(4, 3), basis=lambda: None,
                            config=RefineConfig(background=False), anchors=lambda build: recorded)
    f_m = torch.zeros(8, device="meta")  # where the networks are: meta stands in for a GPU
    assert session.refine(torch.ones(4, 3), f_m, 0.02, steps=2).shape == (4, 3)
    (request,) = recorded.requests
    assert request.w.device == f_m.device


def test_a_still_s_model_is_corrected_where_its_steps_go_and_a_show_s_is_not(bundle):
    w_source = seed_latent(bundle.G, 2)
    music = torch.randn(bundle.config.space.feature_dim, generator=torch.Generator().manual_seed(5))
    models = []
    for measurements in (0, 2):
        refiner = LocalRefiner(dataclasses.replace(SMALL, measurements=measurements))
        session = refiner.open(bundle, w_source)
        session.refine(w_source + 0.1, music, 0.01, 1)
        models.append(session.anchors.current().model)
        refiner.close()
    plain, measured = models
    np.testing.assert_array_equal(plain.phi0, measured.phi0)
    assert not np.allclose(plain.jac, measured.jac)
    assert RefineConfig().measurements == 0  # shows and renders: a corrected model jitters in a stream


def test_the_music_basis_is_the_mean_and_the_leading_principal_directions():
    # Skipping the leading component or not centring passed every test: the refinement's
    # directions would not follow the music's main variation.
    from live.transfer.directions import music_basis

    g = torch.Generator().manual_seed(0)
    f = torch.zeros(400, 8)
    f[:, 0] = 5.0 * torch.randn(400, generator=g)
    f[:, 1] = 1.0 * torch.randn(400, generator=g)
    f[:, 2] = 0.1 * torch.randn(400, generator=g)
    f[:, 5] = 10.0
    basis = music_basis(f, 2)
    assert basis.shape == (3, 8)
    assert torch.allclose(basis[0], f.mean(dim=0))
    assert abs(float(basis[1, 0])) > 0.99 and abs(float(basis[2, 1])) > 0.99  # +-e0, then +-e1
    assert float(basis[1:, 5].abs().max()) < 1e-3                             # centred: the mean is not a direction


@pytest.mark.parametrize("cosine, steps", [(0.94, False), (0.96, True)])
def test_music_within_cosine_0_95_of_the_model_s_steps_on_it_and_other_music_does_not(bundle, setting, cosine,
                                                                                      steps):
    w_source, w_anchor, basis, _, anchor = setting
    refiner = LocalRefiner(SMALL)
    session = refiner.open(bundle, w_source)
    late = session.anchors = _LateAnchors(anchor)
    near = w_anchor + 0.5 * anchor.radius * torch.nn.functional.normalize(
        torch.randn(w_anchor.shape, generator=torch.Generator().manual_seed(3)), dim=None)
    music = basis[0] / basis[0].norm()
    other = basis[1] - (basis[1] @ music) * music
    tilted = (cosine * music + (1 - cosine ** 2) ** 0.5 * other / other.norm()) * basis[0].norm()
    with torch.inference_mode():
        session.refine(near, basis[0], 0.0, 3)
        asked = len(late.requests)
        session.reset()
        out = session.refine(near, tilted, 0.0, 3)
    assert (not torch.allclose(out, near)) is steps and (len(late.requests) > asked) is not steps
    refiner.close()


def test_a_measured_model_s_radius_is_tested_on_the_corrected_model(bundle, setting):
    # The tangent model's radius kept for the corrected one let steps go where the corrected
    # model was never tested (review 38: 10.6 against 11.9 W+ units).
    w_source, w_anchor, basis, directions, _ = setting
    measured = build_anchor(bundle, w_anchor, directions, w_source, basis[0], 0.01, measurements=2)
    assert measured.radius == pytest.approx(
        validity_radius(bundle, measured.model, w_anchor, w_source, basis[0], 0.01, 0.5))
