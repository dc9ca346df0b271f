"""Audio files to float32 arrays: libsndfile (soundfile) first, FFmpeg (PyAV) for the rest.

soundfile reads WAV, FLAC and OGG; PyAV covers MP3, M4A/AAC, Opus, video containers and
whatever else FFmpeg decodes. `read_audio` holds a whole file;
`stream_audio` hands it over a block at a time, for readers of hour-long files that need
only their windows, a running sum or one stretch after another (`SampleReader`): an hour
of 48 kHz stereo is 1.4 GB as float32, and `va` held twice a file's size when it read it
whole (184 MB for 4 minutes).
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from live.audio.bandwidth import Bandwidth
from live.audio.channels import mix_channels
from live.errors import UserError, note, printable

BLOCK_SECONDS = 20.0  # stream_audio's blocks: 20 s of 48 kHz stereo is 7.7 MB
# Samples beyond this (36 dB over full scale) are no recording's: a float file holding
# integer-scaled samples, or a driver delivering garbage. FFmpeg's AAC encoder loops
# forever on some of them.
MAX_SAMPLE = 64.0


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray     # [frames, channels] float32
    sample_rate: int

    def __post_init__(self) -> None:
        assert self.samples.ndim == 2 and self.samples.dtype == np.float32, (self.samples.shape, self.samples.dtype)

    @property
    def channels(self) -> int:
        return self.samples.shape[1]

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def _ratio(from_rate: int, to_rate: int) -> tuple[int, int]:
    g = math.gcd(from_rate, to_rate)
    return to_rate // g, from_rate // g


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling along time; exact for any pair of integer rates."""
    if from_rate == to_rate:
        return samples
    up, down = _ratio(from_rate, to_rate)
    return resample_poly(samples, up, down, axis=0).astype(np.float32)


