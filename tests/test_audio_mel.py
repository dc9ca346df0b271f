from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from live.audio.mel import LOG_OFFSET, LogMel, MelWindow
from live.errors import UserError

WINDOW = MelWindow(sample_rate=16000, n_fft=512, hop_length=256, n_mels=40, window_seconds=1.0)


def sine(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("source_rate", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_shape_is_fixed_whatever_the_source(source_rate, channels):
    audio = np.repeat(sine(440, source_rate)[:, None], channels, axis=1)
    mel = LogMel(WINDOW, source_rate)(audio)
    assert mel.shape == (1, WINDOW.n_mels, WINDOW.frames) == (1, 40, 63)
    assert mel.dtype == torch.float32


def test_silence_is_the_log_floor_and_short_input_is_padded_at_the_start():
    log_mel = LogMel(WINDOW, 16000)
    assert torch.allclose(log_mel(np.zeros(100, np.float32)), torch.tensor(math.log(LOG_OFFSET)))
    assert LOG_OFFSET == 1e-6  # the floor every trained encoder saw: silence is -13.8
    half = log_mel(sine(1000, 16000, seconds=0.5))
    assert half[0, :, :20].max() <= math.log(LOG_OFFSET) + 1e-3     # the padded past is silent
    assert half[0, :, -20:].max() > 0 - 10                          # the recent half is not


def test_louder_raises_every_active_band_by_the_power_ratio():
    log_mel = LogMel(WINDOW, 44100)
    quiet, loud = log_mel(sine(1000, 44100, amplitude=0.05)), log_mel(sine(1000, 44100, amplitude=0.5))
    band = int(quiet[0].mean(dim=1).argmax())
    # 10x amplitude = 100x power: + ln(100) in a log-power spectrogram.
    assert float((loud - quiet)[0, band, 5:-5].mean()) == pytest.approx(math.log(100), abs=0.05)


def test_a_higher_tone_lights_a_higher_band():
    log_mel = LogMel(WINDOW, 44100)
    peaks = [int(log_mel(sine(f, 44100))[0].mean(dim=1).argmax()) for f in (200, 1000, 5000)]
    assert peaks[0] < peaks[1] < peaks[2]


def test_long_input_uses_its_most_recent_window():
    log_mel = LogMel(WINDOW, 16000)
    old_then_new = np.concatenate([sine(300, 16000, seconds=2.0), sine(3000, 16000)])
    torch.testing.assert_close(log_mel(old_then_new), log_mel(sine(3000, 16000)))


def test_impossible_settings_are_user_errors():
    with pytest.raises(UserError, match="f_max"):
        MelWindow(sample_rate=16000, f_max=9000.0)
    with pytest.raises(UserError, match="window_seconds"):
        MelWindow(window_seconds=0.01)
    # Hand-edited bundle.toml values that would ask for terabytes or empty filters.
    with pytest.raises(UserError, match="sample_rate must be in 1000..768000"):
        MelWindow(sample_rate=10**9)
    for seconds in (1e6, 1e308):
        with pytest.raises(UserError, match="window_seconds must be at most 60"):
            MelWindow(window_seconds=seconds)
    with pytest.raises(UserError, match=r"n_mels must be in 1..n_fft // 2 \+ 1"):
        MelWindow(n_fft=256, n_mels=200)
    # Odd: one frame short of `frames` where hop_length divides the window (an assertion, before).
    with pytest.raises(UserError, match="n_fft must be even"):
        MelWindow(n_fft=1023, hop_length=525)


def test_stereo_is_heard_as_its_mono_mix_not_one_side():
    right_only = np.stack([np.zeros(16000, np.float32), sine(1000, 16000, amplitude=0.4)], axis=1)
    log_mel = LogMel(WINDOW, 16000)
    torch.testing.assert_close(log_mel(right_only), log_mel(right_only.mean(axis=1)))


def test_a_whole_clip_s_spectrogram_is_the_window_s_at_both_ends():
    clip = np.random.default_rng(1).standard_normal(WINDOW.samples).astype(np.float32)
    log_mel = LogMel(WINDOW, WINDOW.sample_rate)
    torch.testing.assert_close(log_mel.whole(clip), log_mel(clip)[0], atol=1e-3, rtol=1e-4)
