"""Beats: aubio's tempo and onset detectors driven one hop at a time, and the beat clock.

All times are seconds of the audio stream (sample index / sample rate), never wall time,
so the live engine and the offline render see the same beats for the same audio.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import aubio
import numpy as np

from live.audio.accents import AccentConfig, AccentMemory, accent_offset

# aubio's tempo tracker weights candidate beat periods with a prior fixed in detection-
# function frames (a Rayleigh curve peaking near 108 bpm at 44.1 kHz / 512). A hop of fixed
# duration keeps that prior, and so the tempo octave it picks, the same at any sample rate.
REFERENCE_HOP_SECONDS = 512 / 44100
# aubio counts a detector's samples in a uint_t: past this many (about 25 h at 48 kHz, 6 h
# at 192 kHz) its beat positions wrap to the past and it refuses every onset.
AUBIO_COUNT = 2 ** 32
MIN_TAP_INTERVAL = 0.15   # s: taps closer than this are one tap sent twice (400 bpm)
TAP_BPM = (30.0, 300.0)   # the tempo taps may set
TAP_TIMEOUT_S = 2.0       # a tap longer than this after the last starts a new count
PHASE_JUMP = 0.25         # beats off a whole number: where the tracker moved its phase
ONSET_LAG_HOPS = 3        # hops an onset's descriptor peak may lie before aubio reports it
EVIDENCE_SPACING_S = 0.12  # s: onsets closer than this are one attack for the onset evidence
CONFIDENT_INTERVALS = 4   # tracker beat intervals that make a grid's confidence whole
ACCENT_MEAN_HOPS = 16     # an accent is the onset descriptor's rise above its mean over this many hops
# The onset descriptor of a hop peaks this many analysis windows after the hit it reads
# (measured: stamped at the window's centre, half a window, the drum tracks' beats moved by
# their accents sat 23 ms late, one window).
ACCENT_LAG_WINDOWS = 1.5
ACCENT_MEMORY_HOPS = 4096  # about 48 s of hops: the accents' memory (12 beats) down to 15 bpm
TAPPED_OCTAVE = 0.08      # past a hold, a tracker tempo this far from the tapped one, folded, is other music
# aubio's onset functions (the tempo tracker's "default" is specflux).
TEMPO_METHODS = ("default", "energy", "hfc", "complex", "phase", "wphase", "specdiff", "kl", "mkl", "specflux")
ACCENT_METHODS = ("none",) + TEMPO_METHODS


@dataclass(frozen=True)
class BeatConfig:
    hop_seconds: float = REFERENCE_HOP_SECONDS
    # aubio's onset function for the tempo tracker. "energy" over aubio's "default" (specflux):
    # `bench beats` F 0.997 vs 0.961 on the steady drum tracks (specflux locked onto half tempo
    # at 160 bpm: F 0.70) and 0.87 vs 0.83 on the tempo changes of the demo of then (128, 84, 140 bpm).
    tempo_method: str = "energy"
    onset_method: str = "default"
    # aubio's spectral descriptor whose rises place the beat's phase (accents.py), "none" to
    # leave the phase to the tracker. "complex" over hfc (the onset detector's, free): `bench
    # beats`' band arrangements F 0.73 vs 0.68 (trance 0.74 vs 0.28), and on 20 4Q clips
    # F 0.60 vs 0.55 against an offline tracker's beats, with steadier intervals.
    accent_method: str = "complex"
    # aubio's tempo tracker drops most beats when its input holds digital silence (measured
    # on the synthetic drum tracks: F 0.57 without, 0.93 with); noise at -80 dBFS, which no
    # real recording is quieter than, restores it. Added to the detectors' copy only.
    dither: float = 1e-4
    onset_memory_seconds: float = 2.0   # onset strengths are relative to the peak of about this long
    # aubio's tracker goes on beating at its prior's tempo (about 128 bpm) through silence,
    # a held tone or steady noise: its beats count only while two onsets fall within this
    # long. Music has one every 0.2-0.6 s (4Q clips of all four quadrants); those signals
    # none, but the one where they start (one onset let 4 s of beats through).
    onset_evidence_seconds: float = 3.0
    # The evidence also counts this detector's onsets: in loud, dense, distorted music (4Q's
    # hardcore punk and metal) hfc found one onset in 21 s and the beats stopped; spectral
    # flux finds them (at most 3.6 s apart on those clips) and, like hfc, none in steady
    # noise or a held tone. "none": hfc's alone.
    evidence_method: str = "specflux"
    # aubio unsets an onset when the hop its peak picker reports it in (about 50 ms late) is
    # below this; its default, -70 dB, lost every short hit followed by silence (clicks).
    # The dither keeps silence itself above -90 dB, and silence has no onsets anyway.
    onset_silence_db: float = -90.0
    # No tracker beat counts while the input's level (over about 0.1 s) is below this: the
    # onset rule alone let beats through for 3 s of digital silence after a song.
    silence_db: float = -60.0
    # The level is read about the signal's own mean over about this long: cheap inputs sit at
    # a DC offset of 1e-3..1e-2 (-60..-40 dBFS), which read as sound through every break.
    dc_seconds: float = 1.0


@dataclass(frozen=True)
class HopAnalysis:
    end_time: float                 # stream time at the end of the hop
    rms: float                      # linear RMS of the hop about the signal's running mean (DC)
    onset: bool
    onset_time: float               # the end of the hop where the onset's descriptor peaked: when it sounded
    onset_strength: float           # onset detection function / its recent peak, in [0, 1]
    accent: float                   # onset detection function's rise above its recent mean, >= 0
    accent_time: float              # when the sound the accent reads was heard
    beat_time: float | None         # aubio's beat inside this hop, if any
    tracker_bpm: float


def hop_size(sample_rate: int, config: BeatConfig) -> int:
    return max(1, round(config.hop_seconds * sample_rate))


class BeatTracker:
    """Feeds aubio one hop at a time; `process` takes exactly `hop` mono float32 samples."""

    def __init__(self, sample_rate: int, config: BeatConfig = BeatConfig(), start_time: float = 0.0,
                 seed: int = 0) -> None:
        self.sample_rate = sample_rate
        self.config = config
        self.hop = hop_size(sample_rate, config)
        self._window = max(self.hop, 2 ** round(math.log2(2 * self.hop)))   # FFT: a power of two near 2 hops
        self._start_time = start_time
        self._hops = 0
        self._open_detectors()
        self._rng = np.random.default_rng(seed)
        self._onset_peak = 0.0
        # aubio's peak picker reports an onset about two hops after its descriptor's peak,
        # when the descriptor has fallen back: an onset's strength is the peak among these.
        self._descriptors: deque[float] = deque(maxlen=ONSET_LAG_HOPS + 1)
        self._recent: deque[float] = deque([0.0], maxlen=ACCENT_MEAN_HOPS)
        self._accent_lag = ACCENT_LAG_WINDOWS * self._window / sample_rate
        self._onsets: deque[float] = deque([-math.inf] * 2, maxlen=2)  # the last two onsets' times
        self._peak_decay = math.exp(-self.hop / (config.onset_memory_seconds * sample_rate))
        self._dc, self._dc_weight = 0.0, 1.0 - math.exp(-self.hop / (config.dc_seconds * sample_rate))

    def _open_detectors(self) -> None:
        """aubio's tempo and onset detectors, counting samples from the next hop on."""
        c = self.config
        self._tempo = aubio.tempo(c.tempo_method, self._window, self.hop, self.sample_rate)
        self._onset = aubio.onset(c.onset_method, self._window, self.hop, self.sample_rate)
        self._onset.set_silence(c.onset_silence_db)
        self._evidence = None
        if c.evidence_method not in (c.onset_method, "none"):
            self._evidence = aubio.onset(c.evidence_method, self._window, self.hop, self.sample_rate)
            self._evidence.set_silence(c.onset_silence_db)
        if c.accent_method not in (c.onset_method, "none"):
            self._accent_spectrum = aubio.pvoc(self._window, self.hop)
            self._accent_descriptor = aubio.specdesc(c.accent_method, self._window)
        self._detected_from = self._hops  # the stream's hops before the detectors' first

    def process(self, hop: np.ndarray) -> HopAnalysis:
        assert hop.shape == (self.hop,) and hop.dtype == np.float32, (hop.shape, hop.dtype)
        if (self._hops - self._detected_from + 1) * self.hop >= AUBIO_COUNT:
            # New detectors before aubio's counts wrap, an installation's day in: the tempo
            # is found again within seconds; meanwhile the beat clock runs on.
            self._open_detectors()
        mean = float(np.mean(hop, dtype=np.float64))
        self._dc += self._dc_weight * (mean - self._dc)
        # mean((x - dc)^2) from the hop's own sums: the hop is not copied. At most the hop's own
        # power: in digital silence after music the tracked dc, seconds to decay, read as a level.
        power = float(np.mean(np.square(hop, dtype=np.float64)))
        square = min(power, power - 2.0 * self._dc * mean + self._dc * self._dc)
        rms = math.sqrt(max(0.0, square))
        x = hop + self.config.dither * self._rng.standard_normal(self.hop, dtype=np.float32)
        beat = bool(self._tempo(x)[0])
        # aubio calls a detector's first hop an onset.
        onset = bool(self._onset(x)[0]) and self._hops > self._detected_from
        strength = float(self._onset.get_descriptor())
        self._descriptors.append(strength)
        if self.config.accent_method == "none":
            rise = 0.0
        elif self.config.accent_method != self.config.onset_method:
            rise = float(self._accent_descriptor(self._accent_spectrum(x))[0])
        else:
            rise = strength
        accent = max(0.0, rise - sum(self._recent) / len(self._recent))
        self._recent.append(rise)
        self._onset_peak = max(strength, self._onset_peak * self._peak_decay)
        self._hops += 1
        end_time = self._start_time + self._hops * self.hop / self.sample_rate
        evidence = self._evidence is not None and bool(self._evidence(x)[0]) and self._hops > self._detected_from + 1
        # Onsets closer than this are one attack heard twice (both detectors, or flux's echo
        # of a noise's start: two evidence onsets let 3 s of beats through after it).
        if (onset or evidence) and end_time - self._onsets[-1] >= EVIDENCE_SPACING_S:
            self._onsets.append(end_time)
        heard = end_time - self._onsets[0] <= self.config.onset_evidence_seconds
        peak_ago = len(self._descriptors) - 1 - int(np.argmax(self._descriptors))  # hops
        return HopAnalysis(
            end_time=end_time,
            rms=rms,
            onset=onset,
            onset_time=end_time - peak_ago * self.hop / self.sample_rate,
            onset_strength=min(1.0, max(self._descriptors) / self._onset_peak) if self._onset_peak > 0 else 0.0,
            accent=accent,
            accent_time=end_time - self._accent_lag,
            beat_time=(self._start_time + (self._detected_from * self.hop + self._tempo.get_last()) / self.sample_rate
                       if beat and heard else None),
            tracker_bpm=float(self._tempo.get_bpm()),
        )


