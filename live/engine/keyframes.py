"""One keyframe from one mel window: f_M and VA, the transfer, then G. No threads here.

The live thread and the offline clock both call `KeyframeMaker.make`; it holds the
preset's source (w_o and its image's embedding) and the transfer's warm state.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from live.bundle import Bundle
from live.corpus.color import mean_lightness
from live.engine.synthesizer import Synthesizer
from live.nets.predictor import SourcePredictor
from live.nets.stylegan2 import to_uint8
from live.settings import Settings
from live.transfer.floor import longest_step

# Pictures drawn at most, beyond one, to keep a keyframe above the lightness floor: a
# keyframe that needs them costs up to this many more passes through G.
FLOOR_TRIES = 3
FLOOR_MARGIN = 2.0  # L*: how much darker than a source darker than the floor its keyframes may get
FLOOR_TOLERANCE = 3.0  # L*: a step this little above the floor is taken
# A step kept short of the whole move is tried first by the keyframes after it, and taken when it
# lands near the floor; this long after the whole move was last drawn, it is drawn again as well:
# along some moves a short step darkens while the whole move is bright, and the picture stayed at
# its source through music that lit it (review 75).
FLOOR_RECHECK_S = 0.5


class RefineSession(Protocol):
    """Refinement for one source: warm-started from its own previous keyframe."""

    def refine(self, w: torch.Tensor, f_m: torch.Tensor, lam: float, steps: int) -> torch.Tensor: ...

    def reset(self) -> None:
        """Forget the previous keyframe: the next one starts at the predictor's w_m."""

    def close(self, wait: bool = True) -> None:
        """Stop what runs in the background for it; `wait` for it to stop."""


class Refiner(Protocol):
    """Per-keyframe refinement of w_m toward lower L_transfer (live.transfer.refine).

    `open` is called with a preset's source latent at the first keyframe that refines; the
    session keeps the warm state between keyframes (its first local model is built where the
    first keyframe's predictor output lands, for that keyframe's music).
    """

    def open(self, bundle: Bundle, w_source: torch.Tensor) -> RefineSession: ...

    def close(self) -> None:
        """Stop any background work of the open session."""


@dataclass(frozen=True)
class Keyframe:
    version: int
    image: np.ndarray          # [R, R, 3] uint8
    w: torch.Tensor            # [num_ws, w_dim]
    valence: float
    arousal: float
    capture_time: float        # engine-clock time of the newest audio this keyframe heard
    ready_time: float          # engine-clock time it was finished
    compute_seconds: float
    audio_time: float          # that audio's time in the stream (seconds since it started, as beats are placed)
    preset: str = ""           # the preset whose show made it (a live show's, for what is on screen)


