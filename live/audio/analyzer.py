"""Audio in, features out: RMS, onsets, beats and the mel window, hop by hop.

No threads and no clock of its own: whoever owns it (the engine's audio thread, or the
simulated clock of an offline render) feeds it samples in order, in blocks of any size,
and gets an immutable snapshot back. Stream time is samples fed / sample rate.

One other thread may read alongside the feeding one: `features` is an immutable snapshot
swapped in by one assignment, and `window()` / `mel()` read the audio history, a
single-producer single-consumer RingBuffer.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
import torch

from live.audio.bars import CountedBars
from live.audio.beatmap import BeatMap, KnownBeats
from live.audio.beats import BeatClock, BeatConfig, BeatTracker
from live.audio.channels import mixdown
from live.audio.mel import LogMel, MelWindow
from live.audio.ring import RingBuffer

LEVEL_TIME_S = 0.1  # time constant of the level (`rms`)
SILENT_GAP_S = 0.25  # silence longer than this (a break, not a rest between notes) stays out of the mel window
SOUNDED_BEAT_S = 1.0  # beats are heard up to a beat (at most this long) after the last sound: rests, not breaks
# Known beats a snapshot carries, from its last beat on: the longest fade's (`crossfade_beats` up to
# 16) from the beat after the next, and a few to spare; past them the grid goes on at the period.
BEATS_AHEAD = 20


@dataclass(frozen=True)
class AudioFeatures:
    """What the audio was doing at `time` (seconds of the stream)."""

    time: float
    sample_index: int               # samples fed so far: the stream position of `time`
    rms: float                      # linear, over about the last LEVEL_TIME_S (exponential)
    beats: tuple[float, ...]        # beat times emitted since the previous snapshot
    # The newest events by their time, for readers that may skip snapshots or read one
    # twice (the render loop reads the latest of a slot the audio thread fills faster).
    newest_beat: float              # -inf before the first emitted beat
    newest_onset: float             # end of the hop of the newest onset; -inf before the first
    onset_strength: float           # of the newest onset, in [0, 1]
    bpm: float
    last_beat: float                # the grid beat at or before `time`
    phase: float                    # in [0, 1): 0 on a beat
    next_beat: float
    beat_confidence: float          # in [0, 1]
    # The grid's beats from its last at or before `time` on when they are known ahead (a beat map:
    # a render's, a show's from a file or the demo), so a fade of several beats lands on the music's
    # beat, not on the period's extrapolation, and each one's place in its bar (1 = downbeat, 0 = not
    # known); found as they come, the grid's own beats where a downbeat marked counts their bars, else ().
    beats_ahead: tuple[float, ...] = ()
    places_ahead: tuple[int, ...] = ()
    newest_place: int = 0           # the newest beat's place in its bar (1 = downbeat, 0 = not known)
    beat_places: tuple[int, ...] = ()  # each of `beats`' place in its bar (0: not known)

    @property
    def period(self) -> float:
        return 60.0 / self.bpm

    def next_beat_after(self, t: float) -> float:
        known, _ = self.known_after(t)
        if known:
            return known[0]
        anchor = self.beats_ahead[-1] if self.beats_ahead and t >= self.last_beat else self.last_beat
        return anchor + (math.floor((t - anchor) / self.period) + 1) * self.period

    def known_after(self, t: float) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """The beats known ahead that come after `t`, and their places in the bar."""
        if not self.beats_ahead or t < self.beats_ahead[0] - self.period:  # before them: the next is not there
            return (), ()
        i = bisect.bisect_right(self.beats_ahead, t)
        return self.beats_ahead[i:], self.places_ahead[i:]


class AudioAnalyzer:
    """Feed it with `feed`; read `features`, `window()` or `mel()` in between."""

    def __init__(self, sample_rate: int, mel: MelWindow = MelWindow(), beat: BeatConfig = BeatConfig(),
                 start_index: int = 0, device: torch.device | str = "cpu", history_seconds: float = 0.0,
                 hears_ahead: bool = False, beat_map: BeatMap | None = None) -> None:
        """`hears_ahead`: the caller feeds audio ahead of its pictures (a render), so an onset
        is stamped when it sounded, 1-3 hops before aubio reports it. Live, where the report
        comes after the sound, it is stamped when reported: stamped earlier, a pulse would start
        already decayed (by a quarter at the 80 ms onset decay).
        `beat_map`: the beats, known ahead (a render's or a show's file, the demo's; `beatmap.py`),
        in stream time, in place of the live beat clock's."""
        self.sample_rate = sample_rate
        self._hears_ahead = hears_ahead
        start_time = start_index / sample_rate
        self.tracker = BeatTracker(sample_rate, beat, start_time=start_time)
        self._silent_mean_square = 10 ** (beat.silence_db / 10)
        self.clock = BeatClock(start_time=start_time)
        self._known = None if beat_map is None else KnownBeats(beat_map, start_time)
        self._counted = CountedBars()  # the live grid's bars, once the performer marks a downbeat
        self.log_mel = LogMel(mel, sample_rate, device)
        # Audio kept for `window`: this analyzer's mel window, or longer for a reader whose
        # window may change (a preset switch to a bundle with another mel window).
        self._longest = max(self.log_mel.source_samples, round(history_seconds * sample_rate))
        # A second of headroom: a reader copying the window while a block lands keeps it whole.
        self._history = RingBuffer(self._longest + sample_rate, channels=1)
        self._hop = np.zeros(self.tracker.hop, np.float32)
        self._filled = 0
        self._index = start_index
        self._mean_square = 0.0
        self._sounded_at = -math.inf  # stream time of the last hop above silence_db
        self._keeping = False  # the hop being filled goes into the mel window's history
        # Per-hop weight of the newest hop in the level: one hop (~12 ms) alone read at 20 Hz
        # would flicker with every drum hit and gap; a level meter follows about 0.1 s.
        self._level_weight = 1.0 - math.exp(-len(self._hop) / sample_rate / LEVEL_TIME_S)
        self._tapped: list[float] = []      # beats from taps, for the next snapshot
        self._taps_ahead: list[float] = []  # taps later than the audio fed so far, in time order
        self._newest_beat = -math.inf
        self._newest_onset, self._onset_strength = -math.inf, 0.0
        self._features = self._snapshot(beats=())

    @property
    def features(self) -> AudioFeatures:
        return self._features

    @property
    def time(self) -> float:
        return self._index / self.sample_rate

    def feed(self, samples: np.ndarray) -> AudioFeatures:
        """`samples` [n] or [n, channels] float32, continuing the stream; channels are mixed down (`mixdown`)."""
        mono = mixdown(samples)
        assert mono.ndim == 1, samples.shape
        beats, self._tapped = self._tapped, []
        pos = 0
        while pos < len(mono):
            take = min(len(mono) - pos, len(self._hop) - self._filled)
            self._hop[self._filled:self._filled + take] = mono[pos:pos + take]
            if self._keeping:  # at once, not a hop later: the window ends with the newest sample
                self._history.write(mono[pos:pos + take, None])
            self._filled += take
            pos += take
            if self._filled == len(self._hop):
                self._filled = 0
                hop = self.tracker.process(self._hop)
                self.clock.accent(hop.accent_time, hop.accent)
                if self._taps_ahead and self._taps_ahead[0] <= hop.end_time:
                    beats += self._taps_until(hop.end_time)
                self._mean_square += self._level_weight * (hop.rms * hop.rms - self._mean_square)
                if hop.rms * hop.rms >= self._silent_mean_square:
                    self._sounded_at = hop.end_time
                # The mel window is of sound: silence past a short gap is left out of it, so between
                # songs the window (and the picture) holds the last music, and a song that starts
                # does not share its window with seconds of silence, which E_M, normalizing each
                # window, read as music of its own (a picture that dimmed and came back in a break).
                # Judged hop by hop, whatever the blocks fed: judged per block, a render's preroll
                # (one block) kept a break that the same song's whole render left out.
                keeping = hop.end_time - self._sounded_at < SILENT_GAP_S
                if keeping and not self._keeping:  # sound again: this hop's samples were held back
                    self._history.write(self._hop[:, None])
                self._keeping = keeping
                if hop.onset:
                    self._newest_onset = hop.onset_time if self._hears_ahead else hop.end_time
                    self._onset_strength = hop.onset_strength
                # With a beat map the live grid is kept too, unheard, so a tap can hand the show to it
                # already locked (the map's beats are handed over below, to the end of the audio fed).
                found = []
                # A rest between sparse or quiet hits is no silence: with the level alone, drums peaking
                # at -31 dBFS lost half their beats, a 60 bpm click single ones (review 74).
                audible = (self._mean_square >= self._silent_mean_square
                           or hop.end_time - self._sounded_at < min(SOUNDED_BEAT_S, 1.1 * self.clock.period))
                if hop.beat_time is not None and audible:
                    found += self.clock.observe(hop.beat_time, hop.tracker_bpm, heard_at=hop.end_time)
                # The grid's grace beats bridge a beat the tracker missed in the music, not a
                # silence: a break pulsed on for seconds. Beats the performer tapped go on.
                found += self.clock.advance(hop.end_time, emit=audible or self.clock.tapped_at(hop.end_time))
                if self._known is None:
                    beats += found
                    for beat in found:
                        self._counted.add(beat, self.clock.period)
        self._index += len(mono)
        if self._known is not None:
            # To the sample fed, not the last whole hop: the snapshot's grid is read at its time,
            # and a beat in between gave its last beat with the interval before it.
            beats += self._known.advance(self.time)
        if self._taps_ahead:
            beats += self._taps_until(self.time)
        if beats:
            self._newest_beat = beats[-1]
        self._features = self._snapshot(tuple(beats))
        return self._features

    def tap(self, t: float | None = None) -> None:
        """A tap on the beat at stream time `t` (default: the end of the audio fed so far); a
        new beat it makes comes with the next snapshot. A tap later than the audio fed waits
        for it: a feeding thread that fell behind its input (a compile held it) finds taps
        stamped by the input's clock ahead of it, and taking them as now would bunch them.
        Call it from the feeding thread: taps from elsewhere go through the owner's queue.
        With a beat map, the first tap leaves it: the map was wrong (half tempo, the bars on
        beat 3), and the beats are the live grid's, which the tap moves, from then on."""
        if self._known is not None:
            self.clock.take_over(self._newest_beat, 60.0 / self._known.bpm)
            self._known = None
        bisect.insort(self._taps_ahead, self.time if t is None else t)
        self._tapped += self._taps_until(self.time)

    def place(self, beat: float) -> int:
        """The place in its bar of the beat at `beat`, known ahead or found live (0: not known)."""
        return self._counted.place(beat) if self._known is None else self._known.place(beat)

    def mark_downbeat(self, t: float) -> float | None:
        """The beat nearest stream time `t` is a bar's first: known ahead, the bars of its run
        count from it (`KnownBeats.mark_downbeat`; None where no beat with a place in its bar is
        near); found live, the beats from it on are counted in bars of four (`CountedBars`; None
        where no beat was found near, nor is due, within half a beat). Its time. Call it from the
        feeding thread."""
        if self._known is not None:
            return self._known.mark_downbeat(t)
        # A tap later than the audio fed is a beat to come too: a MIDI clock's tap and downbeat come
        # together, and a grid beat just past, in a hop not yet whole, was neither found nor due.
        due = [self.clock.next_beat(self.time)] if self.clock.locked_at(self.time) else []
        return self._counted.mark(t, self.clock.period, self._taps_ahead + due)

    def place_near(self, t: float) -> int:
        """The place in its bar of the beat nearest stream time `t`, as the bars count now (0: not known)."""
        if self._known is not None:
            beat = self._known.nearest(t)
            return 0 if beat is None else self._known.place(beat)
        return self._counted.place_at(t, self.clock.period)

    def _counted_ahead(self, last: float) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """The live grid's beats from `last` on and their places, where the bars are counted."""
        if not self._counted.place_at(last, self.clock.period):
            return (), ()
        ahead = tuple(last + k * self.clock.period for k in range(BEATS_AHEAD))
        return ahead, tuple(self._counted.place_at(beat, self.clock.period) for beat in ahead)

    def _taps_until(self, t: float) -> list[float]:
        """The beats of the waiting taps up to stream time `t`, given to the clock in order."""
        beats = []
        while self._taps_ahead and self._taps_ahead[0] <= t:
            tapped = self.clock.tap(self._taps_ahead.pop(0))
            for beat in tapped:
                self._counted.add(beat, self.clock.period)
            beats += tapped
        return beats

    def window(self, samples: int | None = None) -> np.ndarray:
        """A copy of the last `samples` of mono audio at the source rate (default: the window
        of `log_mel`; at most the history kept), for a LogMel: of the audio heard, less
        silence (below `silence_db`) that went on past SILENT_GAP_S."""
        n = self.log_mel.source_samples if samples is None else min(samples, self._longest)
        return self._history.latest(n)[:, 0]

    def mel(self) -> torch.Tensor:
        """The current log-mel window [1, n_mels, frames]."""
        return self.log_mel(self.window())

    def _snapshot(self, beats: tuple[float, ...]) -> AudioFeatures:
        t = self.time
        grid = self.clock if self._known is None else self._known
        last = grid.last_beat(t)
        # From the beat at or before `t`: a render's frame comes a few hops behind its audio, and a
        # fade asked in the 58 ms before a beat counted beats at the moment's period (review 83).
        ahead, places = self._counted_ahead(last) if self._known is None else self._known.ahead(last - 1e-6,
                                                                                                BEATS_AHEAD)
        return AudioFeatures(
            time=t, sample_index=self._index, rms=math.sqrt(self._mean_square), beats=beats,
            newest_beat=self._newest_beat,
            newest_onset=self._newest_onset, onset_strength=self._onset_strength, bpm=grid.bpm,
            last_beat=last, phase=grid.phase(t), next_beat=grid.next_beat(t),
            beat_confidence=grid.confidence(t),
            beats_ahead=ahead, places_ahead=places,
            newest_place=self.place(self._newest_beat),
            beat_places=tuple(self.place(beat) for beat in beats),
        )
