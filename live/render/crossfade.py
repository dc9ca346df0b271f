"""When the picture crossfades and how strongly it pulses: pure functions of time.

Times are seconds on whichever clock the caller runs (wall clock live, the simulated
clock offline); nothing here reads a clock.

A crossfade starts when a keyframe arrives and by default ends on the next beat
(`CrossfadeTiming.beats = N` ends on the N-th beat from the arrival; a fractional N on
the nearest whole one, so that fades land on beats). A fade is never
shorter than `min_seconds`: when the beat is too close it moves on to a later beat,
so a late keyframe does not pop in.

Easing lives here, not in the shader: `Crossfade.mix` is a smoothstep of the linear
progress, and the shader blends linearly with the value it is given. So the value a
test checks is the one on screen, and the renderer's snapshot (below) uses it as is.

A keyframe arriving mid-fade: the renderer renders the blend the screen showed last into
its "previous" plate and puts the new keyframe in "next"; the caller plans a new fade,
which starts at mix 0, i.e. on that snapshot. The picture at the arrival is unchanged;
only where it heads changes. Two plates (and a spare to render the snapshot into)
suffice however often keyframes arrive, and keyframes that arrive between two drawn
frames are skipped without ever being shown.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace


def smoothstep(x: float) -> float:
    """3x^2 - 2x^3 on [0, 1]: zero slope at both ends, so fades start and land softly."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


SHORTEST_FADE_S = 0.25  # a fade is never shorter: a closer beat gives way to a later one
NO_TEMPO_BEAT_S = 0.5   # a beat's length while there is no tempo yet (120 bpm)


@dataclass(frozen=True)
class CrossfadeTiming:
    beats: float = 1.0             # the fade ends on the N-th beat after the arrival; 1 = next beat
    min_seconds: float = SHORTEST_FADE_S

    def __post_init__(self) -> None:
        if not self.beats >= 1.0:
            raise ValueError(f"crossfade beats must be >= 1 (1 ends on the next beat), got {self.beats}")
        if not self.min_seconds > 0.0:
            raise ValueError("crossfade min_seconds must be > 0")


@dataclass(frozen=True)
class Crossfade:
    """A fade from the previous keyframe (mix 0) to the next (mix 1) between two times."""

    start: float
    end: float

    @classmethod
    def hold(cls) -> Crossfade:
        """No fade in progress: the next keyframe shows fully."""
        return cls(-math.inf, -math.inf)

    def progress(self, t: float) -> float:
        """Linear progress in [0, 1]."""
        if t >= self.end:
            return 1.0
        if t <= self.start:
            return 0.0
        return (t - self.start) / (self.end - self.start)

    def mix(self, t: float) -> float:
        """The eased mix in [0, 1] the renderer draws with."""
        return smoothstep(self.progress(t))

    def done(self, t: float) -> bool:
        return t >= self.end


def plan_crossfade(arrival: float, next_beat: float, beat_period: float, timing: CrossfadeTiming,
                   ahead: Sequence[float] = (), places: Sequence[int] = ()) -> Crossfade:
    """The fade for a keyframe arriving at `arrival`, given the beat clock's prediction.

    `next_beat` may lie in the past (a beat clock updated late): the beat grid it
    defines is used from the first beat that leaves at least `min_seconds` of fade.
    `ahead`: the beats after `next_beat`, in order, when they are known (a beat map's);
    past them the grid goes on at `beat_period`. `places`: the places in their bars (1 =
    downbeat, 0 = not known) of `next_beat` and then of `ahead`'s beats, when known
    (`bar_landing`).
    """
    assert beat_period > 0.0, beat_period
    beats = (next_beat, *ahead)
    earliest = arrival + timing.min_seconds
    first = bisect.bisect_left(beats, earliest)
    # A fractional count lands between beats, and the next fade, starting there, is cut to
    # the whole beats before its own landing (every position of a fade knob but its ends).
    n = math.floor(timing.beats - 0.5)
    # The first fade to a bar lasts at least half its beats (a 4-beat fade asked 0.3 s before a
    # downbeat was 0.3 s long); one from a landing, all of them.
    half = bisect.bisect_left(beats, max(earliest, arrival + (n + 1) / 2 * beat_period))
    landing = bar_landing(places, n + 1, half)
    if landing is not None:
        return Crossfade(arrival, beats[landing])
    n = max(n, first)
    if n < len(beats):
        return Crossfade(arrival, beats[n])
    end = beats[-1] + (n - len(beats) + 1) * beat_period
    if end < earliest:
        end += math.ceil((earliest - end) / beat_period) * beat_period
    return Crossfade(arrival, end)


def bar_landing(places: Sequence[int], span: int, first: int) -> int | None:
    """Where a fade of `span` beats lands by the bar: the index into `places` (the next beat's
    and those after it) of the beat at a place that such fades, one after another, keep to:
    beats 1 and 3 for 2-beat fades, the downbeat for a bar's or bars', from index `first` on.
    From a landing the next fade is `span` beats long (of several bars, it lands on the last
    of them: no sooner than `span` less a bar); the first, after a switch, a cut or a freeze,
    may be up to a bar longer, to reach the bar. None where a fade's span and the bar do not
    divide one another (3 beats in 4), or no such place is known within reach (a beat file
    without places there: the fade counts beats)."""
    bar = max(places, default=0)
    if span < 2 or bar < 2 or (bar % span and span % bar):
        return None
    every = min(span, bar)
    start = max(first, span - every)
    for i in range(start, min(start + every, len(places))):
        if places[i] and (places[i] - 1) % every == 0:
            return i
    return None


@dataclass(frozen=True)
class Pulse:
    """An envelope that jumps on a hit (a beat, an onset) and decays exponentially.

    `decay_seconds` is the time constant: the pulse falls to 1/e (37 %) of its peak after
    that long, to 5 % after three times that. Call `hit` when the event has happened.
    """

    decay_seconds: float
    hit_time: float = -math.inf
    peak: float = 0.0

    def __post_init__(self) -> None:
        if not self.decay_seconds > 0.0:
            raise ValueError(f"pulse decay must be > 0 s, got {self.decay_seconds}")

    def value(self, t: float) -> float:
        if self.peak == 0.0:
            return 0.0
        return self.peak * math.exp(-max(t - self.hit_time, 0.0) / self.decay_seconds)

    def hit(self, t: float, strength: float = 1.0) -> Pulse:
        """The envelope after a hit of `strength` in [0, 1] at time t.

        A weak hit while a strong pulse is still high does not pull it down.
        """
        strength = min(max(strength, 0.0), 1.0)
        return replace(self, hit_time=t, peak=max(strength, self.value(t)))
