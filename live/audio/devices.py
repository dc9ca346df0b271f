"""Audio devices as PortAudio sees them: listing them and choosing one by name or index."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from live.audio.driver import DriverCall
from live.errors import UserError

Direction = Literal["input", "output"]


PORTAUDIO_START_S = 10.0  # PortAudio's start (its device scan) answers in well under a second


class NoSoundServer(UserError):
    """PortAudio's start did not return: a sound server that is there but does not answer."""


class _Start:
    """The one start of PortAudio in this process, bounded. Importing sounddevice starts
    PortAudio, which asks the sound server for its devices: a frozen PulseAudio held that
    for two minutes, with Ctrl-C lost, and then listed no devices (a show took the demo
    track for a missing input). Once the import has hung it is never retried: a second
    import would wait on the first's lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._call: DriverCall | None = None
        self._module: ModuleType | None = None
        self._timed_out = False  # then later calls do not wait again, but take a start that came late
        self._stderr: int | None = None  # a copy of fd 2 while the start runs

    def module(self) -> ModuleType:
        with self._lock:
            if self._module is None:
                if self._call is None:
                    # sounddevice points stderr at /dev/null while PortAudio starts, and puts it
                    # back when the start returns: a start that hangs took every later line.
                    self._stderr = os.dup(2)
                    self._call = DriverCall(self._import, "portaudio-start")
                try:
                    started = self._started_within(0.0 if self._timed_out else PORTAUDIO_START_S)
                except KeyboardInterrupt:  # its "interrupted" line must be seen too
                    self._give_stderr_back()
                    raise
                if not started:
                    self._timed_out = True
                    self._give_stderr_back()
                    raise NoSoundServer(
                        f"the sound system does not answer (PortAudio has not started in {PORTAUDIO_START_S:.0f} s: "
                        "a sound server that hangs?); restart it (e.g. pulseaudio -k), or use --source file:PATH "
                        "or --source demo")
                if self._stderr is not None:
                    os.close(self._stderr)
                    self._stderr = None
                if isinstance(self._call.error, OSError):
                    raise UserError(f"PortAudio is not available ({self._call.error}); install libportaudio2, "
                                    "or use --source file:PATH or --source demo") from self._call.error
                if self._call.error is not None:
                    raise self._call.error
            return self._module

    def _give_stderr_back(self) -> None:
        if self._stderr is not None:
            os.dup2(self._stderr, 2)

    def _started_within(self, seconds: float) -> bool:
        """Waited for in slices: a Ctrl-C, which the signal handler can only raise here, between
        them, was otherwise lost for the whole wait."""
        deadline = time.monotonic() + seconds
        while not self._call.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return False
        return True

    def _import(self) -> None:
        import sounddevice

        self._module = sounddevice


# PortAudio is one per process, and so is its start.
_START = _Start()


def portaudio() -> ModuleType:
    """The sounddevice module, or a UserError when the PortAudio library is missing or its
    start does not return (NoSoundServer)."""
    return _START.module()


@dataclass(frozen=True)
class Device:
    index: int                  # PortAudio's index: changes when devices are plugged in or out
    name: str                   # what a device is chosen by across replugs
    host_api: str
    input_channels: int
    output_channels: int
    default_sample_rate: float

    def channels(self, direction: Direction) -> int:
        return self.input_channels if direction == "input" else self.output_channels


def list_devices() -> list[Device]:
    sd = portaudio()
    host_apis = [api["name"] for api in sd.query_hostapis()]
    return [Device(index=d["index"], name=d["name"], host_api=host_apis[d["hostapi"]],
                   input_channels=d["max_input_channels"], output_channels=d["max_output_channels"],
                   default_sample_rate=d["default_samplerate"])
            for d in sd.query_devices()]


def refresh_devices() -> None:
    """Make PortAudio scan again, so a replugged device shows up under its new index.

    PortAudio lists devices once, at initialization; terminating and initializing again is
    the only refresh it offers, and it closes every open stream of this process.
    """
    sd = portaudio()
    sd._terminate()
    sd._initialize()


def default_device_index(direction: Direction) -> int:
    """PortAudio's default device for `direction`, or -1 when there is none."""
    pair = portaudio().default.device
    return int(pair[0] if direction == "input" else pair[1])


def find_device(spec: str | int | None, direction: Direction,
                devices: list[Device], default_index: int = -1) -> Device:
    """The device `spec` names: an index, a case-insensitive part of a name, or None for the default.

    An exact name wins over partial matches; partial matches naming different devices are
    ambiguous. The same device seen through several host APIs counts once (the first wins);
    two devices of one name on the same host API need an index.
    """
    candidates = [d for d in devices if d.channels(direction) > 0]
    if not candidates:
        way_out = "use --source file:PATH or --source demo" if direction == "input" else "leave out --play"
        wanted = "" if spec is None else f", so none for {spec!r} (is it plugged in, and its sound server running?)"
        raise UserError(f"no audio {direction} device found{wanted}; check `python -m live devices`, or {way_out}")
    available = ", ".join(repr(d.name) for d in candidates)
    if spec is None:
        chosen = [d for d in candidates if d.index == default_index]
        return chosen[0] if chosen else candidates[0]
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        chosen = [d for d in candidates if d.index == index]
        if not chosen:
            raise UserError(f"no {direction} device has index {index}; {direction} devices: {available}")
        return chosen[0]
    exact = [d for d in candidates if d.name.lower() == spec.lower()]
    if exact:
        return _one_device(exact, spec, direction)
    partial = [d for d in candidates if spec.lower() in d.name.lower()]
    names = list(dict.fromkeys(d.name for d in partial))
    if not partial:
        raise UserError(f"no {direction} device matches {spec!r}; {direction} devices: {available}")
    if len(names) > 1:
        raise UserError(f"{spec!r} matches several {direction} devices ({', '.join(map(repr, names))}); "
                        "give more of the name or an index")
    return _one_device(partial, spec, direction)


def _one_device(named: list[Device], spec: str, direction: Direction) -> Device:
    """The first of devices that share one name, unless two of them are on the same host API:
    then they are two devices (two identical interfaces), and only an index tells them apart."""
    apis = [d.host_api for d in named]
    if len(set(apis)) < len(apis):
        indices = ", ".join(str(d.index) for d in named)
        raise UserError(f"several {direction} devices are called {named[0].name!r} (indices {indices}); "
                        "choose one by index (see `python -m live devices`)")
    return named[0]
