"""Where the bars begin: each beat's place in its bar, for a render that knows its beats
(`bar_positions`), and for beats found live, counted from a beat the performer marks (`CountedBars`).

A music video changes on the one. Among beats, the downbeat is where the harmony changes
(chords change on bars, Goto 2001; the spectral difference between beat-long segments,
Davies & Plumbley 2006) and where the kick falls (rock's and hip-hop's kick on 1 and 3
against the snare on 2 and 4; every beat in four-on-the-floor, where the harmony decides).
Each beat gets that evidence, and a path through the places in a four-beat bar (Viterbi)
reads it: on from one place to the next for free, anywhere else at a price, so a bar of
two, or a beat the tracker missed, moves the count where the evidence does.

Assumed: four beats a bar. A drum loop of kick and snare alone does not tell beat 3 from
beat 1 (nothing in the sound does); music at twice its tempo gets bars of half-bars.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

BEATS_PER_BAR = 4
LOW_BANDS = 2         # of the beat map's 40 mel bands from 30 Hz: up to about 150 Hz, the kick's
SWITCH_COST = 12.0    # a move other than to the next place, against each beat's standardized evidence
KICK_REACH = 2        # frames around a beat its kick may peak in
BEATS_PER_PASS = 1024  # beats whose spectra are averaged at once: a few MB


def bar_positions(frames: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Each beat's place in its bar, 1 (the downbeat) to BEATS_PER_BAR, for the beats of one
    run at `frames` (rising frame numbers into `bands`, [frames, mel bands] in dB); 0 for each
    of a run too short to count bars by (under two bars)."""
    assert bands.ndim == 2 and bands.shape[1] > LOW_BANDS, bands.shape
    frames = np.clip(np.round(frames).astype(np.int64), 0, len(bands) - 1)
    if len(frames) < 2 * BEATS_PER_BAR:  # too few to count bars by
        return np.zeros(len(frames), np.int64)
    return _places(_zscores(_kicks(frames, bands)) + _zscores(_changes(frames, bands))) + 1


