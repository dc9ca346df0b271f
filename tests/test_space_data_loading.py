from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from live.errors import UserError
from live.space.cache import ArrayCache, file_identity
from live.space.data.audio import AudioSpan
from live.space.data.images import ImageFile


def write_tone(path: Path, seconds: float, sample_rate: int = 16000, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    mono = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    sf.write(path, np.repeat(mono[:, None], channels, axis=1), sample_rate)
    return mono


def test_whole_file_is_decoded_to_mono_at_the_requested_rate(tmp_path):
    path = tmp_path / "tone.wav"
    write_tone(path, 1.0, 16000)
    samples = AudioSpan(path).load(8000)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == 8000
    assert 0.45 < np.abs(samples[100:-100]).max() < 0.55  # mono mix of two equal channels, not their sum


def test_span_cuts_from_start_and_pads_past_the_end_with_silence(tmp_path):
    path = tmp_path / "tone.wav"
    mono = write_tone(path, 1.0, 16000, channels=1)
    span = AudioSpan(path, start=0.5, duration=1.0).load(16000)
    assert len(span) == 16000
    np.testing.assert_allclose(span[:8000], mono[8000:], atol=1e-4)
    assert not span[8000:].any()
    with pytest.raises(UserError, match="nothing to read"):
        AudioSpan(path, start=2.0, duration=1.0).load(16000)


def test_broken_and_missing_audio_files_are_user_errors(tmp_path):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3 this is not audio" * 10)
    with pytest.raises(UserError):
        AudioSpan(broken).load(16000)
    with pytest.raises(UserError, match="not found"):
        AudioSpan(tmp_path / "absent.wav").load(16000)


def test_array_cache_reuses_entries_and_notices_a_replaced_file(tmp_path):
    # The space's pools key each spectrogram by file_identity: an edited file is computed anew.
    path = tmp_path / "tone.wav"
    write_tone(path, 0.5, 16000)
    cache = ArrayCache(tmp_path / "cache")
    made = []

    def decode():
        made.append(path)
        return AudioSpan(path).load(16000)

    first = cache.get(file_identity(path), decode)
    entries = sorted((tmp_path / "cache").glob("*.npy"))
    assert len(entries) == 1
    np.testing.assert_array_equal(cache.get(file_identity(path), decode), first)
    assert sorted((tmp_path / "cache").glob("*.npy")) == entries and len(made) == 1
    sf.write(path, np.zeros(4000, np.float32), 16000)
    os.utime(path, ns=(0, 10**18))  # a new mtime even on coarse-clock file systems
    assert len(cache.get(file_identity(path), decode)) == 4000
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2


def write_quadrants(path: Path, width: int = 8, height: int = 6) -> None:
    """Left half red, right half blue."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2, 0] = 255
    pixels[:, width // 2:, 2] = 255
    Image.fromarray(pixels).save(path)


def test_image_loads_as_unit_float_chw_and_box_crops_clipped_to_the_frame(tmp_path):
    path = tmp_path / "img.png"
    write_quadrants(path)
    whole = ImageFile(path).load()
    assert whole.shape == (3, 6, 8) and whole.dtype == torch.float32 and whole.max() == 1.0
    right = ImageFile(path, box=(4, -3, 20, 6)).load()  # sticks out of the frame on three sides
    assert right.shape == (3, 6, 4)
    assert torch.equal(right[2], torch.ones(6, 4)) and not right[0].any()


def test_a_picture_past_pillow_s_warning_size_loads_without_its_warning(tmp_path, monkeypatch):
    """A 90-180 MP picture printed Pillow's two-line warning into `va`'s one-line output (review)."""
    Image.new("RGB", (15, 10), (200, 10, 10)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 150 pixels: past it, within twice it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ImageFile(tmp_path / "big.png").load().shape == (3, 10, 15)


def test_broken_image_and_box_outside_the_picture_are_user_errors(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="cannot read image"):
        ImageFile(broken).load()
    path = tmp_path / "img.png"
    write_quadrants(path)
    with pytest.raises(UserError, match="outside"):
        ImageFile(path, box=(10, 10, 20, 20)).load()


def test_a_full_disk_while_caching_is_one_line_and_leaves_no_partial_entry(tmp_path, monkeypatch):
    """The cache wrote its own partial file: a full disk was an OSError traceback and left the
    partial file in the cache folder for good."""
    real = Path.write_bytes

    def full(self, data):
        real(self, data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    cache = ArrayCache(tmp_path / "cache")
    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(UserError, match="No space left on device"):
        cache.get("key", lambda: np.zeros(100, np.float32))
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("damage", [b"", b"\x93NUMPY\x01\x00"])
def test_a_damaged_cache_entry_is_made_again(tmp_path, damage):
    """An emptied or cut-short entry ended every later eval space and train space in a
    traceback (found by review)."""
    cache = ArrayCache(tmp_path / "cache")
    cache.get("k", lambda: np.arange(4.0))
    cache.path("k").write_bytes(damage)
    np.testing.assert_array_equal(cache.get("k", lambda: np.arange(4.0)), np.arange(4.0))
    np.testing.assert_array_equal(np.load(cache.path("k")), np.arange(4.0))
