"""The live engine: audio, inference and control threads around a render loop.

    source ──► audio thread ──► features (latest) ─────────────────────────┐
               (beats and the state's analysis wait to be heard: heard.py)  │
               ring → analyzer  mel requests (latest) ──► inference thread ──► keyframes (latest)
                                                                             │
    control thread (ZeroMQ) ──► PresetChoice (settings, presets), taps       ▼
                                                              render loop (main thread) ──► window / video

Stages hand work on through latest-value slots and bounded queues; a slow stage drops
stale work and nobody waits on anybody. A failing stage reports on telemetry and in the
HUD, and the picture goes on.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import queue
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from live.audio.analyzer import AudioAnalyzer, AudioFeatures
from live.audio.beatmap import BeatMap
from live.audio.beats import TAP_BPM, TAP_TIMEOUT_S
from live.audio.decode import MAX_SAMPLE
from live.audio.mel import LogMel
from live.audio.sources import Source
from live.bundle import Bundle
from live.engine.bundles import RecentBundles
from live.engine.choice import PresetChoice
from live.engine.collector import ShowCollector
from live.engine.cues import Cue, CueLog, CueSheet
from live.engine.heard import HeardLine
from live.engine.keyframes import Keyframe
from live.engine.pacing import FramePacer
from live.engine.recorder import Recorder
from live.engine.screen import CUT_WAIT_S, HudInfo, ScreenDirector
from live.engine.projections import Projections
from live.engine.show import Show, source_latent
from live.engine.slots import LatestSlot
from live.engine.stream_clock import StreamClock
from live.engine.stats import KeyframeFlow, RunStats, events_per_second, frame_rate
from live.engine.synthesizer import Synthesizer
from live.errors import UserError, first_line, one_line
from live.presets import Preset, PresetLibrary, check_playable
from live.render.renderer import Renderer
from live.render.shaders import ShaderLibrary
from live.transfer.project import CachedProjection, bundle_fingerprint

log = logging.getLogger(__name__)

SHADER_CHECK_S = 0.5     # how often the render loop looks for edited shader files
REPEAT_REPORT_S = 1.0    # the same failure again within this long is not reported again
SWITCH_WINDOW_S = 10.0   # audio the audio thread keeps for the mel windows of bundles a switch brings
WATCHDOG_S = 1.0         # how often the audio thread checks that the device still delivers
STOP_WAIT_S = 30.0       # a keyframe under way is finished (a large user generator takes seconds on a CPU)
# At a track's end, the audio thread's time to take its last blocks: on a loaded CPU it ran seconds
# behind, and a show ended 4 s short of its song, the end unheard and unrecorded (review 74).
DRAIN_S = 5.0
STATE_PUBLISH_S = 0.05   # telemetry state refresh (the control server sends at its own tick)
BUNDLES_KEPT = 2         # the show's bundle and the one before it stay loaded (each: its networks, compiled)
FEED_FRAMES = 512        # the analyzer is fed at most this much at once (see _audio_loop)
# A beat message is sent at most this long after its beat is heard; a later one is left out (its
# `index` skipped): an audio thread held up for seconds sent the beats it then caught up on in one
# burst, ten flashes at once on a lighting desk (review 93). Found live, a beat goes out after it
# was captured by the tracker's hops, a block and the accents' move: 7-135 ms (median 26) from a
# PulseAudio monitor at 118 bpm, 7-62 ms from the demo paced (session 52).
LATE_BEAT_S = 0.5
LEVEL_FLOOR = 1e-6       # silence reads as -120 dBFS in telemetry, not minus infinity


@dataclass(frozen=True)
class MelRequest:
    window: np.ndarray       # the last window of mono audio at the source rate
    capture_time: float      # engine-clock time the newest sample of it was heard
    audio_time: float        # that sample's time in the stream


@dataclass(frozen=True)
class LiveOptions:
    fps: float = 60.0                   # render rate cap
    duration: float | None = None       # stop after this many seconds
    torch_threads: int = 1              # intra-op threads for inference; the rest is for rendering
    hud_message_s: float = 4.0          # how long a stage's error stays in the HUD
    readback: bool = False              # read every frame back as a sink would (benchmarks)
    keep_bundle: bool = False           # every preset plays on the show's first bundle (--bundle), not its own
    fixed_size: bool = False            # the output keeps its size (--size) when the window changes
    beat_map: BeatMap | None = None     # a track's beats, known ahead, in its time (which is the stream's)


class LiveEngine:
    def __init__(self, show: Show, presets: PresetLibrary, source: Source, renderer: Renderer,
                 library: ShaderLibrary, options: LiveOptions, window=None, clock=time.monotonic):
        self.show, self.presets, self.source = show, presets, source
        # Hotkeys 1-9: the presets in name order as the show starts, any saved later after
        # them, so a preset file that appears mid-show does not move the keys under the
        # performer's fingers.
        self._preset_keys = presets.names()
        self.renderer, self.library, self.window = renderer, library, window
        self.recorder: Recorder | None = None   # set before `run` to record the show
        self.recording_error: Exception | None = None  # why the recording could not be finished
        self._source_error: str | None = None   # the audio source's last reported failure
        self._outage_since: float | None = None  # when the input stopped delivering, during an outage said
        self.options, self.clock = options, clock
        self.stream = StreamClock(source)
        self.choice = PresetChoice(show.preset)
        self.stats = RunStats()
        self.director = ScreenDirector()
        self.features: LatestSlot[AudioFeatures] = LatestSlot()
        # The analysis of the audio being heard, for telemetry (a played track's runs ahead of it).
        self.heard: LatestSlot[AudioFeatures] = LatestSlot()
        self._analysis_line: HeardLine[AudioFeatures] = HeardLine()
        self._beat_line: HeardLine[tuple[int, float, float, int]] = HeardLine()  # index, time, bpm, place
        self.mel_requests: LatestSlot[MelRequest] = LatestSlot()
        self.keyframes: LatestSlot[Keyframe] = LatestSlot()
        self._on_screen = show.preset.name  # the preset of the newest keyframe shown
        self.taps: queue.Queue[float] = queue.Queue(maxsize=16)
        self.downbeats: queue.Queue[float] = queue.Queue(maxsize=16)  # when a downbeat was marked
        self._cut_asked = threading.Event()  # by the control thread or a hotkey; the next frame cuts
        self._cut_held_since: float | None = None  # stream time a cut began to wait for a chosen show to open
        self.cue_log: CueLog | None = None  # set before `run` to keep the commands taken as a cue sheet
        self.cues: CueSheet | None = None  # set before `run` to play a cue sheet's commands at their times
        self.stopping = threading.Event()
        self.asked_to_stop = threading.Event()  # the performer asked (Esc, a signal); not a show ending by itself
        self.ended = False  # drawing has stopped: what is left is the recording's end
        self.publish = lambda topic, body: None   # replaced by the control server's publish
        self._versions = itertools.count(1)
        # Keyframes from this version on are the show on screen's (set at a switch, read by frames).
        self._show_from_version = 0
        self._message = ("", 0.0)
        self._reported: dict[str, float] = {}   # when each message was last reported
        self._shader_error: str | None = None
        self._threads: list[threading.Thread] = []
        self._beat_index = 0
        self._map_followed = options.beat_map is not None  # until two taps hand the beats to the live grid
        self._map_bars = options.beat_map is not None and bool(options.beat_map.beat_places.any())
        self._last_tap: float | None = None  # the taps before the one that hands them over
        self._audio_read = 0  # frames the audio thread has analysed (and recorded)
        self._keyframe_flow = KeyframeFlow()
        self._mel = LogMel(show.bundle.mel, source.sample_rate)
        self.bundles = RecentBundles(BUNDLES_KEPT)
        self.bundles.remember(show.bundle, show.maker.image)
        self.projections = Projections(self._projected, self._projection_failed)
        self._fingerprints: weakref.WeakKeyDictionary[Bundle, str] = weakref.WeakKeyDictionary()

    # --- reporting ----------------------------------------------------------------------
    def report(self, stage: str, message: str) -> None:
        """A stage failed and goes on: telemetry, HUD, stats, log; never raises. A failure
        that repeats every frame is reported once a second. One line: a library's message
        (torch's) can run to paragraphs, which the HUD and a console would show whole."""
        full, message = message, one_line(first_line(message))  # an escape code in a name drove the terminal
        line, now = f"{stage}: {message}", self.clock()
        if now - self._reported.get(line, -math.inf) < REPEAT_REPORT_S:
            return
        if len(self._reported) >= 64:  # messages that differ every time (counts, times) must not pile up
            self._reported.clear()
        self._reported[line] = now
        log.warning(line)
        if full.strip() != first_line(full):  # for a developer's log, not the stage's one line
            log.debug("%s, in full: %s", line, "\n".join(one_line(part) for part in full.splitlines()))
        self.stats.error(line)
        self._message = (line, now)
        self.publish("error", {"source": stage, "message": message})

    def notify(self, stage: str, message: str) -> None:
        """Something the performer should know that is not a failure: telemetry, HUD, log."""
        line = f"{stage}: {one_line(message)}"
        log.info(line)
        self._message = (line, self.clock())
        self.publish("notice", {"source": stage, "message": message})

    # --- audio thread -------------------------------------------------------------------
    def _audio_loop(self) -> None:
        sr = self.source.sample_rate
        analyzer = AudioAnalyzer(sr, self.show.bundle.mel, history_seconds=SWITCH_WINDOW_S,
                                 beat_map=self.options.beat_map)
        position = 0
        next_window = 0.0
        next_watchdog = self.clock() + WATCHDOG_S
        hop_s = 256 / sr
        while not self.stopping.is_set():
            try:
                start = position
                block, position = self.source.ring.read_since(position)
                lost = position - start - len(block)
                if lost:  # the ring overran in a stall: silence keeps the stream's time (and its known beats) in step
                    self._analyse(analyzer, np.zeros(lost, np.float32))
                    if self.recorder is not None:  # and the recording's
                        self.recorder.push_audio(np.zeros((lost, block.shape[1]), np.float32),
                                                 self.source.capture_time(position - len(block)))
                # Each pass, block or not: with --play the output takes blocks in bursts, and a beat marked
                # while it waited to be heard went out unplaced before the press was read (review 95).
                while not self.taps.empty():
                    # Read late: place the tap where the stream was when it came (None before any
                    # audio: the analyzer takes it as now).
                    analyzer.tap(self.stream.stream_time(self.taps.get_nowait()))
                while not self.downbeats.empty():
                    self._mark_downbeat(analyzer, self.stream.stream_time(self.downbeats.get_nowait()))
                if not len(block):
                    time.sleep(hop_s)
                else:
                    if not np.abs(block).max() <= MAX_SAMPLE:  # NaN too; a driver's garbage would poison the level and w_m
                        self.report("audio", f"NaN, infinite or absurd (beyond {MAX_SAMPLE:g}) samples in the input; "
                                             "played as silence")
                        block = np.where(np.abs(block) <= MAX_SAMPLE, block, np.float32(0.0))
                    if self.recorder is not None:
                        self.recorder.push_audio(block, self.source.capture_time(position))
                    # In parts: an output takes its blocks in bursts (a tenth of a second at once
                    # through PulseAudio), and each part's analysis is heard at its own time.
                    for i in range(0, len(block), FEED_FRAMES):
                        features = self._analyse(analyzer, block[i:i + FEED_FRAMES])
                    now = self.clock()
                    if now >= next_window:
                        # A fixed grid, not now + period: blocks arrive tens of ms apart, and
                        # waiting for the next one after each deadline would lower the rate.
                        period = 1.0 / self.choice.in_force().keyframe_rate
                        next_window += period
                        if next_window <= now:  # fell behind (a stall): start the grid again
                            next_window = now + period
                        # The window of the show's bundle now: a preset switch may bring another.
                        self.mel_requests.put(MelRequest(analyzer.window(self._mel.source_samples),
                                                         self.source.capture_time(features.sample_index),
                                                         features.time))
                self._audio_read = position
                now = self.clock()
                self._hand_heard(now)
                if now >= next_watchdog:
                    next_watchdog = now + WATCHDOG_S
                    self._watch_source()
            except Exception as e:  # noqa: BLE001 - the show goes on; the error is reported
                self.report("audio", f"{type(e).__name__}: {e}")
                time.sleep(0.1)

    def _analyse(self, analyzer: AudioAnalyzer, block: np.ndarray) -> AudioFeatures:
        """Feeds `block`; its analysis and beats wait to be heard."""
        features = analyzer.feed(block)
        self.features.put(features)
        now = self.clock()
        self._analysis_line.put(features, self.source.capture_time(features.sample_index), now)
        for beat, place in itertools.zip_longest(features.beats, features.beat_places):
            self.stats.beat(beat)
            self._beat_index += 1
            self._beat_line.put((self._beat_index, beat, features.bpm, place or 0),
                                self.source.capture_time(round(beat * self.source.sample_rate)), now)
        return features

    def _mark_downbeat(self, analyzer: AudioAnalyzer, t: float | None) -> None:
        was = None if t is None else analyzer.place_near(t)
        marked = None if t is None else analyzer.mark_downbeat(t)
        if marked is None:
            self.notify("downbeat", "no beat is near enough (half a beat) to be the bar's first; mark it on a beat")
            return
        # With --play the beats analysed ahead wait to be heard, the one marked among them: their places now.
        self._beat_line.revise(lambda beat: (*beat[:3], analyzer.place(beat[1])))
        if was != 1:  # on the one already (a MIDI clock marks every bar): nothing moved, nothing to say
            self.notify("downbeat", f"the bars count from the beat at {marked:.2f} s")

    def _hand_heard(self, now: float) -> None:
        """The beats heard by `now` go out, and the analysis heard becomes the state's."""
        for index, beat, bpm, place in self._beat_line.due(now, LATE_BEAT_S):
            self.publish("beat", {"index": index, "time": round(beat, 3), "bpm": round(bpm, 2), "place": place or None})
        if heard := self._analysis_line.due(now):
            self.heard.put(heard[-1])

    def _watch_source(self) -> None:
        """Says an outage once (a device that stays silent is reopened every timeout, and a
        missing one fails every retry), and its end with its length."""
        reopened = self.source.watchdog()
        error = self.source.last_error
        name = self.source.device_name
        now = self.clock()
        if self._outage_since is None and (reopened or error):
            heard = self.source.heard_until()  # the newest sample captured: when it went quiet
            self._outage_since = now - self.source.silence_timeout if heard is None else heard
            if reopened:
                self.report("audio", f"no audio came from {name} for {self.source.silence_timeout:g} s; "
                                     "opened it again")
        elif self._outage_since is not None and not error and not self._input_stalled(now):
            self.report("audio", f"audio from {name} is back, after {now - self._outage_since:.0f} s without")
            self._outage_since = None
        if error and error != self._source_error:  # an outage is one line, not one a retry
            self.report("audio", error)
        self._source_error = error
        self.stats.set_counts(self.keyframes.dropped, self.source.overflows)

    # --- inference thread ---------------------------------------------------------------
    def _inference_loop(self) -> None:
        torch.set_num_threads(self.options.torch_threads)
        while not self.stopping.is_set():
            try:
                preset = self.choice.requests.take(timeout=0)
                if preset is not None:
                    self._switch(preset)
                    if self.stopping.is_set():  # a slow switch outlived stop()'s wait: no new session now
                        break
                request = self.mel_requests.take(timeout=0.1)
                if request is None:
                    continue
                log_mel = self._mel(request.window)
                keyframe = self.show.maker.make(log_mel, self.choice.in_force(), request.capture_time, self.clock,
                                                version=next(self._versions), preset=self.show.preset.name,
                                                audio_time=request.audio_time)
                self.stats.keyframe(keyframe.capture_time, keyframe.ready_time, keyframe.compute_seconds)
                self.keyframes.put(keyframe)
                self._keyframe_flow.add(keyframe.ready_time)
            except Exception as e:  # noqa: BLE001 - keep the last picture, report, go on
                self.report("inference", f"{type(e).__name__}: {e}")
                time.sleep(0.1)

    def _switch(self, preset: Preset) -> None:
        """Open the show of a chosen preset (loading its bundle if new, finding its source)."""
        if not self.choice.is_chosen(preset):  # given back since (its projection failed): not to open
            return
        self.projections.cancel(keep=preset.name)  # its CPU goes to the show again
        try:
            bundle, synthesizer = self._drawing_for(preset)
            w_source = self._source_for(preset, bundle)
            if w_source is None:  # its picture is being projected: the switch comes back when it is done
                return
            previous = self.show.maker
            show = Show.open(preset, bundle, previous.refiner, synthesizer, w_source)
            self._show_from_version = next(self._versions)  # first: a frame that finds the new show finds its versions
            self.show = show
            self.choice.opened(preset)
            previous.stop_refining()  # its local model's build is for a source no longer shown
            self.bundles.remember(bundle, synthesizer, shown=bundle)
            if previous.image is not synthesizer:
                previous.image.withdraw()
            if bundle.mel != self._mel.window:
                self._mel = LogMel(bundle.mel, self.source.sample_rate)
        except Exception as e:  # noqa: BLE001 - e.g. broken weights: the show on screen goes on
            self._switch_failed(preset, str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}")

    def _switch_failed(self, preset: Preset, why: str) -> None:
        """Said with the preset's name and what the show does now: the reply to its choice said ok."""
        back = self.choice.give_back(preset, self.show.preset)
        self.report("preset", f"{preset.name}: {why}; {self.show.preset.name} stays on screen"
                    + (" and takes the controls back, with its settings" if back else ""))

    def _source_for(self, preset: Preset, bundle: Bundle) -> torch.Tensor | None:
        """The preset's source latent on `bundle`; None while its picture is projected on a worker."""
        if preset.source.image is None:
            return source_latent(preset, bundle)
        fingerprint = self._fingerprints.get(bundle)
        if fingerprint is None:  # once per bundle: the hash of its weights holds up keyframes
            fingerprint = self._fingerprints[bundle] = bundle_fingerprint(bundle)
        cached = CachedProjection.find(bundle, preset.source.image, fingerprint=fingerprint)
        w_source = cached.load(bundle.device)
        if w_source is None and not self.projections.under_way(preset, cached):
            self.notify("preset", f"{preset.name}: projecting its picture into W first (beside a show on a "
                                  "CPU, a minute or two); the picture on screen stays until then")
            self.projections.start(preset, bundle, cached)
        return w_source

    def _projection_failed(self, preset: Preset, message: str) -> None:
        """A projection serves every copy of its preset chosen while it ran (one job per name):
        its failure is the latest copy's."""
        self._switch_failed(self.choice.latest_copy(preset), message)

    def _projected(self, preset: Preset) -> None:
        """A projection worker stored the preset's latent: switch now, if it is still the one chosen
        (as the latest loaded copy of its file: it may have been chosen again meanwhile)."""
        self.choice.request_again(preset)

    def _drawing_for(self, preset: Preset) -> tuple[Bundle, Synthesizer]:
        """The bundle a preset plays on (its own, or the show's when one was chosen for all)
        and the synthesizer drawing it: a recent bundle's, loaded only if new."""
        show = self.show
        if self.options.keep_bundle:
            return show.bundle, show.maker.image
        folder = preset.bundle_folder()
        found = self.bundles.find(folder)
        if found is None:
            bundle = Bundle.load(folder, device=show.bundle.device)
            if about := bundle.predictor_note():
                self.notify("preset", f"{preset.name}: {about}")
            found = bundle, show.maker.image.for_generator(bundle.G, lambda m: self.report("synthesis", m))
            # Kept now: a switch waiting for its picture's projection comes back for it.
            self.bundles.remember(*found, shown=show.bundle)
        return found

    # --- control (called on the control thread) ----------------------------------------
    def _still_drawing(self) -> None:
        """Commands that change the show are refused once it is ending (it answered ok while it
        finished its recording, nothing drawn any more)."""
        if self.ended or self.stopping.is_set():
            raise ValueError("the show has ended" + ("; it is finishing its recording" if self.recorder else ""))

    def _log(self, preset: str | None = None, values: tuple = (), cut: bool = False) -> None:
        if self.cue_log is not None:
            at = self.stream.stream_time(self.clock())
            self.cue_log.add(Cue(max(at or 0.0, 0.0), preset, values, cut))

    def set_param(self, name: str, value) -> dict:
        self._still_drawing()
        value = self.choice.settings.set_value(name, value).value(name)
        self._log(values=((name, value),))
        return {"param": name, "value": value}

    def control_change(self, channel: int, controller: int, value: int) -> dict:
        self._still_drawing()
        holder: dict = {}
        with self.choice.lock:  # a hotkey switch must not land between reading the map and applying it
            cc = self.choice.preset.cc
            if cc.binding(channel, controller) is None:
                raise ValueError(f"channel {channel} controller {controller} is not mapped in this preset")

            def change(settings):
                holder["param"], new = cc.apply(channel, controller, value, settings)
                return new

            settings = self.choice.settings.update(change)
        self._log(values=((holder["param"], settings.value(holder["param"])),))
        return {"param": holder["param"], "value": settings.value(holder["param"])}

    def switch_preset(self, name: str) -> dict:
        self._still_drawing()
        if Path(name).name != name or name.endswith(".toml"):
            # Any local process may send commands on loopback: it picks among the presets, not files.
            raise ValueError(f"{name!r} is not a preset name; control switches presets by name "
                             f"({', '.join(self.presets.names())})")
        self._choose(name)
        self._log(preset=name)
        return {"preset": name}

    def _preset_for_key(self, number: int) -> str | None:
        self._preset_keys = self._keyed_presets(self.presets.names())  # the main thread's alone: keys stay
        return self._preset_keys[number - 1] if 1 <= number <= len(self._preset_keys) else None

    def _keyed_presets(self, names: list[str]) -> list[str]:
        """The presets in hotkey order (1-9 are the first nine), those saved since (`names`) appended."""
        keys = self._preset_keys
        return keys + [name for name in names if name not in keys]

    def _choose(self, name: str) -> None:
        """Make a preset the show's (control thread or hotkeys; PresetChoice says what applies
        when). What is wrong with the preset file, its bundle's name or its latent's shape is a
        UserError now, for the reply (found on the inference thread, it reached only telemetry,
        and the settings set meanwhile were put back with the old preset's)."""
        preset = self.presets.load(name)
        G = self.show.bundle.G if self.options.keep_bundle else None
        check_playable(preset, (G.num_ws, G.w_dim) if G is not None else None, bundle_config=True)
        self.choice.choose(preset)

    def tap(self) -> dict:
        """A tap on the beat. In a show whose beats are known ahead, a second tap in time (as the
        beat clock counts taps: not the same tap arriving twice, nor a burst) hands them over to
        the taps and the beats found live (the map was wrong, or the performer follows another
        clock), for the rest of the show; a stray single tap changes nothing. The second tap places
        the beat; the tempo stays the live grid's (or the map's) until taps set another: the two
        taps' interval set it, and 1.5 s between them held a 120 bpm track at 40 (review 93)."""
        self._still_drawing()
        now = self.clock()
        features = self.features.peek()
        reply = {"bpm": round(features.bpm, 2) if features is not None else None}
        if self._map_followed:
            last, self._last_tap = self._last_tap, now
            if last is None or not 60.0 / TAP_BPM[1] <= now - last <= TAP_TIMEOUT_S:
                self.notify("tap", f"the beats are the track's, known ahead (--beats): tap again within "
                                   f"{TAP_TIMEOUT_S:g} s to hand them over to your taps and the beats found live")
                return reply | {"beats": "known"}
            self._map_followed = False
            self.notify("tap", "the beats are your taps' and the ones found live from now on, not the track's "
                               "beats known ahead (--beats); a new show brings those back")
        try:
            self.taps.put_nowait(now)
        except queue.Full:
            raise ValueError("too many taps at once") from None
        return reply | {"beats": "live"}

    def downbeat(self) -> dict:
        """The beat heard now is a bar's first: where the bars are known ahead and counted from
        the wrong beat (the bar finder's 1-or-3 doubt), fades and accents land on the one again;
        where the beats are found live (an input, `--beats live`, after taps took them over), the
        bars are counted in fours from it."""
        self._still_drawing()
        if self._map_followed and not self._map_bars:
            raise ValueError("the track's beats known ahead have no bars (a beat file without places): tap twice "
                             "to hand the beats over to the ones found live, whose bars a downbeat counts")
        try:
            self.downbeats.put_nowait(self.clock())
        except queue.Full:
            raise ValueError("too many downbeats at once") from None
        return {}

    def cut(self) -> dict:
        self._still_drawing()
        self._ask_cut()
        return {}

    def _ask_cut(self) -> None:
        self._cut_asked.set()
        self._log(cut=True)

    def state(self) -> dict:
        preset, settings = self.choice.snapshot()
        names = self.presets.names()  # a file deleted keeps its hotkey, not its place in the list
        return {"preset": preset.name, "settings": settings.as_dict(),
                "presets": [name for name in self._keyed_presets(names) if name in names]} | (
            {"ended": True} if self.ended else {})

    # --- render loop (main thread) -------------------------------------------------------
    def _input_stalled(self, now: float) -> bool:
        return self.stream.stalled(now, self.stats.started)

    def _handle_actions(self) -> bool:
        """The window's hotkeys; True if the display may have changed (fullscreen)."""
        if self.window is None:
            return False
        from live.render.window import Action

        display_changed = False
        for action in self.window.poll():
            if action.action is Action.QUIT:
                self.asked_to_stop.set()
                self.stopping.set()
            elif action.action is Action.PRESET:
                name = self._preset_for_key(action.preset)
                if name is None:  # a key past the presets did nothing, unsaid (review 99)
                    self.notify("preset", f"key {action.preset}: no preset; there are {len(self._preset_keys)} "
                                          f"({', '.join(f'{k} {n}' for k, n in enumerate(self._preset_keys, 1))})")
                else:
                    try:
                        self._choose(name)
                        self._log(preset=name)
                    except UserError as e:
                        self.report("preset", str(e))
            elif action.action is Action.TAP:
                try:
                    self.tap()
                except ValueError:
                    pass  # the queue is full of taps no block has taken yet (no audio): one more adds nothing
            elif action.action is Action.DOWNBEAT:
                try:
                    self.downbeat()
                except ValueError as e:
                    self.notify("downbeat", str(e))
            elif action.action is Action.CUT:
                self._ask_cut()
            elif action.action in (Action.FULLSCREEN, Action.RESIZED):
                if action.action is Action.FULLSCREEN:
                    self.window.set_fullscreen(not self.window.fullscreen)
                display_changed = True
                # A recording, or a size asked for, keeps its size; the window shows it at its aspect.
                if self.recorder is None and not self.options.fixed_size and self.window.size != \
                        self.renderer.output_size:
                    self.renderer.resize(self.window.size)
            else:
                name = {Action.FREEZE: "freeze", Action.BLACKOUT: "blackout", Action.HUD: "hud"}[action.action]
                settings = self.choice.settings.update(lambda s, n=name: s.with_value(n, not s.value(n)))
                self._log(values=((name, settings.value(name)),))
        return display_changed

    def run(self) -> RunStats:
        collector = ShowCollector()
        collector.start(self._show_state())  # before the audio runs: its callback needs the interpreter
        try:
            self.source.start()
            self._threads = [threading.Thread(target=self._audio_loop, name="audio", daemon=True),
                             threading.Thread(target=self._inference_loop, name="inference", daemon=True)]
            for t in self._threads:
                t.start()
            start = self.clock()
            self.stats.start(start)
            next_shader_check = start
            next_publish = start
            frame_period = 1.0 / self.options.fps
            pacer = FramePacer(self.options.fps, vsync=self.window is not None and self.window.vsync)
            if self.window is not None and self.window.config.vsync and not self.window.vsync:
                self.notify("window", f"the display gives no vsync; frames are held to {self.options.fps:g} fps "
                                      "by the clock")
            next_frame = start
            announced: weakref.WeakSet[Synthesizer] = weakref.WeakSet()  # whose fast path was said
            fps_window: list[float] = []
            finished_at = None
            while not self.stopping.is_set():
                now = self.clock()
                if self.options.duration is not None and now - start >= self.options.duration:
                    break
                if self.source.finished:
                    # The track's last blocks are analysed and recorded, and its last beats sent, before
                    # the show ends (the output's end came 25 ms before the last beat's stamp).
                    finished_at = now if finished_at is None else finished_at
                    if (self._audio_read >= self.source.ring.written and not self._beat_line.waiting
                            or now - finished_at >= DRAIN_S):
                        break
                try:
                    if self._handle_actions():
                        pacer.remeasure(self.window is not None and self.window.vsync)
                    if now >= next_shader_check:
                        next_shader_check = now + SHADER_CHECK_S
                        self._reload_shaders()
                    self._draw_frame(now, fps_window)
                    pacer.shown(fps_window[-1])
                except Exception as e:  # noqa: BLE001 - a failed frame or hotkey must not end the show
                    self.report("render", f"{type(e).__name__}: {e}")
                collector.settle(self._show_state())
                drawing = self.show.maker.image
                if drawing.path == "fast" and drawing not in announced:  # once a bundle, not at each switch back
                    announced.add(drawing)
                    self.notify("synthesis", f"the compiled fast path draws bundle {self.show.bundle.label}'s "
                                             f"keyframes from {now - start:.0f} s into the show")
                if now >= next_publish:
                    next_publish = now + STATE_PUBLISH_S
                    self._publish_state(fps_window)
                # Frame deadlines on a fixed grid: sleeping a period from each frame's start
                # adds every oversleep, and a 30 fps cap then draws 29. A frame late by less
                # than a period keeps the grid (the next one follows at once); later than
                # that, the grid restarts, so a stall brings no burst of catch-up frames.
                next_frame += frame_period
                spare = next_frame - self.clock()
                if spare <= -frame_period:
                    next_frame = self.clock()
                elif spare > 0 and pacer.sleeps:
                    time.sleep(spare)
                elif spare > 0:  # the display paces the loop: a grid left to run ahead would stall it later
                    next_frame = self.clock()
        finally:
            self.stats.stop(self.clock())  # the show's span, not its shutdown's
            try:
                self.stop()
            finally:
                collector.stop()
        return self.stats

    def _reload_shaders(self) -> None:
        reloads = self.library.reload_changed()
        error = self.library.error  # a broken edit stays in the HUD until it is fixed
        # Each change said once: the reload's own line repeated the report's on the console.
        if error is not None and error != self._shader_error:
            self.report("shader", error)
        elif error is None and self._shader_error is not None:  # else a controller showed the error on
            self.notify("shader", "fixed: the edited shaders compile and draw")
        else:
            for line in reloads:
                log.info(line)
        self._shader_error = error

    def _show_state(self) -> tuple[int, str]:
        """Which show is up and how it draws: a change brings long-lived objects."""
        show = self.show
        return id(show), show.maker.image.path

    def _hud_message(self, now: float) -> str:
        """The last report for a few seconds; then what stays wrong: a broken shader, or an
        input that delivers nothing (a device gone: its one report would scroll away while
        the picture no longer follows the music); then a picture's projection under way
        (its notice scrolled away, and the switch waits a minute or two for it)."""
        message, since = self._message
        if now - since < self.options.hud_message_s:
            return message
        if self._shader_error:
            return f"shader: {self._shader_error}"
        if self._input_stalled(now):
            if self.source.hung:
                return "audio: the driver hangs; restart the show to hear the input"
            return "audio: no sound arrives from the input; retrying"
        if (projecting := self.projections.progress()) is not None:
            name, done = projecting
            return f"preset: projecting {name}'s picture into W, {math.floor(done * 100)} %"
        return ""

    def _unless_stalled(self, features: AudioFeatures | None, now: float) -> AudioFeatures | None:
        """`features`, but while the input delivers nothing, with no level and no beat
        confidence: its last values would read as a healthy signal on the HUD and in telemetry,
        and keep fades on a grid no one hears."""
        if features is not None and self._input_stalled(now):
            features = dataclasses.replace(features, rms=0.0, beat_confidence=0.0)
        return features

    def _draw_frame(self, now: float, fps_window: list[float]) -> None:
        settings = self.choice.in_force()
        newest = self.keyframes.peek()
        # The newest analysis: the screen places what it found by stream time, ahead or not.
        features = self._unless_stalled(self.features.peek(), now)
        stream_t = self.stream.picture_time(now)
        t = stream_t if stream_t is not None else now
        if stream_t is not None:  # cues and cuts are placed in the audio's time, which starts with its first sample
            if self.cues is not None:
                self._play_cues(stream_t)
            if self._cut_asked.is_set():
                self._hand_cut(stream_t)
        hud = HudInfo(fps=events_per_second(fps_window), keyframes_per_s=self._keyframe_flow.rate(now),
                      latency_ms=self._latency_ms(now, self.stats.audio_to_screen), preset=self._on_screen,
                      synthesis=self.show.maker.image.path,
                      message=self._hud_message(now), read_at=now) if settings.hud else None
        decision = self.director.frame(t, features, newest, settings, hud, self._show_from_version)
        if decision.upload is not None:
            self.renderer.upload_keyframe(decision.upload.image)
            self._on_screen = decision.upload.preset
        state, overlay = decision.state, None
        if self.window is not None:  # the HUD goes on the screen, not into the frame a recording reads
            state, overlay = dataclasses.replace(state, hud=None), state.hud
        self.renderer.draw(state)
        if self.window is not None:
            self.renderer.present(self.window.screen, self.window.size, overlay)
            self.window.flip()
        if self.recorder is not None and self.recorder.wants_frame():
            self.recorder.offer(self.renderer.read())
        elif self.options.readback:
            self.renderer.read()
        shown = self.clock()
        self.stats.frame(decision.shows_new, shown)
        fps_window.append(shown)
        del fps_window[:-60]

    def _hand_cut(self, t: float) -> None:
        """The cut asked to the screen, at stream time `t`; held while a preset chosen is not open
        yet (the inference thread opens it) for up to CUT_WAIT_S: handed at once, it cut to the
        old preset's newest keyframe, and the director then waits for the new one's first. A
        switch still not open then (a picture projected for minutes) has the cut on the show on
        screen: dropped, the cut did nothing."""
        if self._cut_held_since is None or t < self._cut_held_since:
            self._cut_held_since = t
        if not self.choice.is_chosen(self.show.preset) and t - self._cut_held_since < CUT_WAIT_S:
            return
        self.director.cut(t)
        self._cut_asked.clear()
        self._cut_held_since = None

    def _play_cues(self, t: float) -> None:
        """The cue sheet's commands due by stream time `t`, given as the controls give them, and
        kept for --save-cues as they play (at their own time, a snapped one at the beat it snapped to;
        one cue)."""
        for cue in self.cues.due(t):
            try:
                if cue.preset is not None:
                    self._choose(cue.preset)
                if cue.values:
                    self.choice.settings.update(lambda s, values=dict(cue.values): s.with_values(values))
                if cue.cut:
                    self._cut_asked.set()
            except (UserError, ValueError) as e:
                self.report("cues", f"the cue at {cue.at:g} s: {e}")
            else:
                if self.cue_log is not None:
                    self.cue_log.add(cue)

    def _latency_ms(self, now: float, latencies: Sequence[float]) -> float | None:
        """The newest of `latencies`; none while no keyframes come (an input lost): the last
        ones, seconds old, would read as the show's."""
        return round(latencies[-1] * 1000, 1) if latencies and self._keyframe_flow.flowing(now) else None

    def _publish_state(self, fps_window: list[float]) -> None:
        newest = self.keyframes.peek()
        now = self.clock()
        features = self._unless_stalled(self.heard.peek(), now)
        # The settings as the controls left them: a controller's lights follow the window's hotkeys too.
        body = {"fps": round(frame_rate(fps_window, now), 2), "preset": self._on_screen,
                "settings": self.choice.snapshot()[1].as_dict(),
                "synthesis": self.show.maker.image.path,
                "keyframes_per_s": self._keyframe_flow.rate(now),
                "latency_ms": {"audio_to_keyframe": self._latency_ms(now, self.stats.audio_to_keyframe),
                               "audio_to_screen": self._latency_ms(now, self.stats.audio_to_screen)}}
        if features is not None:
            # Enough for a lighting desk to follow the music between beat messages: where in
            # the bar the audio was at `stream_time`, and how loud.
            body.update(bpm=round(features.bpm, 2), beat_confidence=round(features.beat_confidence, 3),
                        # Rounded down: a phase of 0.9996 rounded to 1.0 would read as the next beat.
                        beat_phase=math.floor(features.phase * 1000) / 1000, next_beat=round(features.next_beat, 3),
                        stream_time=round(features.time, 3),
                        level_db=round(20 * math.log10(max(features.rms, LEVEL_FLOOR)), 1))
        if newest is not None:
            body["valence"], body["arousal"] = round(newest.valence, 4), round(newest.arousal, 4)
        if (projecting := self.projections.progress()) is not None:
            body["projecting"] = {"preset": projecting[0], "progress": math.floor(projecting[1] * 1000) / 1000}
        self.publish("state", body)

    def _publish_ended(self, at: float) -> None:
        """The show no longer draws (since clock time `at`): its state says so, which the
        control server sends on until it stops, seconds later while a recording catches up (it
        repeated a live show's fps, latency and level for 27 s)."""
        self.ended = True
        self.publish("state", {"fps": 0.0, "keyframes_per_s": 0.0, "ended": True, "level_db": -120.0,
                               "beat_confidence": 0.0,
                               "latency_ms": {"audio_to_keyframe": None, "audio_to_screen": None}})
        if self.recorder is not None and self.recorder.error is None:
            # Said at once: the encoder may be seconds behind, and a silent wait invites the
            # second Ctrl-C, which leaves the recording unfinished.
            reached = self.recorder.written_until
            behind = f", {max(0.0, at - reached):.0f} s of it still to encode" if reached is not None else ""
            # A show that ended by itself takes a first Ctrl-C as the request to stop (live.cli.stopping).
            presses = "again" if self.asked_to_stop.is_set() else "twice"
            self.notify("show", f"the show has ended; finishing its recording{behind} (Ctrl-C {presses} leaves it "
                                "unfinished)")

    def stop(self) -> None:
        self.stopping.set()
        ended = self.stats.ended if self.stats.ended is not None else self.clock()
        if self.recorder is not None:
            self.recorder.end(ended)
        # Before the joins: a keyframe or a switch under way may take seconds, and commands
        # answered ok meanwhile would change a show no longer drawn.
        self._publish_ended(ended)
        self.show.maker.image.close()  # no keyframe waits behind a compile; one running is left to end
        for t in self._threads:
            t.join(timeout=STOP_WAIT_S)
        self.source.stop()
        self.projections.close()
        if self.show.maker.refiner is not None:
            self.show.maker.refiner.close()  # its worker builds local models in the background
        self.stats.set_counts(self.keyframes.dropped, self.source.overflows)
        if self.recorder is not None:
            try:
                self.recorder.close()
            except Exception as e:  # noqa: BLE001 - e.g. a full disk: the stats are still written, then it is said
                self.report("recorder", str(e))
                self.recording_error = e
            self.recording_error = self.recording_error or self.recorder.error
            for failure, message in self.recorder.account():
                (self.report if failure else self.notify)("recorder", message)
