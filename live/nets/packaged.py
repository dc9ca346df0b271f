"""A frozen inference module compiled ahead of time into a package on disk, once per graph
and weights, and loaded in milliseconds after that.

`torch.compile` with freezing (`live.nets.fast.compile_frozen`) takes about a minute of a
core here, most of it Python that holds the interpreter lock, and inductor's graph cache
cannot keep its result across processes (it refuses oneDNN's prepacked weights). A live
show compiled it beside its first keyframes and ran starved for two minutes, every show.
AOTInductor compiles the same frozen graph, prepacked weights included, into a shared
library. It is built by a child process at the lowest CPU priority, so the show keeps the
interpreter and its cores meanwhile; every later show of the same weights loads it at once.

The package is named after everything that makes it: the source of the code its graph
is traced from, the module's weights and settings, torch's version and the device (the
CPU's vector extensions, the GPU's model). Not after the exported graph: exporting takes
2 s of the interpreter lock for the default generator, which every show paid at its start
to find its package (its first keyframes then took up to 1.3 s); a show exports only to build.
The directory keeps the `KEEP` most recently used packages. A build holds a lock file
beside its package, so processes that want the same package build it once.
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import types
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from live.errors import first_line
from live.files import keep_newest, modified_time, user_cache
from live.nets.digest import digest_weights

KEEP = 8
KEY_LENGTH = 32
SUFFIX = ".pt2"
LOCK = ".lock"  # beside a package while it is built, held by its builder
PROGRAM, PARTIAL = "program-", "building-"  # a build's input and unfinished output, with its pid
STALE_S = 3600.0
FAILED = "live: package build failed: "  # how the builder's line saying why begins


# The package's code as this process took it, which keys hash: read from disk when a key is
# made, an update during a show filed a package of the code running under the new code's name,
# and the next show drew the old code (review 66). (~2 MB.)
def _code(package: Path) -> dict[Path, bytes]:
    code = {}
    for path in package.rglob("*.py"):
        try:  # an editor's lock beside a file (Emacs: a dangling link .#fast.py) stopped every show (review 68)
            code[path] = path.read_bytes()
        except OSError:
            continue
    return code


_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_CODE_AT_START = _code(_PACKAGE_ROOT)


def default_packages_dir() -> Path:
    return user_cache("synthesis")


def cpu_flags() -> str:
    """What inductor's `-march=native` build depends on: the CPU's feature flags (a cache
    shared across machines may hold a package built for another CPU)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next((line for line in cpuinfo if line.startswith("flags")), platform.machine())
    except OSError:
        return platform.machine()


def package_key(module: nn.Module, example: torch.Tensor, threads: int) -> str:
    """The name of `module`'s package for inputs like `example`, run on `threads` intra-op
    threads (its kernels are built for that count), read in milliseconds."""
    digest = hashlib.sha256()
    device = example.device
    target = (torch.cuda.get_device_name(device) if device.type == "cuda"
              else torch.backends.cpu.get_cpu_capability() + cpu_flags())
    cpu_threads = threads if device.type == "cpu" else 0  # a GPU's kernels do not depend on it
    for part in (torch.__version__, device.type, target, f"{example.dtype} {tuple(example.shape)} {cpu_threads}"):
        digest.update(part.encode())
    for path in _source_files(module):
        code = _CODE_AT_START.get(path.resolve())
        digest.update(code if code is not None else path.read_bytes())
    for name, sub in module.named_modules():  # what the graph reads besides tensors: sizes, clamps, taps
        settings = sorted((key, value) for key, value in vars(sub).items() if not key.startswith("_"))
        digest.update(f"{name} {type(sub).__qualname__} {settings!r}".encode())
    digest_weights(digest, module, layout=True)
    return digest.hexdigest()[:KEY_LENGTH]


def _source_files(module: nn.Module) -> list[Path]:
    """The files an export of `module` traces that torch's version does not name: those of
    its tree's classes from `module`'s package and, followed through their globals, every
    module of that package they use."""
    package = type(module).__module__.split(".")[0]
    files: dict[str, Path | None] = {}
    pending = [type(sub).__module__ for sub in module.modules()]
    while pending:
        name = pending.pop()
        if name in files or name.split(".")[0] != package:
            continue
        source = sys.modules[name]
        files[name] = Path(source.__file__) if getattr(source, "__file__", None) else None
        for value in vars(source).values():
            used = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if isinstance(used, str) and used in sys.modules:
                pending.append(used)
    return [path for _, path in sorted(files.items()) if path is not None]


