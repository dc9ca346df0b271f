"""What each drawn frame shows, decided the same way live and offline.

Given the frame's time, the latest audio features, the newest keyframe and the settings,
`ScreenDirector.frame` says which keyframe to upload (if any) and the `FrameState` to
draw: the crossfade mix, beat and onset pulses, blackout, the HUD text.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from live.audio.analyzer import AudioFeatures
from live.engine.keyframes import Keyframe
from live.engine.schedule import BeatGrid, FadeScheduler
from live.render.crossfade import Pulse
from live.render.renderer import FrameState
from live.settings import Settings

BEAT_DECAY_S = 0.12    # the beat pulse falls to 37% in this long: a visible kick, gone before the next
ONSET_DECAY_S = 0.08
# How often the HUD's numbers change: as often as a reader follows them. Every frame, the
# text was drawn again and a texture made for each new width (review 56, on a loaded
# machine: 22 fps with the HUD on against 28 with this).
HUD_REFRESH_S = 0.25
# The HUD counts the bar (`bar 12..` on its second beat) where the show knows the bars, until
# this long after the last beat heard: the performer sees which beat the show calls 1.
BAR_SHOWN_S = 2.0
# A cut asked before the show just chosen has a keyframe (a preset button, then cut) waits this
# long for its first; later it would land at a moment no one chose.
CUT_WAIT_S = 1.0


@dataclass(frozen=True)
class FrameDecision:
    state: FrameState
    upload: Keyframe | None          # upload this before drawing
    shows_new: Keyframe | None       # the keyframe that first reaches the screen in this frame


@dataclass
class HudInfo:
    fps: float = 0.0
    keyframes_per_s: float = 0.0
    latency_ms: float | None = None
    preset: str = ""
    synthesis: str = ""       # "fast" or "reference" (while the fast path compiles)
    message: str = ""
    # When these were read, on the engine's clock: a live show's HUD refreshes on it, as its
    # stream time stands still while the input is lost (a render's follows its frames' time).
    read_at: float | None = None


class HeardEvents:
    """Events of one kind (beats, onsets), each handed over once, when the screen's time
    reaches it, with what is known of it (an onset's strength, a beat's place in its bar).
    Played back (--play), audio is analysed as the output takes it, a buffer ahead of the
    speakers: a newer event can be analysed before an older one is heard."""

    def __init__(self, most: int = 16) -> None:
        self._newest = -math.inf
        self._most = most
        self._waiting: deque[tuple[float, float]] = deque()  # (time, what is known of it)

    def add(self, t: float, value: float = 1.0) -> None:
        """The newest event as analysed, with its `value` (an onset's strength, a beat's place);
        the same one again is not a new event. Past `most` waiting, it is dropped: the older ones
        are heard first."""
        if t > self._newest:
            self._newest = t
            if len(self._waiting) < self._most:
                self._waiting.append((t, value))

    def heard(self, t: float) -> list[tuple[float, float]]:
        """The events at or before `t` not handed over yet, oldest first."""
        due = []
        while self._waiting and self._waiting[0][0] <= t:
            due.append(self._waiting.popleft())
        return due


class ScreenDirector:
    def __init__(self, fade_in: bool = True) -> None:
        """`fade_in`: the first picture fades in from black (a show's start); else the
        first frame with a keyframe shows it whole (a video's first frame)."""
        self.fades = FadeScheduler(fade_in=fade_in)
        self.beat = Pulse(BEAT_DECAY_S)
        self.onset = Pulse(ONSET_DECAY_S)
        self._beats, self._onsets = HeardEvents(), HeardEvents()
        self._hud_shown: tuple[float, str, str, str, str] | None = None  # (time, preset, message, bar, text)
        self._beat_heard = (-math.inf, 0)  # the newest beat heard: its time and its place in the bar
        self._cut_asked: float | None = None

    def cut(self, t: float) -> None:
        """Show the newest keyframe whole in the next frame drawn from time `t`: no fade, no wait
        for the beat, even frozen (the freeze then holds the new picture). Before the show just
        chosen has a keyframe, the cut waits CUT_WAIT_S for its first."""
        self._cut_asked = t

    def _cut_pending(self, t: float) -> bool:
        """A cut was asked at most CUT_WAIT_S before `t` and not shown yet; an older one is dropped."""
        if self._cut_asked is not None and not 0 <= t - self._cut_asked <= CUT_WAIT_S:
            self._cut_asked = None
        return self._cut_asked is not None

    def wants(self, t: float, version: int, settings: Settings, features: AudioFeatures | None,
              show_from: int = 0) -> bool:
        """Would keyframe `version` start a fade at time t? A cut or a fade shorter than a beat,
        to land on the beat, starts to wait for its moment now and is wanted then. `show_from`
        as `frame` takes it: the first keyframe of a show just chosen does not wait for the fade
        under way. A cut asked wants the keyframe due now, whatever the fade or the freeze."""
        if self.fades.shown_version < show_from <= version:
            self.fades.interrupt()
        if self._cut_pending(t):
            return version > self.fades.shown_version  # a cut takes the newest, frozen, mid-fade or before the beat
        return self._wants(t, version, settings, self._grid(t, features, settings))

    def _wants(self, t: float, version: int, settings: Settings, grid: BeatGrid) -> bool:
        # Frozen before any picture, there is none to hold: a preset with `freeze = true`
        # rendered a whole video black.
        frozen = settings.freeze and self.fades.shown_version >= 0
        if frozen or not self.fades.due(t, version, settings.crossfade_beats, settings.beat_sync,
                                        tempo=grid.next_beat is not None):
            return False
        return not self.fades.waits(t, grid, settings.crossfade_beats, settings.beat_sync)

    def _grid(self, t: float, features: AudioFeatures | None, settings: Settings) -> BeatGrid:
        # The first picture comes at once: a cut or a short fade synced to a beat would leave the
        # screen black until then (a render's excerpt hears a tempo before its first frame). A show's
        # fade in of a beat or more starts at once too, and lands on the grid's beat where there is
        # one (a file's beats are known from the first: it had landed 0.14 s off one).
        first = self.fades.shown_version < 0
        if features is not None and features.beat_confidence > 0 and (
                not first or self.fades.fade_in and settings.crossfade_beats >= 1):
            known, places = features.known_after(t)
            if known:
                return BeatGrid(known[0], features.period, known[1:], places)
            return BeatGrid(features.next_beat_after(t), features.period)
        return BeatGrid(None, None)

    def frame(self, t: float, features: AudioFeatures | None, newest: Keyframe | None,
              settings: Settings, hud: HudInfo | None = None, show_from: int = 0) -> FrameDecision:
        """`t` is the frame's time in seconds of the audio stream (what is heard as it shows);
        `features` the audio analysis at about `t`. Keyframes from version `show_from` on are
        the show now chosen (a preset switch): an older one is not taken, and the first of them
        does not wait for the fade under way to land (the old preset's 8-beat fade held a switch
        back 2.4 s; a switch to a long-fade preset first faded its whole length toward the old
        show's last keyframe)."""
        made = newest  # the HUD's valence and arousal: the newest made, whichever show made it
        if newest is not None and newest.version < show_from:
            newest = None
        elif newest is not None and self.fades.shown_version < show_from:
            self.fades.interrupt()
        if features is not None:
            # By the events' times, not the snapshot's news: live, frames read the latest of
            # snapshots made faster than they are drawn, and may read one again in a stall.
            self._beats.add(features.newest_beat, features.newest_place)
            self._onsets.add(features.newest_onset, features.onset_strength)
        for time, place in self._beats.heard(t):
            # Where the bars are known, the downbeat's pulse over the other beats' (`accent`), as
            # it is when the beat is heard: a render analyses a frame ahead, where a cue may change it.
            self.beat = self.beat.hit(time, 1.0 - settings.accent if place > 1 else 1.0)
            self._beat_heard = (time, int(place))
        for time, strength in self._onsets.heard(t):
            self.onset = self.onset.hit(time, strength)
        upload = None
        grid = self._grid(t, features, settings)
        if newest is not None and self._cut_pending(t):
            self._cut_asked = None
            if newest.version != self.fades.shown_version:
                upload = newest
            self.fades.cut(newest.version)
        elif newest is not None and self._wants(t, newest.version, settings, grid):
            if self.fades.start(t, newest.version, grid, settings.crossfade_beats, settings.beat_sync) is not None:
                upload = newest
        pulse = 0.0 if settings.freeze else settings.pulse  # a frozen picture holds still
        state = FrameState(mix=self.fades.mix(t), beat_pulse=pulse * self.beat.value(t),
                           onset_pulse=pulse * self.onset.value(t),
                           blackout=1.0 if settings.blackout else 0.0,
                           hud=self._hud(t, features, made, hud) if settings.hud and not settings.blackout else None)
        return FrameDecision(state=state, upload=upload, shows_new=upload)

    def _hud(self, t: float, features: AudioFeatures | None, newest: Keyframe | None, hud: HudInfo | None) -> str:
        """The HUD's text, its numbers HUD_REFRESH_S apart; a new preset, message or beat of the bar at once."""
        hud = hud or HudInfo()
        at = t if hud.read_at is None else hud.read_at
        bar = self._bar(t)
        shown = self._hud_shown
        if shown is not None and 0 <= at - shown[0] < HUD_REFRESH_S and shown[1:4] == (hud.preset, hud.message, bar):
            return shown[4]
        text = self._hud_text(features, newest, hud, bar)
        self._hud_shown = (at, hud.preset, hud.message, bar, text)
        return text

    def _bar(self, t: float) -> str:
        """The bar counted up to the newest beat heard (`bar 123.` on its third of four); "" where
        the bars are not known or no beat came in the last BAR_SHOWN_S."""
        time, place = self._beat_heard
        if place < 1 or not 0 <= t - time <= BAR_SHOWN_S:
            return ""
        return "bar " + "".join(str(k % 10) for k in range(1, place + 1)).ljust(4, ".")

    @staticmethod
    def _hud_text(features: AudioFeatures | None, newest: Keyframe | None, hud: HudInfo, bar: str) -> str:
        bpm = f"{features.bpm:5.1f} bpm" if features is not None and features.beat_confidence > 0 else "  --- bpm"
        va = f"V {newest.valence:.2f} A {newest.arousal:.2f}" if newest is not None else "V --- A ---"
        latency = f"{hud.latency_ms:.0f} ms" if hud.latency_ms is not None else "--- ms"
        # The input's level: in silence the HUD said only "--- bpm", silence or a dead input alike (review 99).
        level = f"{20 * math.log10(max(features.rms, 1e-6)):4.0f} dBFS" if features is not None else " --- dBFS"
        lines = ["  ".join(part for part in (hud.preset, bpm, bar, va) if part),
                 f"{hud.fps:4.1f} fps  {hud.keyframes_per_s:4.1f} kf/s  latency {latency}  level {level}  "
                 f"{hud.synthesis}".rstrip()]
        if hud.message:
            lines.append(hud.message)
        return "\n".join(lines)