class StreamResampler:
    """`resample` a block at a time: the outputs, joined, are `resample` of the inputs joined
    (to float rounding), while only a block and the filter's reach are held.

    Each output depends on the inputs within the filter's reach of its own time, so a run of
    inputs is resampled with that much context on both sides and the context's outputs are
    dropped. Runs start at multiples of `down` input samples, where an output falls exactly,
    so every run's outputs lie on the grid of the whole signal's.
    """

    def __init__(self, from_rate: int, to_rate: int, channels: int) -> None:
        self.up, self.down = _ratio(from_rate, to_rate)
        reach = math.ceil(10 * max(self.up, self.down) / self.up)  # resample_poly's half filter, in inputs
        self._context = -(-reach // self.down) * self.down
        # Zeros stand for the time before the file, as resample_poly pads the whole signal.
        self._held = np.zeros((self._context, channels), np.float32)

    def _run(self, samples: np.ndarray, outputs: int) -> np.ndarray:
        start = self._context * self.up // self.down
        return resample_poly(samples, self.up, self.down, axis=0)[start:start + outputs].astype(np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """[n, channels] -> the outputs whose inputs have all arrived (possibly none)."""
        if self.up == self.down:
            return samples
        held = np.concatenate([self._held, samples])
        inputs = len(held) - 2 * self._context
        inputs -= inputs % self.down
        if inputs <= 0:
            self._held = held
            return held[:0]
        out = self._run(held[:inputs + 2 * self._context], inputs * self.up // self.down)
        self._held = held[inputs:]
        return out

    def finish(self) -> np.ndarray:
        """The last outputs, the file's end followed by silence."""
        if self.up == self.down:
            return self._held[:0]
        inputs = len(self._held) - self._context
        padded = np.concatenate([self._held, np.zeros_like(self._held[:self._context])])
        out = self._run(padded, -(-inputs * self.up // self.down))
        self._held = self._held[:0]
        return out


def convert(audio: Audio, sample_rate: int | None = None, channels: int | None = None) -> Audio:
    samples = mix_channels(audio.samples, channels or audio.channels)
    rate = sample_rate or audio.sample_rate
    return Audio(resample(samples, audio.sample_rate, rate), rate)


MIN_RATE, MAX_RATE = 1_000, 768_000  # sample rates of real audio files, Hz
# Names audio files usually have: for messages only (decoding goes by the content).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff",
                            ".wma", ".mka"})


def _check_rate(path: Path, rate: int) -> None:
    # Before anything is read: a broken header's rate sizes blocks and resampling (terabytes).
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UserError(f"{path} claims {rate} samples a second (a broken header?); "
                        f"audio runs at {MIN_RATE}-{MAX_RATE} Hz")


class _NotForLibsndfile(Exception):
    """A file libsndfile opens but FFmpeg decodes better."""


def _starts_as_mpeg_audio(path: Path) -> bool:
    """An ID3 tag or an MPEG audio frame's sync word first (ADTS AAC has it too): files
    libsndfile is not to open at all (mpg123 prints its warnings about a damaged MP3 as
    libsndfile opens it; a file named .mp3 is not opened by it either)."""
    with open(path, "rb") as file:
        head = file.read(3)
    return head == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _soundfile_blocks(path: Path, seconds: float) -> Iterator[Audio]:
    if _starts_as_mpeg_audio(path) or path.suffix.lower() == ".mp3":
        raise _NotForLibsndfile
    # Bytes: libsndfile takes the name as the file system has it, which need not be UTF-8.
    with sf.SoundFile(os.fsencode(path)) as file:
        if file.format == "MP3":  # an MP3 behind other leading bytes
            # libsndfile stops at a length it estimates from the first frame when a VBR file
            # has no Xing header (9 s of 45 s, silently), and its every seek, soundfile's
            # after each read among them, restarts mpg123 (samples wrong for milliseconds).
            raise _NotForLibsndfile
        _check_rate(path, file.samplerate)
        # One seek to the start first, as sf.read makes: libsndfile drops an Ogg Opus
        # stream's pre-skip (312 samples of encoder warm-up from FFmpeg) only on a seek.
        if file.seekable():
            file.seek(0)
        whole = math.isinf(seconds)
        size = file.frames if whole else max(1, round(seconds * file.samplerate))
        while size and len(block := file.read(size, dtype="float32", always_2d=True)):
            yield Audio(block, file.samplerate)
            if whole:
                return


def _pyav_blocks(path: Path, seconds: float, quiet: bool = False) -> Iterator[Audio]:
    with av.open(str(path)) as container:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            raise UserError(f"{path} has no audio stream (is it an audio file?); "
                            "use a WAV, FLAC, OGG, MP3 or M4A file")
        rate, channels = stream.rate, stream.layout.nb_channels
        _check_rate(path, rate)
        # Planar float at the stream's own rate and layout: each frame is [channels, n].
        to_float = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
        chunks, have = [], 0
        frames = _frames_to_the_cut(path, container, stream, quiet)
        for frame in chain(frames, [None]):  # None: the resampler's last samples
            if frame is not None and (frame.sample_rate != rate or frame.layout.nb_channels != channels):
                # Two files joined end to end (a stream rip, `cat` of two MP3s): the rest played at
                # the first part's rate, 9 % fast, or the blocks did not fit together (found by review).
                raise UserError(f"{path} changes from {rate} Hz, {channels} channel(s) to {frame.sample_rate} Hz, "
                                f"{frame.layout.nb_channels} at {frame.time or 0:.1f} s (files joined end to end?); "
                                "convert it to one WAV or FLAC first (ffmpeg -i IN OUT.wav)")
            for f in to_float.resample(frame):
                chunks.append(f.to_ndarray())
                have += chunks[-1].shape[1]
            if chunks and (frame is None or have >= seconds * rate):
                yield Audio(np.ascontiguousarray(np.concatenate(chunks, axis=1).T, dtype=np.float32), rate)
                chunks, have = [], 0


def _frames_to_the_cut(path: Path, container: Any, stream: Any, quiet: bool) -> Iterator:
    """FFmpeg's frames, a packet at a time. In a file whose header states its length (WAV,
    FLAC) the first undecodable packet ends them: a FLAC cut short ends in a partial frame,
    which both decoders refuse, and the shortfall note then says how much the file holds.
    Elsewhere (MP3, OGG, M4A) an undecodable packet is skipped, as FFmpeg's own command
    skips it, and said once: a few damaged bytes, or junk after the last frame, refused a
    whole track that every player plays. `quiet`: a second reading of a file, whose first said it."""
    declared = declared_frames(path) is not None
    skipped = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            if declared:
                return
            skipped += 1
            if skipped == 1 and not quiet:
                at = "" if packet.pts is None else f" at {float(packet.pts * packet.time_base):.1f} s"
                note("audio", f"{printable(str(path), 200)}: a damaged stretch{at} is skipped, as FFmpeg skips it")
            continue
        yield from frames


def check_audio_file(path: str | Path) -> Path:
    """`path`, if it is a file; else a UserError saying what it is."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder, not an audio file")
    if path.exists() and not path.is_file():  # a pipe (/dev/stdin, a FIFO) or a device
        raise UserError(f"{path} is not a file but a pipe or a device: audio is read twice (checked, then played); "
                        "save it to a file first")
    if not path.is_file():
        raise UserError(f"audio file not found: {path}")
    return path


def _decoded_blocks(path: Path, seconds: float, quiet: bool = False) -> Iterator[Audio]:
    """libsndfile's blocks; where it cannot open or read on, FFmpeg's from that sample on
    (FFmpeg decodes some damaged files libsndfile gives up on, MP3 better, and M4A at all)."""
    blocks, done, rate, channels = _soundfile_blocks(path, seconds), 0, None, None
    while True:
        try:
            audio = next(blocks, None)
        except (sf.LibsndfileError, TypeError, _NotForLibsndfile):  # TypeError: a headerless format (.raw)
            break
        if audio is None:
            if done:
                return
            break  # nothing at all (a WAV whose recorder left its data size 0): FFmpeg reads to the file's end
        rate, channels, done = audio.sample_rate, audio.channels, done + len(audio.samples)
        yield audio
    skip = done
    for audio in _pyav_blocks(path, seconds, quiet):
        if rate is not None and (audio.sample_rate, audio.channels) != (rate, channels):
            raise UserError(f"{path}: libsndfile stopped at {done / rate:.1f} s and FFmpeg reads it otherwise "
                            f"({audio.sample_rate} Hz, {audio.channels} channels, not {rate} Hz, {channels}); "
                            "convert the file to WAV or FLAC")
        samples, skip = audio.samples[skip:], max(0, skip - len(audio.samples))
        if len(samples):
            yield Audio(np.ascontiguousarray(samples), audio.sample_rate)


def stream_audio(path: str | Path, seconds: float = BLOCK_SECONDS, quiet: bool = False) -> Iterator[Audio]:
    """A file decoded about `seconds` at a time, at its own rate and channels, with
    read_audio's checks: each is made on a block before it is handed over, so a broken file
    raises its UserError as soon as the decoder reaches the fault."""
    path = check_audio_file(path)
    done = 0
    try:
        for audio in _decoded_blocks(path, seconds, quiet):
            # Two reductions without a copy of the block; a NaN or infinity makes their span one too.
            high, low = float(audio.samples.max()), float(audio.samples.min())
            if not math.isfinite(high - low):
                bad = np.count_nonzero(~np.isfinite(audio.samples))
                start = done / audio.sample_rate
                raise UserError(f"{path} holds {bad} NaN or infinite samples in {start:.1f}-"
                                f"{start + audio.duration:.1f} s (a broken float file); export it again, "
                                "or convert it to 16-bit PCM")
            peak = max(high, -low)
            if peak > MAX_SAMPLE:
                start = done / audio.sample_rate
                raise UserError(f"{path} holds samples up to {peak:.3g} in {start:.1f}-{start + audio.duration:.1f} s, "
                                "far outside -1..1 (a float file with integer-scaled samples?); export it again "
                                "normalized, or as 16-bit PCM")
            done += len(audio.samples)
            yield audio
    except (av.FFmpegError, sf.LibsndfileError) as e:
        raise UserError(f"cannot decode audio from {path} ({getattr(e, 'strerror', None) or e}); "
                        "use a WAV, FLAC, OGG, MP3 or M4A file") from e
    except OSError as e:  # the file system's own errors: a stick pulled out, permissions changed
        raise UserError(f"cannot read {path} ({e.strerror or e}); check that it is still there and readable") from e
    if not done:
        raise UserError(f"{path} holds no audio samples")


def _wav_data_frames(path: Path) -> int | None:
    """The frames a WAV file's data chunk declares; None for another file, or a WAV written
    to a pipe (whose size field is left 0 or all ones)."""
    with open(path, "rb") as file:
        head = file.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None
        block_align = 0
        while len(chunk := file.read(8)) == 8:
            kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if kind == b"data":
                return size // block_align if block_align and 0 < size < 0xFFFFFFFF else None
            if kind == b"fmt ":
                fmt = file.read(size)
                block_align = int.from_bytes(fmt[12:14], "little") if len(fmt) >= 14 else 0
                size -= len(fmt)
            file.seek(size + (size & 1), os.SEEK_CUR)  # chunks are padded to even sizes
    return None


def declared_frames(path: Path) -> int | None:
    """The length a file's header states exactly, where one does (WAV's data chunk, FLAC's
    STREAMINFO): the decoders read a file cut short (an interrupted copy) to where it
    ends, without a word."""
    frames = _wav_data_frames(path)
    if frames is None:
        with open(path, "rb") as file:
            if file.read(4) == b"fLaC":
                frames = sf.info(os.fsencode(path)).frames
                # 0 in STREAMINFO (a FLAC written to a pipe) reads as 2**63 - 1; its count has 36 bits
                frames = frames if 0 < frames < 2**36 else None
    return frames


@dataclass(frozen=True)
class AudioFile:
    """A file stream_audio has read through once: what its blocks will hold."""
    path: Path
    sample_rate: int
    channels: int
    frames: int
    declared: int | None = None  # the frames its header states, where it states them
    top_hz: float | None = None  # how far up its sound reaches (live.audio.bandwidth); None: too quiet to say
    peak: float | None = None    # its loudest sample's magnitude (full scale 1); None: not measured

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def length_text(self) -> str:
        """Its length for a message about a limit, rounded down: 5.6689 s is not '5.7 s'."""
        return f"{math.floor(self.duration * 1000) / 1000:g} s"

    def shortfall(self) -> str | None:
        """What is missing, when the file holds less than its header states."""
        if self.declared is None or self.frames >= self.declared - self.sample_rate // 100:
            return None
        return (f"{self.path} holds {self.duration:.2f} s of the {self.declared / self.sample_rate:.2f} s its "
                "header states (cut short: an interrupted copy or download?); what it holds is used")

    def reader(self) -> SampleReader:
        return SampleReader(self._same_blocks(), self.channels)

    def _same_blocks(self) -> Iterator[Audio]:
        """stream_audio's blocks, as long as they are the file that was scanned: one changed
        since (cut short, re-encoded) would make a video whose sound is wrong."""
        done = 0
        for audio in stream_audio(self.path, quiet=True):  # the scan said what is wrong with it
            done += len(audio.samples)
            if (audio.sample_rate, audio.channels) != (self.sample_rate, self.channels) or done > self.frames:
                break
            yield audio
        else:
            if done == self.frames:
                return
        raise UserError(f"{self.path} changed while it was being read; run again on a file that stays put")


def scan_audio(path: str | Path) -> AudioFile:
    """Decode `path` once, a block at a time, with stream_audio's checks: a file that passes
    can be streamed again without an error, for a job that must not fail halfway."""
    frames, peak = 0, 0.0
    band = Bandwidth()
    for audio in stream_audio(path):
        frames += len(audio.samples)
        rate, channels = audio.sample_rate, audio.channels
        band.add(audio.samples, rate)
        peak = max(peak, float(np.abs(audio.samples).max(initial=0.0)))
        del audio  # the next block is decoded without this one held
    return AudioFile(Path(path), rate, channels, frames, declared_frames(Path(path)), band.top_hz(), peak)


class SampleReader:
    """stream_audio's blocks read by sample counts, front to back: a consumer that walks a
    file at its own pace (a render's frames) holds one block, not the file."""

    def __init__(self, blocks: Iterator[Audio], channels: int) -> None:
        self._blocks = blocks
        self._block = np.zeros((0, channels), np.float32)
        self._at = 0  # into _block

    def _pieces(self, count: int) -> Iterator[np.ndarray]:
        while count > 0:
            if self._at == len(self._block):
                audio = next(self._blocks, None)
                if audio is None:
                    return
                self._block, self._at = audio.samples, 0
            piece = self._block[self._at:self._at + count]
            self._at += len(piece)
            count -= len(piece)
            yield piece

    def read(self, count: int) -> np.ndarray:
        """The next `count` samples as [n, channels]; fewer only at the file's end."""
        pieces = list(self._pieces(count))
        if len(pieces) == 1:
            return pieces[0]
        return np.concatenate(pieces) if pieces else self._block[:0]

    def skip(self, count: int) -> None:
        """Pass over the next `count` samples (decoded, never held together)."""
        for _ in self._pieces(count):
            pass


def read_audio(path: str | Path, sample_rate: int | None = None, channels: int | None = None) -> Audio:
    """Decode a whole file; resample to `sample_rate` and mix to `channels` when given."""
    (audio,) = stream_audio(path, math.inf)
    return convert(audio, sample_rate, channels)


def stream_converted(path: str | Path, sample_rate: int, channels: int, seconds: float = BLOCK_SECONDS,
                     quiet: bool = False, band: Bandwidth | None = None) -> Iterator[np.ndarray]:
    """stream_audio's blocks mixed to `channels` and resampled to `sample_rate`: joined, they
    are read_audio(path, sample_rate, channels).samples (to float rounding). `band` is fed the
    blocks as decoded."""
    resampler = None
    for audio in stream_audio(path, seconds, quiet):
        if band is not None:
            band.add(audio.samples, audio.sample_rate)
        resampler = resampler or StreamResampler(audio.sample_rate, sample_rate, channels)
        yield resampler.push(mix_channels(audio.samples, channels))
    yield resampler.finish()
