"""The fast synthesis compiled ahead of time into a package kept on disk (live.nets.packaged)."""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ckpt_factory import TINY, tiny_generator
from live.nets import packaged as packaged_module
from live.nets.fast import FastOptions, FastSynthesis
from live.nets.packaged import KEEP, package_key
from live.nets.stylegan2 import to_uint8


def _ws(G, seed):
    z = torch.randn([G.num_ws, G.z_dim], generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=0.8)[:, 0][None]
        return G.synthesis(ws, noise_mode="const"), ws


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One package, built by the child process as a show builds it (~35 s here)."""
    directory = tmp_path_factory.mktemp("packages")
    G = tiny_generator(img_resolution=8)
    fast = FastSynthesis(G.synthesis, FastOptions(packages=directory))
    return G, fast, directory


def test_a_package_draws_the_reference_picture(built):
    G, fast, directory = built
    assert len(list(directory.glob("*.pt2"))) == 1
    for seed in (0, 1):
        expected, ws = _ws(G, seed)
        assert (fast(ws) - expected).abs().max() < 1e-4
    assert not [p for p in directory.iterdir() if p.suffix != ".pt2" or len(p.stem) != 32]  # no leftovers


def test_a_package_s_kernels_run_on_the_thread_count_it_was_built_for(built):
    """Inductor writes the thread count into the kernels: the builder's default (all cores)
    made a show's `--threads 1` draw on both (found by review)."""
    import re
    import zipfile

    _, fast, directory = built
    assert fast.threads == 1  # the tests run one torch thread
    with zipfile.ZipFile(next(directory.glob("*.pt2"))) as package:
        kernels = "".join(package.read(n).decode() for n in package.namelist() if n.endswith(".cpp"))
    assert kernels
    assert not re.findall(r"num_threads\((?!1\))\d+\)", kernels)
    G = tiny_generator(img_resolution=8)
    example = torch.zeros(1, G.num_ws, G.w_dim)
    frozen = FastSynthesis(G.synthesis, FastOptions(compile=False)).frozen
    assert package_key(frozen, example, 1) != package_key(frozen, example, 2)


def test_a_key_hashes_the_code_the_process_took_not_the_files_on_disk_now(monkeypatch):
    """Read from disk when a key is made, an update during a show filed a package of the code running under the
    new code's name, and the next show drew the old code (review 66). A file touched or changed on disk since
    the start leaves the key, and a preset switch, alone (review 68)."""
    from live.nets import packaged

    G = tiny_generator(img_resolution=8)
    frozen = FastSynthesis(G.synthesis, FastOptions(compile=False)).frozen
    example = torch.zeros(1, G.num_ws, G.w_dim)
    key = package_key(frozen, example, 1)
    fast_py = Path(packaged.__file__).resolve().parent / "fast.py"
    assert fast_py in [path.resolve() for path in packaged._source_files(frozen)]
    read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: b"new code" if self.resolve() == fast_py else read(self))
    assert package_key(frozen, example, 1) == key  # the disk's new fast.py is not the code running
    monkeypatch.setitem(packaged._CODE_AT_START, fast_py, b"other code at the start")
    assert package_key(frozen, example, 1) != key


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="finds the loaded library in /proc (Linux)")
def test_a_loaded_package_keeps_no_unpacked_copy_on_disk(built):
    """The loader's copy under /tmp went only when the loader was destroyed, which a killed
    show's never is."""
    _, _, directory = built  # the fixture's FastSynthesis loaded the package
    key = next(directory.glob("*.pt2")).stem
    mapped = [line for line in Path("/proc/self/maps").read_text().splitlines() if key in line]
    assert mapped and all(line.endswith("(deleted)") for line in mapped)


def test_the_same_weights_load_their_package_without_building_or_exporting(built, monkeypatch):
    """Exporting the default generator holds the interpreter lock for 2 s, which starved a
    show's first keyframes when it only looked for its package."""
    G, _, directory = built
    twin = tiny_generator(img_resolution=8)  # another module, the same numbers

    def no_build(*args, **kwargs):
        raise AssertionError("built again")

    def no_export(*args, **kwargs):
        raise AssertionError("exported")

    monkeypatch.setattr(packaged_module.subprocess, "run", no_build)
    monkeypatch.setattr(torch.export, "export", no_export)
    fast = FastSynthesis(twin.synthesis, FastOptions(packages=directory))
    expected, ws = _ws(G, 2)
    assert (fast(ws) - expected).abs().max() < 1e-4


