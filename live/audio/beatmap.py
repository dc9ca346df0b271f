"""Beats of a whole recording, found with all of it in view: the beats of a render.

A show places each beat as its audio arrives (beats.py: aubio's causal tracker, which takes
seconds to find a tempo at the start and again after a tempo change). A render has its file
whole, so it finds beats as offline trackers do (Ellis, "Beat Tracking by Dynamic
Programming", 2007): an onset envelope (log-mel spectral flux), a tempo at each moment from
the envelope's autocorrelation around it, along a path through the tempo candidates that
may change but does not flicker (Viterbi), then the beats that best fit both envelope and
tempo (dynamic programming) on a second envelope, the complex-domain novelty, linear in
magnitude, where the kick outweighs the off-beat hats; twice as many where the hits midway
between those beats sound lower than the beats' own (`faster_level`). Beats fall only where
music sounds: silence, and stretches without onsets (a held chord, noise), end one run of
beats; the next starts afresh.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.fft import next_fast_len
from scipy.ndimage import maximum_filter1d, median_filter

from live.audio.bars import bar_positions
from live.audio.beats import REFERENCE_HOP_SECONDS

ONSET_DB = 1.2        # an onset's flux above its neighbourhood's median (`onset_floor`)
PEAK_REACH = 3        # frames a beat may move to the flux's peak
FRAMES_PER_PASS = 64  # frames analysed at once: a few MB
SILENT_BREAK_S = 1.0  # silence this long, or a beat's when shorter, ends a run of beats (the show's rule)
REGULAR_RESTS = 3     # ... unless the run rests so this often (`unbroken`)
TEMPO_CHUNK = 256     # tempo estimates computed at once: an hour's at once took 300 MB
MIN_LEVEL_BEATS = 8   # a run needs twice this many beats for `faster_level` to double it
MID_ONSETS = 0.9      # the share of midpoints between beats with an onset, for them to be beats
LARGE_EFFECT = 0.71   # Vargha and Delaney's A for a large effect (0.5: none)
CENTROID_CHUNK = 4096  # frames whose spectral centroids are computed at once
LEAD_BEATS = 8        # beats before a run of beats its grid holds
LOOP_REACH_S = 60.0   # a looping map's beats are laid out this far past the stream's time, and more
SEAM_SHARE = 0.05     # of a beat: a loop that ends a beat after its last beat and starts on one is one run


@dataclass(frozen=True)
class BeatMapConfig:
    hop_seconds: float = REFERENCE_HOP_SECONDS
    fft_seconds: float = 2048 / 44100
    mel_bands: int = 40
    floor_db: float = -80.0              # of full scale: quieter bands are this loud, so hiss has no flux
    tempo_window_seconds: float = 8.0    # the autocorrelation's span around each moment
    tempo_step_seconds: float = 0.5      # between tempo estimates
    bpm_range: tuple[float, float] = (50.0, 220.0)
    # Ellis's prior: tempi near 120 bpm are the likelier octave of an ambiguous beat.
    prior_bpm: float = 120.0
    prior_octaves: float = 0.7
    tempo_change_cost: float = 2.0       # per octave the tempo path moves between estimates
    tightness: float = 1000.0            # how hard a beat interval is held to the local period
    silence_db: float = -60.0            # the level below which a hop is silent
    evidence_seconds: float = 3.0        # beats need onsets (two, this close) around them: not a held tone


@dataclass(frozen=True)
class BeatMap:
    """Runs of beats, each a sorted array of times in seconds of the audio; between runs
    the music stops (silence, a held sound). `places`: per run, each beat's place in its bar
    (1 = the downbeat, 0 = not known); not given, none is known. `loop`: the audio plays again
    every `loop` seconds, these beats with it (a looping track's, which lie in [0, loop)); 0:
    it plays once."""

    runs: tuple[np.ndarray, ...]
    places: tuple[np.ndarray, ...] = ()
    loop: float = 0.0

    def __post_init__(self) -> None:
        if not self.places:
            object.__setattr__(self, "places", tuple(np.zeros(len(run), np.int64) for run in self.runs))
        assert [len(p) for p in self.places] == [len(r) for r in self.runs], "a place a beat"

    @property
    def beats(self) -> np.ndarray:
        return np.concatenate(self.runs) if self.runs else np.zeros(0)

    @property
    def beat_places(self) -> np.ndarray:
        """Each beat's place in its bar, in the order of `beats`; 0 where not known."""
        return np.concatenate(self.places) if self.places else np.zeros(0, np.int64)

    def shifted(self, seconds: float) -> BeatMap:
        assert not self.loop, "a looping track's beats start with it"
        return BeatMap(tuple(run + seconds for run in self.runs), self.places)


def mel_filters(n_fft: int, sample_rate: int, bands: int, low_hz: float, high_hz: float) -> np.ndarray:
    """[n_fft // 2 + 1, bands]: triangles spaced evenly on the HTK mel scale, peaks of 1."""
    def mel(hz: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    edges = mel(low_hz) + (mel(high_hz) - mel(low_hz)) * np.linspace(0.0, 1.0, bands + 2)
    bins = mel(np.fft.rfftfreq(n_fft, 1.0 / sample_rate))[:, None]
    rising = (bins - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    falling = (edges[None, 2:] - bins) / (edges[2:] - edges[1:-1])
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


class OnsetEnvelope:
    """Per frame: the log-mel spectral flux, the complex-domain novelty and the mean square of
    the frame's own hop, from mono audio fed in blocks of any size, in order. Frame i is
    centred on sample i * hop; and its log-mel bands, which tell where bars begin (`bars.py`)."""

    def __init__(self, sample_rate: int, config: BeatMapConfig = BeatMapConfig()) -> None:
        self.sample_rate = sample_rate
        self.hop = max(1, round(config.hop_seconds * sample_rate))
        # The configured span at every rate (a power of two above it was 85 ms at 48 kHz, 46 at 44.1:
        # the flux peaks as a hit enters the window, and the beats came 29 ms early instead of 12).
        self.n_fft = next_fast_len(round(config.fft_seconds * sample_rate), real=True)
        self._window = np.hanning(self.n_fft).astype(np.float32)
        self._mel = mel_filters(self.n_fft, sample_rate, config.mel_bands, 30.0, min(16000.0, sample_rate / 2))
        # A full-scale sine's power in its bin: levels are of full scale.
        self._floor = (self._window.sum() / 2) ** 2 * 10 ** (config.floor_db / 10)
        self._pending = np.zeros(self.n_fft // 2, np.float32)
        self._previous = np.full(config.mel_bands, 10 * np.log10(self._floor))  # silence before the audio
        self._spectra = np.zeros((2, self.n_fft // 2 + 1), np.complex64)
        self._complex: list[np.ndarray] = []
        self._flux: list[np.ndarray] = []
        self._power: list[np.ndarray] = []
        self._bands: list[np.ndarray] = []  # half precision: an hour's are 25 MB

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def feed(self, mono: np.ndarray) -> None:
        buffer = np.concatenate([self._pending, mono.astype(np.float32, copy=False)])
        frames = max(0, (len(buffer) - self.n_fft) // self.hop + 1)
        if frames:  # else too short for a frame: a file's short last block, a tiny file
            windows = np.lib.stride_tricks.sliding_window_view(buffer, self.n_fft)[::self.hop][:frames]
            for at in range(0, frames, FRAMES_PER_PASS):
                self._analyse(windows[at:at + FRAMES_PER_PASS])
        self._pending = buffer[frames * self.hop:]

    def _analyse(self, windows: np.ndarray) -> None:
        spectrum = np.fft.rfft(windows * self._window, axis=1)
        bands = np.log10(np.maximum(np.abs(spectrum) ** 2 @ self._mel, self._floor)) * 10
        self._flux.append(np.maximum(0.0, np.diff(bands, axis=0, prepend=self._previous[None])).mean(axis=1))
        self._previous = bands[-1]
        self._bands.append(bands.astype(np.float16))
        # Complex domain: each bin's distance from where the two frames before predict it
        # (their magnitude, their phase advance). Linear in magnitude: a kick outweighs the
        # off-beat hats and stabs that the log flux hears as loud.
        past = np.concatenate([self._spectra, spectrum])
        predicted = np.abs(past[1:-1]) * np.exp(1j * (2 * np.angle(past[1:-1]) - np.angle(past[:-2])))
        self._complex.append(np.abs(spectrum - predicted).sum(axis=1))
        self._spectra = past[-2:]
        centre = windows[:, self.n_fft // 2 - self.hop // 2:self.n_fft // 2 + (self.hop + 1) // 2]
        self._power.append(np.mean(np.square(centre, dtype=np.float64), axis=1))

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(log-mel flux, complex-domain novelty, mean square, log-mel bands in dB) per frame,
        the last frames padded with silence."""
        self.feed(np.zeros(self.n_fft // 2, np.float32))
        if not self._flux:
            return np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, len(self._previous)), np.float16)
        return (np.concatenate(self._flux), np.concatenate(self._complex), np.concatenate(self._power),
                np.concatenate(self._bands))


def local_periods(envelope: np.ndarray, frame_rate: float, config: BeatMapConfig) -> np.ndarray:
    """The beat period (frames, float) at each frame: the autocorrelation's best lag around it,
    weighted by the tempo prior, along the Viterbi path that pays for each change of tempo."""
    n = len(envelope)
    width = max(4, round(config.tempo_window_seconds * frame_rate))
    step = max(1, round(config.tempo_step_seconds * frame_rate))
    lags = np.arange(math.floor(60 * frame_rate / config.bpm_range[1]),
                     math.ceil(60 * frame_rate / config.bpm_range[0]) + 1)
    centres = np.arange(0, n, step)
    padded = np.pad(envelope, (width // 2, width - width // 2))
    taper = np.hanning(width)
    acf = np.empty((len(centres), len(lags)))
    for at in range(0, len(centres), TEMPO_CHUNK):
        windows = np.lib.stride_tricks.sliding_window_view(padded, width)[centres[at:at + TEMPO_CHUNK]] * taper
        windows -= windows.mean(axis=1, keepdims=True)
        spectrum = np.fft.rfft(windows, 2 * width, axis=1)
        chunk = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :lags[-1] + 1]
        acf[at:at + TEMPO_CHUNK] = np.maximum(0.0, chunk / np.maximum(chunk[:, :1], 1e-12))[:, lags]
    prior_lag = 60 * frame_rate / config.prior_bpm
    prior = np.exp(-0.5 * (np.log2(lags / prior_lag) / config.prior_octaves) ** 2)
    emission = acf * prior
    # Each moment's own preference, whatever its strength: a sparse passage's weak
    # autocorrelation otherwise never paid for leaving the tempo of the drums before it.
    emission /= np.maximum(emission.max(axis=1, keepdims=True), 1e-12)
    octaves = np.abs(np.log2(lags[:, None] / lags[None, :]))
    cost = config.tempo_change_cost * octaves
    score = emission[0].copy()
    back = np.zeros((len(centres), len(lags)), np.int64)
    for c in range(1, len(centres)):
        moves = score[None, :] - cost           # [to, from]
        back[c] = np.argmax(moves, axis=1)
        score = emission[c] + moves[np.arange(len(lags)), back[c]]
    path = np.zeros(len(centres), np.int64)
    path[-1] = int(np.argmax(score))
    for c in range(len(centres) - 1, 0, -1):
        path[c - 1] = back[c, path[c]]
    return lags[path][np.minimum(np.arange(n) // step, len(centres) - 1)].astype(float)


def beat_frames(envelope: np.ndarray, periods: np.ndarray, tightness: float, slack: int) -> np.ndarray:
    """Ellis's dynamic programme: the frames of the beat sequence that maximizes the envelope
    at its beats less `tightness` times the squared log-ratio of each interval to the local
    period. A frame whose best predecessor costs more than it brings starts a sequence."""
    n = len(envelope)
    if n == 0:
        return np.zeros(0, np.int64)
    score = envelope.astype(float).copy()
    back = np.full(n, -1, np.int64)
    for t in range(n):
        period = periods[t]
        first, last = t - round(2 * period), t - round(period / 2)
        if last < 0:
            continue
        first = max(first, 0)
        gaps = np.log(t - np.arange(first, last + 1))
        # Held to the nearest of the periods within `slack` frames: the tempo path places a
        # change up to seconds off (its windows straddle it), and there both tempi are right.
        near = np.log([period, periods[max(0, t - slack)], periods[min(n - 1, t + slack)]])
        misfit = np.min((gaps[None, :] - near[:, None]) ** 2, axis=0)
        candidates = score[first:last + 1] - tightness * misfit
        best = int(np.argmax(candidates))
        if candidates[best] > 0:
            score[t] += candidates[best]
            back[t] = first + best
    tail = max(0, n - round(periods[-1]))
    t = tail + int(np.argmax(score[tail:]))
    frames = [t]
    while back[frames[-1]] >= 0:
        frames.append(int(back[frames[-1]]))
    return np.array(frames[::-1], np.int64)


def sounding_runs(flux: np.ndarray, power: np.ndarray, frame_rate: float, config: BeatMapConfig
                  ) -> list[tuple[int, int]]:
    """[start, end) frame spans where music goes on: from onset to onset (sounding, not
    silence) while they come within `evidence_seconds` of each other."""
    n = len(flux)
    if n == 0:
        return []
    # Sound within reach of the flux's peak, which comes a frame before the hit's own hop.
    level = maximum_filter1d(power, 2 * PEAK_REACH + 1) >= 10 ** (config.silence_db / 10)
    peak = np.zeros(n, bool)
    peak[1:-1] = (flux[1:-1] >= flux[:-2]) & (flux[1:-1] > flux[2:])
    onsets = np.flatnonzero(peak & (flux > onset_floor(flux, frame_rate)) & level)
    evidence = np.zeros(n, np.int8)
    reach = round(config.evidence_seconds * frame_rate)
    for a, b in zip(onsets[:-1], onsets[1:]):
        if b - a <= reach:
            evidence[a:b + 1] = 1
    edges = np.flatnonzero(np.diff(np.concatenate([[0], evidence, [0]])))
    # Past the last onset's flux peak, which comes as the hit enters the window: its novelty,
    # which places the beat, peaks frames later (a song's final hit was lost).
    return [(int(a), min(n, int(b) + 2 * PEAK_REACH)) for a, b in zip(edges[::2], edges[1::2])]


def onset_floor(flux: np.ndarray, frame_rate: float) -> np.ndarray:
    """Per frame, what a peak of the flux must exceed to be an onset: the median within half a
    second, plus ONSET_DB. Steady white, pink or brown noise rose at most 0.9 dB above its
    median in 2 minutes, a vibrato chord 0.5, drums 25-35; dense mixes' beats 1-2 (at 2 dB,
    runs of 40 4Q clips left 11 % of their music without beats, at 1.2 dB 4.6 %)."""
    return median_filter(flux, size=2 * round(0.5 * frame_rate) + 1, mode="nearest") + ONSET_DB


def highest_near(envelope: np.ndarray, frames: np.ndarray, reach: int) -> np.ndarray:
    """Each of `frames` (whole) moved to the envelope's highest frame within `reach` of it."""
    around = np.clip(frames[:, None] + np.arange(-reach, reach + 1)[None, :], 0, len(envelope) - 1)
    return around[np.arange(len(frames)), np.argmax(envelope[around], axis=1)]


def peak_positions(envelope: np.ndarray, frames: np.ndarray, reach: int) -> np.ndarray:
    """Each of `frames` moved to the envelope's highest frame within `reach` of it, then
    between frames to the vertex of the parabola through that peak and its neighbours: the
    dynamic programme's beats are whole frames, held to whole-frame periods."""
    n = len(envelope)
    peaks = highest_near(envelope, frames, reach)
    left, centre, right = (envelope[np.clip(peaks + k, 0, n - 1)] for k in (-1, 0, 1))
    curve = left - 2 * centre + right
    inside = (peaks > 0) & (peaks < n - 1) & (curve < 0)
    shift = np.where(inside, 0.5 * (left - right) / np.where(inside, curve, 1.0), 0.0)
    return peaks + np.clip(shift, -0.5, 0.5)


def beat_map(blocks: Iterable[np.ndarray], sample_rate: int, config: BeatMapConfig = BeatMapConfig(),
             start_time: float = 0.0) -> BeatMap:
    """The beats of mono audio given as blocks in order; times count from `start_time`."""
    envelope = OnsetEnvelope(sample_rate, config)
    for block in blocks:
        envelope.feed(block)
    flux, novelty, power, bands = envelope.finish()
    rate = envelope.frame_rate
    silent = 10 ** (config.silence_db / 10)
    runs, places = [], []
    for a, b in sounding_runs(flux, power, rate, config):
        if b - a < 2 * rate:  # a few onsets, no tempo to find in them
            continue
        # The tempo from the flux: its autocorrelation is clean at every octave of the bar.
        # The beats from the novelty: on the flux, the off-beat hats and bass of house music
        # outweighed its kicks, and its beats fell between them.
        periods = local_periods(_standardized(flux[a:b]), rate, config)
        slack = round(config.tempo_window_seconds / 4 * rate)
        for c, d in unbroken(power[a:b] < silent, periods, rate):
            if d - c < 2 * rate:
                continue
            frames = beat_frames(_standardized(novelty[a + c:a + d]), periods[c:d], config.tightness, slack)
            if faster_level(flux[a + c:a + d], rise_centroids(bands, a + c, a + d), frames, periods[c:d], rate,
                            config):
                frames = beat_frames(_standardized(novelty[a + c:a + d]), periods[c:d] / 2, config.tightness,
                                     slack)
            frames = a + c + peak_positions(flux[a + c:a + d], frames, PEAK_REACH)
            runs.append(start_time + frames / rate)
            places.append(bar_positions(frames, bands))
    return BeatMap(tuple(runs), tuple(places))


def faster_level(flux: np.ndarray, centroid: np.ndarray, frames: np.ndarray, periods: np.ndarray,
                 frame_rate: float, config: BeatMapConfig) -> bool:
    """Whether the beats are every other beat of the music: the hits midway between them are no
    subdivision. A drum kit marks the stronger places of the metre with the lower drums (the kick
    on the beat, the hi-hat between), so a subdivision's onsets sound higher than the beats'.
    When nearly every midpoint holds an onset (a flux peak ONSET_DB over its median) and those
    onsets sound lower than the beats' (their spectral centroids, `rise_centroids`: Vargha and
    Delaney's A, the chance that a beat's is the higher, a large effect), they are beats too:
    drum and bass at 174 bpm, whose kicks and snares fall on alternate beats, was read at 87 with
    its kicks between the beats (review 82). Never past the tempo range."""
    doubled_bpm = 2 * 60 * frame_rate / float(np.median(periods))
    if len(frames) < 2 * MIN_LEVEL_BEATS or doubled_bpm > config.bpm_range[1]:
        return False
    beats = highest_near(flux, frames, PEAK_REACH)
    mids = highest_near(flux, np.round((frames[:-1] + frames[1:]) / 2).astype(np.int64), PEAK_REACH)
    sounding = flux[mids] > onset_floor(flux, frame_rate)[mids]
    if sounding.mean() < MID_ONSETS:
        return False
    on, between = centroid[beats], np.sort(centroid[mids[sounding]])
    # A: of all (beat, midpoint) pairs, the share whose beat is the higher, ties counting half.
    below = np.searchsorted(between, on, side="left") + np.searchsorted(between, on, side="right")
    return bool(below.sum() / (2 * len(on) * len(between)) >= LARGE_EFFECT)


def rise_centroids(bands: np.ndarray, start: int, end: int) -> np.ndarray:
    """Per frame of [start, end): where in the spectrum its rises from the frame before lie (the
    centroid, in mel bands): low for a kick, high for a hi-hat."""
    centroids = np.empty(max(0, end - start))
    for at in range(start, end, CENTROID_CHUNK):  # at once, an hour's copies took 190 MB (review 84)
        x = bands[max(0, at - 1):min(end, at + CENTROID_CHUNK)].astype(np.float32)
        if at == 0:  # the first frame rises from itself: none
            x = np.concatenate([x[:1], x])
        rises = np.maximum(0.0, np.diff(x, axis=0))
        centroids[at - start:at - start + len(rises)] = rises @ np.arange(rises.shape[1]) / np.maximum(
            rises.sum(axis=1), 1e-12)
    return centroids


def unbroken(silent: np.ndarray, periods: np.ndarray, frame_rate: float) -> list[tuple[int, int]]:
    """[start, end) spans of a run between its breaks: silences longer than a beat (at most
    SILENT_BREAK_S) that are not how the music goes. Beats fell in 1-2 s of digital silence
    between onsets; but gated music (a hit on each bar's first beat, digital silence between)
    rests that long every bar: where such silences come REGULAR_RESTS times or more, only
    those over twice their median length break the run (all of them did, and its beats went)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent.astype(np.int8), [0]])))
    rests = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])
             if b - a > min(SILENT_BREAK_S * frame_rate, 1.1 * periods[a])]
    if len(rests) >= REGULAR_RESTS:
        usual = float(np.median([b - a for a, b in rests]))
        rests = [(a, b) for a, b in rests if b - a > 2 * usual]
    starts = [0] + [b for _, b in rests]
    ends = [a for a, _ in rests] + [len(silent)]
    return [(a, b) for a, b in zip(starts, ends) if b > a]


def _standardized(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.std(x)), 1e-12)


class KnownBeats:
    """A beat map read as the analyzer reads its live beat clock (`beats.BeatClock`): beats
    handed over once each as the stream passes them, and the grid at any moment. Inside a
    run of beats the grid is the run's own intervals, its confidence whole, and so up to
    LEAD_BEATS before a run, on that run's grid; elsewhere, between and after runs, the
    nearest run's grid goes on with no confidence: no beat to sync to. A looping map's beats
    are laid out loop after loop around the stream's time (a show of the looping demo runs
    for days)."""

    def __init__(self, beat_map: BeatMap, start_time: float = 0.0, default_bpm: float = 120.0) -> None:
        self._map = beat_map
        # The beats up to this time were handed over: those before the stream's start never come (a
        # looping track's laid out from the loop before).
        self._handed_to = math.nextafter(start_time, -math.inf)
        self._default_period = 60.0 / default_bpm
        self.now = start_time
        self._laid: tuple[int, int] | None = None  # the loops laid out, first and last
        self._ahead: tuple[tuple, tuple] | None = None  # the last `ahead` asked, and its answer
        self._seamless = False  # a loop's last run goes on into the next loop's first
        self._moved: dict[int, int] = {}  # a run of the map (loop after loop) -> beats its bars moved by
        if beat_map.loop:
            self._map = _one_loop(beat_map)
            self._seamless = _seamless(self._map)
            self._lay_loops()
        else:
            self._lay(beat_map)

    def _lay(self, beat_map: BeatMap, map_runs: np.ndarray | None = None) -> None:
        """`map_runs`: the run of `_map` each beat is of (a looping map's laid out loop after loop)."""
        self._times = beat_map.beats
        self._run = np.repeat(np.arange(len(beat_map.runs)), [len(r) for r in beat_map.runs])
        self._map_run = self._run if map_runs is None else map_runs
        self._map_places = beat_map.beat_places
        self._places = self._moved_places()
        # The grid a run holds before it: its first intervals' median (one late second beat set a
        # 50 bpm grid for the 10 s before a 120 bpm song).
        self._lead = [float(np.median(np.diff(r[:5]))) if len(r) > 1 else 0.0 for r in beat_map.runs]

    def _lay_loops(self) -> None:
        """The loops from the one before the beats not handed over yet (and `now`) to LOOP_REACH_S
        past `now`, laid out anew as `now` enters a loop."""
        loop = self._map.loop
        laid = (math.floor(min(self._handed_to, self.now) / loop) - 1, math.floor((self.now + LOOP_REACH_S) / loop) + 2)
        if laid == self._laid:
            return
        self._laid = laid
        runs: list[np.ndarray] = []
        places: list[np.ndarray] = []
        map_runs: list[np.ndarray] = []
        for k in range(laid[0], laid[1] + 1):
            for j, (run, place) in enumerate(zip(self._map.runs, self._map.places)):
                if j == 0 and runs and self._seamless:
                    runs[-1] = np.concatenate((runs[-1], run + k * loop))
                    places[-1] = np.concatenate((places[-1], place))
                else:
                    runs.append(run + k * loop)
                    places.append(place)
                map_runs.append(np.full(len(run), j))
        self._lay(BeatMap(tuple(runs), tuple(places)), np.concatenate(map_runs) if map_runs else None)

    def advance(self, t: float) -> list[float]:
        """Move to stream time `t`; returns the beats passed since the last call."""
        self.now = max(self.now, t)
        if self._map.loop:
            self._lay_loops()
        handed, passed = np.searchsorted(self._times, (self._handed_to, t), side="right")
        self._handed_to = max(self._handed_to, t)
        return self._times[handed:passed].tolist()

    @property
    def bpm(self) -> float:
        return 60.0 / self._grid(self.now)[1]

    def last_beat(self, t: float) -> float:
        return self._grid(t)[0]

    def next_beat(self, t: float) -> float:
        last, period, _ = self._grid(t)
        return last + period

    def ahead(self, t: float, count: int) -> tuple[tuple[float, ...], tuple[int, ...]]:
        """The grid's next `count` beats after `t`, and each one's place in its bar (0 if not
        known): a run's own beats, and where none is known the grid `next_beat` follows there
        (a multi-beat fade lands on the beat the map has, not on `count` intervals of the
        moment's tempo: on real music 4-beat fades landed a median 42 ms off it). The same question
        again (each block of a show between two beats) has the same answer."""
        if self._ahead is not None and self._ahead[0] == (t, count, self._laid):
            return self._ahead[1]
        answer = self._beats_ahead(t, count)
        self._ahead = ((t, count, self._laid), answer)
        return answer

    def _beats_ahead(self, t: float, count: int) -> tuple[tuple[float, ...], tuple[int, ...]]:
        beats = [self.next_beat(t)]
        at = beats[0]
        while len(beats) < count:
            # Past the beat just found by a hair: on a lead grid's beat, `floor` may read it as
            # the beat before and give it again.
            at = self.next_beat(at + 1e-6)
            # Where the grid after a run gives way to the next run's lead grid, the two put beats
            # a fraction of a beat apart: a fade counted over it came a beat short (review 83).
            if at - beats[-1] >= 0.5 * self._grid(at)[1]:
                beats.append(at)
        if not len(self._times):
            return tuple(beats), (0,) * len(beats)
        # A lead grid's beat is summed from the run's first: a hair off its time, it lost its place
        # (the drop's downbeat one time in six, review 84). The map's own time, and its place.
        at = np.clip(np.searchsorted(self._times, np.array(beats) - 1e-6), 0, len(self._times) - 1)
        mapped = np.abs(self._times[at] - beats) <= 1e-6
        return (tuple(np.where(mapped, self._times[at], beats).tolist()),
                tuple(int(p) for p in np.where(mapped, self._places[at], 0)))

    def mark_downbeat(self, t: float) -> float | None:
        """The map's beat nearest `t` (within half a beat) is a bar's first: the bars of its run
        move with it, loop after loop (the bar finder's 1-or-3 doubt, a bar counted from beat 3).
        Its time; None where no beat with a place in its bar is near."""
        i = int(np.searchsorted(self._times, t))
        near = [j for j in (i - 1, i) if 0 <= j < len(self._times) and self._places[j]]
        if not near:
            return None
        j = min(near, key=lambda j: abs(self._times[j] - t))
        if abs(self._times[j] - t) > 0.5 * self._grid(self._times[j])[1]:
            return None
        run = int(self._map_run[j])
        self._moved[run] = self._moved.get(run, 0) + int(self._places[j]) - 1
        self._places = self._moved_places()
        self._ahead = None  # its places have moved
        return float(self._times[j])

    def _moved_places(self) -> np.ndarray:
        """The map's places, each run's bars moved by its beats in `_moved` (the bar finder counts
        each run's bars alone: a press moved every later run's, a right one and a 3/4 one too)."""
        places = self._map_places
        if not self._moved:
            return places
        by = np.array([self._moved.get(r, 0) for r in range(len(self._map.runs))])[self._map_run]
        bar = np.array([int(p.max(initial=1)) for p in self._map.places])[self._map_run]
        return np.where(places > 0, (places - 1 - by) % bar + 1, places)

    def place(self, t: float) -> int:
        """The place in its bar of the map's beat at `t` (0: not known, or no beat there)."""
        i = int(np.searchsorted(self._times, t - 1e-6))
        return int(self._places[i]) if i < len(self._times) and abs(self._times[i] - t) <= 1e-6 else 0

    def nearest(self, t: float, downbeat: bool = False) -> float | None:
        """Of the map's beats (its downbeats) on either side of `t`, the nearer among those within
        a beat (a bar) of it, by their own runs' beats (bars): a moment snapped to the music; None
        where the music has none so near (a break, no bars)."""
        # Not before the audio's start: a looping map's loop before it never plays.
        chosen = np.flatnonzero(((self._places == 1) | (not downbeat)) & (self._times >= 0))
        after = int(np.searchsorted(self._times[chosen], t))
        near = []
        for i in chosen[max(after - 1, 0):after + 1]:
            run = self._run == self._run[i]
            interval = float(np.median(np.diff(self._times[run]))) if np.count_nonzero(run) > 1 else 0.0
            if abs(self._times[i] - t) <= interval * (max(int(self._places[run].max()), 1) if downbeat else 1):
                near.append(float(self._times[i]))
        return min(near, key=lambda time: abs(time - t)) if near else None

    def phase(self, t: float) -> float:
        last, period, _ = self._grid(t)
        return min(max((t - last) / period, 0.0), math.nextafter(1.0, 0.0))

    def confidence(self, t: float) -> float:
        return 1.0 if self._grid(t)[2] else 0.0

    def _grid(self, t: float) -> tuple[float, float, bool]:
        """(the beat at or before `t`, the period there, whether a beat is there to sync to)."""
        times, run = self._times, self._run
        i = int(np.searchsorted(times, t, side="right")) - 1
        if 0 <= i < len(times) - 1 and run[i] == run[i + 1]:
            return float(times[i]), float(times[i + 1] - times[i]), True
        behind = i >= 1 and run[i - 1] == run[i]
        if i + 2 < len(times) and run[i + 1] == run[i + 2]:
            # A run ahead, its first beat within LEAD_BEATS: a fade asked in a breakdown lands on
            # its grid, on the drop (with none, it landed 0.28 s after it, a cut before it).
            anchor, period = times[i + 1], self._lead[run[i + 1]]
            soon = anchor - t <= LEAD_BEATS * period
            if soon or not behind:
                return float(anchor + math.floor((t - anchor) / period) * period), float(period), bool(soon)
        if behind:  # after a run: its last interval goes on, with nothing to sync to
            anchor, period = times[i], times[i] - times[i - 1]
        else:
            anchor, period = (times[i] if i >= 0 else self.now), self._default_period
        return float(anchor + math.floor((t - anchor) / period) * period), float(period), False


def _one_loop(beat_map: BeatMap) -> BeatMap:
    """A looping map's beats that lie in its loop (a beat file may list more), in their runs."""
    kept = [(run[inside], place[inside]) for run, place in zip(beat_map.runs, beat_map.places)
            if (inside := (run >= 0) & (run < beat_map.loop)).any()]
    return BeatMap(tuple(run for run, _ in kept), tuple(place for _, place in kept), beat_map.loop)


def _seamless(beat_map: BeatMap) -> bool:
    """A looping map whose last run ends a beat before the loop does, and whose first run starts
    with it: the loop's end is no break (the demo track's), and its grid goes on across it."""
    first, last = beat_map.runs[0] if beat_map.runs else (), beat_map.runs[-1] if beat_map.runs else ()
    if len(first) < 2 or len(last) < 2:
        return False
    interval = last[-1] - last[-2]
    return first[0] <= SEAM_SHARE * interval and abs(beat_map.loop - last[-1] - interval) <= SEAM_SHARE * interval
