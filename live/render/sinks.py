"""Where finished frames go besides the window: an H.264 video with its audio, or PNGs.

Every sink takes frames one at a time (`write`) and encodes or saves them right away,
so a long song never holds its frames in memory.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np
import soundfile as sf
from av.video.reformatter import ColorRange, Colorspace
from PIL import Image

from live.errors import UserError
from live.files import check_writable, lock_alone, make_parent
from live.imageio import write_png

BT709 = 1  # FFmpeg's code for ITU-R BT.709 as colorspace, primaries and transfer alike


class FrameSink(Protocol):
    def write(self, frame: np.ndarray) -> None:
        """Take one HxWx3 uint8 frame, top row first."""

    def write_audio(self, samples: np.ndarray) -> None:
        """Take the float32 samples of the frame just written, shaped (n,) or (n, channels)."""

    def close(self) -> None:
        """Finish the output; further writes are errors."""

    def discard(self) -> None:
        """Stop after a failure: leave nothing that passes for a finished output."""


def _check_frame(frame: np.ndarray, size: tuple[int, int] | None) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be HxWx3 uint8, got {frame.shape} {frame.dtype}")
    if size is not None and (frame.shape[1], frame.shape[0]) != size:
        raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the sink was opened for "
                         f"{size[0]}x{size[1]}")


VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")


def check_video_name(path: Path) -> None:
    """A name VideoSink can write: FFmpeg picks the container by the suffix, and the others
    it knows (.webm, .flac, .gif, ...) cannot carry H.264 with AAC, or fail at the end."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise UserError(f"cannot write a video to {path}: name it .mp4, .mkv or .mov")
    # A render onto NAME.partial.mp4 replaced a show's unfinished recording, which the show then
    # finished as NAME.mp4 and said it recorded (review 66).
    if Path(path.stem).suffix in (".partial", ".indexing"):
        video = path.with_name(Path(path.stem).stem + path.suffix)
        raise UserError(f"{path} is named as the unfinished file of {video}, which a show may be writing; "
                        "choose another name")


# What to do when the muxer's write fails, by errno.
WRITE_HINTS = {errno.ENOSPC: "check the free disk space",
               errno.EDQUOT: "the disk quota is used up; free some or write elsewhere",
               errno.EFBIG: "the file system's largest file is reached (FAT32: 4 GB); write to another disk, "
                            "or render shorter parts with --start and --duration"}


def _write_hint(e: BaseException) -> str:
    return WRITE_HINTS.get(getattr(e, "errno", None), "check that the folder is writable")


NTSC_RATES = tuple(Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120))  # typed 23.976, 29.97, ...


def exact_rate(rate: float) -> Fraction:
    """A rate as typed (30, 29.97, 2.3) as the fraction it stands for: products of the floats
    drift (4.1 s at 30 fps is 122.99999999999999 frames). 29.97 and its kin stand for NTSC's
    30000/1001 and its kin, as editors read them (2997/100 plays, but is no standard rate), to
    two decimals as they type them (23.98 is 24000/1001)."""
    return next((ntsc for ntsc in NTSC_RATES if abs(rate - ntsc) < 5e-3), Fraction(rate).limit_denominator(1001))


@dataclass(frozen=True)
class VideoFormat:
    size: tuple[int, int]            # width, height; both even (yuv420p halves chroma)
    fps: float = 30.0
    codec: str = "libx264"           # an FFmpeg H.264 encoder name
    crf: int = 20                    # x264 quality: lower is better and bigger
    preset: str = "veryfast"         # x264 speed of a render; a show records at ultrafast (cli/perform.py)
    threads: int = 0                 # encoder threads; 0: FFmpeg's choice (about 1.5 per core)


@dataclass(frozen=True)
class AudioFormat:
    sample_rate: int
    channels: int = 2


