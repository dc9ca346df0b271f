"""Per-keyframe refinement: a few steps that lower L_transfer after the predictor.

Warm start. Each keyframe starts from the previous keyframe's w_m moved by the predictor's
change since then, w_start = w_m(t-1) + (P(t) - P(t-1)): the predictor answers a change of
music at once, and the correction the refinement has accumulated over earlier keyframes
carries over instead of being redone. While the music holds, P barely moves and the
steps keep descending from where the last keyframe stopped, so a few steps per keyframe
add up to many. On the fast path a correction is carried only while keyframes step on the
model it was made on; the next model starts again from P.

Fast path (`LocalRefiner`). The steps run on a local model of phi(w) = f_I(G(w)) (see
live.transfer.subspace): Gauss-Newton in k dimensions, no pass through G or E_I, within
the model's radius of its anchor. A model holds for a keyframe when the predictor's
output lies within that radius and the keyframe's music is near the music the model was
built for; otherwise a new one is asked for there, and until one that holds is in place
the keyframe is the predictor's output. Live, a worker thread builds it
(BackgroundAnchors; the first when the first keyframe asks, for its music) and it arrives
seconds later; the worker rests between builds (build_duty), so the keyframes get the CPU
and interpreter time it leaves. Offline it is built at once (InlineAnchors), so renders
are deterministic. U spans the gradients of L_S for a basis of music embeddings
(live.transfer.directions), fitted once per bundle on synthetic cue-rule music, which
every machine can make.

Reference path (`ReferenceRefiner`). The same warm start, then plain gradient steps
through the full G and E_I with a backtracking line search: what the fast path stands in
for, used to check it and to measure what it saves.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from live.bundle import Bundle
from live.transfer.anchors import AnchorRequest, BackgroundAnchors, Builder, InlineAnchors
from live.transfer.arrays import array_module, from_torch, on_device, to_torch
from live.transfer.directions import music_basis, sensitive_directions
from live.transfer.embed import SAMPLES_PER_PASS, true_transfer_loss
from live.transfer.linearize import Anchor, build_anchor
from live.transfer.music import encode_clips, synthetic_clips
from live.transfer.subspace import minimize, subspace_problem

BACKTRACKS = 4  # halvings of a reference step before giving it up
# A model holds for music whose f_M is at least this close (cosine) to the music it was
# built for. At 0.95 the simulated shows (RefineSession._anchor_for) never scored worse than
# the predictor (4 presets); at 0.98 no keyframe stepped.
MUSIC_HOLDS = 0.95
# Measurements that correct a still's local model (`transfer`; linearize.measured_model). On
# the benchmark's 50 pairs they raise k = 3 from 81.2 to 83.0 % of the optimization's gain, but
# on its music stream they raise the refined latent's jitter while the music holds by a quarter
# (0.155 to 0.192 W+ units a keyframe), slow its answer to a change (9 to 10 keyframes) and make
# each model's build a quarter longer: shows and renders build models without them.
STILL_MEASUREMENTS = 5


@dataclass(frozen=True)
class RefineConfig:
    music_components: int = 16   # principal directions of f_M (plus their mean) whose gradients span U
    music_clips: int = 48        # synthetic clips the music basis is fitted on
    acceptance: float = 0.5      # share of its predicted decrease of L_transfer a model's step must deliver
    measurements: int = 0        # forward passes correcting a model where its steps go (STILL_MEASUREMENTS)
    chunk: int = SAMPLES_PER_PASS  # samples per pass through G and E_I in a build: bounds its memory
    background: bool = True      # build local models on a worker thread (live) or at once (offline)
    build_duty: float = 0.5      # the worker's share of wall time at most (it rests between builds)


class WarmStart:
    """w_start = w_m(t-1) + (P(t) - P(t-1)); the first keyframe starts at P(t).

    Works on torch tensors and on arrays alike (only + and -).
    """

    def __init__(self) -> None:
        self._previous: tuple[Any, Any] | None = None  # (predicted, refined) of the last keyframe

    def start(self, predicted: Any) -> Any:
        if self._previous is None:
            return predicted
        last_predicted, last_refined = self._previous
        return last_refined + (predicted - last_predicted)

    def record(self, predicted: Any, refined: Any) -> None:
        self._previous = (predicted, refined)

    def reset(self) -> None:
        self._previous = None


def synthetic_music_basis(bundle: Bundle, config: RefineConfig) -> torch.Tensor:
    """[1 + music_components, D]: the mean and principal directions of f_M over synthetic music."""
    bank = encode_clips(bundle, synthetic_clips(config.music_clips, held_out=False), windows_per_clip=1,
                        progress=False)
    return music_basis(bank.features.to(bundle.device), config.music_components)


class RefineSession:
    """Refinement for one source on one bundle (KeyframeMaker holds one per preset)."""

    def __init__(self, bundle: Bundle, w_source: torch.Tensor, basis: Callable[[], torch.Tensor],
                 config: RefineConfig, on_error: Callable[[str], None] | None = None,
                 anchors: Callable[[Builder], Any] | None = None):
        """`basis` gives the music basis when the first model is built: on the worker, with
        `config.background`, since fitting it takes seconds the keyframes must not wait.
        `anchors` makes the source of models from the builder (a measurement's replayed
        worker, DelayedAnchors); by default it is `config.background`'s."""
        self.shape = w_source.shape
        build = partial(_anchor_at, bundle, w_source=w_source.detach().clone(), basis=basis, config=config)
        # The first model is asked for where the first keyframe starts, for its music: a model
        # built at the source before any music (for the basis' mean music, L_S alone) misled
        # the keyframes that stepped on it (`bench transfer`, 50 pairs: 47 % of the
        # optimization's gain kept after 3 steps, 71 % by the predictor alone). Until it is
        # built, keyframes show the predictor's output.
        if anchors is not None:
            self.anchors = anchors(build)
        elif config.background:
            self.anchors = BackgroundAnchors(build, duty=config.build_duty, on_error=on_error)
        else:
            self.anchors = InlineAnchors(build)
        with on_device(w_source):
            self._source = from_torch(w_source.reshape(-1)).copy()
        self._warm = WarmStart()
        self._stepped_on: Anchor | None = None  # the model the carried correction was made on

    def refine(self, w: torch.Tensor, f_m: torch.Tensor, lam: float, steps: int) -> torch.Tensor:
        """The predictor's w_m [num_ws, w_dim] for music f_m [D] -> the refined w_m."""
        assert w.shape == self.shape and f_m.ndim == 1, (w.shape, f_m.shape)
        with on_device(w):
            return self._refine(w, f_m, lam, steps)

    def _refine(self, w: torch.Tensor, f_m: torch.Tensor, lam: float, steps: int) -> torch.Tensor:
        predicted = from_torch(w.reshape(-1)).copy()
        anchor = self._anchor_for(predicted, f_m, lam)
        if anchor is None or anchor is not self._stepped_on:
            # A correction is carried only to keyframes on the model it was made on. Steps
            # move within a model's directions, so a correction carried to the next model
            # keeps what lies outside them, and it added up from model to model: on a 20 s
            # show with each model built at once (lambda 0.02, 2 steps), 0.113 against the
            # predictor's 0.105; carried this way, 0.102 (MODEL_CARD.md, session 21).
            self._warm.reset()
        self._stepped_on = anchor
        start = self._warm.start(predicted)
        # Without a model that holds for this keyframe, the keyframe is the predictor's output.
        refined = predicted if anchor is None else self._descend(anchor, start, from_torch(f_m), lam, steps)
        self._warm.record(predicted, refined)
        return to_torch(refined, w.device).reshape(self.shape)

    def reset(self) -> None:
        """Forget the previous keyframe (a cut): the next one starts at the predictor's w_m."""
        self._warm.reset()

    def close(self, wait: bool = True) -> None:
        self.anchors.close(wait)

    def _anchor_for(self, predicted: Any, f_m: torch.Tensor, lam: float) -> Anchor | None:
        """The current model if it holds for this keyframe (`_holds`); otherwise one is asked
        for at the predictor's output, for this music, and None (no steps) until a model
        that holds is in place.

        Live, a model arrives seconds after it is asked for, while the music and the
        predictor move on, and a model holds only near where and for the music it was
        measured. Simulated 60 s shows (four held-out 4Q clips, lambda 0.02, 2 steps,
        models in place 10 s after asked for; MODEL_CARD.md, session 20) scored worse than
        the predictor alone on 5 of 7 presets when keyframes stepped on the last model from
        wherever they started, and on 5 of 7 when they stepped only within its radius; with
        the music test too, on none of the four run (within 0.0001).
        """
        anchor = self.anchors.current()
        if not _holds(anchor, predicted, f_m):
            self.anchors.request(AnchorRequest(to_torch(predicted, f_m.device).reshape(self.shape), f_m, lam))
            anchor = self.anchors.current()
        return anchor if _holds(anchor, predicted, f_m) else None

    def _descend(self, anchor: Anchor, start: Any, f_m: Any, lam: float, steps: int) -> Any:
        model = anchor.model
        xp = array_module(start)
        problem, a0 = subspace_problem(model, start, self._source, f_m, lam)
        # Steps stay in the ball of the radius around the anchor, not around the start (a run
        # of keyframes on one model would walk it, a radius each, far from where it was
        # measured to hold); in U's coordinates its radius leaves room for the start's part
        # outside U, which steps do not change.
        away = start - model.anchor
        outside_sq = max(float(away @ away) - float(a0 @ a0), 0.0)
        radius = max(anchor.radius ** 2 - outside_sq, 0.0) ** 0.5
        a = minimize(problem, a0, steps, radius, center=xp.zeros_like(a0)) if radius > 0 else a0
        return start + (model.basis @ (a - a0).astype(model.basis.dtype))


