"""What a PlaybackSource plays: samples held in memory, or a file decoded just ahead of play.

A track hands out its samples front to back with `take`, which never blocks unless asked
to: PortAudio's callback takes without waiting and plays silence when a decoder is behind
(as python-sounddevice's play_long_file example does), while a pacing thread may wait.
"""
from __future__ import annotations

import math
import os
import threading
from collections import deque
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from live.audio.decode import scan_audio, stream_converted
from live.errors import UserError, first_line, one_line


def _identity(path: str | Path) -> tuple[int, ...] | None:
    """(device, inode, size, mtime) of the file at `path`; None once it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _rewritten(now: tuple[int, ...] | None, then: tuple[int, ...]) -> bool:
    """The file a decoder holds open was written to: the same inode, another size or time. One
    moved, removed or replaced by another inode leaves what the decoder reads as it was."""
    return now is not None and now[:2] == then[:2] and now != then


class Track(ABC):
    channels: int
    frames: int         # one pass
    loop: bool
    error: str | None = None  # why the track ended early

    @abstractmethod
    def take(self, limit: int, wait: bool = False) -> np.ndarray:
        """Up to `limit` frames [n, channels] at the play position, which it advances; shorter
        at the end (a loop wraps on the next call). Empty once the track is over, or, when not
        waiting, while the samples are not decoded yet."""

    @property
    @abstractmethod
    def over(self) -> bool:
        """Every sample has been taken (never, when looping)."""

    def close(self) -> None:
        """Stop whatever works ahead; the track takes nothing more."""


class MemoryTrack(Track):
    def __init__(self, samples: np.ndarray, loop: bool = False) -> None:
        assert samples.ndim == 2 and samples.dtype == np.float32 and len(samples) > 0, (samples.shape, samples.dtype)
        self.samples = samples
        self.channels, self.frames, self.loop = samples.shape[1], len(samples), loop
        self._position = 0  # beyond `frames` when looping

    def take(self, limit: int, wait: bool = False) -> np.ndarray:
        if limit <= 0 or self.over:
            return self.samples[:0]
        offset = self._position % self.frames
        block = self.samples[offset:offset + min(limit, self.frames - offset)]
        self._position += len(block)
        return block

    @property
    def over(self) -> bool:
        return not self.loop and self._position >= self.frames


class FileTrack(Track):
    """A file, checked whole when opened (a broken one fails before the show, not in it),
    then decoded by a thread at most `ahead_seconds` before the play position: an hour of
    48 kHz stereo held whole is 1.4 GB."""

    BLOCK_SECONDS = 0.5  # the decoder's blocks, at the file's rate

    def __init__(self, path: str | Path, sample_rate: int | None = None, channels: int | None = None,
                 loop: bool = False, ahead_seconds: float = 5.0) -> None:
        self._identity = _identity(path)  # before the scan: a change during it is noticed too
        self.file = audio = scan_audio(path)  # what it holds: a show finds its beats in it (`beatfiles`)
        self.path, self.loop, self.shortfall = audio.path, loop, audio.shortfall()
        self._name = one_line(str(audio.path))  # said to a show's screen and log whole: a newline cut the line
        self.sample_rate = sample_rate or audio.sample_rate
        self.channels = channels or audio.channels
        # resample_poly's output length, ceil(frames * rate / file rate), which
        # stream_converted's blocks add up to (in integers: a float quotient can land above).
        self.frames = -(-audio.frames * self.sample_rate // audio.sample_rate)
        # A deque, not a queue.Queue: an output callback (--play) takes blocks, and must take no
        # lock; the decoder keeps at most `_most` of them waiting.
        self._blocks: deque[np.ndarray | None] = deque()
        self._most = max(1, math.ceil(ahead_seconds / self.BLOCK_SECONDS))
        self._arrived = threading.Event()  # a block was put: a `take` that waits looks again
        self._block = np.zeros((0, self.channels), np.float32)
        self._at = 0
        self._taken = 0
        self._ended = False  # the decoder's end mark has been taken
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._decode, name="audio-decode", daemon=True)
        self._thread.start()

    def _put(self, item: np.ndarray | None) -> bool:
        while not self._closed.is_set():
            if len(self._blocks) < self._most:
                self._blocks.append(item)
                self._arrived.set()
                return True
            self._closed.wait(0.01)  # until the player has taken a block (0.5 s of sound)
        return False

    def _decode(self) -> None:
        decoded = 0
        try:
            while True:
                decoded = 0
                if _identity(self.path) != self._identity:  # a pass opens the path again: another file now
                    raise UserError(f"{self._name} was rewritten, moved or removed while the show played it")
                for block in stream_converted(self.path, self.sample_rate, self.channels, self.BLOCK_SECONDS,
                                              quiet=True):  # scanned when opened, which said what is wrong
                    # Checked before each block goes out, which may hold the new file's samples: a
                    # file exported or copied over mid-show was played on from its byte offset, two
                    # songs spliced into the show and its recording, without a word.
                    if _rewritten(_identity(self.path), self._identity):
                        raise self._rewritten_at(decoded)
                    decoded += len(block)
                    if len(block) and not self._put(block):
                        return
                if decoded < self.frames:  # cut short (or replaced) since it was checked
                    raise UserError(f"{self._name} ended after {decoded / self.sample_rate:.1f} s of its "
                                    f"{self.frames / self.sample_rate:.1f} s: it changed while the show played it")
                if not self.loop:
                    break
        except Exception as e:  # noqa: BLE001 - the file changed under the show, or its decoder failed
            if _rewritten(_identity(self.path), self._identity):  # the decoder failed on the new content
                e = self._rewritten_at(decoded)
            why = str(e) if isinstance(e, UserError) else f"decoding {self._name} failed ({type(e).__name__}: " \
                                                          f"{first_line(e)})"
            self.error = f"{why}; the show goes on, silent for the rest of its length"
            self._put_silence(decoded)
        finally:  # the end mark, whatever happened: a waiting `take` must not wait forever
            self._put(None)

    def _rewritten_at(self, decoded: int) -> UserError:
        return UserError(f"{self._name} was rewritten while the show played it, "
                         f"{decoded / self.sample_rate:.1f} s into it")

    def _put_silence(self, decoded: int) -> None:
        """Silence for the rest of the file's checked length (a looped one's: until closed): a
        show on it ended at once, seconds or minutes before its --duration, its picture gone."""
        block = np.zeros((round(self.BLOCK_SECONDS * self.sample_rate), self.channels), np.float32)
        left = self.frames - decoded
        while (self.loop or left > 0) and self._put(block if self.loop else block[:left]):
            left -= len(block)

    def take(self, limit: int, wait: bool = False) -> np.ndarray:
        if not self.loop:  # the length the check found, whatever the decoder finds now
            limit = min(limit, self.frames - self._taken)
        if self._at == len(self._block) and not self._ended and limit > 0:
            while not self._blocks:
                if not wait:
                    return self._block[:0]
                self._arrived.wait(0.1)
                self._arrived.clear()  # then the deque is looked at again: a block put meanwhile is seen
            item = self._blocks.popleft()
            if item is None:
                self._ended = True
            else:
                self._block, self._at = item, 0
        piece = self._block[self._at:self._at + max(0, limit)]
        self._at += len(piece)
        self._taken += len(piece)
        return piece

    @property
    def over(self) -> bool:
        return (self._ended and self._at == len(self._block)) or (not self.loop and self._taken >= self.frames)

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