def partial_path(path: Path) -> Path:
    """Where VideoSink writes the video `path` until it is finished."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _indexing_path(path: Path) -> Path:
    """Where VideoSink writes an MP4 or MOV's final form from its partial file."""
    return path.with_name(f"{path.stem}.indexing{path.suffix}")


# A show's partial file must play up to where a killed show stopped. An MP4 or MOV keeps its
# index (moov) for the end, so theirs is fragmented: each second its own small index.
# Fragments carry no edit list, which is what starts a plain file's video at 0 despite
# B-frames' delay (2 frames late without it), so such a file is written without B-frames.
# Editors handle fragmented MP4 unevenly, so `close` copies the packets into a plain one. A
# Matroska file plays cut short; its clusters are closed every second. Every packet goes to
# the disk as soon as it is muxed.
FLUSHED = {"flush_packets": "1"}
UNFINISHED_PLAYS = {".mp4": {"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000",
                             **FLUSHED},
                    ".mkv": {"cluster_time_limit": "1000", **FLUSHED}}
UNFINISHED_PLAYS[".mov"] = UNFINISHED_PLAYS[".mp4"]


class _Claim:
    """Holds `target` (a video's unfinished file, or a folder of frames) while `output` is
    written: two commands writing one video wrote into one file (or two renders into one
    new folder of frames), and both said they wrote it, a mix of the two or the other's.
    A target left by a killed command is no one's: it is taken over."""

    def __init__(self, target: Path, output: Path):
        if target.is_symlink() and not target.is_dir():  # written through, the file it names was lost
            raise UserError(f"{target} is a link, where {output}'s unfinished file goes; remove it and run again")
        try:
            fd = lock_alone(target)
        except OSError as e:
            raise UserError(f"cannot write {output} ({e})") from None
        if fd is None:
            raise UserError(f"another command is writing {output} now ({target.name} is in use); "
                            "wait for it or write elsewhere")
        self._fd = fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def video_work_files(path: Path) -> dict[str, Path]:
    """The files VideoSink writes on the way to the video `path`, named as a command's files are."""
    return {f"{path.name}'s unfinished file": partial_path(path), f"{path.name}'s indexing file": _indexing_path(path)}


def check_new_recording(path: Path, may_replace: bool = False) -> None:
    """A show's recording, before the show: a show cannot be played again, so neither a
    file of that name nor an unfinished one (what a failed show left) is replaced, unless
    `may_replace` (a name the program chose, not the performer)."""
    check_video_name(path)
    check_writable(path)
    if may_replace:
        return
    if path.exists():
        raise UserError(f"{path} exists: a recording does not replace one; record into another file "
                        "or move that one away")
    check_no_unfinished(path)


def check_no_unfinished(path: Path, playing_only: bool = False) -> None:
    """No unfinished recording of the video `path` is in the way: what a failed or killed show
    left is its only copy, which a render onto `path` took over (review 66). An empty one holds
    nothing: a show killed before its recording's first packet left it. `playing_only` (a
    render): one that plays no frame is no one's to keep, and a render killed once left one
    (a plain MP4 keeps its index for its end), which refused the render run again (review 68)."""
    partial = partial_path(path)
    if not partial.exists() or not partial.stat().st_size or (playing_only and not _plays(partial)):
        return
    _Claim(partial, path).close()  # a show recording into it now is not a show that failed
    raise UserError(f"{partial} exists (a recording that was not finished): move it away "
                    "or write into another file")


def _plays(video: Path) -> bool:
    """Whether `video` holds a frame FFmpeg can read."""
    try:
        with av.open(str(video)) as container:
            return bool(container.streams.video) and any(packet.size for packet in container.demux(video=0))
    except (av.FFmpegError, OSError):
        return False


