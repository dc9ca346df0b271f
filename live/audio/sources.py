"""Where live audio comes from: an input device, a file played in real time, or the demo.

Every source has one shape: `start()` / `stop()`, `sample_rate`, `channels`, a `ring` the
producer fills (`ring.written` is the audio clock), and `capture_time(index)`: when sample
`index` was heard, on the source's clock. The producer is a PortAudio callback or a pacing
thread, and it only copies samples and counts; everything else happens in the consumer.
"""
from __future__ import annotations

import math
import re
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from live.audio.clock import CaptureTimes, Clock, MonotonicClock, RecentMinimum
from live.audio.channels import mix_channels
from live.audio.demo import render_demo
from live.audio.driver import DriverCall, skip_driver_cleanup_at_exit
from live.audio.devices import (Device, Direction, default_device_index, find_device, list_devices, portaudio,
                                refresh_devices)
from live.audio.ring import RingBuffer
from live.audio.tracks import FileTrack, MemoryTrack, Track
from live.errors import UserError
from live.stderr import QuietStderr


class Source(ABC):
    # What the engine watches; sources with a device or a track of their own set these.
    device_name = "the device"
    silence_timeout = 0.0     # seconds without audio after which `watchdog` reopens the input
    last_error: str | None = None  # the input's current trouble, said once per change
    hung = False              # a call into the audio driver has not returned: it may never
    reopens = 0               # times the device was opened again after it went quiet
    gapless = False           # blocks follow one another with no samples between, whatever their stamps say

    def __init__(self, sample_rate: int, channels: int, ring_seconds: float, clock: Clock) -> None:
        assert sample_rate > 0 and channels > 0, (sample_rate, channels)
        self.sample_rate = sample_rate
        self.channels = channels
        self.clock = clock
        self.ring = RingBuffer(round(ring_seconds * sample_rate), channels)
        # (frames written, clock time of the frame at that index), replaced as one tuple so a
        # reader on another thread never sees a count from one block with a time from another.
        self._stamp: tuple[int, float] | None = None
        self._watched_at: float | None = None  # the last `watchdog` call's time
        self._reopening: DriverCall | None = None  # the device being opened again, on a thread of its own
        self._quiet = QuietStderr()  # around a stream's open: given back by a watchdog that stops waiting

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @property
    def input_overflows(self) -> int:
        """Blocks the audio device dropped before we got them (0 where there is no device)."""
        return 0

    @property
    def overflows(self) -> int:
        """Audio lost on the way in: blocks the device dropped and blocks the ring overwrote."""
        return self.input_overflows + self.ring.overflows

    @property
    def finished(self) -> bool:
        """The whole of a track has been delivered (an input never ends)."""
        return False

    def watchdog(self) -> bool:
        """Reopen an input that went silent; True if it did (nothing to reopen here)."""
        return False

    def _was_paused(self, now: float) -> bool:
        """For `watchdog`, called at `now`: this process did not run for `silence_timeout` s
        since the last call (paused, suspended, starved), so the device's callbacks could not
        run either. Judged on such a call, a working stream looks silent; the next call judges."""
        watched, self._watched_at = self._watched_at, now
        return watched is not None and now - watched > self.silence_timeout

    def _quieted(self) -> QuietStderr:
        """A stream's open, the C libraries' lines left out: each retry while a device is gone printed five."""
        self._quiet = QuietStderr()
        return self._quiet

    def _reopen_done(self, without: str) -> bool:
        """For `watchdog`: waits up to REOPEN_WAIT_S for the reopen under way; True if it opened the
        device. A failure is said in `last_error` and left for a later call to try again; a reopen
        that has not returned in DRIVER_HUNG_S is said (`hung`), with what the show goes on `without`."""
        assert self._reopening is not None
        if not self._reopening.wait(REOPEN_WAIT_S):
            self._quiet.release()  # an open that hangs keeps no line of the show's from the terminal
            if self._reopening.running_for() > DRIVER_HUNG_S and not self.hung:
                self.hung = True
                self.last_error = (f"the audio driver has not returned in {DRIVER_HUNG_S:g} s from reopening "
                                   f"{self.device_name!r} (PortAudio waits on a sound server that died under it); "
                                   f"the show goes on {without}")
            return False
        job, self._reopening = self._reopening, None
        self.hung = False  # it returned, whatever it returned with
        if isinstance(job.error, (UserError, portaudio().PortAudioError)):
            self.last_error = f"reopening {self.device_name!r}: {job.error}; retrying every {self.silence_timeout:g} s"
            return False
        if job.error is not None:
            raise job.error
        self.reopens += 1
        return True

    def capture_time(self, index: int) -> float:
        """Clock time at which sample `index` was captured (or played), from the latest block."""
        stamp = self._stamp
        if stamp is None:
            raise RuntimeError("no audio has arrived yet")
        frames, t = stamp
        return t - (frames - index) / self.sample_rate

    def heard_until(self) -> float | None:
        """Clock time of the newest sample captured (or played); None before any."""
        stamp = self._stamp
        return None if stamp is None else stamp[1]

    def __enter__(self) -> Source:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _device(spec: str | int | None, direction: Direction) -> Device:
    return find_device(spec, direction, list_devices(), default_device_index(direction))