def _holds(anchor: Anchor | None, w: Any, f_m: torch.Tensor) -> bool:
    """`anchor`'s model is trusted for a keyframe at w with music f_m: w lies within its
    radius of the anchor, and f_m is near the music the radius was tested for."""
    return (anchor is not None and float(array_module(w).linalg.norm(w - anchor.model.anchor)) <= anchor.radius
            and float(torch.nn.functional.cosine_similarity(f_m, anchor.music.to(f_m), dim=0)) >= MUSIC_HOLDS)


def _anchor_at(bundle: Bundle, request: AnchorRequest, check: Callable[[], None], w_source: torch.Tensor,
               basis: Callable[[], torch.Tensor], config: RefineConfig) -> Anchor:
    directions = sensitive_directions(bundle, request.w, w_source, basis(), config.chunk, check)
    with on_device(request.w):  # the worker's own thread
        return build_anchor(bundle, request.w, directions, w_source, request.music, request.lam, config.acceptance,
                            config.measurements, config.chunk, check)


class LocalRefiner:
    """The fast path, as live.engine.keyframes.Refiner: one session per preset.

    The music basis is fitted once per bundle, and kept while the bundle lives (a show
    switching back to a bundle it still holds does not fit it again). Opening a session
    closes the previous one, whose worker would otherwise keep building models for a
    preset no longer shown; it does not wait for a build under way (seconds of keyframes
    lost at every switch), and `close` waits for all of them.
    """

    def __init__(self, config: RefineConfig = RefineConfig(), on_error: Callable[[str], None] | None = None):
        self.config, self.on_error = config, on_error  # on_error hears failed background builds
        self._bases: weakref.WeakKeyDictionary[Bundle, torch.Tensor] = weakref.WeakKeyDictionary()
        # One lock a bundle, so a closing session's worker still fitting its bundle's basis
        # holds up no other bundle's; `_lock` guards the two tables.
        self._fitting: weakref.WeakKeyDictionary[Bundle, threading.Lock] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._session: RefineSession | None = None
        self._finishing: list[RefineSession] = []  # closed, their last build still running
        self._closed = False

    def open(self, bundle: Bundle, w_source: torch.Tensor) -> RefineSession:
        if self._closed:  # a keyframe still under way at the end of the show: no new worker now
            raise RuntimeError("the refiner is closed")
        if self._session is not None:  # first: its build stops while the basis is fitted
            self._session.close(wait=False)
            self._finishing.append(self._session)
            self._session = None
        self._finishing = [s for s in self._finishing if s.anchors.running]
        self._session = RefineSession(bundle, w_source, partial(self.basis, bundle), self.config, self.on_error)
        return self._session

    def basis(self, bundle: Bundle) -> torch.Tensor:
        """The bundle's music basis, fitted on first use (seconds: E_M over synthetic music)."""
        with self._lock:
            fitting = self._fitting.setdefault(bundle, threading.Lock())
        with fitting:
            with self._lock:
                basis = self._bases.get(bundle)
            if basis is None:
                basis = synthetic_music_basis(bundle, self.config)
                with self._lock:
                    self._bases[bundle] = basis
            return basis

    def close(self) -> None:
        self._closed = True
        sessions = self._finishing + ([self._session] if self._session is not None else [])
        for session in sessions:
            session.close()
        self._session, self._finishing = None, []