class BeatClock:
    """A beat grid (an anchor beat and a period) kept on the beat by the tracker and by taps.

    - Each tracker beat is first moved to where recent onset energy peaks in the beat's
      phase (`accents`, fed every hop by `accent`): aubio's own phase drifts and slips to
      the off-beat on steady music. The period is still fitted to the tracker's own beats.
    - Tracker beats near the grid (within `snap` of a period) pull the anchor to them. One
      far from it is taken as a glitch and ignored; `relock_after` in a row mean the phase
      really moved, and the grid jumps to them.
    - The period is fitted by least squares to recent tracker beats against their beat
      numbers (a beat the tracker skipped counts as two intervals), which averages out
      the tracker's own period rounding and drift; the beats after a phase move get an
      offset of their own; when the tracker's tempo jumps, the fit starts over.
    - Grid beats fill in where the tracker skips one.
    - A tap re-anchors at once; two or more taps set the tempo. For `tap_hold_beats` beats
      after the last tap the grid stays locked, and tracker beats count only when they agree
      with it (on the grid, tempo within 5 % once folded); after that the tracker steers
      again, folded into the tapped tempo's octave (so tracking at half tempo fills the
      gaps instead of halving the beat) for as long as its tempo, folded, stays within
      TAPPED_OCTAVE of the tapped one. A tempo further off is other music, whose octave
      the taps said nothing of: 84 bpm after a tapped 128 read 168 until the next taps.
    - Beats are emitted once: a tracker beat or tap within half a period of the last
      emitted beat only moves the grid.
    - Before the first tracker beat or tap, and after `lock_beats` beats without either
      (outside a tap hold), the grid runs on but emits nothing.
    """

    def __init__(self, default_bpm: float = 120.0, history: int = 16, snap: float = 0.2, relock_after: int = 2,
                 tap_timeout: float = TAP_TIMEOUT_S, tap_hold_beats: int = 16, lock_beats: int = 4,
                 start_time: float = 0.0, accents: AccentConfig = AccentConfig()) -> None:
        self.period = 60.0 / default_bpm
        self.anchor = start_time              # a beat time on the grid
        self.now = start_time
        self._history: deque[float] = deque(maxlen=history)   # recent tracker beat times
        self._snap = snap
        self._relock_after = relock_after
        self._outliers = 0
        self._tracker_period = self.period
        self._taps: deque[float] = deque(maxlen=5)
        self._tap_timeout = tap_timeout
        self._tap_hold_beats = tap_hold_beats
        self._lock_beats = lock_beats
        self._tapped_period: float | None = None
        self._last_event = -math.inf          # the last tap received, kept or not
        self._echoed = False                  # the last tap received was the one before it again
        self._bursting = False                # taps came faster than TAP_BPM allows, up to the last one
        self._hold_until = -math.inf
        self._last_confirmed = -math.inf      # last tracker beat or tap
        self._last_emitted = -math.inf
        self._accent_config = accents
        self._accents = AccentMemory(ACCENT_MEMORY_HOPS)

    # -- inputs --------------------------------------------------------------------------

    def observe(self, beat_time: float, tracker_bpm: float, heard_at: float | None = None) -> list[float]:
        """A beat from the tracker; returns it if it is a new beat to emit. `heard_at`: the
        stream time the audio has reached; a beat the accents moved past it is emitted by
        `advance` when the stream gets there (published half a beat early, it fired a
        lighting desk's cue before the sound)."""
        tracker_period = 60.0 / max(tracker_bpm, 1.0)
        heard = beat_time
        # The tracker changed its mind: older intervals mislead the fit. Known first, so that the
        # accents are read at the new tempo, and its first beat is not refused as off the old grid
        # (it was, and the grid beat 200 ms off the music for 2.6 s after a change; review 74).
        jumped = abs(tracker_period / self._tracker_period - 1.0) > 0.08
        if not self.tapped_at(beat_time):
            period = self.period if len(self._history) >= 4 and not jumped else self._fold(tracker_period)
            beat_time += accent_offset(self._accents.times, self._accents.weights, beat_time, period,
                                       self._accent_config)
        off_grid = abs(beat_time - self._nearest_grid_beat(beat_time)) > self._snap * self.period
        if (self._tapped_period is not None and not self.tapped_at(beat_time)
                and abs(self._fold(tracker_period) / self._tapped_period - 1.0) > TAPPED_OCTAVE):
            self._tapped_period = None
        if self.tapped_at(beat_time):
            # The taps rule: only a tracker that agrees with them in phase and tempo helps.
            if off_grid or abs(self._fold(tracker_period) / self.period - 1.0) > 0.05:
                return []
        elif off_grid and self.locked_at(beat_time) and not jumped:
            self._outliers += 1
            if self._outliers < self._relock_after:
                return []
        self._outliers = 0
        if jumped:  # a beat taken: one the taps refused leaves the history to the tempo they hold
            self._history.clear()
        self._tracker_period = tracker_period
        self._history.append(heard)
        self.period = self._fold(self._estimate_period(tracker_period))
        self._last_confirmed = beat_time
        if heard_at is not None and beat_time > heard_at:
            self.anchor = beat_time
            return []
        return self._realign(beat_time)

    def accent(self, t: float, weight: float) -> None:
        """One hop's onset energy (`HopAnalysis.accent`) heard at stream time `t`."""
        self._accents.add(t, weight)

    def tap(self, t: float) -> list[float]:
        """The performer tapped at stream time `t`; returns the beat if it is a new one.

        Taps are counted from the last one received, kept or not. One within
        MIN_TAP_INTERVAL after it (or before it) is the same tap arriving twice: a
        controller's note-on and note-off, a key and a control message. More of them, or
        any faster than TAP_BPM allows, are a burst (a held key repeating, a controller's
        flood), not a tempo: ignored, and the first tap after it starts a new count. Held
        to 300 bpm, a burst cut five times a second, then locked the tracker into the
        octave above the music's.
        """
        since, self._last_event = t - self._last_event, max(self._last_event, t)
        if since < 60.0 / TAP_BPM[1] - 1e-9:  # taps at the range's own 300 bpm differ by 0.19999... in float
            self._bursting = self._bursting or self._echoed or since >= MIN_TAP_INTERVAL
            self._echoed = True
            return []
        self._echoed = False
        if self._taps and (self._bursting or t - self._taps[-1] > self._tap_timeout):
            self._taps.clear()  # the first tap after a burst or a pause starts a new count
        self._bursting = False
        self._taps.append(t)
        if len(self._taps) >= 2:
            interval = float(np.median(np.diff(self._taps)))
            self._tapped_period = min(interval, 60.0 / TAP_BPM[0])
            self.period = self._tapped_period
            self._history.clear()   # intervals from before the tap would drag the tempo back
        self._hold_until = t + self._tap_hold_beats * self.period
        self._last_confirmed = t
        return self._realign(t)

    def take_over(self, last_sent: float, period: float) -> None:
        """Beats known ahead at `period` were sent until now, the newest at `last_sent`; this grid,
        which followed the music unheard meanwhile, sends them from the tap that hands them over.
        Its own beats not sent are not counted as sent (a tap on one makes it a beat: a tap just
        before it left a beat out), and without a lock of its own it goes on at the known beats'
        tempo (it went to its default 120 bpm)."""
        self._last_emitted = last_sent
        if not self.locked_at(self.now):
            self.period = period

    def advance(self, t: float, emit: bool = True) -> list[float]:
        """Move to stream time `t`; returns grid beats passed since the last call. `emit`
        False: the caller drops them (silence), so they do not count as emitted: counted,
        the tracker's beat on the click after a silent gap was refused as one already sent."""
        beats = []
        if self.locked_at(t) and emit:
            k = math.floor((self.now - self.anchor) / self.period) + 1
            while (g := self.anchor + k * self.period) <= t:
                if g - self._last_emitted > 0.5 * self.period:
                    beats.append(g)
                    self._last_emitted = g
                k += 1
        self.now = max(self.now, t)
        return beats

    # -- state ---------------------------------------------------------------------------

    @property
    def bpm(self) -> float:
        return 60.0 / self.period

    def tapped_at(self, t: float) -> bool:
        """Is the grid held by the performer's taps at `t`?"""
        return t < self._hold_until

    def locked_at(self, t: float) -> bool:
        return self.tapped_at(t) or t - self._last_confirmed <= self._lock_beats * self.period

    def last_beat(self, t: float) -> float:
        return self.anchor + math.floor((t - self.anchor) / self.period) * self.period

    def next_beat(self, t: float) -> float:
        return self.last_beat(t) + self.period

    def phase(self, t: float) -> float:
        """Where `t` is between the last beat (0) and the next (1)."""
        return min(max((t - self.last_beat(t)) / self.period, 0.0), math.nextafter(1.0, 0.0))

    def confidence(self, t: float) -> float:
        """1 while a tap holds, fading after it until the tracker has confirmed the grid; else
        the share of recent tracker intervals that fit the grid within 5 %, counted over
        CONFIDENT_INTERVALS at least (one interval after a tempo change read 1.0 for seconds
        while the tempo still moved), fading once the tracker stops confirming beats, and 0
        once the grid stops locking (`lock_beats` after the last confirmed beat; in silence it
        stayed above 0 for seconds: a tempo on the HUD and fades kept on a grid no one heard).
        Silence stops the grid's beats sooner (the analyzer's level gate)."""
        if self.tapped_at(t):
            return 1.0
        if not self.locked_at(t):
            return 0.0
        if len(self._history) < 2:
            # Past a hold, before the tracker confirms the grid again: the tapped beats go on
            # (a controller gating on confidence dropped them), fading as the hold recedes.
            since = t - self._hold_until  # within a lock's span of the hold: after it, the grid is the tracker's
            fading = bool(self._taps) and since <= self._lock_beats * self.period
            return math.exp(-since / (self._lock_beats * self.period)) if fading else 0.0
        intervals = np.diff(self._history)
        spans = np.maximum(1, np.round(intervals / self.period))
        fitting = np.count_nonzero(np.abs(intervals / spans - self.period) <= 0.05 * self.period)
        fit = fitting / max(len(intervals), CONFIDENT_INTERVALS)
        silence = max(0.0, t - self._last_confirmed - self.period)
        return fit * math.exp(-silence / (self._lock_beats * self.period))

    # -- internals -----------------------------------------------------------------------

    def _nearest_grid_beat(self, t: float) -> float:
        return self.anchor + round((t - self.anchor) / self.period) * self.period

    def _estimate_period(self, tracker_period: float) -> float:
        times = np.asarray(self._history)
        if len(times) < 4:
            return tracker_period
        beats = np.diff(times) / tracker_period
        # An interval a quarter beat or more off a whole number is the tracker moving its
        # phase: the beats after it fit the period with an offset of their own. Counted as
        # whole beats, one such interval pulled the period 6 % short (143.8 bpm for 136).
        jumps = np.abs(beats - np.round(beats)) >= PHASE_JUMP
        segment = np.concatenate([[0], np.cumsum(jumps)])
        numbers = np.concatenate([[0.0], np.cumsum(np.maximum(1, np.round(beats)))])
        sizes = np.bincount(segment)
        n = numbers - (np.bincount(segment, numbers) / sizes)[segment]
        t = times - (np.bincount(segment, times) / sizes)[segment]
        spread = float(n @ n)
        return float(n @ t) / spread if spread > 0 else tracker_period

    def _fold(self, period: float) -> float:
        """Into the octave of the tapped tempo, when there is one."""
        if self._tapped_period is None:
            return period
        return period * 2.0 ** round(math.log2(self._tapped_period / period))

    def _realign(self, beat_time: float) -> list[float]:
        self.anchor = beat_time
        if beat_time - self._last_emitted > 0.5 * self.period:
            self._last_emitted = beat_time
            return [beat_time]
        return []