def test_other_weights_or_another_graph_name_another_package():
    def key(G, dtype=torch.float32, channels_last=True, up_conv=None):
        options = FastOptions(compile=False, dtype=dtype, channels_last=channels_last, up_conv=up_conv)
        fast = FastSynthesis(G.synthesis, options)
        return package_key(fast.frozen, fast.ws, 1)

    G = tiny_generator(img_resolution=8)
    assert key(G) == key(tiny_generator(img_resolution=8))
    assert key(G) != key(tiny_generator(seed=1, img_resolution=8))
    assert key(G) != key(G, torch.bfloat16)
    assert key(G) != key(G, channels_last=False)
    assert key(G) != key(G, up_conv="split")
    clamped = tiny_generator(img_resolution=8, synthesis_kwargs=dict(TINY["synthesis_kwargs"], conv_clamp=256))
    assert key(G) != key(clamped)  # a setting, not a tensor


def test_an_edit_to_the_code_a_graph_is_traced_from_names_another_package(tmp_path, monkeypatch):
    """The name is read from the source, not from an export (2 s of the interpreter lock at
    every show's start): an edit anywhere the module's code reaches must change it."""
    package = tmp_path / "tracedpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "net.py").write_text("from torch import nn\nfrom tracedpkg import helpers\n\n"
                                     "class Net(nn.Module):\n"
                                     "    def forward(self, x):\n        return helpers.scale(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def key(scale):
        (package / "helpers.py").write_text(f"def scale(x):\n    return x * {scale}\n")
        for name in ("tracedpkg.helpers", "tracedpkg.net", "tracedpkg"):
            sys.modules.pop(name, None)
        import tracedpkg.net
        return package_key(tracedpkg.net.Net(), torch.zeros(1, 4), 1)

    try:
        assert key(2) == key(2) != key(3)
    finally:
        for name in ("tracedpkg.helpers", "tracedpkg.net", "tracedpkg"):
            sys.modules.pop(name, None)


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_package_is_built_again(built, tmp_path, monkeypatch, damage):
    """A package cut short (a full disk, a crash while copying) or with bytes overwritten:
    loaded, the first failed, the second drew NaN or crashed the process."""
    G, _, directory = built
    good = next(directory.glob("*.pt2"))
    bad = tmp_path / good.name
    data = bytearray(good.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    bad.write_bytes(bytes(data))
    builds = []

    def build(program, path, threads, lock):  # stands in for the child's ~50 s
        builds.append(path)
        path.write_bytes(good.read_bytes())

    monkeypatch.setattr(packaged_module, "_build", build)
    fast = FastSynthesis(G.synthesis, FastOptions(packages=tmp_path))
    expected, ws = _ws(G, 3)
    assert builds == [bad] and (fast(ws) - expected).abs().max() < 1e-4


def test_the_directory_keeps_the_most_recently_used_packages(tmp_path):
    names = [f"{i:032x}.pt2" for i in range(KEEP + 3)]
    for age, name in enumerate(names):
        (tmp_path / name).write_bytes(b"")
        os.utime(tmp_path / name, (1e9 - age, 1e9 - age))  # names[0] the most recent
    (tmp_path / "notes.txt").write_text("mine")
    lock = packaged_module.LOCK
    leftovers = {"program-12-" + names[0]: 1e9, "building-12-" + names[0]: 1e9,  # a killed builder's
                 names[0].replace(".pt2", lock): 1e9,
                 "program-13-" + names[1]: time.time(), "building-13-" + names[1]: time.time(),  # one at work
                 names[1].replace(".pt2", lock): time.time()}
    for name, at in leftovers.items():
        (tmp_path / name).write_bytes(b"")
        os.utime(tmp_path / name, (at, at))
    packaged_module._prune(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[:KEEP] + ["notes.txt", *list(leftovers)[3:]])


def test_a_failed_build_raises_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    G = tiny_generator(img_resolution=8)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(RuntimeError, match="building .* failed: exit status 1") as caught:
        FastSynthesis(G.synthesis, FastOptions(packages=tmp_path))
    assert "\n" not in str(caught.value) and list(tmp_path.iterdir()) == []


def test_without_a_c_compiler_a_build_says_what_to_install_before_exporting(tmp_path, monkeypatch):
    from torch._inductor import cpp_builder, exc

    def no_compiler():
        raise exc.InvalidCxxCompiler

    def no_export(*args, **kwargs):
        raise AssertionError("exported although nothing can build it")

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    monkeypatch.setattr(torch.export, "export", no_export)
    G = tiny_generator(img_resolution=8)
    with pytest.raises(RuntimeError, match=r"no C\+\+ compiler .*apt-get install g\+\+") as caught:
        FastSynthesis(G.synthesis, FastOptions(packages=tmp_path))
    assert "\n" not in str(caught.value) and list(tmp_path.iterdir()) == []


def test_the_builder_ends_with_a_line_saying_what_went_wrong(tmp_path):
    done = subprocess.run([sys.executable, "-m", "live.nets.packaged", str(tmp_path / "missing.pt2"),
                           str(tmp_path / "out.pt2"), "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and not (tmp_path / "out.pt2").exists()
    said = [line for line in done.stderr.splitlines() if line.startswith(packaged_module.FAILED)]
    assert len(said) == 1 and "FileNotFoundError" in said[0] and "missing.pt2" in said[0]


def test_a_builder_killed_is_said_so_not_with_a_stray_line_of_its_output(tmp_path, monkeypatch):
    """The OOM killer's SIGKILL was reported with the builder's last line, a CUDA warning (review 66)."""
    def killed(*args, **kwargs):
        return subprocess.CompletedProcess(args, -9, "", "W1206 cpp_extension.py:140] No CUDA runtime is found\n")

    monkeypatch.setattr(packaged_module.subprocess, "run", killed)
    with pytest.raises(RuntimeError, match=r"failed: the builder was killed \(SIGKILL: out of memory\?\)$"):
        packaged_module._build(b"program", tmp_path / "k.pt2", 1, -1)


def test_a_loaded_package_draws_on_the_lane_while_autograd_runs(built):
    """As in a show: the refinement differentiates G on its own thread while the lane draws.
    In a child process, so that a crash fails this test and not the test run."""
    _, _, directory = built
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("lane_scenario.py")), str(directory)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-2000:]


@pytest.mark.parametrize("kind, default_dir", [("synthesis", "live.nets.packaged.default_packages_dir"),
                                               ("projections", "live.transfer.project.default_cache_dir")])
def test_caches_go_to_the_user_cache_or_the_temporary_folder(monkeypatch, tmp_path, kind, default_dir):
    # The projections' cache took a relative or empty XDG_CACHE_HOME as given: the folder a
    # command ran in, so a show started elsewhere projected a prepared preset again.
    import importlib

    module, name = default_dir.rsplit(".", 1)
    where = getattr(importlib.import_module(module), name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert where() == tmp_path / "live" / kind
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for relative in ("relative/cache", ""):  # ignored, as the XDG spec says
        monkeypatch.setenv("XDG_CACHE_HOME", relative)
        assert where() == tmp_path / "home" / ".cache" / "live" / kind
    monkeypatch.delenv("HOME")
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: (_ for _ in ()).throw(RuntimeError("no home"))))
    assert where().parent.parent == Path(tempfile.gettempdir())


