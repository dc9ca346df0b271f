"""Decoding files written by the test itself: libsndfile formats and FFmpeg-only ones."""
from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from live.audio.channels import mix_channels
from live.audio.decode import (SampleReader, StreamResampler, read_audio, resample, scan_audio,
                               stream_audio, stream_converted)
from live.errors import UserError

RATE = 44100


def tone(seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    """[frames, 2]: the left channel at 0.5, the right at 0.25."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = np.sin(2 * np.pi * freq * t).astype(np.float32)
    return np.stack([0.5 * wave, 0.25 * wave], axis=1)


def write_with_pyav(path: Path, codec: str, samples: np.ndarray, rate: int = RATE) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="stereo")
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[start:start + 1024].T),
                                               format="fltp", layout="stereo")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def rms(x: np.ndarray) -> np.ndarray:
    middle = x[len(x) // 4: 3 * len(x) // 4]     # away from codec priming and padding
    return np.sqrt(np.mean(middle ** 2, axis=0))


def test_wav_round_trip_is_exact(tmp_path):
    samples = tone()
    sf.write(str(tmp_path / "a.wav"), samples, RATE, subtype="FLOAT")
    audio = read_audio(tmp_path / "a.wav")
    assert audio.sample_rate == RATE and audio.samples.dtype == np.float32
    np.testing.assert_array_equal(audio.samples, samples)


@pytest.mark.parametrize("name,writer", [
    ("a.ogg", lambda p, x: sf.write(str(p), x, RATE, format="OGG", subtype="VORBIS")),
    ("a.mp3", lambda p, x: write_with_pyav(p, "libmp3lame", x)),
    ("a.m4a", lambda p, x: write_with_pyav(p, "aac", x)),      # libsndfile cannot: PyAV decodes it
])
def test_lossy_formats_decode_to_the_same_tone(tmp_path, name, writer):
    writer(tmp_path / name, tone())
    audio = read_audio(tmp_path / name)
    assert audio.sample_rate == RATE and audio.channels == 2
    assert abs(audio.duration - 1.0) < 0.1
    np.testing.assert_allclose(rms(audio.samples), [0.5 / np.sqrt(2), 0.25 / np.sqrt(2)], rtol=0.05)


def test_resampling_and_mixing_keep_the_tone(tmp_path):
    sf.write(str(tmp_path / "a.wav"), tone(freq=1000.0), RATE)
    audio = read_audio(tmp_path / "a.wav", sample_rate=16000, channels=1)
    assert audio.sample_rate == 16000 and audio.samples.shape == (16000, 1)
    np.testing.assert_allclose(rms(audio.samples), [0.375 / np.sqrt(2)], rtol=0.01)
    spectrum = np.abs(np.fft.rfft(audio.samples[:, 0]))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)     # 1 Hz bins over 1 s


def test_mix_channels_spreads_mono_and_averages_the_rest():
    mono = np.arange(3, dtype=np.float32).reshape(3, 1)
    np.testing.assert_array_equal(mix_channels(mono, 2), np.repeat(mono, 2, axis=1))
    five = np.arange(15, dtype=np.float32).reshape(3, 5)
    np.testing.assert_array_equal(mix_channels(five, 2), np.repeat(five.mean(axis=1, keepdims=True), 2, axis=1))


def test_a_header_that_claims_an_absurd_sample_rate_is_refused_before_resampling(tmp_path):
    path = tmp_path / "broken.wav"
    sf.write(path, tone(0.1), RATE)
    data = bytearray(path.read_bytes())
    data[24:28] = (2_000_000_001).to_bytes(4, "little")  # the fmt chunk's sample rate
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="2000000001 samples a second"):
        read_audio(path, sample_rate=16000)


def test_a_folder_is_not_called_missing(tmp_path):
    with pytest.raises(UserError, match="is a folder, not an audio file"):
        read_audio(tmp_path)


def test_a_pipe_is_not_called_missing(tmp_path):
    """`file:/dev/stdin` or a FIFO was "audio file not found" (found by review)."""
    import os

    fifo = tmp_path / "live.wav"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="live.wav is not a file but a pipe or a device: .*save it to a file first"):
        read_audio(fifo)


def test_headerless_raw_samples_are_a_one_line_error(tmp_path):
    # soundfile picks the RAW format by the suffix, then cannot open it without a rate (TypeError).
    path = tmp_path / "take.raw"
    path.write_bytes((tone(0.1) * 32767).astype(np.int16).tobytes())
    with pytest.raises(UserError, match="take.raw"):
        read_audio(path)


def test_a_file_the_file_system_cannot_read_is_a_one_line_error(tmp_path, monkeypatch):
    import live.audio.decode as decode

    sf.write(tmp_path / "a.wav", tone(0.1), RATE)

    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(decode, "_starts_as_mpeg_audio", unreadable)
    with pytest.raises(UserError, match=r"^cannot read .*a.wav \(Permission denied\); check that it is still there"):
        read_audio(tmp_path / "a.wav")


def test_a_float_file_with_nan_samples_is_a_one_line_error(tmp_path):
    samples = np.zeros((8000, 1), np.float32)
    samples[10:13] = np.nan
    samples[20] = np.inf
    sf.write(tmp_path / "nan.wav", samples, 8000, subtype="FLOAT")
    with pytest.raises(UserError, match="holds 4 NaN or infinite samples"):
        read_audio(tmp_path / "nan.wav")


def test_a_file_name_that_is_not_utf8_is_read(tmp_path):
    name = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9.wav"))  # Latin-1, as old archives have
    sf.write(os.fsencode(name), tone(0.1), RATE)
    assert read_audio(name).duration == pytest.approx(0.1, abs=1e-3)


@pytest.mark.parametrize("from_rate,to_rate", [(44100, 22050), (48000, 22050), (8000, 22050), (44101, 22050),
                                               (22050, 22050), (96000, 16000)])
def test_resampling_a_block_at_a_time_is_resampling_the_whole(from_rate, to_rate):
    samples = np.random.default_rng(0).standard_normal((2 * from_rate + 137, 2)).astype(np.float32)
    resampler = StreamResampler(from_rate, to_rate, channels=2)
    cuts = np.cumsum([0, 1, 5000, 3, 40000, 12345])
    parts = [resampler.push(samples[a:b]) for a, b in zip(cuts, [*cuts[1:], len(samples)])]
    joined = np.concatenate([*parts, resampler.finish()])
    np.testing.assert_allclose(joined, resample(samples, from_rate, to_rate), atol=1e-6)


def write_vbr_mp3(path: Path, samples: np.ndarray, xing: bool = True) -> None:
    """LAME at VBR quality 2, as music libraries are encoded; `xing`: with the header that
    gives a VBR file's length (some encoders and stream rippers leave it out)."""
    with av.open(str(path), "w", options={} if xing else {"write_xing": "0"}) as container:
        stream = container.add_stream("libmp3lame", rate=RATE, layout="stereo")
        stream.codec_context.qscale = 2
        fmt = stream.codec_context.codec.audio_formats[0].name  # planar, of the build's sample type
        dtype, scale = {"s16p": (np.int16, 2 ** 15 - 1), "s32p": (np.int32, 2 ** 31 - 1), "fltp": (np.float32, 1)}[fmt]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T * scale, dtype=dtype), format=fmt,
                                           layout="stereo")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def chirp(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.stack([0.3 * np.sin(2 * np.pi * (200 * t + 100 * t ** 2)), 0.2 * np.sin(2 * np.pi * 330 * t)],
                    axis=1).astype(np.float32)


@pytest.mark.parametrize("name,writer", [
    ("a.wav", lambda p, x: sf.write(str(p), x, RATE, subtype="FLOAT")),
    ("a.mp3", write_vbr_mp3),  # FFmpeg's; libsndfile's seek after each read restarted mpg123 at every block
    ("a.opus", lambda p, x: write_with_pyav(p, "libopus", x, rate=48000)),  # FFmpeg's pre-skip, dropped only after a seek
    ("a.m4a", lambda p, x: write_with_pyav(p, "aac", x)),
])
def test_a_file_streamed_in_blocks_is_the_file_read_whole(tmp_path, name, writer):
    writer(tmp_path / name, chirp(3.0))
    blocks = list(stream_audio(tmp_path / name, seconds=0.3))
    assert len(blocks) >= 9 and len({b.sample_rate for b in blocks}) == 1
    joined = np.concatenate([b.samples for b in blocks])
    if name in ("a.wav", "a.opus"):  # libsndfile's own whole read, as the old reader made it
        np.testing.assert_array_equal(joined, sf.read(tmp_path / name, dtype="float32", always_2d=True)[0])
    np.testing.assert_array_equal(joined, read_audio(tmp_path / name).samples)
    converted = np.concatenate(list(stream_converted(tmp_path / name, 16000, channels=1, seconds=0.3)))
    np.testing.assert_allclose(converted, read_audio(tmp_path / name, 16000, channels=1).samples, atol=1e-6)


def test_a_vbr_mp3_without_a_xing_header_is_read_to_its_end(tmp_path):
    # libsndfile takes the first frame's bit rate for the whole file's: it read 9 s of 45 s.
    samples = chirp(6.0)
    samples[:RATE] *= 0.01  # a quiet first second: LAME's first frames at its lowest bit rate
    write_vbr_mp3(tmp_path / "a.mp3", samples, xing=False)
    info = sf.info(tmp_path / "a.mp3")
    assert info.frames / info.samplerate < 5.0  # libsndfile's estimate is short: the case this covers
    assert 6.0 <= read_audio(tmp_path / "a.mp3").duration < 6.1  # the encoder's padding is not dropped without the tag


def test_a_cut_short_mp3_is_read_without_mpg123_s_warnings(tmp_path, capfd):
    write_vbr_mp3(tmp_path / "a.mp3", chirp(6.0))
    data = (tmp_path / "a.mp3").read_bytes()
    (tmp_path / "a.mp3").write_bytes(data[:len(data) // 2])
    assert 2.0 < read_audio(tmp_path / "a.mp3").duration < 4.0
    assert capfd.readouterr().err == ""  # "Warning: Xing stream size off by more than 1%, ..." as libsndfile opened it



@pytest.mark.parametrize("damage", ["junk after the end", "bytes overwritten"])
def test_a_damaged_mp3_plays_around_its_damage_as_ffmpeg_plays_it(tmp_path, capsys, damage):
    """A few bad bytes, or junk after the last frame, refused a whole track that players and
    FFmpeg's command play, naming MP3 as the remedy (review)."""
    write_vbr_mp3(tmp_path / "a.mp3", chirp(6.0))
    data = bytearray((tmp_path / "a.mp3").read_bytes())
    if damage == "junk after the end":
        data += bytes(range(256)) * 12
    else:
        data[len(data) // 2:len(data) // 2 + 800] = b"\xff" * 800
    (tmp_path / "a.mp3").write_bytes(bytes(data))
    assert 5.5 < read_audio(tmp_path / "a.mp3").duration < 6.2
    assert capsys.readouterr().err.count("a damaged stretch") == 1
    # A second reading (a render's, a show's after its check) says nothing: it was said (review).
    assert sum(len(a.samples) for a in stream_audio(tmp_path / "a.mp3", quiet=True)) > 5.5 * RATE
    assert capsys.readouterr().err == ""


def test_a_broken_mp3_is_one_error_without_mpg123_s_notes(tmp_path, capfd):
    (tmp_path / "broken.mp3").write_bytes(b"not audio at all" * 50)
    with pytest.raises(UserError, match="broken.mp3"):
        read_audio(tmp_path / "broken.mp3")
    assert capfd.readouterr().err == ""  # three "Note: ..." lines as libsndfile handed it to mpg123


def test_a_file_libsndfile_gives_up_on_midway_is_read_on_by_ffmpeg(tmp_path):
    path = tmp_path / "damaged.flac"
    sf.write(path, chirp(4.0), RATE, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[int(len(data) * 0.85):int(len(data) * 0.85) + 64] = np.random.default_rng(1).bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(sf.LibsndfileError):
        sf.read(path)
    blocks = list(stream_audio(path, seconds=0.5))  # libsndfile for the first blocks, FFmpeg after
    assert len(blocks) >= 7
    np.testing.assert_array_equal(np.concatenate([b.samples for b in blocks]), read_audio(path).samples)


def test_a_streamed_file_says_when_its_broken_samples_come(tmp_path):
    samples = np.zeros((8000 * 5, 1), np.float32)
    samples[8000 * 3 + 10] = np.nan
    sf.write(tmp_path / "nan.wav", samples, 8000, subtype="FLOAT")
    with pytest.raises(UserError, match=r"holds 1 NaN or infinite samples in 3.0-4.0 s"):
        list(stream_audio(tmp_path / "nan.wav", seconds=1.0))


def test_a_float_file_with_integer_scaled_samples_is_a_one_line_error(tmp_path):
    sf.write(tmp_path / "scaled.wav", tone(1.0) * 32767, RATE, subtype="FLOAT")
    with pytest.raises(UserError, match=r"holds samples up to 1.64e\+04 in 0.0-1.0 s, far outside -1..1"):
        read_audio(tmp_path / "scaled.wav")


def test_a_sample_reader_hands_over_any_counts_and_skips_without_holding(tmp_path):
    samples = chirp(3.0)
    sf.write(tmp_path / "a.wav", samples, RATE, subtype="FLOAT")
    audio = scan_audio(tmp_path / "a.wav")
    assert (audio.sample_rate, audio.channels, audio.frames) == (RATE, samples.shape[1], len(samples))
    reader = SampleReader(stream_audio(audio.path, seconds=0.25), audio.channels)
    counts = [0, 1, 7, 2 * RATE // 4 + 3, 5, RATE]  # within a block, across one and across several
    pieces = [reader.read(n) for n in counts]
    reader.skip(RATE // 3)
    rest = reader.read(10 * RATE)
    at = 0
    for n, piece in zip(counts, pieces):
        np.testing.assert_array_equal(piece, samples[at:at + n])
        at += n
    np.testing.assert_array_equal(rest, samples[at + RATE // 3:])
    assert reader.read(5).shape == (0, samples.shape[1])


@pytest.mark.parametrize("changed", [
    lambda path, x: sf.write(path, x[:RATE], RATE),         # cut short
    lambda path, x: sf.write(path, x, RATE // 2),           # another rate: the sound at the wrong speed
    lambda path, x: sf.write(path, x[:, :1], RATE),         # another channel count
])
def test_a_file_changed_after_its_scan_is_refused_while_it_is_read(tmp_path, changed):
    samples = chirp(3.0)
    sf.write(tmp_path / "a.wav", samples, RATE)
    audio = scan_audio(tmp_path / "a.wav")
    changed(tmp_path / "a.wav", samples)
    with pytest.raises(UserError, match="a.wav changed while it was being read"):
        audio.reader().read(2 * RATE)


def test_a_file_cut_short_says_how_much_of_its_stated_length_it_holds(tmp_path):
    sf.write(tmp_path / "whole.wav", tone(3.0), RATE)
    (tmp_path / "cut.wav").write_bytes((tmp_path / "whole.wav").read_bytes()[:RATE])  # a quarter second of 16-bit stereo
    cut = scan_audio(tmp_path / "cut.wav")
    assert cut.declared == 3 * RATE and cut.frames < RATE // 4
    assert "cut.wav holds 0.25 s of the 3.00 s its header states (cut short" in cut.shortfall()
    assert scan_audio(tmp_path / "whole.wav").shortfall() is None



def test_a_flac_cut_short_is_used_as_far_as_it_goes(tmp_path):
    """Its last frame is partial, which both decoders refused, naming the format."""
    sf.write(tmp_path / "whole.flac", tone(3.0), RATE)
    whole = (tmp_path / "whole.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(whole[:len(whole) // 2])
    cut = scan_audio(tmp_path / "cut.flac")
    assert cut.declared == 3 * RATE and RATE < cut.frames < 2.5 * RATE
    assert "cut.flac holds" in cut.shortfall() and "of the 3.00 s its header states" in cut.shortfall()
    assert read_audio(tmp_path / "cut.flac").samples.shape[0] == cut.frames


def write_piped_wav(path: Path, samples: np.ndarray) -> None:
    """A WAV as a writer to a pipe leaves it (FFmpeg's `-f wav -`): sizes unknown, all ones."""
    sf.write(path, samples, RATE)
    data = bytearray(path.read_bytes())
    at = data.index(b"data")
    data[4:8] = data[at + 4:at + 8] = b"\xff" * 4
    path.write_bytes(bytes(data))


def write_unfinished_wav(path: Path, samples: np.ndarray) -> None:
    """A WAV whose recorder stopped before writing its data chunk's size: 0 there (review 76)."""
    sf.write(path, samples, RATE)
    data = bytearray(path.read_bytes())
    at = data.index(b"data")
    data[at + 4:at + 8] = bytes(4)
    path.write_bytes(bytes(data))


def write_piped_flac(path: Path, samples: np.ndarray) -> None:
    """A FLAC as a writer to a pipe leaves it: STREAMINFO's sample count and MD5 are 0 (libsndfile
    then says 2**63 - 1 frames, and a note called the file cut short of 6.6 million years; review 76)."""
    sf.write(path, samples, RATE)
    data = bytearray(path.read_bytes())
    data[21] &= 0xF0  # the count's top 4 bits, then its 32 low ones, then the MD5
    data[22:42] = bytes(20)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("write", [
    lambda path: sf.write(path.with_suffix(".flac"), tone(2.0), RATE),
    lambda path: sf.write(path.with_suffix(".wav"), tone(2.0), RATE, subtype="FLOAT"),
    lambda path: write_vbr_mp3(path.with_suffix(".mp3"), tone(2.0)),
    lambda path: write_piped_wav(path.with_suffix(".wav"), tone(2.0)),
    lambda path: write_unfinished_wav(path.with_suffix(".wav"), tone(2.0)),
    lambda path: write_piped_flac(path.with_suffix(".flac"), tone(2.0)),
])
def test_a_whole_file_has_no_shortfall(tmp_path, write):
    write(tmp_path / "a")
    (path,) = tmp_path.iterdir()
    audio = scan_audio(path)
    assert audio.shortfall() is None and audio.frames >= 2 * RATE - 1


# Integer-scaled float files are refused whichever sign their peak has.
def test_a_float_file_with_large_negative_samples_is_refused(tmp_path):
    x = np.zeros(8000, np.float32)
    x[100] = -30000.0
    sf.write(tmp_path / "neg.wav", x, 8000, subtype="FLOAT")
    with pytest.raises(UserError, match="far outside"):
        read_audio(tmp_path / "neg.wav")


# Up to 10 ms short of the header is not called cut short.
def test_a_few_samples_short_of_the_header_is_no_shortfall(tmp_path):
    from live.audio.decode import AudioFile
    ok = AudioFile(tmp_path / "a.flac", 48000, 2, frames=48000 * 3 - 100, declared=48000 * 3)
    assert ok.shortfall() is None
    cut = AudioFile(tmp_path / "a.flac", 48000, 2, frames=48000 * 2, declared=48000 * 3)
    assert cut.shortfall() is not None


# A header claiming fewer than 1000 samples a second is refused.
def test_a_header_claiming_a_tiny_sample_rate_is_refused(tmp_path):
    path = tmp_path / "broken.wav"
    sf.write(path, np.zeros(4000, np.float32), 8000)
    data = bytearray(path.read_bytes())
    data[24:28] = (10).to_bytes(4, "little")  # the fmt chunk's sample rate
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="10 samples a second"):
        read_audio(path)


@pytest.mark.parametrize("second_rate", [48000, RATE])
def test_mp3s_joined_end_to_end_with_another_rate_or_layout_are_one_line(tmp_path, second_rate):
    """Joined with `cat` (a stream rip), a 44.1 kHz part and a 48 kHz one played the first at the
    second's rate, 9 % fast; a mono part and a stereo one were a traceback (review 52)."""
    first, second = tmp_path / "first.mp3", tmp_path / "second.mp3"
    write_with_pyav(first, "libmp3lame", tone(seconds=2.0))
    if second_rate == RATE:  # the same rate, mono
        with av.open(str(second), "w") as container:
            stream = container.add_stream("libmp3lame", rate=RATE, layout="mono")
            for start in range(0, 2 * RATE, 1152):
                frame = av.AudioFrame.from_ndarray(np.full((1, 1152), 0.1, np.float32), format="fltp", layout="mono")
                frame.sample_rate = RATE
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    else:
        write_with_pyav(second, "libmp3lame", tone(seconds=2.0) * 0.5, rate=second_rate)
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    with pytest.raises(UserError, match="joined.mp3 changes from 44100 Hz, 2 channel\\(s\\) to .* \\(files joined"):
        read_audio(joined)
