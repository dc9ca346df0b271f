"""Which keyframe the screen heads to, and when: one fade per beat.

Inference makes keyframes faster than the music cuts. The screen takes the newest one
only when the running fade has landed, and plans the next fade to land on a beat; so the
picture arrives somewhere on every beat and moves toward the music in between. With
`beat_sync` off, or with no tempo yet, a newer keyframe starts its fade at once.
"""
from __future__ import annotations

from dataclasses import dataclass

from live.render.crossfade import Crossfade, CrossfadeTiming, plan_crossfade


@dataclass(frozen=True)
class BeatGrid:
    next_beat: float | None   # predicted time of the next beat, None without a tempo
    period: float | None      # seconds per beat, None without a tempo


class FadeScheduler:
    def __init__(self, min_seconds: float = 0.25, fallback_seconds: float = 0.5):
        self.fade = Crossfade.hold()
        self.shown_version = -1
        self.min_seconds, self.fallback_seconds = min_seconds, fallback_seconds

    def due(self, t: float, newest_version: int, beat_sync: bool) -> bool:
        """Should the keyframe `newest_version` start a fade at time t?"""
        if newest_version <= self.shown_version:
            return False
        return self.fade.done(t) or not beat_sync

    def start(self, t: float, version: int, grid: BeatGrid, crossfade_beats: float) -> Crossfade:
        """Plan the fade to keyframe `version` starting now; 0 beats is a hard cut."""
        self.shown_version = version
        if crossfade_beats <= 0:
            self.fade = Crossfade.hold()
        elif crossfade_beats < 1 and grid.period:
            # Shorter than a beat: a fixed fraction of the beat, not aligned to the grid.
            self.fade = Crossfade(t, t + max(crossfade_beats * grid.period, 1e-3))
        else:
            timing = CrossfadeTiming(beats=max(crossfade_beats, 1.0), min_seconds=self.min_seconds,
                                     fallback_seconds=self.fallback_seconds)
            self.fade = plan_crossfade(t, grid.next_beat, grid.period, timing)
        return self.fade

    def mix(self, t: float) -> float:
        return self.fade.mix(t)