def test_a_switch_to_a_generator_whose_package_is_on_disk_loads_it_at_once(built):
    """Waiting SWITCH_SETTLE_S is for builds (a minute of a core); a package on disk loads in
    milliseconds, and a switch to its generator drew 10 s on the reference path first."""
    from live.engine.synthesizer import Synthesizer

    G, _, directory = built
    now = [0.0]
    first = Synthesizer(G, FastOptions(packages=directory), clock=lambda: now[0])
    try:
        assert first.wait(timeout=60)
        _, ws = _ws(G, 4)
        unbuilt = first.for_generator(tiny_generator(seed=1, img_resolution=8))  # other numbers: no package
        unbuilt(ws[0])
        assert unbuilt._build is None  # its build waits to see the bundle stay on screen
        twin = first.for_generator(copy.deepcopy(G))
        twin(ws[0])
        assert twin._build is not None and twin.wait(timeout=60) and twin.path == "fast"
    finally:
        first.close()


@pytest.fixture
def switch_to_an_unbuilt_package(built, tmp_path, monkeypatch):
    """A show drawing `built`'s generator on its package, switching to a second bundle (the
    same numbers, so the same package name) whose package is not on disk: its build (a
    child process, stood in for) waits for `release`, then writes what the child would have."""
    from live.engine.synthesizer import SWITCH_SETTLE_S, Synthesizer

    G, _, directory = built
    package = next(directory.glob("*.pt2"))
    packages = tmp_path / "packages"
    packages.mkdir()
    shutil.copy(package, packages / package.name)
    now = [0.0]
    errors: list[str] = []
    first = Synthesizer(G, FastOptions(packages=packages), on_error=errors.append, clock=lambda: now[0])
    assert first.wait(timeout=60) and first.path == "fast"
    (packages / package.name).unlink()
    building, release = threading.Event(), threading.Event()
    outcome: list[Exception | None] = [None]
    builds = []

    def build(self):
        builds.append(threading.current_thread().name)
        building.set()
        assert release.wait(60)
        if outcome[0] is not None:
            raise outcome[0]
        shutil.copy(package, self.path)

    monkeypatch.setattr(packaged_module.Package, "build", build)
    second = first.for_generator(copy.deepcopy(G), on_error=errors.append)
    _, ws = _ws(G, 3)
    second(ws[0])  # on screen ...
    now[0] = SWITCH_SETTLE_S + 1
    second(ws[0])  # ... long enough: its build starts
    assert building.wait(60)
    second._build.result(timeout=60)  # the lane's part done: its bookkeeping too
    yield first, second, ws[0], release, outcome, errors, builds
    release.set()
    first.close()