def _device_again(name: str, direction: Direction) -> Device:
    """A device found before, by its name, after a rescan: ALSA's names end in the card number
    ("USB Audio CODEC: - (hw:2,0)"), which a replug can change."""
    try:
        return _device(name, direction)
    except UserError:
        base = re.sub(r"\s*\(hw:\d+,\d+\)$", "", name)
        if base == name:
            raise
        return _device(base, direction)


def _input_rate(device: Device, channels: int) -> int:
    """The device's default rate if it opens at it, else the first common rate that it
    does (an ALSA hw: device may advertise 44100 Hz and open only at 48000), else the
    default, for the open to report."""
    sd = portaudio()
    default = int(device.default_sample_rate)
    for rate in dict.fromkeys((default, 48000, 44100)):
        try:
            sd.check_input_settings(device=device.index, samplerate=rate, channels=channels, dtype="float32")
            return rate
        except (sd.PortAudioError, ValueError):
            continue
    return default


REOPEN_WAIT_S = 0.5   # the audio thread's wait for a reopen (one takes ~0.1 s); it looks again next time
DRIVER_HUNG_S = 5.0   # a reopen not back in this long is hung in the driver, and said so
STOP_WAIT_S = 2.0     # the end of a show waits this long for a device to close, then leaves it
# An output's buffer. The track moves on only when the device's callback runs, and in a show
# on 2 cores (inference, the software renderer, the analysis) it runs late by tens of ms at a
# time: with the driver's own ~50 ms a 20 s track took 100 s to play, with 0.3 s it keeps time.
OUTPUT_LATENCY_S = 0.3
CLOCK_OFFSET_WINDOW_S = 4.0  # an output callback's reading of our clock against PortAudio's, at its earliest


def _close(stream: Any) -> None:
    """Close a stream whose device may be gone: abort first (a close alone can wait on a
    device that never answers), errors ignored (the stream is dropped either way)."""
    stream.abort(ignore_errors=True)
    stream.close(ignore_errors=True)


def _close_in_time(stream: Any, seconds: float) -> bool:
    """`_close` on a thread of its own; False if it has not returned in `seconds` (hung)."""
    return DriverCall(lambda: _close(stream), "close audio stream").wait(seconds)


def _closed_at_end(stream: Any, hung: bool) -> bool:
    """Close `stream` (if any) as the show ends; True if the driver hangs, now or before:
    sounddevice's exit handler, which would wait on it, is then skipped."""
    hung = hung or (stream is not None and not _close_in_time(stream, STOP_WAIT_S))
    if hung:
        skip_driver_cleanup_at_exit()
    return hung


