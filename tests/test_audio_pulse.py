"""Real capture and playback through PortAudio, on a private PulseAudio server.

A PulseAudio daemon of the test's own, with one null sink, stands in for a sound card:
a tone played to it through PlaybackSource(play=True) comes back through MicSource on the
sink's monitor. The capture runs in a child process, because PortAudio lists devices once,
when it is initialized, and must see the server from the start.
Skipped when pulseaudio is not installed or will not start here.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

SINK = "live_test"
RATE = 48000
TONE_HZ = 440.0

CAPTURE = f"""
import json, time
import numpy as np
from live.audio.devices import list_devices
from live.audio.sources import MicSource, PlaybackSource
from live.audio.tracks import MemoryTrack

t = np.arange({RATE}) / {RATE}
tone = (0.5 * np.sin(2 * np.pi * {TONE_HZ} * t)).astype(np.float32)[:, None]
with MicSource("pulse", sample_rate={RATE}, channels=1, blocksize=480) as mic:
    with PlaybackSource(MemoryTrack(tone), {RATE}, play=True, output_device="pulse", blocksize=480) as player:
        deadline = time.monotonic() + 5.0
        while not player.finished and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    n = min(mic.ring.written, mic.ring.capacity)
    x = mic.ring.latest(n)[:, 0]
    spectrum = np.abs(np.fft.rfft(x))
    print(json.dumps({{
        "devices": [d.name for d in list_devices()], "played": player.ring.written, "captured": mic.ring.written, "overflows": mic.input_overflows,
        "peak_hz": float(np.fft.rfftfreq(n, 1 / {RATE})[spectrum.argmax()]),
        "rms": float(np.sqrt(np.mean(x ** 2))),
        "capture_lag": time.monotonic() - mic.capture_time(mic.ring.written),
    }}))
"""


@pytest.fixture(scope="module")
def pulse_env(tmp_path_factory) -> dict[str, str]:
    if shutil.which("pulseaudio") is None:
        pytest.skip("pulseaudio is not installed")
    runtime = tmp_path_factory.mktemp("pulse")
    socket = runtime / "native"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime),
           "PULSE_SERVER": f"unix:{socket}", "PULSE_SINK": SINK, "PULSE_SOURCE": f"{SINK}.monitor"}
    daemon = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
         "-L", f"module-native-protocol-unix auth-anonymous=1 socket={socket}",
         "-L", f"module-null-sink sink_name={SINK} rate={RATE}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10.0
    while not Path(socket).exists() and daemon.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not Path(socket).exists():
        daemon.kill()
        _, err = daemon.communicate()
        pytest.skip(f"pulseaudio did not start here: {err.strip().splitlines()[-1:] or 'no output'}")
    yield env
    daemon.terminate()
    try:
        daemon.wait(timeout=5)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()


def test_a_played_tone_is_captured_from_the_sink_monitor(pulse_env):
    done = subprocess.run([sys.executable, "-c", CAPTURE], env=pulse_env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "pulse" in result["devices"]
    assert result["played"] == RATE
    assert result["captured"] >= RATE // 2
    assert result["peak_hz"] == pytest.approx(TONE_HZ, abs=3.0)
    assert result["rms"] > 0.1
    assert 0.0 <= result["capture_lag"] < 1.0
