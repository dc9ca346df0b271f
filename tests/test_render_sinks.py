"""Video and PNG sinks: files read back with PyAV and Pillow."""
from __future__ import annotations

import errno

import signal
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from live.errors import UserError
from live.files import check_writable
from live.render import sinks
from live.render.sinks import AudioFormat, PngSink, VideoFormat, VideoSink, exact_rate

SIZE = (64, 48)
FPS = 12


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def write_video(path: Path, count: int) -> None:
    with VideoSink(path, VideoFormat(SIZE, fps=FPS)) as sink:
        for frame in frames(count):
            sink.write(frame)


def frames(n: int) -> list[np.ndarray]:
    """Frames whose brightness ramps, so order and count survive compression."""
    return [np.full((SIZE[1], SIZE[0], 3), 20 + 18 * i, np.uint8) for i in range(n)]


def test_video_with_audio_reads_back(tmp_path):
    rate, seconds = 22050, 1.0
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    audio = np.stack([tone, -tone], axis=1)
    path = tmp_path / "out.mp4"
    per_frame = rate // FPS
    with VideoSink(path, VideoFormat(SIZE, fps=FPS), AudioFormat(rate, channels=2)) as sink:
        for i, frame in enumerate(frames(12)):
            sink.write(frame)
            sink.write_audio(audio[i * per_frame:(i + 1) * per_frame])
        sink.write_audio(audio[12 * per_frame:])
        assert sink.frames_written == 12

    with av.open(str(path)) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", *SIZE)
        assert video.codec_context.pix_fmt == "yuv420p"
        assert video.average_rate == FPS
        assert (sound.codec_context.name, sound.rate, sound.channels) == ("aac", rate, 2)
        assert float(sound.duration * sound.time_base) == pytest.approx(seconds, abs=0.05)
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 12
    means = [f.mean() for f in decoded]
    assert means == pytest.approx([20 + 18 * i for i in range(12)], abs=3)


