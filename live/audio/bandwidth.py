"""How far up a file's sound reaches.

The space's music encoder reads band-limited audio (a 16 kHz file, a low-bitrate MP3) as
more aroused than the same music whole: a calm song's arousal 0.27 from the 22.05 kHz
original, 0.50 from a 16 kHz copy, 0.60 from an 8 kHz one (review 97). Its training clips
(4Q's MP3 previews) hold the shortcut: of 30 drawn from each quadrant, 21 of the 60 aroused
ones (Q1, Q2) stop near 8 kHz against 13 of the 60 calm ones. So a reading or a video of
such a file is said to be suspect. What counts is a cut, not a dark mix: above an encoder's
or a low rate's cut the spectrum falls 80-110 dB below its body, where a full-band
recording's top octave stays within 30-60 dB of it.
"""
from __future__ import annotations

import numpy as np

FRAME = 4096            # samples an FFT: 5-11 Hz bins at the usual rates
STRIDE = 4              # every fourth frame: an hour-long mix costs a few seconds at most
LOUD_DBFS = -50.0       # quieter frames say nothing about the band (fades, silence)
BODY_HZ = (200.0, 4000.0)  # where any music has its level
CUT_DB = 70.0           # "nothing there": this far below the body's loud bins
LIMITED = 0.85          # a file reaching below this share of what the encoder hears is band-limited


class Bandwidth:
    """The mean power spectrum of a file's loud frames, fed a block at a time as decoded: a
    resampler's transition band would read as sound where a file has none."""

    def __init__(self) -> None:
        self.sample_rate: int | None = None
        self._window = np.hanning(FRAME).astype(np.float32)
        self._power = np.zeros(FRAME // 2 + 1)
        self._frames = 0
        self._seen = 0      # frames passed, loud or not, for the stride
        self._tail = np.zeros(0, np.float32)

    def add(self, samples: np.ndarray, sample_rate: int) -> None:
        """[n] or [n, channels] float32 samples, in order, all at one rate."""
        assert self.sample_rate in (None, sample_rate), (self.sample_rate, sample_rate)
        self.sample_rate = sample_rate
        mono = samples.mean(axis=1) if samples.ndim == 2 else samples
        mono = np.concatenate([self._tail, mono.astype(np.float32, copy=False)])
        whole = len(mono) // FRAME
        for i in range(whole):
            self._seen += 1
            if self._seen % STRIDE:
                continue
            frame = mono[i * FRAME:(i + 1) * FRAME]
            if np.mean(frame * frame) < 10 ** (LOUD_DBFS / 10):
                continue
            self._power += np.abs(np.fft.rfft(frame * self._window)) ** 2
            self._frames += 1
        self._tail = mono[whole * FRAME:]

    def top_hz(self) -> float | None:
        """The highest frequency with sound in it; None when no frame was loud enough to say."""
        if self._frames == 0 or self.sample_rate is None:
            return None
        level = 10 * np.log10(self._power / self._frames + 1e-30)
        freqs = np.fft.rfftfreq(FRAME, 1 / self.sample_rate)
        body = (freqs >= BODY_HZ[0]) & (freqs <= BODY_HZ[1])
        reached = np.nonzero(level > np.percentile(level[body], 95) - CUT_DB)[0]
        return float(freqs[reached[-1]])


def band_note(name: object, top_hz: float | None, heard_hz: float) -> str | None:
    """What to say of a file whose sound stops at `top_hz` to an encoder that hears up to `heard_hz`."""
    if top_hz is None or top_hz >= LIMITED * heard_hz:
        return None
    return (f"{name} has no sound above {top_hz / 1000:.1f} kHz (a low sample rate or bitrate?), where the space "
            f"hears up to {heard_hz / 1000:.1f} kHz: it reads band-limited music as more aroused than the same music "
            "whole, so its reading (and the picture) may be off; use a full-band copy if there is one")
