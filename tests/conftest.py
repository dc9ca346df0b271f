import os
import tempfile
from pathlib import Path

import pytest

# Tests never open a real window or sound card.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
# Inductor's first compile in a process builds and runs ten test programs, one per vector
# ISA the CPU lists, to see which the compiler handles (~20 s; here it handles every one, and
# picks the same ISA without the check). Shows keep the check; the tests' compiles, in four
# processes of a run, skip it.
os.environ.setdefault("TORCHINDUCTOR_VEC_ISA_OK", "1")


@pytest.fixture(autouse=True, scope="session")
def own_cache(tmp_path_factory):
    """Compiled packages (live.nets.packaged) of the tests' networks go to a folder of the
    test run, shows run in child processes included, not the user's cache. The kernels torch
    compiles for them go to the tests' own folder, not the user's (review 64), kept across runs
    (inductor keys them by their code): a run here took 6 min 37 s to 8 min 5 s with them, 8 min 26-50 s without."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / "live-tests-inductor")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tests' tensors are tiny: on 2 cores a second torch thread only spins against
    whatever else runs (10x slower under load) and gains nothing."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def random_bundle_dir(tmp_path_factory):
    """A bundle of small randomly initialized networks, saved the way real bundles are."""
    from live.bundle import random_bundle

    return random_bundle().save(tmp_path_factory.mktemp("bundles") / "random")


@pytest.fixture()
def preset_dir(tmp_path, random_bundle_dir):
    """A presets folder with one preset 'test' on the random bundle.

    Refinement is off: it has its own tests, and here it would build its local models in
    line and dominate the run time.
    """
    d = tmp_path / "presets"
    d.mkdir()
    (d / "test.toml").write_text(
        f'name = "test"\nbundle = "{random_bundle_dir}"\n[source]\nseed = 5\n'
        '[settings]\nkeyframe_rate = 5.0\nhud = true\nrefine_steps = 0\n'
        '[[cc]]\nchannel = 1\ncontroller = 1\nparam = "lambda"\nmin = 0.0\nmax = 0.3\n')
    (d / "other.toml").write_text(f'name = "other"\nbundle = "{random_bundle_dir}"\n[source]\nseed = 9\n')
    return d


@pytest.fixture()
def damaged_pngs(tmp_path) -> list:
    """Two PNGs Pillow cannot read with errors other than OSError: a 2 MB zTXt chunk (ValueError:
    metadata past its limit) and a chunk type broken (SyntaxError)."""
    import io
    import struct
    import zlib

    import numpy as np
    from PIL import Image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    folder = tmp_path / "damaged"
    folder.mkdir()
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, format="PNG")
    png = buffer.getvalue()
    header_end = 8 + 25
    ztxt = chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"A" * 2 ** 21))
    (folder / "ztxt.png").write_bytes(png[:header_end] + ztxt + png[header_end:])
    # The pixels in two IDAT chunks, the second's type broken: met only as the pixels are read.
    start = png.index(b"IDAT") - 4
    length = struct.unpack(">I", png[start:start + 4])[0]
    pixels = png[start + 8:start + 8 + length]
    broken = chunk(b"IDAT", pixels[:5]) + chunk(b"\rh\rh", pixels[5:])
    (folder / "broken.png").write_bytes(png[:start] + broken + png[start + 12 + length:])
    return [folder / "ztxt.png", folder / "broken.png"]
