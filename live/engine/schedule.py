"""Which keyframe the screen heads to, and when: one fade per beat.

Inference makes keyframes faster than the music cuts. The screen takes the newest one
only when the running fade has landed, and plans the next fade to land on a beat; so the
picture arrives somewhere on every beat and moves toward the music in between. A hard
cut (0 beats) happens on the beat, and a fade shorter than a beat ends on it. With
`beat_sync` off a fade also runs whole before the next starts, but from the keyframe's
arrival and for its length in beats, landing wherever that is (a cut, at once). With no
tempo yet a beat lasts NO_TEMPO_BEAT_S, so the length still counts (a cut holds a beat).

Every fade runs whole: restarted by each keyframe, at 20 a second, a fade eased from zero
slope moved the picture less than the 8-bit plate it is snapshot into keeps, and the picture
never left its first keyframe (found by review).
"""
from __future__ import annotations

from dataclasses import dataclass

from live.render.crossfade import NO_TEMPO_BEAT_S, SHORTEST_FADE_S, Crossfade, CrossfadeTiming, plan_crossfade


@dataclass(frozen=True)
class BeatGrid:
    next_beat: float | None   # predicted time of the next beat, None without a tempo
    period: float | None      # seconds per beat, None without a tempo
    ahead: tuple[float, ...] = ()  # the beats after next_beat when known (a beat map's); then the period's
    places: tuple[int, ...] = ()   # of next_beat, then of ahead's: places in their bars (1 = downbeat, 0 = not known)

    @property
    def has_tempo(self) -> bool:
        return self.next_beat is not None and bool(self.period)

    def from_beat_after(self) -> BeatGrid:
        """The grid from the beat after the next one."""
        if self.ahead:
            return BeatGrid(self.ahead[0], self.period, self.ahead[1:], self.places[1:])
        return BeatGrid(self.next_beat + self.period, self.period)


class FadeScheduler:
    def __init__(self, fade_in: bool = True):
        self.fade = Crossfade.hold()
        self.shown_version = -1
        self.fade_in = fade_in  # the first keyframe fades in from black; else it is there at once
        # A synced cut or short fade waits for its moment before the beat, then takes the
        # newest keyframe: (beat, period), or None. The moment is not kept: a preset switch
        # or a knob may change the fade's length while it waits, and the fade must still
        # land on the beat (a cut chosen during a half-beat fade's wait cut half a beat early).
        self._waiting: tuple[float, float] | None = None
        # A cut waiting for a tempo not found yet holds its picture as a fade would last
        # (NO_TEMPO_BEAT_S): a strobe preset cut at the keyframe rate, up to 20 a second,
        # in a song's first seconds.
        self._cut_holds_until = float("-inf")
        self._interrupted = False  # the next keyframe need not wait for the fade under way
        # The beat the last synced change landed on. The beat clock re-predicts a beat it
        # has just passed a few ms later (10.482 s read 10.501 s once the tracker's beat came):
        # taken as the next beat, a cut or a half-beat fade landed on it twice (found by review).
        self._served = float("-inf")

    def _beats(self, grid: BeatGrid) -> BeatGrid:
        """`grid` with a next beat within half a period of the beat served already moved on
        to the beat after it."""
        if grid.has_tempo and abs(grid.next_beat - self._served) < grid.period / 2:
            return grid.from_beat_after()
        return grid

    def due(self, t: float, newest_version: int, crossfade_beats: float, beat_sync: bool,
            tempo: bool = False) -> bool:
        """Should the keyframe `newest_version` start a fade at time t? (`start` may still wait.)
        `tempo`: the beat grid has one now, so a cut holding for want of it waits for the beat
        instead (the first tracked beat fell inside the hold: a strobe went a second uncut)."""
        if newest_version <= self.shown_version:
            return False
        if self._waiting is not None:
            return not beat_sync or not self._before_moment(t, crossfade_beats)
        if self._interrupted:
            return True
        return self.fade.done(t) and (t >= self._cut_holds_until or not beat_sync or tempo)

    def interrupt(self) -> None:
        """Let the next keyframe start its fade (or its wait for the beat) without waiting for
        the fade under way, which goes on drawing until then."""
        self._interrupted = True
        self._cut_holds_until = float("-inf")
        self._served = float("-inf")  # the fade under way will not land: its beat is free

    def cut(self, version: int) -> None:
        """Keyframe `version` is on screen whole from now: the fade under way, or a wait for the
        beat, is over. The next keyframe's fade starts as after any landed one."""
        self.fade = Crossfade.hold()
        self.shown_version = version
        self._waiting = None
        self._interrupted = False
        self._cut_holds_until = float("-inf")

    def waits(self, t: float, grid: BeatGrid, crossfade_beats: float, beat_sync: bool) -> bool:
        """Is a fade due now to wait for its moment before the beat (a cut, or a fade
        shorter than a beat)? The wait starts with the first call; `due` ends it. A wait
        whose beat went by half a beat ago without the fade (the screen froze, or stalled)
        starts over toward the next beat: its fade would land off the beat."""
        on_beat = beat_sync and grid.has_tempo
        if not (crossfade_beats < 1 and on_beat) or (self.shown_version < 0 and not self.fade_in):
            return False
        if self._waiting is None or t > self._waiting[0] + self._waiting[1] / 2:
            grid = self._beats(grid)
            self._waiting = (grid.next_beat, grid.period)
        return self._before_moment(t, crossfade_beats)

    def _before_moment(self, t: float, crossfade_beats: float) -> bool:
        beat, period = self._waiting
        return t < beat - crossfade_beats * period

    def start(self, t: float, version: int, grid: BeatGrid, crossfade_beats: float,
              beat_sync: bool = True) -> Crossfade | None:
        """Plan the fade to keyframe `version`, from now; 0 beats is a hard cut. None: a cut
        or a fade shorter than a beat waits to land on the beat, and takes the keyframe
        newest then (asked again once `due`), not the one newest now."""
        on_beat = beat_sync and grid.has_tempo
        if self.shown_version < 0 and not self.fade_in:
            self.fade = Crossfade.hold()
            if crossfade_beats <= 0 and beat_sync and not on_beat:  # a video's first picture holds as a cut does
                self._cut_holds_until = t + NO_TEMPO_BEAT_S
        elif crossfade_beats < 1 and on_beat:
            if self.waits(t, grid, crossfade_beats, beat_sync):
                return None
            beat = self._served = self._waiting[0]
            self.fade = Crossfade(t, max(beat, t + 1e-3)) if crossfade_beats > 0 else Crossfade.hold()
        elif crossfade_beats <= 0:
            self.fade = Crossfade.hold()
            if beat_sync:  # and no tempo yet
                self._cut_holds_until = t + NO_TEMPO_BEAT_S
        elif on_beat:
            timing = CrossfadeTiming(beats=max(crossfade_beats, 1.0))
            grid = self._beats(grid)
            self.fade = plan_crossfade(t, grid.next_beat, grid.period, timing, grid.ahead, grid.places)
            self._served = self.fade.end
        else:  # from now, its length in beats: not synced, or no tempo yet
            beat = grid.period or NO_TEMPO_BEAT_S
            self.fade = Crossfade(t, t + max(crossfade_beats * beat, 1e-3 if not beat_sync else SHORTEST_FADE_S))
        self.shown_version = version
        self._waiting = None
        self._interrupted = False
        return self.fade

    def mix(self, t: float) -> float:
        return self.fade.mix(t)