def test_a_bundle_s_package_is_built_while_the_lane_draws_the_others(built, switch_to_an_unbuilt_package):
    """A package takes a child process a minute or more to build: the bundles already fast
    keep drawing fast meanwhile (the lane is free), not on the reference path."""
    G = built[0]
    first, second, w, release, _, errors, builds = switch_to_an_unbuilt_package
    expected = to_uint8(G.synthesis(w[None], noise_mode="const"))[0].numpy().astype(int)
    assert not first._lane.compiling and first.path == "fast" and second.path == "reference"
    assert np.abs(first(w).astype(int) - expected).max() <= 1
    release.set()
    assert second.wait(timeout=60) and second.path == "fast" and first.path == "fast"
    assert np.abs(second(w).astype(int) - expected).max() <= 1 and errors == []
    assert builds == ["package-build"]  # once, off the lane; the load on the lane builds nothing


def test_a_failed_build_off_the_lane_is_said_once_and_the_reference_draws_on(switch_to_an_unbuilt_package):
    first, second, w, release, outcome, errors, _ = switch_to_an_unbuilt_package
    outcome[0] = RuntimeError("building x.pt2 failed: no C++ compiler")
    release.set()
    assert second.wait(timeout=60) is False and second.path == "reference" and first.path == "fast"
    assert errors == ["fast synthesis unavailable (RuntimeError: building x.pt2 failed: no C++ compiler); "
                      "using the reference synthesis"]
    second(w)
    assert len(errors) == 1


def test_a_show_that_ends_during_a_build_leaves_it_and_ends(built, switch_to_an_unbuilt_package):
    first, second, _, release, _, errors, _ = switch_to_an_unbuilt_package
    first.close()  # the show ends; the lane is shared
    release.set()
    loaded = second._build.result(timeout=10)
    loaded.result(timeout=10)  # set, though its load was cancelled: `wait` does not hang
    assert second.wait() is False and errors == [] and second.options.packages.joinpath(
        next(built[2].glob("*.pt2")).name).exists()  # built for the next show