class KeyframeMaker:
    def __init__(self, bundle: Bundle, w_source: torch.Tensor, refiner: Refiner | None = None,
                 synthesizer: Synthesizer | None = None):
        G = bundle.G
        assert w_source.shape == (G.num_ws, G.w_dim), (w_source.shape, G.num_ws, G.w_dim)
        assert synthesizer is None or synthesizer.G is G, "the synthesizer must draw the bundle's generator"
        self.bundle, self.refiner = bundle, refiner
        self.image = synthesizer or Synthesizer(G)
        # E_M runs in the precision of the synthesizer's options, from the first keyframe
        # on (a switch when the compiled path arrives would shift f_M mid-show): bf16
        # options mean hardware that runs bf16 natively. There the bundle's bf16 copy of E_M
        # takes 9.5 ms where autocast, which casts the weights at every call, took 12.2 and
        # fp32 14.6 (1 thread, Zen 4; f_M's cosine to fp32's: 0.99993). Reference options
        # (offline renders unless --synthesis fast) keep fp32.
        fast = self.image.options
        self._music_dtype = torch.bfloat16 if fast is not None and fast.dtype == torch.bfloat16 else None
        self.w_source = w_source.to(bundle.device)
        with torch.inference_mode():
            self.source_image = G.synthesis(self.w_source[None], noise_mode="const")
            self.f_source = bundle.image_features(self.source_image)
        self.predict = SourcePredictor(bundle.predictor, self.w_source[None], self.f_source)
        self.source_uint8 = to_uint8(self.source_image)[0].cpu().numpy()
        self.source_lightness = mean_lightness(self.source_uint8)
        self._floor_step = 1.0  # the fraction of the move the last keyframe kept
        self._whole_tried_at = -math.inf  # capture time of the last keyframe free to try its whole move
        # Opened on first use: a preset with refinement off never pays for its local models.
        self.refinement: RefineSession | None = None

    @torch.inference_mode()
    def latent(self, log_mel: torch.Tensor, settings: Settings) -> tuple[torch.Tensor, torch.Tensor]:
        """The music's w_m [num_ws, w_dim] and VA [2] for a log-mel window [1, n_mels, frames]."""
        f_m, va = self.bundle.music_features(log_mel.to(self.bundle.device), self._music_dtype)
        # Checked before the refinement's warm start keeps it: every later keyframe would start from it.
        if not torch.isfinite(f_m).all():
            raise ValueError("the music's features are not finite; the picture stays")
        w = self.predict(f_m, settings.lambda_)[0]
        if not torch.isfinite(w).all():  # drawn, a NaN latent is a black picture that says nothing
            raise ValueError("the predictor's latent is not finite")
        if self.refiner is not None and settings.refine_steps > 0:
            if self.refinement is None:
                self.refinement = self.refiner.open(self.bundle, self.w_source)
            w = self.refinement.refine(w, f_m[0], settings.lambda_, settings.refine_steps)
            if not torch.isfinite(w).all():
                self.refinement.reset()
                raise ValueError("the refined latent is not finite; the picture stays and the refinement starts anew")
        else:
            self.stop_refining()
        # intensity scales the whole move away from the source, predictor and refinement alike.
        w = self.w_source + settings.intensity * (w - self.w_source)
        return w, va[0]

    def stop_refining(self) -> None:
        """Refinement turned off, or the preset no longer shown: the worker stops at its next pass,
        where it would go on building a model no one asks for (a soak show's took a core for 20-30 s)."""
        if self.refinement is not None:
            self.refinement.close(wait=False)
            self.refinement = None

    def visible(self, w: torch.Tensor, min_lightness: float,
                at: float | None = None) -> tuple[torch.Tensor, np.ndarray]:
        """w_m, shortened toward the source where its picture would be darker than
        `min_lightness` (or, for a source darker than that, a little darker than the source),
        and its picture. Within 1 + FLOOR_TRIES pictures the shortened move may stay a few
        L* below the floor (longest_step). `at`: the keyframe's capture time, for
        FLOOR_RECHECK_S (None: the last keyframe's step is trusted)."""
        # Below the source, not at it: a darker move then shortens gradually, not straight to the source.
        floor = min(min_lightness, self.source_lightness - FLOOR_MARGIN)
        if floor <= 0:  # no picture is darker than L* 0
            return w, self.image(w)

        def along(s: float) -> tuple[float, tuple[torch.Tensor, np.ndarray]]:
            w_s = w if s == 1.0 else self.w_source + s * (w - self.w_source)
            image_s = self.image(w_s)
            return mean_lightness(image_s), (w_s, image_s)

        # Music that holds still asks for about the same step again: it is tried first.
        recheck = at is not None and not 0 <= at - self._whole_tried_at < FLOOR_RECHECK_S
        if at is not None and (recheck or self._floor_step == 1.0):
            self._whole_tried_at = at
        self._floor_step, found = longest_step(along, self.source_lightness, floor, 1 + FLOOR_TRIES,
                                               FLOOR_TOLERANCE, first=self._floor_step, extrapolate=not recheck)
        return found

    def make(self, log_mel: torch.Tensor, settings: Settings, capture_time: float,
             clock: Callable[[], float], version: int = 0, preset: str = "",
             audio_time: float | None = None) -> Keyframe:
        """`clock` is the engine's (wall or simulated): it stamps the keyframe ready. `version` and
        `preset` are the engine's: its versions count on across the shows (makers) it switches between.
        `audio_time`: the window's end in the audio stream (default: `capture_time`, a render's clock)."""
        start = time.perf_counter()
        w, va = self.latent(log_mel, settings)
        w, image = self.visible(w, settings.min_lightness, at=capture_time)
        return Keyframe(version=version, image=image, w=w, valence=float(va[0]), arousal=float(va[1]),
                        capture_time=capture_time, ready_time=clock(), compute_seconds=time.perf_counter() - start,
                        audio_time=capture_time if audio_time is None else audio_time, preset=preset)