class MicSource(Source):
    """An input device through a sounddevice InputStream.

    `watchdog()`, called every second or so by the owner, reopens the device when its
    callback has gone quiet: PortAudio stops calling back when a device is unplugged or a
    callback raised. The device is found again by name, since indices change on replug.
    """

    def __init__(self, device: str | int | None = None, *, sample_rate: int | None = None, channels: int = 1,
                 first_channel: int = 1, blocksize: int = 512, ring_seconds: float = 10.0,
                 silence_timeout: float = 2.0, clock: Clock = MonotonicClock()) -> None:
        """`channels` of the device from `first_channel` (1-based) on: PortAudio opens the first N
        of a device, so the ones before them are opened too and left out as blocks come."""
        chosen = _device(device, "input")
        self._skipped = first_channel - 1
        opened = self._skipped + channels
        if opened > chosen.input_channels:
            asked = f"{channels}" if first_channel == 1 else f"channels {first_channel}-{opened}"
            raise UserError(f"input device {chosen.name!r} has {chosen.input_channels} channel(s), "
                            f"{asked} were asked for")
        self._opened_channels = opened
        super().__init__(sample_rate or _input_rate(chosen, opened), channels, ring_seconds, clock)
        self.device_name = chosen.name
        self._device_index = chosen.index
        self._host_api = chosen.host_api
        self.blocksize = blocksize
        self.silence_timeout = silence_timeout
        self.last_error: str | None = None
        self._input_overflows = 0
        self._stream: Any = None
        self._opened_at = 0.0
        self._capture_times = CaptureTimes(self.sample_rate)
        self._running = False  # between start() and stop()
        self.hung = False  # a call into the driver has not returned: it may never

    @property
    def input_overflows(self) -> int:
        return self._input_overflows

    def describe(self) -> str:
        """What the show listens to, for a performer to check: 'USB Audio' (ALSA): channels 3-4 at 48000 Hz."""
        first, last = self._skipped + 1, self._opened_channels
        which = f"channel {first}" if first == last else f"channels {first}-{last}"
        return f"{self.device_name!r} ({self._host_api}): {which} at {self.sample_rate} Hz"

    def start(self) -> None:
        self._open()
        self._running = True

    def stop(self) -> None:
        """Close the device; never waits on a driver that hangs (see live.audio.driver)."""
        self._running = False  # a reopen under way closes what it opens from here on
        # A reopen under way owns the stream until it returns: one merely slow is waited for.
        reopening = self._reopening
        if reopening is not None and not reopening.wait(0 if self.hung else STOP_WAIT_S):
            self.hung, stream = True, None  # the device is the hung reopen's: leave it to it
        else:
            stream, self._stream = self._stream, None
        self.hung = _closed_at_end(stream, self.hung)

    def watchdog(self) -> bool:
        """Reopen the device if no audio came for `silence_timeout` s; True if it reopened.

        Raises only what no driver failure explains (a bug), and never waits on the driver
        more than REOPEN_WAIT_S: the reopen runs on a thread of its own, and one that has
        not returned after DRIVER_HUNG_S is said in `last_error` (and `hung`). A failed
        reopen is kept in `last_error` and tried again on a later call.
        """
        if not self._running:
            return False
        if self._reopening is None:
            now = self.clock.now()
            if self._was_paused(now):  # a working stream would be reopened and its buffered audio lost
                return False
            stamp = self._stamp
            last_audio = max(self._opened_at, stamp[1] if stamp else self._opened_at)
            if now - last_audio <= self.silence_timeout:
                return False
            self._opened_at = now  # the next attempt waits another timeout, whatever happens here
            self._reopening = DriverCall(self._reopen, f"reopen {self.device_name}")
        if not self._reopen_done("without input: restart it to hear the input again"):
            return False
        self.last_error = None
        return True

    def _reopen(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            _close(stream)
        # PortAudio lists devices once: until a rescan, an unplugged device keeps its old
        # entry and a replugged one is missing or under another index.
        refresh_devices()
        self._device_index = _device_again(self.device_name, "input").index
        self._open()
        if not self._running:  # the show ended while this reopen was under way
            stream, self._stream = self._stream, None
            _close(stream)

    def _open(self) -> None:
        sd = portaudio()
        stream = None
        self._capture_times.reset()
        try:
            with self._quieted():
                stream = sd.InputStream(device=self._device_index, samplerate=self.sample_rate,
                                        channels=self._opened_channels, blocksize=self.blocksize, dtype="float32",
                                        callback=self._callback)
                stream.start()
        except sd.PortAudioError as e:
            if stream is not None:  # opened but would not start: the watchdog's retries must not pile them up
                _close(stream)
            raise UserError(f"cannot open input device {self.device_name!r} at {self.sample_rate} Hz, "
                            f"{self._opened_channels} channel(s): {e} (is another program holding it, or its sound "
                            "server down? python -m live devices lists the inputs)") from e
        self._stream = stream
        self._opened_at = self.clock.now()

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self._input_overflows += 1
            self._capture_times.reset()
        # The stamp first: a reader that finds these samples finds their time too.
        end = self.ring.written + frames
        self._stamp = (end, self._capture_times.block_end(end, self.clock.now()))
        self.ring.write(indata[:, self._skipped:] if self._skipped else indata)  # a view: nothing copied here


class PlaybackSource(Source):
    """A track (in memory, or a file decoded just ahead) delivered as if it were playing now.

    Paced by `clock` from a thread after `start()`, or, when nothing calls `start()`, by
    whoever calls `pump()` (a test or a simulated clock). With `play=True` it is played to
    an output device instead, and that device's callback paces it, so what is analysed is
    what is heard; `watchdog()` paces it by the clock while the device is lost and hands it
    back to the device, found again by name, when it plays again.
    """

    gapless = True  # the track's samples, every one in order, played or paced

    def __init__(self, track: Track, sample_rate: int, *, clock: Clock = MonotonicClock(),
                 blocksize: int = 512, ring_seconds: float = 10.0, play: bool = False,
                 output_device: str | int | None = None, silence_timeout: float = 2.0) -> None:
        super().__init__(sample_rate, track.channels, ring_seconds, clock)
        self.track = track
        self.blocksize = blocksize
        self.play = play
        # Found now: a device that is not there is said before the show loads, not as it starts.
        self._output = _device(output_device, "output") if play else None
        if self._output is not None:
            self.device_name = self._output.name  # where a lost device is looked for again
        self._position = 0          # frames delivered; beyond the track's length when looping
        self._t0: float | None = None
        self._pacer: tuple[threading.Thread, threading.Event] | None = None  # the pacing thread, its stop
        self._stopped = False  # stop() has run: nothing is opened or paced from here on
        self._stream: Any = None  # the output stream whose callback takes the track
        self._reopened: Any = None  # a stream the reopen under way opened, playing silence until handed over
        self._retry_at = 0.0  # when a lost output device is next looked for
        self._drained = threading.Event()  # the output device has played the last sample
        self._tail_frames = 0  # silence still to play after the track's last sample
        self._latency = 0.0  # the output stream's, as it opened
        self._clock_offset = RecentMinimum(CLOCK_OFFSET_WINDOW_S)  # our clock minus PortAudio's
        self.silence_timeout = silence_timeout
        self.last_error: str | None = None
        self.hung = False  # closing the output device did not return: it may never

    @property
    def duration(self) -> float:
        return self.track.frames / self.sample_rate

    @property
    def finished(self) -> bool:
        """The whole track has been delivered and, when played, heard."""
        return self._all_taken and (self._stream is None or self._drained.is_set())

    @property
    def _all_taken(self) -> bool:
        return self.track.over

    def start(self) -> None:
        if self.play:
            self._start_output()
        else:
            self._t0 = self.clock.now()
            self._start_pacing()

    def stop(self) -> None:
        """Stop delivering; the track is closed (a stopped source does not start again)."""
        self._stopped = True
        self._stop_pacing()
        # A reopen under way owns what it opens until it returns: one merely slow is waited for.
        reopening = self._reopening
        if reopening is not None and not reopening.wait(0 if self.hung else STOP_WAIT_S):
            self.hung = True
        elif self._reopened is not None:
            _close(self._reopened)
        stream, self._stream = self._stream, None
        self.hung = _closed_at_end(stream, self.hung)
        self.track.close()

    def _start_pacing(self) -> None:
        stop = threading.Event()
        self._pacer = (threading.Thread(target=self._pace, args=(stop,), name="audio-playback", daemon=True), stop)
        self._pacer[0].start()

    def _stop_pacing(self) -> None:
        if self._pacer is not None:
            thread, stop = self._pacer
            stop.set()
            thread.join()
            self._pacer = None

    def watchdog(self) -> bool:
        """When playing: if the output device has stopped calling back for `silence_timeout`
        s (unplugged, its sound server gone), go on paced by the clock, without sound, so the
        analysis (and the show) does not freeze, and look for the device every `silence_timeout`
        s: found, it plays the track from where the clock has taken it. The reason is in
        `last_error`, as is why a track ended early. True when the device plays again."""
        if self.track.error is not None:
            self.last_error = self.track.error
        now = self.clock.now()
        if self._stream is None and self._reopening is None:
            lost = self._pacer is not None and self.play and not (self._stopped or self._all_taken or self.hung)
            if not lost or now < self._retry_at:
                return False
            self._retry_at = now + self.silence_timeout
            self._reopening = DriverCall(self._reopen, f"reopen {self.device_name}")
        if self._reopening is not None:
            return self._reopen_done("without sound: restart it to hear the track again") and self._hand_over()
        stream, stamp = self._stream, self._stamp
        # PortAudio calls the finished callback for a stream that died too (the server gone):
        # drained is done only once the whole track was taken.
        if self._drained.is_set() and self._all_taken:
            return False
        if self._was_paused(now):  # a working device would be given up and the rest of the track go unheard
            return False
        last_heard = stamp[1] if stamp is not None else self._t0
        if last_heard is None or now - last_heard <= self.silence_timeout:
            return False
        self._stream = None
        self.hung = not _close_in_time(stream, REOPEN_WAIT_S)  # the show goes on either way
        if self._all_taken:  # lost while playing its last block, which will not be heard now: finished
            return False
        self.last_error = (f"the output device {self.device_name!r} stopped playing; the track goes on without sound "
                           "until it plays again")
        self._t0 = self.clock.now() - self._position / self.sample_rate
        self._retry_at = now + self.silence_timeout
        self._start_pacing()
        return False

    def _reopen(self) -> None:
        """On a thread of its own: the lost output device, found again by name, opened and
        started; it plays silence until `_hand_over`."""
        refresh_devices()  # PortAudio lists devices once: a replugged one is missing until a rescan
        self._reopened = self._open_output(_device_again(self.device_name, "output"))

    def _hand_over(self) -> bool:
        """The reopened device takes the track from the clock's pacing, where it has got to."""
        stream, self._reopened = self._reopened, None
        if self._stopped:
            _close(stream)
            return False
        self._stop_pacing()
        self._set_output(stream)
        self.last_error = self.track.error
        return True

    def pump(self) -> int:
        """Deliver every frame due by `clock.now()`; returns how many were delivered."""
        assert self._pacer is None or threading.current_thread() is self._pacer[0], \
            "pump() belongs to the pacing thread once start() has run"
        if self._t0 is None:
            self._t0 = self.clock.now()
        due = int((self.clock.now() - self._t0) * self.sample_rate)
        before = self._position
        while len(block := self._take(due - self._position, wait=True)):  # a pacing thread may wait for the decoder
            # The stamp first: a reader that finds these samples finds their time too.
            self._stamp = (self._position, self._t0 + self._position / self.sample_rate)
            self.ring.write(block)
        return self._position - before

    def _take(self, limit: int, wait: bool = False) -> np.ndarray:
        """The track's next frames (see Track.take), counted."""
        block = self.track.take(limit, wait)
        self._position += len(block)
        return block

    def _pace(self, stop: threading.Event) -> None:
        period = self.blocksize / self.sample_rate
        while not stop.wait(period) and not self._all_taken:
            self.pump()

    def _start_output(self) -> None:
        assert self._output is not None
        self._t0 = self.clock.now()
        self._set_output(self._open_output(self._output))

    def _open_output(self, chosen: Device) -> Any:
        """A started output stream to `chosen`; its callback plays silence until `_set_output`."""
        sd = portaudio()
        stream = None
        try:
            with self._quieted():
                stream = sd.OutputStream(device=chosen.index, samplerate=self.sample_rate, channels=self.channels,
                                         blocksize=self.blocksize, latency=OUTPUT_LATENCY_S, dtype="float32",
                                         callback=self._play_callback, finished_callback=self._drained.set)
                stream.start()
        except sd.PortAudioError as e:
            if stream is not None:
                _close(stream)
            raise UserError(f"cannot play to {chosen.name!r} at {self.sample_rate} Hz: {e}") from e
        return stream

    def _set_output(self, stream: Any) -> None:
        """`stream`'s callback takes the track from here on."""
        self._drained.clear()
        self._latency = stream.latency  # PortAudio's estimate, where its callbacks give no times
        self._tail_frames = math.ceil(self._latency * self.sample_rate) + self.blocksize
        # A reopen restarted PortAudio, whose clock may count from another zero.
        self._clock_offset = RecentMinimum(CLOCK_OFFSET_WINDOW_S)
        self._stream = stream

    def _play_callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if self._stream is None:  # not handed the track yet, given up for lost (the clock paces it), or closed
            outdata.fill(0)
            return
        if self._all_taken:
            # The track's end is in the device's buffer. PortAudio's stop does not wait for it
            # on every host API (ALSA's pulse plugin dropped the last 0.3 s: a 0.5 s sting played
            # 0.25 s), so silence as long as that buffer goes after it, then the stream stops.
            outdata.fill(0)
            self._tail_frames -= frames
            if self._tail_frames <= 0:
                raise portaudio().CallbackStop  # calls finished_callback: the track was heard
            return
        filled = 0
        while len(block := self._take(frames - filled)):
            outdata[filled:filled + len(block)] = block
            filled += len(block)
        outdata[filled:] = 0
        # Heard when the device plays it: the buffer's first sample at PortAudio's DAC time, its
        # last `filled` samples later. The stamp before the samples: a reader that finds them
        # finds their time too.
        now = self.clock.now()
        heard = self._heard_at(time_info, now)
        self._stamp = (self._position, heard + filled / self.sample_rate)
        self.ring.write(outdata[:filled])
        # The end of the track waits in a buffer this long: its silence after it is as long.
        self._tail_frames = max(self._tail_frames, math.ceil((heard - now) * self.sample_rate) + self.blocksize)

    def _heard_at(self, time_info: Any, now: float) -> float:
        """Our clock's time of the DAC time PortAudio gives a callback's buffer. Our clock's `now`,
        read in the callback, is late by however long it waited for the interpreter (up to 60 ms
        in a show: taps placed that far off), while PortAudio's times are steady: the smallest
        offset between the two clocks seen lately is the true one. A host that gives no times:
        now and the stream's latency."""
        dac, current = time_info.outputBufferDacTime, time_info.currentTime
        if dac <= 0 or current <= 0:
            return now + self._latency
        return max(dac, current) + self._clock_offset.add(now - current, now)


class FileSource(PlaybackSource):
    """Any file soundfile or PyAV decodes, resampled and mixed as asked, played in real time;
    decoded a few seconds ahead, so an hour-long mix costs what a song does."""

    def __init__(self, path: str | Path, *, sample_rate: int | None = None, channels: int | None = None,
                 loop: bool = False, **playback: Any) -> None:
        track = FileTrack(path, sample_rate, channels, loop)
        self.path = track.path
        super().__init__(track, track.sample_rate, **playback)


class DemoSource(PlaybackSource):
    """The project's synthesized demo track (see `live.audio.demo`), looping by default."""

    def __init__(self, *, seed: int = 0, sample_rate: int = 44100, channels: int = 1, loop: bool = True,
                 **playback: Any) -> None:
        self.demo = render_demo(seed, sample_rate)
        super().__init__(MemoryTrack(mix_channels(self.demo.samples[:, None], channels), loop), sample_rate,
                         **playback)