def test_a_synthesizer_that_builds_nothing_loads_a_package_on_disk_and_else_stays_exact(built, tmp_path, monkeypatch):
    """A show too short to see a build through draws fast only with a package already built."""
    from live.engine.synthesizer import Synthesizer

    G, _, directory = built
    errors: list[str] = []
    cached = Synthesizer(G, FastOptions(packages=directory), on_error=errors.append, build=False)
    assert cached.wait(timeout=60) and cached.path == "fast"
    cached.close()

    def no_build(*args, **kwargs):
        raise AssertionError("a build was started")

    monkeypatch.setattr(packaged_module.subprocess, "run", no_build)
    empty = tmp_path / "empty"
    none = Synthesizer(G, FastOptions(packages=empty), on_error=errors.append, build=False)
    assert none.wait(timeout=60) is False and none.path == "reference" and errors == []
    assert not empty.exists() or not list(empty.iterdir())
    assert none.for_generator(copy.deepcopy(G)).build is False  # a bundle switch builds nothing either
    none.close()


def test_two_builds_of_one_package_at_once_run_one_builder(built, tmp_path, monkeypatch):
    """A show and a render started together, each in its own process: the second waits for
    the first's build and takes its package (builders stood in for, threads for processes:
    the lock is on the file, held per open file)."""
    G, _, directory = built
    package = next(directory.glob("*.pt2"))
    builders = []

    def build(program, path, threads, lock):
        builders.append(path)
        time.sleep(1.0)
        shutil.copy(package, path)

    monkeypatch.setattr(packaged_module, "_build", build)
    twins = [packaged_module.Package(FastSynthesis(G.synthesis, FastOptions(compile=False)).frozen,
                                     torch.zeros(1, G.num_ws, G.w_dim), tmp_path, 1) for _ in range(2)]
    for twin in twins:
        twin.prepare_build()
    threads = [threading.Thread(target=twin.build) for twin in twins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert builders == [tmp_path / package.name] and all(twin.on_disk for twin in twins)


_ENDS_MID_BUILD = """
import os, sys, threading, time
sys.path.insert(0, {tests!r})
import torch
from ckpt_factory import tiny_generator
from live.nets import packaged
from live.nets.fast import FastOptions, FastSynthesis
G = tiny_generator(img_resolution=8)
package = packaged.Package(FastSynthesis(G.synthesis, FastOptions(compile=False)).frozen,
                           torch.zeros(1, G.num_ws, G.w_dim), packaged.Path({directory!r}), 1)
package.prepare_build()
threading.Thread(target=package.build, daemon=True).start()
time.sleep(5)
os._exit(0)  # as a show that ends during its build leaves
"""


def test_a_show_started_while_an_ended_show_s_build_runs_waits_for_it_instead_of_building_again(tmp_path, monkeypatch):
    """The lock went with the show that ended, while its builder went on: the next show
    started a second minute-long build of the same package beside it (found by review)."""
    script = _ENDS_MID_BUILD.format(tests=str(Path(__file__).parent), directory=str(tmp_path))
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)

    run = subprocess.run

    def second_builder(command, **kwargs):
        assert packaged_module.__name__ not in command, "a second builder started"
        return run(command, **kwargs)  # the compiler's check

    monkeypatch.setattr(packaged_module.subprocess, "run", second_builder)
    G = tiny_generator(img_resolution=8)
    package = packaged_module.Package(FastSynthesis(G.synthesis, FastOptions(compile=False)).frozen,
                                      torch.zeros(1, G.num_ws, G.w_dim), tmp_path, 1)
    package.prepare_build()
    package.build()  # waits for the first show's builder
    assert package.on_disk


def test_an_editor_s_lock_beside_a_source_file_is_not_code(tmp_path):
    """Emacs leaves a dangling link .#NAME.py beside a file with unsaved edits: reading it stopped every show
    and render at import (review 68)."""
    from live.nets import packaged

    (tmp_path / "fast.py").write_text("x = 1\n")
    (tmp_path / ".#fast.py").symlink_to("root@host.1234:1700000000")
    assert packaged._code(tmp_path) == {tmp_path / "fast.py": b"x = 1\n"}