class Package:
    """`module` (one tensor in, one out, frozen), compiled for inputs shaped like `example`,
    as a package in `directory` for a thread running `threads` intra-op threads (inductor writes
    the count into its kernels: one built for two cores ran both at a show's `--threads 1`).
    `prepare_build` runs on the thread that runs compiled graphs
    (it exports the module, about 2 s for the default generator); `build` only waits for a
    child process, so another thread may call it once `prepare_build` has run; `load` where
    the package will run."""

    def __init__(self, module: nn.Module, example: torch.Tensor, directory: Path, threads: int):
        self._traced: tuple[nn.Module, torch.Tensor] | None = (module, example)  # until exported
        self.directory = directory
        self.threads = threads
        self.path = directory / f"{package_key(module, example, threads)}{SUFFIX}"
        self._device_index = example.device.index if example.device.index is not None else -1
        self._cpu = example.device.type == "cpu"
        self._serialized: bytes | None = None

    @property
    def on_disk(self) -> bool:
        """Whole on disk (a damaged package is deleted: loaded, one drew NaN, another crashed
        the process)."""
        if self.path.exists() and not _intact(self.path):
            self.path.unlink(missing_ok=True)
        return self.path.exists()

    def prepare_build(self) -> None:
        """Export and serialize the program for the builder (about 2 s for the default generator, so
        only when a build is wanted). Raises RuntimeError at once without a C++ compiler."""
        if self._serialized is None and self._traced is not None:
            _check_compiler()
            module, example = self._traced
            with torch.no_grad():
                self._serialized = _serialized(torch.export.export(module, (example,)))
        self._traced = None

    def build(self) -> None:
        """Build the package unless it is on disk (another show may have built it meanwhile).
        Raises RuntimeError with the builder's reason if the build fails."""
        if self.on_disk:
            return
        self.prepare_build()
        if self._serialized is None:  # built once by this object, and removed since
            raise RuntimeError(f"{self.path.name} was removed while in use; it is built again at the next start")
        self.directory.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_suffix(LOCK)
        with open(lock_path, "ab") as lock:
            # Another process building this package (a show and a render started together):
            # wait for it and take its package rather than spend another minute of a core.
            fcntl.flock(lock, fcntl.LOCK_EX)
            os.utime(lock.fileno())  # in use, for _prune
            try:
                if not self.on_disk:
                    _build(self._serialized, self.path, self.threads, lock.fileno())
            finally:
                # Removed while held: whoever waits on it, or locks a new one, finds the package.
                lock_path.unlink(missing_ok=True)
        self._serialized = None
        _prune(self.directory)

    def load(self) -> Callable[[torch.Tensor], torch.Tensor]:
        if not self.path.exists():  # another show's prune, or a cleared cache, since it was checked
            raise RuntimeError(f"{self.path.name} is no longer on disk; it is built again at the next start")
        try:
            os.utime(self.path)  # its use, for _prune
        except OSError:  # another user's package, read-only: still usable
            pass
        # The public loader (`torch._inductor.aoti_load_package`) first probes the CPU's vector
        # extensions by building and running ten test programs (20 s here); the package's name
        # already pins the CPU it was built for.
        loader = torch._C._aoti.AOTIModelPackageLoader(str(self.path), "model", False, 1, self._device_index)
        # The loader unpacks the package into a folder of its own under /tmp and removes it
        # when it is destroyed, which a killed or crashed show never is: each such show left
        # its copy (a day of tests here: 47 folders, 624 MB). On the CPU the library is all
        # it reads, and stays mapped once loaded, so the folder goes now (a CUDA package may
        # read its kernels' binaries from it later).
        if self._cpu:
            for folder in _unpacked_folders(self.path.stem):
                shutil.rmtree(folder, ignore_errors=True)
        return lambda x: loader.boxed_run([x])[0]


def has_compiler() -> bool:
    from torch._inductor import cpp_builder, exc

    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler:
        return False
    return True


def _check_compiler() -> None:
    """The builder compiles C++: without a compiler it would fail only after the export and a
    child's start (10 s of a core), at every show, naming torch's setting rather than the fix."""
    if not has_compiler():
        raise RuntimeError("no C++ compiler found (g++, or $CXX) to build the compiled synthesis: "
                           "install one (Debian: apt-get install g++)")


