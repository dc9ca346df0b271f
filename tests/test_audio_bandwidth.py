"""How far up a file's sound reaches, and the note a band-limited file gets."""
from __future__ import annotations

import numpy as np
import soundfile as sf

from live.audio.bandwidth import Bandwidth, band_note
from live.audio.decode import scan_audio


def noise(seconds: float, rate: int, tilt_db_per_octave: float = 0.0, seed: int = 0) -> np.ndarray:
    """Noise whose level falls `tilt_db_per_octave` above 200 Hz: a full band, bright or dark."""
    white = np.random.default_rng(seed).standard_normal(round(seconds * rate))
    spectrum = np.fft.rfft(white)
    freqs = np.maximum(np.fft.rfftfreq(len(white), 1 / rate), 200.0)
    spectrum *= 10 ** (tilt_db_per_octave * np.log2(freqs / 200.0) / 20)
    shaped = np.fft.irfft(spectrum, len(white))
    return (0.3 * shaped / np.abs(shaped).max()).astype(np.float32)


def top(samples: np.ndarray, rate: int, block: int = 10_000) -> float | None:
    band = Bandwidth()
    for start in range(0, len(samples), block):  # fed in blocks that split its frames
        band.add(samples[start:start + block], rate)
    return band.top_hz()


def test_a_full_band_is_heard_to_the_top_even_when_the_mix_is_dark():
    assert top(noise(10, 22050), 22050) > 10_500
    assert top(noise(10, 22050, tilt_db_per_octave=-9), 22050) > 10_000  # 5 octaves: 45 dB down at the top
    assert band_note("dark.wav", top(noise(10, 22050, -9), 22050), 11025) is None


def test_a_cut_is_found_at_a_low_rate_and_below_an_encoder_s_lowpass():
    low = noise(10, 16000)
    assert 7_800 < top(low, 16000) <= 8_000
    spectrum = np.fft.rfft(noise(10, 22050))
    spectrum[np.fft.rfftfreq(220500, 1 / 22050) > 8_400] = 0  # a low bitrate's encoder drops the top bands
    assert 8_200 < top(np.fft.irfft(spectrum, 220500).astype(np.float32), 22050) < 8_500  # a window's leak
    note = band_note("low.wav", top(low, 16000), 11025)
    assert note.startswith("low.wav has no sound above 8.0 kHz") and "more aroused" in note


def test_silence_and_a_file_shorter_than_a_frame_say_nothing():
    assert top(np.zeros(22050 * 5, np.float32), 22050) is None
    assert top(noise(0.1, 22050), 22050) is None
    assert band_note("quiet.wav", None, 11025) is None


def test_a_scanned_file_says_how_far_up_it_reaches(tmp_path):
    sf.write(tmp_path / "full.wav", noise(6, 44100), 44100)
    sf.write(tmp_path / "low.wav", noise(6, 8000), 8000)
    assert scan_audio(tmp_path / "full.wav").top_hz > 20_000
    assert scan_audio(tmp_path / "low.wav").top_hz <= 4_000
