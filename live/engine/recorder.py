"""A show's recording: the frames on screen and the audio the engine heard, in step,
encoded on a thread of its own."""
from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from live.audio.channels import mix_channels
from live.render.sinks import exact_rate

RECORD_GAP_S = 1.0       # the input heard nothing for this long (lost): the recording takes silence in its place
RECORD_MARGIN_S = 0.25   # silence for an outage stops this far short of now, where audio may be on its way
RECORD_FRAMES_S = 2.0    # frames kept for the audio the recorder has yet to write (about 170 MB at 720p)
# Further behind, a frame every RECORD_SPARSE_S is kept for RECORD_SPARSE_FOR_S (about 110 MB at 720p): an
# encoder that ran 3-10 s behind on a busy CPU wrote one frozen picture for 80 % of a show (found by review).
# Further behind still, every other one kept is let go and the spacing doubles, so that the whole backlog
# stays covered, more coarsely, in the same memory: evicting the oldest froze a 76 s demo's file for 29 s.
RECORD_SPARSE_S = 0.5
RECORD_SPARSE_FOR_S = 20.0


class Recorder:
    """Records the show: video frames and the audio the engine heard, in step.

    Encoding runs on its own thread so the render loop never waits for it. The render
    loop reads back a frame only when `wants_frame` says one is due and offers it; the
    recorder writes, for every 1/fps of audio, the frame offered when that audio was
    captured (repeating one when rendering fell behind), so the file plays in sync even
    while the encoder runs seconds behind the show (a compile taking the CPU). When the input
    itself has heard nothing for `gap_s` (`heard`: the capture time of its newest
    sample, on `clock`; an input lost), silence is written by the clock with the pictures
    of the show, up to where the audio comes back, so the recording lasts as long as the
    show. Audio that is only late (the engine's audio thread held up) is waited for, not
    replaced.
    A `gapless` source (a track played, whose blocks follow one another whatever their stamps
    say) is lost only after `gap_s` without audio, or a jump of its stamps as long (its own
    silence timeout): PulseAudio primes 0.4 s, pauses over a second, then plays on, and
    the pause was recorded as a hole the audience never heard (found by review).
    Audio of more channels than the sink's is mixed down. A failed write (a full disk)
    ends the recording, not the show: `on_error` hears of it once.
    """

    def __init__(self, sink, fps: float, sample_rate: int, channels: int, heard: Callable[[], float | None],
                 clock=time.monotonic, on_error: Callable[[str], None] = lambda message: None, gapless: bool = False,
                 gap_s: float = RECORD_GAP_S, wall: Callable[[], float] = time.monotonic):
        """`wall`: the real time this thread runs by (a show's `clock` may be simulated in tests)."""
        self.sink, self.fps, self.sample_rate, self.channels, self.clock = sink, fps, sample_rate, channels, clock
        self.wall = wall
        self.gapless, self.gap_s = gapless, gap_s
        self._frames_per_sample = exact_rate(fps) / sample_rate
        self.heard, self.on_error = heard, on_error
        self.audio: queue.Queue[tuple[np.ndarray, float]] = queue.Queue(maxsize=4096)  # block, its end's capture time
        # (slot, frame) as offered: each frame of the file is the one offered in the slot of its
        # audio's capture time, however far behind the encoder runs (kept RECORD_FRAMES_S).
        self._frames: deque[tuple[int, np.ndarray]] = deque(maxlen=max(2, math.ceil(RECORD_FRAMES_S * fps)))
        self._sparse_size = max(2, math.ceil(RECORD_SPARSE_FOR_S / RECORD_SPARSE_S))
        self._sparse: deque[tuple[int, np.ndarray]] = deque()
        self._sparse_base_step = max(1, round(RECORD_SPARSE_S * fps))
        self._sparse_step = self._sparse_base_step  # slots between two sparse frames
        self.oldest_stand_in_s = 0.0  # the furthest a stand-in picture was from its sound's time
        self._frames_lock = threading.Lock()
        self._picture: tuple[int, np.ndarray] | None = None  # the frame written last, with its slot
        self.samples_written = 0
        self.frames_written = 0
        self.frames_behind = 0  # written while the frame of their slot was no longer kept
        self.audio_dropped = 0
        self.silence_written = 0  # samples written for audio that did not come
        # Of those, before the input's first block: a show's start-up held a working input's first
        # callback 0.6-1.8 s, which the show's end called an outage (found by review).
        self.silence_at_start = 0
        self.written_until: float | None = None  # the capture time the audio written reaches
        self.error: Exception | None = None  # why the recording stopped before the show did
        self._last_slot = -math.inf  # the 1/fps slot of the clock the last frame was offered in
        self._due_slot = -math.inf   # the slot the last `wants_frame` saw
        self._first_offer: float | None = None  # the recording's start while no audio has come
        self._first_slot = math.inf
        self._end: float | None = None  # the show's end, which silence goes no further than
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="recorder", daemon=True)
        self._thread.start()

    def push_audio(self, block: np.ndarray, at: float) -> None:
        """From the audio thread, with the clock time `block`'s last sample was captured; a
        full queue loses audio rather than blocking it."""
        try:
            self.audio.put_nowait((block, at))
        except queue.Full:
            self.audio_dropped += len(block)

    def wants_frame(self) -> bool:
        """Is a frame due: the first in its slot of 1/fps? Slots, not 1/fps since the last
        offer: a render loop at the recording's own rate, its frames a hair early or late,
        would have every other frame refused (186 of 300 at 30 fps with 5 ms of jitter)."""
        self._due_slot = math.floor(self.clock() * self.fps + 0.5)
        return self._due_slot > self._last_slot

    def offer(self, frame: np.ndarray) -> None:
        """The frame `wants_frame` asked for, in the slot it saw: the readback between the
        two can take the clock into the next slot, whose frame would then be refused."""
        self._last_slot = self._due_slot
        if self._first_offer is None:
            self._first_offer, self._first_slot = self.clock(), self._due_slot
        with self._frames_lock:
            self._frames.append((self._due_slot, frame))
            if len(self._sparse) <= 1:  # the encoder caught up: back to the finest spacing
                self._sparse_step = self._sparse_base_step
            if not self._sparse or self._due_slot >= self._sparse[-1][0] + self._sparse_step:
                if len(self._sparse) == self._sparse_size:
                    self._sparse = deque(list(self._sparse)[::2])
                    self._sparse_step *= 2
                self._sparse.append((self._due_slot, frame))

    def _loop(self) -> None:
        try:
            self._write_until_stopped()
        except Exception as e:  # noqa: BLE001 - the show goes on without its recording
            self.error = e
            self.on_error(f"recording stopped: {type(e).__name__}: {e}")
            while not self._stop.is_set():  # keep the queue from filling while the show runs
                try:
                    self.audio.get(timeout=0.1)
                except queue.Empty:
                    pass

    def _write_until_stopped(self) -> None:
        reached = None  # the capture time the audio written reaches: a block's end, or silence's
        silent = False  # silence stands in for an outage that has not ended
        poll = min(0.1, 1 / self.fps)  # silence goes in a frame at a time, each with the picture of its time
        ran, judge_from = self.wall(), -math.inf
        while not (self._stop.is_set() and self.audio.empty()):
            try:
                block, at = self.audio.get(timeout=poll)
            except queue.Empty:
                last, ran = ran, self.wall()
                if ran - last > self.gap_s:
                    # This thread itself did not run (the process stopped: Ctrl-Z, a swap storm):
                    # the input's backlog is on its way, and was recorded twice, as silence too.
                    judge_from = ran + self.gap_s
                if reached is not None:  # frames held for pictures the screen has reached since
                    self._write_frames(math.floor(self._frames_of_audio()), reached)
                else:  # before any audio, from the first frame: an input lost from the start
                    reached = self._first_offer
                if reached is not None and ran >= judge_from and self._input_lost(reached, silent):
                    # Short of now by a margin: a block captured in it may still be on its way.
                    until = self.clock() - RECORD_MARGIN_S if self._end is None else self._end
                    reached = self._write_silence(reached, until)
                    silent = True
                continue
            ran = self.wall()
            start = at - len(block) / self.sample_rate
            # A played track's stamps jump at its start (output buffering), not only at an outage.
            gap = self.gap_s if self.gapless else RECORD_MARGIN_S
            if reached is not None and (silent or start - reached > gap):
                # The outage's last stretch, or one the recorder was too far behind to see
                # as it happened: silence up to where this block begins.
                self._write_silence(reached, start)
                silent = False
            self._write_audio(mix_channels(block, self.channels), at)
            # Never back: a block that overlaps silence already written must not have it written again.
            reached = at if reached is None else max(reached, at)
        if silent:
            reached = self._write_silence(reached, self._end)
        # The last, partial frame too: the video lasts as long as its audio, and a recording
        # shorter than a frame still has a picture.
        self._write_frames(max(1, math.ceil(self._frames_of_audio())), self.clock() if reached is None else reached,
                           hold=False)

    def _input_lost(self, reached: float, silent: bool) -> bool:
        """Has the input heard nothing past `reached`, and for `gap_s` unless an outage
        is being filled already? Audio it heard that has not come is late, not lost."""
        heard = self.heard()
        if heard is not None and heard > reached + 1e-3:
            return False
        return silent or self.clock() - reached > self.gap_s

    def _write_silence(self, start: float, end: float) -> float:
        """Silence from capture time `start` to `end`; returns where the audio now reaches."""
        samples = round((end - start) * self.sample_rate)
        if samples <= 0:
            return start
        end = start + samples / self.sample_rate
        if self.silence_written == self.samples_written:  # all silence so far: no block has come
            self.silence_at_start += samples
        self._write_audio(np.zeros((samples, self.channels), np.float32), end)
        self.silence_written += samples
        return end

    def _write_audio(self, block: np.ndarray, end: float) -> None:
        """`block`, whose last sample was captured at `end`, and the frames beside it."""
        self.sink.write_audio(np.ascontiguousarray(block, dtype=np.float32))
        self.samples_written += len(block)
        self.written_until = end
        self._write_frames(math.floor(self._frames_of_audio()), end)

    def _frames_of_audio(self) -> Fraction:
        return self.samples_written * self._frames_per_sample

    def _write_frames(self, due: int, end: float, hold: bool = True) -> None:
        """Frames up to number `due`, the audio written ending at capture time `end`. With
        `hold`, a frame whose slot the screen has not reached waits: a played track's audio
        comes stamped with when it will be heard, an output buffer (0.3 s) ahead of the
        screen, and the newest picture beside it put the file's pictures that far behind."""
        while self.frames_written < due:
            samples_before = self.samples_written - self.frames_written / self._frames_per_sample
            slot = math.floor((end - float(samples_before) / self.sample_rate) * self.fps + 0.5)
            if hold and slot > self._last_slot:
                return
            frame = self._frame_at(slot)
            if frame is None:
                return
            self.sink.write(frame)
            self.frames_written += 1

    def _frame_at(self, slot: int) -> np.ndarray | None:
        """The frame offered last in or before `slot`; when that frame is no longer kept (the
        encoder more than RECORD_FRAMES_S behind), the sparse one kept last in or before it
        (RECORD_SPARSE_S apart, or further when the encoder is further behind), or failing
        that the one written last; the first offered for audio from before it. Never
        a picture from after its audio, nor one older than the picture before it."""
        with self._frames_lock:
            while len(self._frames) > 1 and self._frames[1][0] <= slot:
                self._frames.popleft()
            while len(self._sparse) > 1 and self._sparse[1][0] <= slot:
                self._sparse.popleft()
            stand_in = False
            if self._frames and self._frames[0][0] <= slot:
                kept = self._frames[0]
            elif self._sparse and self._sparse[0][0] <= slot:  # its own frame is gone
                kept, stand_in = self._sparse[0], True
            else:  # gone too, or audio from before the first frame
                kept = self._picture or (self._frames[0] if self._frames else None)
                stand_in = self._picture is not None and slot >= self._first_slot
            if kept is not None and (self._picture is None or kept[0] >= self._picture[0]):
                self._picture = kept
            # A stand-in of its own slot is the frame itself: counted, a note said "older by up to 0.0 s".
            if stand_in and slot > self._picture[0]:
                self.frames_behind += 1
                self.oldest_stand_in_s = max(self.oldest_stand_in_s, (slot - self._picture[0]) / self.fps)
        return None if self._picture is None else self._picture[1]

    def end(self, at: float) -> None:
        """The show ended at clock time `at`: silence goes no further, however long its
        threads take to stop (the audio they still hand over is recorded)."""
        self._end = at

    def close(self) -> None:
        """Finish the recording; one that stopped in the show keeps its partial file, which
        its error names, rather than taking the name asked for with the show's start only."""
        if self._end is None:
            self._end = self.clock()
        self._stop.set()
        self._thread.join()
        if self.error is None:
            self.sink.close()
        else:
            self.sink.abandon()

    def account(self) -> list[tuple[bool, str]]:
        """What the closed recording holds that the performer should know, as (is it a
        failure, one line). Silence and stand-in pictures are the recording doing what it
        could, not failures: the outage or the short CPU was reported as it happened."""
        notes = []
        start = self.silence_at_start
        if self.silence_written > start:
            outage = (self.silence_written - start) / self.sample_rate
            notes.append((False, f"the recording holds {outage:.1f} s of silence where no audio came from the input"))
        if start:  # not an outage: inputs start a moment after the show's first picture
            notes.append((False, f"the recording starts with {start / self.sample_rate:.1f} s of silence: the "
                                 "input's first sound came that long after the show's first picture"))
        if self.frames_behind:
            notes.append((False, f"{self.frames_behind} of the recording's {self.frames_written} frames show a "
                                 f"picture older than their sound, by up to {self.oldest_stand_in_s:.1f} s: the "
                                 f"encoder fell more than {RECORD_FRAMES_S:g} s behind the show (the CPU was short)"))
        if self.audio_dropped:
            notes.append((True, f"{self.audio_dropped} audio samples were lost: the encoder fell behind the show"))
        return notes