class VideoSink:
    """An H.264 yuv420p video (MP4, MKV, MOV by the file suffix) with an optional AAC track.

    Audio comes as float32 sample arrays through `write_audio`, shaped (n,) or
    (n, channels); packets are interleaved in the order of the calls, so feeding each
    frame's stretch of audio beside its frame keeps the file interleaved. Audio at a rate
    AAC cannot carry (192 kHz, 50 kHz, ...) is resampled to the nearest rate above that it
    can (96 kHz at most).

    The video is written to NAME.partial.SUFFIX beside `path` and takes `path`'s place
    only when `close` finishes it, so a failed or interrupted render never leaves a
    playable but cut-short file under the name asked for, nor destroys one already there.
    With `kill_safe` (a show's recording: it cannot be made again) the partial file plays
    up to about a second before where it stopped, even when the process was killed; it
    then has no B-frames, and an MP4 or MOV needs its size again on the disk to be
    finished. `discard` (or leaving a `with` block by an exception) deletes it instead; a
    `close` that fails (a full disk) leaves a recording's, as the error says, and deletes a
    render's (an MP4 without the index `close` writes does not play).
    """

    def __init__(self, path: str | Path, video: VideoFormat, audio: AudioFormat | None = None,
                 kill_safe: bool = False, may_replace: bool = False):
        width, height = video.size
        if width < 2 or height < 2 or width % 2 or height % 2:
            raise UserError(f"video size must be even in both directions for H.264 yuv420p, "
                            f"got {width}x{height}")
        if not video.fps > 0:
            raise UserError(f"video fps must be > 0, got {video.fps}")
        layout = _layout(audio.channels) if audio is not None else None
        self.path = Path(path)
        check_video_name(self.path)
        self.partial_path = partial_path(self.path)
        self.video = video
        self.audio = audio
        check_writable(self.path)
        try:
            for codec in (video.codec, "aac") if audio is not None else (video.codec,):
                av.codec.Codec(codec, "w")
        except ValueError as e:  # av.codec.codec.UnknownCodecError is a ValueError
            raise UserError(f"codec missing from this FFmpeg build ({e}); install a PyAV/FFmpeg "
                            "with libx264 and aac, or pick another codec") from e
        make_parent(self.path)
        self._claim = _Claim(self.partial_path, self.path)
        # A show's recording replaces no file (a show cannot be played again), unless its
        # name is the program's (`may_replace`, as in check_new_recording).
        self.keeps_existing = kill_safe and not may_replace
        if self.keeps_existing and self.path.exists():  # another show finished it while this one loaded
            if not self.partial_path.stat().st_size:  # the claim made it: nothing to keep
                self.partial_path.unlink()
            self._claim.close()
            raise UserError(f"{self.path} exists: a recording does not replace one; record into another file")
        try:
            self._container = av.open(str(self.partial_path), "w",
                                      options=UNFINISHED_PLAYS[self.path.suffix.lower()] if kill_safe else {})
        except (ValueError, av.FFmpegError) as e:
            self.partial_path.unlink(missing_ok=True)
            self._claim.close()
            raise UserError(f"cannot write a video to {self.path} ({e})") from e
        self._video_stream = self._container.add_stream(video.codec, rate=exact_rate(video.fps))
        self._audio_stream = self._resampler = None
        if audio is not None:
            track_rate = aac_rate(audio.sample_rate)
            self._audio_stream = self._container.add_stream("aac", rate=track_rate, layout=layout)
            if track_rate != audio.sample_rate:
                self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=track_rate)
        self._video_stream.width = width
        self._video_stream.height = height
        self._video_stream.pix_fmt = "yuv420p"
        # BT.709, tagged: players read untagged HD as BT.709, and FFmpeg's untagged default
        # matrix (BT.601) then showed pure red as (255, 23, 0).
        context = self._video_stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = BT709
        context.color_range = ColorRange.MPEG
        self._video_stream.options = {"crf": str(video.crf), "preset": video.preset}
        if video.threads:
            self._video_stream.codec_context.thread_count = video.threads
        self.kill_safe = kill_safe
        if kill_safe:
            self._video_stream.codec_context.max_b_frames = 0
        self._frames = 0
        self._samples = 0        # audio samples in, at the input's rate
        self._track_samples = 0  # audio samples out, at the track's rate
        # Where the audio encoder's first packet starts, in seconds: before 0 by AAC's priming
        # samples, which a plain MP4's edit list trims and fragments cannot carry.
        self._audio_start: Fraction | None = None
        self.clipped_peak = 0.0  # the largest magnitude write_audio clipped to 1 (0: none)
        self._closed = False

    @property
    def frames_written(self) -> int:
        return self._frames

    def write(self, frame: np.ndarray) -> None:
        _check_frame(frame, self.video.size)
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(
            format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG)
        picture.pts = self._frames
        self._send(self._video_stream, picture)
        self._frames += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Append float32 samples in [-1, 1], shaped (n,) or (n, channels)."""
        if self.audio is None or self._audio_stream is None:
            raise ValueError("this VideoSink was opened without an audio track")
        if samples.dtype != np.float32:
            raise ValueError(f"audio must be float32, got {samples.dtype}")
        planar = samples[None, :] if samples.ndim == 1 else samples.T
        if planar.shape[0] != self.audio.channels:
            raise ValueError(f"audio has {planar.shape[0]} channels, the track {self.audio.channels}")
        if planar.shape[1] == 0:
            return
        # Clipped, as a player would: FFmpeg's AAC encoder loops forever on samples of 1e7-1e10
        # (a float file with integer-scaled samples, a driver delivering garbage) and
        # refuses larger ones. The largest clipped is kept, for the caller to say so.
        peak = max(float(planar.max()), -float(planar.min()))
        if peak > 1.0:
            self.clipped_peak = max(self.clipped_peak, peak)
        chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.clip(planar, -1.0, 1.0)), format="fltp",
                                           layout=_layout(self.audio.channels))
        chunk.sample_rate = self.audio.sample_rate
        chunk.pts = self._samples
        chunk.time_base = Fraction(1, self.audio.sample_rate)
        self._samples += planar.shape[1]
        self._encode_audio(self._resampler.resample(chunk) if self._resampler is not None else [chunk])

    def _encode_audio(self, chunks: list[av.AudioFrame]) -> None:
        for chunk in chunks:
            chunk.pts = self._track_samples
            self._track_samples += chunk.samples
            self._send(self._audio_stream, chunk)

    def close(self) -> None:
        """Finish the video and move it to `path`."""
        if self._closed:
            return
        self._closed = True
        try:
            self._finish()
        finally:
            self._claim.close()

    def _finish(self) -> None:
        try:
            self._send(self._video_stream, None)
            if self._audio_stream is not None:
                if self._resampler is not None:
                    self._encode_audio(self._resampler.resample(None))
                self._send(self._audio_stream, None)
            self._container.close()  # the encoder's last frames and an MP4's index are written only now
        except BaseException as e:
            self._close_quietly()
            if not self.kill_safe:  # a render, made again at will: its unfinished file does not play
                self.partial_path.unlink(missing_ok=True)
            if isinstance(e, UserError) or not isinstance(e, (OSError, av.FFmpegError)):
                raise
            kept = f"; {self.partial_path.name} plays as it is" if self.kill_safe else ""
            raise UserError(f"finishing {self.partial_path} failed ({e}); {_write_hint(e)}{kept}") from e
        if not self.partial_path.exists() and self._frames:
            raise UserError(f"{self.partial_path} was moved or deleted while it was written; "
                            f"nothing went to {self.path}")
        if not self.partial_path.exists() or self.partial_path.stat().st_size == 0:  # nothing was muxed: no video
            self.partial_path.unlink(missing_ok=True)
            return
        if not self.kill_safe or self.path.suffix.lower() == ".mkv":
            self._place(self.partial_path)
            return
        indexing = _indexing_path(self.path)
        if indexing.is_symlink():  # this program's own work name: a link there would be written through
            indexing.unlink()
        try:
            copy_packets(self.partial_path, indexing, audio_start=min(self._audio_start or 0, 0))
        except BaseException as e:
            indexing.unlink(missing_ok=True)  # failed or interrupted (Ctrl-C): no half copy left
            if not isinstance(e, (OSError, av.FFmpegError)):
                raise
            raise UserError(f"writing {self.path} from {self.partial_path} failed ({e}); {_write_hint(e)}; "
                            f"{self.partial_path.name} plays as it is") from e
        try:
            self._place(indexing)
        except UserError:
            indexing.unlink(missing_ok=True)
            raise
        self.partial_path.unlink()

    def _place(self, finished: Path) -> None:
        """`finished` takes `path`'s name. A show's recording replaces no file: one made
        meanwhile (another show's, finished while this one ran) stays, and so does this
        show's unfinished file, which plays."""
        if not self.keeps_existing:
            finished.replace(self.path)
            return
        taken = UserError(f"{self.path} was made by another command during this show: a recording does not "
                          f"replace one; this show's recording is {self.partial_path}, which plays as it is")
        try:
            os.link(finished, self.path)  # fails where a file of that name exists, unlike a rename
        except FileExistsError:
            raise taken from None
        except OSError:  # a file system without hard links (FAT, exFAT)
            if self.path.exists():
                raise taken from None
            finished.replace(self.path)
            return
        finished.unlink()

    def discard(self) -> None:
        """Stop and delete what was written; `path` is left as it was."""
        if not self._closed:
            self._closed = True
            self._close_quietly()
            self.partial_path.unlink(missing_ok=True)  # before the claim goes: the name may be another's then
            self._claim.close()

    def abandon(self) -> None:
        """Stop after a failed write and keep what was written under the partial name (a
        show cannot be recorded again); `path` is left as it was."""
        if not self._closed:
            self._closed = True
            self._close_quietly()
            self._claim.close()

    def _close_quietly(self) -> None:
        try:
            self._container.close()
        except (OSError, av.FFmpegError, ValueError):
            pass  # already failing: the first error is the one to report

    def _send(self, stream: av.stream.Stream, frame: av.AudioFrame | av.VideoFrame | None) -> None:
        """Encode `frame` (None: flush the encoder) and write its packets."""
        try:
            packets = stream.encode(frame)
        except av.FFmpegError as e:
            raise UserError(f"encoding {self.partial_path} failed ({e})") from e
        if stream is self._audio_stream and packets and self._audio_start is None and packets[0].pts is not None:
            self._audio_start = packets[0].pts * packets[0].time_base
        try:
            self._container.mux(packets)
        except OSError as e:
            raise UserError(f"writing {self.partial_path} failed ({e}); {_write_hint(e)}") from e
        except av.FFmpegError as e:
            raise UserError(f"writing {self.partial_path} failed ({e})") from e

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def copy_packets(source: Path, target: Path, audio_start: Fraction = Fraction(0)) -> None:
    """Write `source`'s streams into `target` as they are (no decoding), in `target`'s
    container's own layout; every stream moved alike so that the audio starts at
    `audio_start` seconds (<= 0: the encoder's priming, which `target`'s edit list trims).
    Fragments put every frame but the first that far later: moving the audio alone led the
    picture by the priming; the first frame, at 0, stays there."""
    with av.open(str(source)) as reader, av.open(str(target), "w") as writer:
        streams = {stream.index: writer.add_stream_from_template(stream) for stream in reader.streams}
        audio = next((s for s in reader.streams if s.type == "audio" and s.start_time is not None), None)
        moved = audio_start - audio.start_time * audio.time_base if audio is not None else Fraction(0)
        shift = {s.index: round(moved / s.time_base) for s in reader.streams}
        for packet in reader.demux():
            if packet.dts is None:  # the demuxer's flush marker, no data
                continue
            index = packet.stream.index
            pts, dts = packet.pts + shift[index], packet.dts + shift[index]
            if packet.stream.type != "audio":  # the first frame, at 0 (before it, it would be cut)
                pts, dts = max(pts, 0), max(dts, 0)
            packet.pts, packet.dts, packet.stream = pts, dts, streams[index]
            writer.mux(packet)


def aac_rate(sample_rate: int) -> int:
    """The AAC track's rate for audio at `sample_rate`: the same if AAC carries it, else the
    nearest rate above that it does (no content lost), else its highest."""
    rates = sorted(av.codec.Codec("aac", "w").audio_rates or [sample_rate])
    return sample_rate if sample_rate in rates else next((r for r in rates if r > sample_rate), rates[-1])


def _layout(channels: int) -> str:
    if channels not in (1, 2):
        raise UserError(f"audio must be mono or stereo for the video's AAC track, got {channels} channels")
    return "mono" if channels == 1 else "stereo"


FRAME_NAME, FRAME_GLOB = "frame_{:06d}.png", "frame_*.png"


def check_no_frames(directory: Path) -> None:
    """Refuse a folder that holds frames already: a shorter render's frames would end where
    the earlier one's went on, and anything assembling the folder would mix the two."""
    if directory.is_dir() and any(directory.glob(FRAME_GLOB)):
        raise UserError(f"{directory} already holds {FRAME_GLOB} files; render into an empty folder "
                        "or delete them first")


PNG_AUDIO_NAME = "audio.wav"


class PngSink:
    """Numbered PNG frames in a directory: frame_000000.png, frame_000001.png, ...; with `audio`,
    the sound beside them in audio.wav (32-bit float, never clipped), which lines up with frame 0."""

    def __init__(self, directory: str | Path, compress_level: int = 1, audio: AudioFormat | None = None):
        self.directory = Path(directory)
        self._compress_level = compress_level  # zlib level: 1 keeps pace with real time
        make_parent(self.path_for(0))
        self._claim = _Claim(self.directory, self.directory)
        try:
            check_no_frames(self.directory)  # after the claim: two renders both found the new folder empty
        except UserError:
            self._claim.close()
            raise
        self._frames = 0
        self._size: tuple[int, int] | None = None
        self._sound: sf.SoundFile | None = None
        if audio is not None:
            try:
                self._sound = sf.SoundFile(self.directory / PNG_AUDIO_NAME, "w", audio.sample_rate, audio.channels,
                                           "FLOAT")
            except (sf.LibsndfileError, OSError) as e:
                self._claim.close()
                raise UserError(f"cannot write {self.directory / PNG_AUDIO_NAME}: {e}") from None

    def path_for(self, index: int) -> Path:
        return self.directory / FRAME_NAME.format(index)

    def write(self, frame: np.ndarray) -> None:
        _check_frame(frame, self._size)
        self._size = (frame.shape[1], frame.shape[0])
        write_png(Image.fromarray(frame, "RGB"), self.path_for(self._frames), self._compress_level)
        self._frames += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Append float32 samples, shaped (n,) or (n, channels), to audio.wav."""
        assert self._sound is not None, "this PngSink was opened without audio"
        try:
            self._sound.write(samples)
        except (sf.LibsndfileError, OSError) as e:  # a full disk: one line, as a frame's
            raise UserError(f"cannot write {self.directory / PNG_AUDIO_NAME}: {e}") from None

    def close(self) -> None:
        """Every frame is on disk when `write` returns; audio.wav is finished here."""
        self._end()

    def discard(self) -> None:
        """The frames written stay: each file is whole, and their numbers show how far it got;
        so does the sound of those frames."""
        self._end()

    def _end(self) -> None:
        try:
            if self._sound is not None:
                self._sound.close()
        finally:
            self._claim.close()