def _unpacked_folders(key: str) -> set[Path]:
    """The folders this process's loader unpacked package `key` into, found by the libraries
    it mapped from them: torch names them /tmp/XXXXXX (mkdtemp, not TMPDIR) and puts the
    archive's root, named after the package, inside."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux: the loader's own removal at exit is all there is
        return set()
    folders = set()
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not fields[5].endswith(".so"):  # a removed one reads "... (deleted)"
            continue
        parts = Path(fields[5]).parts
        if len(parts) > 4 and parts[:2] == ("/", "tmp") and parts[3].endswith(key):
            folders.add(Path(*parts[:3]))
    return folders


def _intact(path: Path) -> bool:
    """Every member of the package's archive reads back with its checksum (a few ms)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def _serialized(program: torch.export.ExportedProgram) -> bytes:
    program_bytes = io.BytesIO()  # torch's file writer aborts the process on a full disk
    with warnings.catch_warnings():
        # Said of every channels-last weight (not contiguous, so not "complete"), which it
        # then saves whole, as it should.
        warnings.filterwarnings("ignore", "No complete tensor found")
        torch.export.save(program, program_bytes)
    return program_bytes.getvalue()


def _build(program: bytes, path: Path, threads: int, lock: int) -> None:
    """Build in a child process that holds `lock` (a descriptor of the package's locked
    file) too: a show that ends goes on without waiting, and the build finishes for the next
    show, which waits for it instead of starting a second one beside it."""
    source = path.with_name(f"{PROGRAM}{os.getpid()}-{path.name}")
    try:
        source.write_bytes(program)
        # Its own session: Ctrl-C on the show does not stop it.
        done = subprocess.run([sys.executable, "-m", __name__, str(source), str(path), str(threads)],
                              capture_output=True, text=True, start_new_session=True, pass_fds=(lock,))
    finally:
        source.unlink(missing_ok=True)
    if done.returncode != 0:
        # The builder's own line, else its last: torch may print a backtrace after it (the
        # zip writer that failed on a full disk aborts again when destroyed). A builder killed
        # (the kernel's OOM killer picks the compiler) says nothing: its last line was a warning's.
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        said = next((line[len(FAILED):] for line in reversed(lines) if line.startswith(FAILED)), None)
        if said is None and done.returncode < 0:
            name = signal.Signals(-done.returncode).name
            said = f"the builder was killed ({name}{': out of memory?' if name == 'SIGKILL' else ''})"
        raise RuntimeError(f"building {path.name} failed: {said or lines[-1]}")


def _prune(directory: Path) -> None:
    now = time.time()
    keep_newest(directory.glob(f"{'?' * KEY_LENGTH}{SUFFIX}"), KEEP)
    for pattern in (f"{PROGRAM}*{SUFFIX}", f"{PARTIAL}*{SUFFIX}", f"{'?' * KEY_LENGTH}{LOCK}"):
        for stale in directory.glob(pattern):
            if now - modified_time(stale, now) > STALE_S:  # left by a builder
                stale.unlink(missing_ok=True)


def build_package(source: Path, path: Path, threads: int) -> None:
    """Compile the exported program saved at `source` into the package `path`, its kernels
    for `threads` threads: run in the child process, whose CPU time the show's threads come
    before."""
    from torch._inductor import config

    os.nice(19)
    try:  # the show that asked may be gone: this process cleans up after itself
        program = torch.export.load(source)
    finally:
        source.unlink(missing_ok=True)
    partial = path.with_name(f"{PARTIAL}{os.getpid()}-{path.name}")
    try:
        # Freezing folds the weights into constants and prepacks them for oneDNN; inductor
        # applies it only to graphs compiled without autograd.
        with config.patch({"freezing": True, "cpp.threads": threads}), torch.no_grad():
            torch._inductor.aoti_compile_and_package(program, package_path=str(partial))
        with open(partial, "rb") as built:
            os.fsync(built.fileno())  # on disk before its name says it is whole
        os.replace(partial, path)  # whole or not at all: another show may be loading it
    finally:
        partial.unlink(missing_ok=True)


if __name__ == "__main__":
    try:
        build_package(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
    except Exception as e:  # noqa: BLE001 - the parent reports this line
        print(f"{FAILED}{type(e).__name__}: {first_line(e)}", file=sys.stderr, flush=True)
        sys.exit(1)