def reference_loss_and_gradient(bundle: Bundle, w: torch.Tensor, w_source: torch.Tensor, f_m: torch.Tensor,
                                lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """L_transfer and its gradient in W+ at w [num_ws, w_dim], through the full G and E_I."""
    with torch.inference_mode(False), torch.enable_grad():
        w = w.detach().clone().requires_grad_(True)
        loss = true_transfer_loss(bundle, w[None], w_source.clone()[None], f_m.clone()[None], lam).total[0]
        (grad,) = torch.autograd.grad(loss, w)
    return loss.detach(), grad


class ReferenceSession:
    def __init__(self, bundle: Bundle, w_source: torch.Tensor, step_length: float):
        self.bundle, self.w_source, self.step_length = bundle, w_source.detach().clone(), step_length
        self._warm = WarmStart()

    def refine(self, w: torch.Tensor, f_m: torch.Tensor, lam: float, steps: int) -> torch.Tensor:
        predicted = w.detach().clone()
        refined = self._warm.start(predicted)
        for _ in range(steps):
            refined = self._step(refined, f_m, lam)
        self._warm.record(predicted, refined)
        return refined

    def reset(self) -> None:
        self._warm.reset()

    def close(self, wait: bool = True) -> None:
        """Nothing runs in the background."""

    def _step(self, w: torch.Tensor, f_m: torch.Tensor, lam: float) -> torch.Tensor:
        """A gradient step `step_length` long, halved until L_transfer decreases."""
        loss, grad = reference_loss_and_gradient(self.bundle, w, self.w_source, f_m, lam)
        step = -self.step_length * grad / grad.norm().clamp_min(1e-30)
        for _ in range(BACKTRACKS):
            candidate = w + step
            with torch.no_grad():
                trial = true_transfer_loss(self.bundle, candidate[None], self.w_source[None], f_m[None], lam).total[0]
            if trial < loss:
                return candidate
            step = step / 2
        return w


class ReferenceRefiner:
    """Full-gradient refinement, as live.engine.keyframes.Refiner."""

    def __init__(self, step_length: float = 0.5):
        self.step_length = step_length  # first trial length of each step, in W+ units

    def open(self, bundle: Bundle, w_source: torch.Tensor) -> ReferenceSession:
        return ReferenceSession(bundle, w_source, self.step_length)

    def close(self) -> None:
        """Nothing runs in the background."""