def _changes(frames: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Per beat: how far the spectrum of the beat that starts there lies from the one before."""
    bounds = np.append(frames, min(len(bands), frames[-1] + max(1, int(np.median(np.diff(frames))))))
    sums = np.empty((len(frames), bands.shape[1]), np.float32)
    for at in range(0, len(frames), BEATS_PER_PASS):  # a copy of an hour's bands at once was 50 MB (review 84)
        first, last = bounds[at], bounds[min(at + BEATS_PER_PASS, len(frames))]
        part = frames[at:at + BEATS_PER_PASS]
        sums[at:at + len(part)] = np.add.reduceat(bands[first:max(last, part[-1] + 1)].astype(np.float32),
                                                  part - first, axis=0)
    means = sums / np.maximum(np.diff(bounds), 1)[:, None]  # a beat on the next one's frame: that frame
    return np.concatenate([[0.0], np.linalg.norm(np.diff(means, axis=0), axis=1)])


def _kicks(frames: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Per beat: the rise of the low bands' power at it. Linear: on the decibel flux the snare's
    noise, rising from near silence there, outweighed the kick."""
    first, last = max(0, frames[0] - KICK_REACH - 1), min(len(bands), frames[-1] + KICK_REACH + 1)
    power = 10.0 ** (bands[first:last, :LOW_BANDS].astype(np.float64) / 10.0)
    rise = np.concatenate([[0.0], np.maximum(0.0, np.diff(power, axis=0)).sum(axis=1)])
    around = np.clip(frames[:, None] - first + np.arange(-KICK_REACH, KICK_REACH + 1)[None, :], 0, len(rise) - 1)
    return rise[around].max(axis=1)


def _places(evidence: np.ndarray) -> np.ndarray:
    """The places (0 = downbeat) that best fit the downbeat evidence along a path that moves
    on by one place a beat, or pays SWITCH_COST to go elsewhere."""
    places = np.arange(BEATS_PER_BAR)
    onward = (places[:, None] + 1) % BEATS_PER_BAR == places[None, :]   # [from, to]
    cost = np.where(onward, 0.0, -SWITCH_COST)
    score = np.where(places == 0, evidence[0], 0.0)
    back = np.zeros((len(evidence), BEATS_PER_BAR), np.int64)
    for k in range(1, len(evidence)):
        moves = score[:, None] + cost
        back[k] = np.argmax(moves, axis=0)
        score = moves[back[k], places] + np.where(places == 0, evidence[k], 0.0)
    path = np.zeros(len(evidence), np.int64)
    path[-1] = int(np.argmax(score))
    for k in range(len(evidence) - 1, 0, -1):
        path[k - 1] = back[k, path[k]]
    return path


class CountedBars:
    """The places of beats found live, counted from one the performer marked as a bar's first.

    Live, no bar finder reads bars before the music that decides them has played (the finder
    above weighs the whole track), so the performer says where the one is and the count goes
    on from it: each beat moves it on by the beats since the one before, at the grid's period,
    so beats a break left out still count. Four beats a bar. A count that slipped (the grid
    jumped half a beat, a bar of two) is mended by marking again; one that a tempo change of
    more than TEMPO_CHANGE since the mark would carry into other music (the next song, the
    tracker's other octave) is dropped: no places until the next mark.
    """

    TEMPO_CHANGE = 0.08  # as the beat tracker's own jump (live.audio.beats)

    def __init__(self, remember: int = 32) -> None:
        # The newest beats found and their places (0: not counted), in time order: a mark chooses
        # among them, and those found after the one marked (analysed ahead of the speakers) are placed again.
        self._beats: deque[tuple[float, int]] = deque(maxlen=remember)
        # Where the count goes on from: the newest beat placed (or the one marked, not found yet), its
        # place, and the period at the mark; None before a mark or after the count was dropped.
        self._count: tuple[float, int, float] | None = None

    def add(self, beat: float, period: float) -> int:
        """A beat found live, later than those added before: its place (0: not counted). The beat
        marked before the grid found it is the first found within half a period of it."""
        if self._beats and beat <= self._beats[-1][0]:
            return self.place(beat)
        place = self.place_at(beat, period)
        if place:
            self._count = (beat, place, self._count[2])
        self._beats.append((beat, place))
        return place

    def place_at(self, t: float, period: float) -> int:
        """The place a beat at `t` would have, counted on at `period` (0: not counted); a tempo
        too far from the mark's drops the count."""
        if self._count is not None and abs(period / self._count[2] - 1.0) > self.TEMPO_CHANGE:
            self._count = None
        if self._count is None:
            return 0
        at, place, _ = self._count
        return (place - 1 + round((t - at) / period)) % BEATS_PER_BAR + 1

    def place(self, beat: float) -> int:
        """The place of the beat added at `beat` (0: not counted, or no such beat remembered)."""
        return next((place for t, place in reversed(self._beats) if abs(t - beat) <= 1e-6), 0)

    def mark(self, t: float, period: float, coming: Sequence[float] = ()) -> float | None:
        """The beat nearest `t` within half a period, among those added and those `coming` (the grid's
        next, a tap waiting for its audio: a press just ahead of the beat), is a bar's first; the
        beats after it are counted again from it. Its time; None where no beat is that near."""
        found = [b for b, _ in self._beats]
        beat = min([*found, *coming], key=lambda b: abs(b - t), default=None)
        if beat is None or abs(beat - t) > period / 2:
            return None
        self._count = (beat, 1, period)
        later = [b for b in found if b > beat]
        kept = [(b, 1 if b == beat else place) for b, place in self._beats if b <= beat]
        self._beats = deque(kept, maxlen=self._beats.maxlen)
        for b in later:
            self.add(b, period)
        return beat


def _zscores(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / max(float(x.std()), 1e-12)