def test_video_without_audio_and_mono_audio(tmp_path):
    with VideoSink(tmp_path / "silent.mkv", VideoFormat(SIZE, fps=FPS)) as sink:
        for frame in frames(3):
            sink.write(frame)
        with pytest.raises(ValueError, match="without an audio track"):
            sink.write_audio(np.zeros(10, np.float32))
    with av.open(str(tmp_path / "silent.mkv")) as container:
        assert len(container.streams.audio) == 0
        assert sum(1 for _ in container.decode(video=0)) == 3

    with VideoSink(tmp_path / "mono.mp4", VideoFormat(SIZE, fps=FPS), AudioFormat(16000, 1)) as sink:
        sink.write(frames(1)[0])
        sink.write_audio(np.zeros(16000 // FPS, np.float32))
        with pytest.raises(ValueError, match="channels"):
            sink.write_audio(np.zeros((10, 2), np.float32))
    with av.open(str(tmp_path / "mono.mp4")) as container:
        assert container.streams.audio[0].channels == 1


def test_frames_of_the_wrong_size_are_refused(tmp_path):
    with VideoSink(tmp_path / "out.mp4", VideoFormat(SIZE)) as sink:
        with pytest.raises(ValueError, match="64x48"):
            sink.write(np.zeros((48, 48, 3), np.uint8))


def test_user_errors_for_bad_outputs(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(UserError, match="a_file is a file, not a folder"):
        VideoSink(blocker / "out.mp4", VideoFormat(SIZE))
    with pytest.raises(UserError, match="codec"):
        VideoSink(tmp_path / "new" / "out.mp4", VideoFormat(SIZE, codec="no_such_codec"))
    assert not (tmp_path / "new").exists()  # the folder is made only for a video that can be written
    with pytest.raises(UserError, match="even"):
        VideoSink(tmp_path / "out.mp4", VideoFormat((63, 48)))
    with pytest.raises(UserError, match=".mp4"):
        VideoSink(tmp_path / "out.unknownformat", VideoFormat(SIZE))
    assert not (tmp_path / "out.unknownformat").exists()
    with pytest.raises(UserError, match="mono or stereo"):
        VideoSink(tmp_path / "out.mp4", VideoFormat(SIZE), AudioFormat(44100, channels=6))
    with pytest.raises(UserError, match="a_file is a file, not a folder"):
        PngSink(blocker / "frames")
    with pytest.raises(UserError, match="a_file is a file, not a folder"):
        PngSink(blocker)


def test_a_png_frame_the_disk_had_no_room_for_is_not_left_cut_short(tmp_path, monkeypatch):
    """A full disk left a truncated last frame under its name, where the sink promises each
    file whole (review)."""
    sink = PngSink(tmp_path / "frames")
    sink.write(frames(1)[0])

    def full_disk(path, data):
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(UserError, match="No space left"):
        sink.write(frames(1)[0])
    monkeypatch.undo()
    sink.discard()
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["frame_000000.png"]


def test_a_link_where_a_video_s_work_files_go_is_not_written_through(tmp_path):
    """A link left at NAME.partial.mp4 had the video written into the file it named (review)."""
    victim = tmp_path / "victim.wav"
    victim.write_bytes(b"RIFF")
    (tmp_path / "out.partial.mp4").symlink_to(victim)
    with pytest.raises(UserError, match="is a link, where .*out.mp4's unfinished file goes"):
        VideoSink(tmp_path / "out.mp4", VideoFormat(SIZE, 10))
    (tmp_path / "out.partial.mp4").unlink()
    indexing = sinks._indexing_path(tmp_path / "out.mp4")
    indexing.symlink_to(victim)
    sink = VideoSink(tmp_path / "out.mp4", VideoFormat(SIZE, 10), kill_safe=True)
    for frame in frames(3):
        sink.write(frame)
    sink.close()
    assert victim.read_bytes() == b"RIFF" and (tmp_path / "out.mp4").is_file()
    assert not (tmp_path / "out.mp4").is_symlink()


def test_png_frames_carry_their_sound_beside_them_unclipped(tmp_path):
    """A render to a folder had no sound at all: an excerpt's had to be cut to match by hand (review 97)."""
    import soundfile

    sink = PngSink(tmp_path / "frames", audio=AudioFormat(48000, 2))
    sound = np.linspace(-1.5, 1.5, 3200, dtype=np.float32).reshape(1600, 2)  # over full scale at its ends
    for frame, part in zip(frames(2), np.split(sound, 2)):
        sink.write(frame)
        sink.write_audio(part)
    sink.close()
    written, rate = soundfile.read(tmp_path / "frames" / "audio.wav", dtype="float32")
    assert rate == 48000 and written.shape == (1600, 2)
    np.testing.assert_array_equal(written, sound)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [
        "audio.wav", "frame_000000.png", "frame_000001.png"]


def test_png_frames_sound_that_the_disk_has_no_room_for_is_one_line(tmp_path, monkeypatch):
    import soundfile

    sink = PngSink(tmp_path / "frames", audio=AudioFormat(48000, 1))

    def full_disk(self, data):
        raise soundfile.LibsndfileError(0, "Error writing: No space left on device")

    monkeypatch.setattr(soundfile.SoundFile, "write", full_disk)
    with pytest.raises(UserError, match="cannot write .*audio.wav: .*No space left"):
        sink.write_audio(np.zeros(100, np.float32))
    monkeypatch.undo()
    sink.discard()


def test_png_frames_are_numbered_and_exact(tmp_path):
    sink = PngSink(tmp_path / "frames")
    written = frames(3)
    for frame in written:
        sink.write(frame)
    sink.close()
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [
        "frame_000000.png", "frame_000001.png", "frame_000002.png"]
    for i, frame in enumerate(written):
        assert np.array_equal(np.asarray(Image.open(sink.path_for(i))), frame)
    with pytest.raises(ValueError):
        sink.write(np.zeros((10, 10, 3), np.uint8))  # sizes stay fixed within one sequence


def test_checking_an_output_path_leaves_an_existing_file_alone(tmp_path):
    kept = tmp_path / "show.mp4"
    kept.write_bytes(b"last night's recording")
    check_writable(kept)
    assert kept.read_bytes() == b"last night's recording"
    check_writable(tmp_path / "new" / "stats.json")
    assert not (tmp_path / "new").exists()  # a run that fails before writing leaves no folder behind
    assert sorted(tmp_path.iterdir()) == [kept]
    with pytest.raises(UserError, match="folder"):
        check_writable(tmp_path)


@pytest.mark.parametrize("name, video, words", [("show.mp4", VideoFormat((64, 64), codec="no-such-codec"), "codec missing"),
                                                ("show.xyz", VideoFormat((64, 64)), ".mp4, .mkv or .mov")])
def test_a_video_that_cannot_be_written_leaves_an_existing_file_alone(tmp_path, name, video, words):
    kept = tmp_path / name
    kept.write_bytes(b"last night's recording")
    with pytest.raises(UserError, match=words):
        VideoSink(kept, video)
    assert kept.read_bytes() == b"last night's recording"


@pytest.mark.parametrize("suffix", [".flac", ".wav", ".webm", ".gif", ".mp3"])
def test_a_video_named_for_a_container_without_h264_and_aac_is_refused_at_once(tmp_path, suffix):
    # FFmpeg knows these containers: .webm and .gif failed with a traceback when adding the
    # stream, .flac only when finishing, after the whole show, leaving an empty partial file.
    with pytest.raises(UserError, match=".mp4, .mkv or .mov"):
        VideoSink(tmp_path / f"show{suffix}", VideoFormat(SIZE), AudioFormat(44100))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["x.partial.mp4", "x.indexing.MOV", "x.partial.mkv"])
def test_a_video_named_as_another_video_s_unfinished_file_is_refused_before_a_render_starts(tmp_path, name, capsys):
    """A render onto x.partial.mp4 replaced a show's unfinished recording, which the show then finished as
    x.mp4 and said it recorded (review 66)."""
    from live.__main__ import main

    with pytest.raises(UserError, match=r"is named as the unfinished file of .*x\.\w+, which a show may be writing"):
        VideoSink(tmp_path / name, VideoFormat(SIZE), AudioFormat(44100))
    (tmp_path / "a.wav").write_bytes(b"")  # never read: the output is refused first
    assert main(["render", str(tmp_path / "a.wav"), "-o", str(tmp_path / name)]) == 2
    assert "is named as the unfinished file of" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_a_video_appears_under_its_name_only_when_finished(tmp_path):
    kept = tmp_path / "show.mp4"
    kept.write_bytes(b"last night's recording")
    with pytest.raises(RuntimeError, match="power cut"):
        with VideoSink(kept, VideoFormat(SIZE, fps=FPS)) as sink:
            for frame in frames(12) * 3:
                sink.write(frame)
            assert sink.partial_path.exists() and sink.partial_path.name == "show.partial.mp4"
            raise RuntimeError("power cut")
    assert kept.read_bytes() == b"last night's recording"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["show.mp4"]
    write_video(kept, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["show.mp4"] and decoded_frames(kept) == 3


def test_an_abandoned_recording_keeps_its_partial_file_and_leaves_the_name_alone(tmp_path):
    sink = VideoSink(tmp_path / "show.mkv", VideoFormat(SIZE, fps=FPS))
    for frame in frames(12) * 3:
        sink.write(frame)
    sink.abandon()
    sink.abandon()  # once is enough
    assert sorted(p.name for p in tmp_path.iterdir()) == ["show.partial.mkv"]


@pytest.mark.parametrize("rate, track_rate", [(192000, 96000), (50000, 64000), (44100, 44100), (5000, 7350)])
def test_audio_at_a_rate_aac_cannot_carry_is_resampled_whole(tmp_path, rate, track_rate):
    seconds = 1.0
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / "out.mp4"
    per_frame = rate // FPS
    with VideoSink(path, VideoFormat(SIZE, fps=FPS), AudioFormat(rate, channels=1)) as sink:
        for i, frame in enumerate(frames(FPS)):
            sink.write(frame)
            sink.write_audio(tone[i * per_frame:(i + 1) * per_frame])
    with av.open(str(path)) as container:
        sound = container.streams.audio[0]
        assert sound.rate == track_rate
        decoded = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    # Decoded whole, AAC adds its priming and pads the last frame: two 1024-sample frames at most.
    assert len(decoded) / track_rate == pytest.approx(FPS * per_frame / rate, abs=2 * 1024 / track_rate)
    # The tone survives: its level, away from the encoder's ramp-in at the start.
    middle = decoded[len(decoded) // 4: 3 * len(decoded) // 4]
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.1)


def test_audio_far_beyond_full_scale_is_clipped_not_refused(tmp_path):
    # Integer-scaled floats: FFmpeg's AAC encoder refused these (an error), and looped forever
    # on samples of 1e7-1e10 (not tried here: it would hang the suite).
    rate = 22050
    audio = np.zeros((rate, 2), np.float32)
    audio[::7] = 1e12
    path = tmp_path / "loud.mp4"
    with VideoSink(path, VideoFormat(SIZE, fps=FPS), AudioFormat(rate, channels=2)) as sink:
        for frame in frames(FPS):
            sink.write(frame)
        sink.write_audio(audio)
    with av.open(str(path)) as container:
        peak = max(np.abs(f.to_ndarray()).max() for f in container.decode(audio=0))
    assert 0.5 < peak < 1.5


def top_level_boxes(path: Path) -> list[str]:
    """The kinds of an MP4's top-level boxes, in order."""
    data, kinds, at = path.read_bytes(), [], 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        size = struct.unpack(">Q", data[at + 8:at + 16])[0] if size == 1 else size or len(data) - at
        kinds.append(kind.decode())
        at += size
    return kinds


KILLED_WRITER = """
import os, signal, sys
import numpy as np
from live.render.sinks import AudioFormat, VideoFormat, VideoSink
sink = VideoSink(sys.argv[1], VideoFormat((64, 48), fps=12), AudioFormat(16000, 1), kill_safe=True)
for i in range(96):
    sink.write(np.full((48, 64, 3), 20 + 18 * (i % 12), np.uint8))
    sink.write_audio(np.zeros(16000 // 12, np.float32))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_a_recording_killed_mid_show_plays_up_to_about_a_second_before(tmp_path, suffix):
    # Before: an MP4 or MOV keeps its only index for the end, and a killed show's partial
    # file opened in no player.
    show = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path / f"show{suffix}")],
                          capture_output=True, text=True, timeout=120)
    assert show.returncode == -signal.SIGKILL, show.stderr
    with av.open(str(tmp_path / f"show.partial{suffix}")) as container:
        means = [f.to_ndarray(format="rgb24").mean() for f in container.decode(video=0)]
    assert 96 - 2 * 12 <= len(means) <= 96  # 8 s written: at most the last 2 s lost
    assert means == pytest.approx([20 + 18 * (i % 12) for i in range(len(means))], abs=3)


@pytest.mark.parametrize("kill_safe, preset", [(True, "ultrafast"), (True, "veryfast"), (False, "veryfast")])
def test_a_finished_mp4_is_one_plain_file_whose_video_starts_with_its_audio(tmp_path, kill_safe, preset):
    path = tmp_path / "show.mp4"
    rate, fps = 16000, 30
    with VideoSink(path, VideoFormat(SIZE, fps=fps, preset=preset), AudioFormat(rate, 1), kill_safe=kill_safe) as sink:
        for i in range(3 * fps):  # a fade: x264 puts B-frames in it, which delay the video in fragments
            sink.write(np.full((SIZE[1], SIZE[0], 3), round(255 * i / (3 * fps - 1)), np.uint8))
            sink.write_audio(np.zeros(rate // fps, np.float32))
    boxes = top_level_boxes(path)
    assert "moov" in boxes and "moof" not in boxes  # editors that stumble on fragments open it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["show.mp4"]
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
        starts = [float(s.start_time * s.time_base) for s in container.streams]
    assert len(decoded) == 3 * fps
    assert starts == [0.0, 0.0]  # fragments with B-frames started the video 2 frames late


def test_the_encoder_runs_on_the_threads_asked_for(tmp_path):
    """A show's recording asks for one, so that x264's threads do not preempt its keyframes."""
    counts = {}
    for threads in (1, 0):
        with VideoSink(tmp_path / f"t{threads}.mp4", VideoFormat(SIZE, fps=FPS, threads=threads)) as sink:
            sink.write(np.zeros((SIZE[1], SIZE[0], 3), np.uint8))
            counts[threads] = sink._video_stream.codec_context.thread_count
    assert counts == {1: 1, 0: 0}  # 0: FFmpeg's choice


def test_an_mp4_that_cannot_be_indexed_keeps_its_playable_partial_file(tmp_path, monkeypatch):
    def disk_full(source, target, audio_start):
        Path(target).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sinks, "copy_packets", disk_full)
    kept = tmp_path / "show.mp4"
    sink = VideoSink(kept, VideoFormat(SIZE, fps=FPS), kill_safe=True)
    kept.write_bytes(b"another show's recording")  # finished meanwhile
    for frame in frames(12):
        sink.write(frame)
    with pytest.raises(UserError, match="No space left on device.*free disk space; show.partial.mp4 plays as it is"):
        sink.close()
    assert kept.read_bytes() == b"another show's recording"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["show.mp4", "show.partial.mp4"]
    assert decoded_frames(tmp_path / "show.partial.mp4") == 12


class _FullAtTheEnd:
    """The container, but the disk fills when it is closed: where x264's last frames and an
    MP4's index are written."""

    def __init__(self, container):
        self._container = container

    def __getattr__(self, name):
        return getattr(self._container, name)

    def close(self):
        self._container.close()
        raise av.error.OSError(28, "No space left on device")


@pytest.mark.parametrize("kill_safe", [False, True])
def test_a_disk_that_fills_as_the_video_is_finished_gets_one_line(tmp_path, kill_safe):
    """It came out as FFmpeg's own error with the hint for a bad path, and a render left an
    unplayable partial file."""
    path = tmp_path / "v.mp4"
    sink = VideoSink(path, VideoFormat(SIZE, fps=FPS), kill_safe=kill_safe)
    for frame in frames(4):
        sink.write(frame)
    sink._container = _FullAtTheEnd(sink._container)
    kept = "; v.partial.mp4 plays as it is" if kill_safe else ""
    with pytest.raises(UserError, match=f"No space left on device.*check the free disk space{kept}$"):
        sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["v.partial.mp4"] if kill_safe else [])


# A soundtrack clipped on its negative side is reported too.
def test_negative_overs_are_reported_as_clipped(tmp_path):
    with VideoSink(tmp_path / "o.mp4", VideoFormat((64, 48), fps=10), AudioFormat(16000, 1)) as sink:
        sink.write(np.zeros((48, 64, 3), np.uint8))
        audio = np.zeros(1600, np.float32)
        audio[10] = -3.0
        sink.write_audio(audio)
    assert sink.clipped_peak == pytest.approx(3.0)


# A recording refuses a name whose unfinished recording is still there.
def test_a_recording_refuses_a_name_with_an_unfinished_partial(tmp_path):
    from live.render.sinks import check_new_recording
    (tmp_path / "show.partial.mp4").write_bytes(b"x")
    with pytest.raises(UserError, match="not finished"):
        check_new_recording(tmp_path / "show.mp4")
    # What a show killed before its first packet leaves: the file its sink held, empty.
    (tmp_path / "early.partial.mp4").write_bytes(b"")
    check_new_recording(tmp_path / "early.mp4")
    write_video(tmp_path / "early.mp4", 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["early.mp4", "show.partial.mp4"]


def test_a_render_refuses_a_name_whose_unfinished_recording_is_there_before_it_starts(tmp_path, capsys):
    """A render onto a crashed show's name took over its unfinished file, the show's only copy (review 66)."""
    from live.__main__ import main

    crashed = VideoSink(tmp_path / "show.mp4", VideoFormat(SIZE, fps=FPS), kill_safe=True)
    for frame in frames(12) * 3:
        crashed.write(frame)
    crashed.abandon()  # as a show killed mid-recording leaves it
    kept = (tmp_path / "show.partial.mp4").read_bytes()
    (tmp_path / "a.wav").write_bytes(b"")  # never read: the output is refused first
    assert main(["render", str(tmp_path / "a.wav"), "-o", str(tmp_path / "show.mp4")]) == 2
    assert "show.partial.mp4 exists (a recording that was not finished)" in capsys.readouterr().err
    assert (tmp_path / "show.partial.mp4").read_bytes() == kept
    # A render killed once left its own, which plays nothing: the same render runs again (review 68).
    write_video(tmp_path / "whole" / "again.mp4", 12)  # a plain MP4: its index comes at its end
    whole = (tmp_path / "whole" / "again.mp4").read_bytes()
    (tmp_path / "again.partial.mp4").write_bytes(whole[:len(whole) // 2])  # cut there, as by a SIGKILL
    assert main(["render", str(tmp_path / "a.wav"), "-o", str(tmp_path / "again.mp4")]) == 2
    assert "not finished" not in capsys.readouterr().err  # past the output's checks, to the empty audio


def test_a_recording_interrupted_while_it_is_finished_leaves_no_half_copy(tmp_path, monkeypatch):
    def interrupted(source, target, audio_start):
        Path(target).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(sinks, "copy_packets", interrupted)
    sink = VideoSink(tmp_path / "show.mp4", VideoFormat(SIZE, fps=FPS), kill_safe=True)
    for frame in frames(12):
        sink.write(frame)
    with pytest.raises(KeyboardInterrupt):
        sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["show.partial.mp4"]  # it plays as it is


@pytest.mark.parametrize("suffix, kill_safe", [(".mp4", False), (".mp4", True), (".mkv", True)])
def test_a_video_is_bt709_and_says_so(tmp_path, suffix, kill_safe):
    """Players read untagged HD as BT.709; converted with FFmpeg's default BT.601 matrix and
    left untagged, pure red played as (255, 23, 0)."""
    path = tmp_path / f"v{suffix}"
    frame = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    frame[..., 0] = 255
    with VideoSink(path, VideoFormat(SIZE, fps=FPS), kill_safe=kill_safe) as sink:
        for _ in range(3):
            sink.write(frame)
    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_primaries, context.color_trc) == (1, 1, 1)  # BT.709
        assert context.color_range == 1  # limited ("tv")
        y = next(container.decode(video=0)).to_ndarray(format="yuv420p")[:SIZE[1]]
    assert abs(int(np.median(y)) - round(16 + 219 * 0.2126)) <= 1  # red's luma by BT.709's weights (BT.601's: 81)


@pytest.mark.parametrize("typed, rate", [(30, Fraction(30)), (2.3, Fraction(23, 10)), (12.5, Fraction(25, 2)),
                                         (29.97, Fraction(30000, 1001)), (23.976, Fraction(24000, 1001)),
                                         (59.94, Fraction(60000, 1001)), (29.9, Fraction(299, 10)),
                                         (23.98, Fraction(24000, 1001)), (24, Fraction(24))])  # 23.98: review 52
def test_a_typed_rate_is_the_fraction_it_stands_for_ntsc_s_included(typed, rate):
    assert exact_rate(typed) == rate


@pytest.mark.parametrize("kill_safe", [False, True])
def test_a_second_writer_of_one_video_is_refused_while_the_first_writes(tmp_path, kill_safe):
    """Both wrote into one unfinished file and both said they wrote the video: it held a mix,
    or the other's frames."""
    path = tmp_path / "same.mp4"
    first = VideoSink(path, VideoFormat(SIZE, fps=FPS), kill_safe=kill_safe)
    first.write(frames(1)[0])
    with pytest.raises(UserError, match="another command is writing .*same.mp4 now"):
        VideoSink(path, VideoFormat(SIZE, fps=FPS), kill_safe=kill_safe)
    for frame in frames(5)[1:]:
        first.write(frame)
    first.close()
    assert decoded_frames(path) == 5
    again = VideoSink(path, VideoFormat(SIZE, fps=FPS))  # the video is finished: its name is free
    again.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.mp4"]


def test_a_killed_writer_s_unfinished_file_is_taken_over(tmp_path):
    path = tmp_path / "v.mp4"
    sinks.partial_path(path).write_bytes(b"left by a killed render")
    write_video(path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"] and decoded_frames(path) == 3


def test_a_video_given_no_frames_leaves_no_file(tmp_path):
    VideoSink(tmp_path / "none.mp4", VideoFormat(SIZE, fps=FPS)).close()
    assert not list(tmp_path.iterdir())


def test_two_renders_into_one_new_folder_of_frames_do_not_mix(tmp_path):
    """Each found the new folder empty and wrote its frames: the folder held a mix of two videos."""
    folder = tmp_path / "frames"
    first = PngSink(folder)
    first.write(frames(1)[0])
    with pytest.raises(UserError, match="another command is writing .*frames now"):
        PngSink(folder)
    first.write(frames(2)[1])
    first.close()
    with pytest.raises(UserError, match="already holds"):  # the folder is free again, and not empty
        PngSink(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["frame_000000.png", "frame_000001.png"]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_show_s_recording_never_replaces_one_another_show_finished_meanwhile(tmp_path, suffix):
    """Both shows passed the check before either had written; the second to end replaced the
    first's finished recording (found by review)."""
    path = tmp_path / f"show{suffix}"
    sink = VideoSink(path, VideoFormat(SIZE, fps=FPS), kill_safe=True)
    for frame in frames(3):
        sink.write(frame)
    path.write_bytes(b"the other show's recording")
    with pytest.raises(UserError, match=f"{path.name} was made by another command during this show.*"
                                        f"show.partial{suffix}, which plays"):
        sink.close()
    assert path.read_bytes() == b"the other show's recording"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, f"show.partial{suffix}"])
    assert decoded_frames(tmp_path / f"show.partial{suffix}") == 3
    (tmp_path / f"show.partial{suffix}").unlink()
    with pytest.raises(UserError, match="exists: a recording does not replace one"):
        VideoSink(path, VideoFormat(SIZE, fps=FPS), kill_safe=True)  # one finished while this show loaded
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # and no empty unfinished file


def test_a_recording_in_progress_is_not_called_a_failed_show_s_left_over(tmp_path):
    """A second show was told to move the first show's live file away; the first then said it
    recorded a video that was not there."""
    from live.render.sinks import check_new_recording

    path = tmp_path / "show.mp4"
    first = VideoSink(path, VideoFormat(SIZE, fps=FPS), kill_safe=True)
    for _ in range(3):
        for frame in frames(12):  # three seconds: fragments on the disk
            first.write(frame)
    assert sinks.partial_path(path).stat().st_size
    with pytest.raises(UserError, match="another command is writing .*show.mp4 now"):
        check_new_recording(path)
    sinks.partial_path(path).rename(tmp_path / "moved.mp4")
    with pytest.raises(UserError, match="show.partial.mp4 was moved or deleted while it was written"):
        first.close()
    assert not path.exists()


@pytest.mark.parametrize("kill_safe", [True, False])
def test_a_click_in_the_audio_plays_at_its_own_time(tmp_path, kill_safe):
    # AAC's encoder primes its stream with 1024 samples that the file's edit list trims; the
    # show's fragments carry none, and its recordings played their sound 23 ms late.
    path = tmp_path / "show.mp4"
    rate, fps = 44100, 30
    audio = np.zeros(2 * rate, np.float32)
    audio[rate:rate + 32] = 0.9  # a click at 1 s, and a white frame at 1 s
    with VideoSink(path, VideoFormat(SIZE, fps=fps), AudioFormat(rate, 1), kill_safe=kill_safe) as sink:
        for i in range(2 * fps):
            sink.write(np.full((SIZE[1], SIZE[0], 3), 255 if i == fps else 0, np.uint8))
            sink.write_audio(audio[i * rate // fps:(i + 1) * rate // fps])
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [(float(frame.pts * frame.time_base), frame.to_ndarray()[0]) for frame in container.decode(stream)]
    with av.open(str(path)) as container:
        frames = [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24").mean()) for f in container.decode(video=0)]
    times = np.concatenate([start + np.arange(len(x)) / rate for start, x in chunks])
    samples = np.concatenate([x for _, x in chunks])
    assert times[np.argmax(np.abs(samples))] == pytest.approx(1.0, abs=0.002)
    assert max(frames, key=lambda f: f[1])[0] == pytest.approx(1.0, abs=0.002)  # the picture with its sound
