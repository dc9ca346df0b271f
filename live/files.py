"""Files written whole or not at all (a crash or a full disk leaves the old file as it was), and
config files read from anyone."""
from __future__ import annotations

import glob
import io
import json
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from live.errors import UserError, first_line


def blocking_file(path: Path) -> Path | None:
    """The file standing where a folder on the way to `path` must be, if any. The system
    reports it as 'File exists' or 'Not a directory', naming neither it nor the remedy."""
    for folder in path.parents:  # nearest first
        if folder.exists():
            return None if folder.is_dir() else folder
    return None


def reason(path: Path, error: OSError) -> str:
    """Why writing `path` failed, in words that say what to change."""
    file = blocking_file(path)
    return f"{file} is a file, not a folder" if file is not None else (error.strerror or str(error))


def real_path(path: str | Path) -> Path:
    """`path` absolute, its links followed as far as they lead: Path.resolve raises RuntimeError
    on a symbolic link loop (Python 3.11), which a preset's file or a bundle folder can be."""
    return Path(os.path.realpath(path))


def is_file(path: Path) -> bool:
    """Path.is_file, False also for a name the system refuses (longer than its 255 bytes):
    such a file cannot exist, and pathlib raises instead of saying so."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_folder(path: Path) -> bool:
    """Path.is_dir, False for a name the system refuses, as `is_file`."""
    try:
        return path.is_dir()
    except OSError:
        return False


def dangling_link(path: Path) -> str | None:
    """Where a symbolic link at `path` points, if nothing is there; else None."""
    try:
        return os.readlink(path) if path.is_symlink() and not path.exists() else None
    except OSError:
        return None


def make_parent(path: Path) -> None:
    """Make the folders on the way to `path`; a UserError saying why if they cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot write {path}: {reason(path, e)}; choose a writable path") from None


def check_folder(folder: Path) -> None:
    """`folder` is, or can be made, a folder this process writes into. Nothing is made: the
    folders on the way are made when a file is written, so a run that fails first leaves
    none behind."""
    file = folder if folder.exists() and not folder.is_dir() else blocking_file(folder)
    if file is not None:
        raise UserError(f"cannot write into {folder}: {file} is a file, not a folder; choose another path")
    nearest = next(f for f in (folder, *folder.parents) if f.exists())  # the file system's root always does
    try:
        tempfile.TemporaryFile(dir=nearest).close()
    except OSError as e:
        raise UserError(f"cannot write into {folder} ({e.strerror}); choose a writable path") from None


def check_writable(path: str | Path) -> None:
    """Fail now, not after the minutes of work that come before the file is written. An
    existing file is left as it is (a run that fails before writing must not have emptied it)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a folder; name a file")
    check_folder(path.parent)
    try:
        if path.exists():
            path.open("ab").close()
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror}); choose a writable path") from None


def check_distinct(paths: dict[str, str | Path | None]) -> None:
    """Refuse two of a run's files ({what: path}, None: not given) that are one file: the
    one written last would overwrite the other, or the run its own input."""
    seen: dict[Path, str] = {}
    for what, path in paths.items():
        if path is None:
            continue
        key = real_path(path)
        if key in seen:
            raise UserError(f"{seen[key]} and {what} name the same file ({path}); choose another path")
        seen[key] = what


# Each trainer's state file, by which a folder is known as its run (they share log.jsonl).
GAN_STATE, SPACE_STATE, PREDICTOR_STATE = "training-state.pt", "checkpoint.pt", "state.pt"
RUN_STATES = {GAN_STATE: "train gan", SPACE_STATE: "train space", PREDICTOR_STATE: "train predictor"}


@contextmanager
def training_in(folder: Path, state: Path | None = None, as_read: tuple[int, int] | None = None) -> Iterator[None]:
    """Hold a training run's folder while it trains: two runs on one folder saved over each
    other's checkpoints in turns, and one died on the other's temporary file. With `state`,
    the run's state file, and `as_read`, its `file_stamp` when this command read it: a state
    another run wrote since (it went on while this command started) is refused, not trained
    over from the older one; so is a folder that holds another trainer's run (its log and
    config were written over)."""
    folder.mkdir(parents=True, exist_ok=True)
    held = lock_alone(folder)
    if held is None:
        raise UserError(f"{folder} is in use by another training run; wait for it to end or choose "
                        "another --outdir")
    try:
        remove_stale_partials(folder, RUN_STATES)
        if state is not None:
            refuse_other_run(folder, state.name)
        if state is not None and file_stamp(state) != as_read:
            raise UserError(f"{folder} was written by another run while this command started; run the command again")
        yield
    finally:
        os.close(held)


def refuse_other_run(folder: Path, state: str) -> None:
    """Refuse a folder that holds another trainer's run than the one whose state file is `state`."""
    other = next((name for name in RUN_STATES if name != state and (folder / name).exists()), None)
    if other is not None:
        raise UserError(f"{folder} holds a `{RUN_STATES[other]}` run ({other}); choose another --outdir")


def lock_alone(path: Path) -> int | None:
    """`path` (a folder, or a file, made if missing) opened and locked for this process alone:
    the descriptor to close when done, or None while another process holds it. A lock ends
    with its process, so what a killed command held is free. OSError if it cannot be opened."""
    import fcntl

    fd = (os.open(path, os.O_RDONLY | os.O_DIRECTORY) if path.is_dir()
          else os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def file_stamp(path: Path) -> tuple[int, int] | None:
    """A file's modification time and size, or None if there is none."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_mtime_ns, info.st_size


def user_cache(kind: str) -> Path:
    """Where the project keeps what it can make again (compiled synthesis, projected pictures):
    the user's cache directory, else (no home directory) the temporary one."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # as the XDG spec says, a relative path is ignored
        try:
            base = Path.home() / ".cache"
        except RuntimeError:
            base = tempfile.gettempdir()
    return Path(base) / "live" / kind


def modified_time(path: Path, missing: float) -> float:
    """`path`'s modification time; `missing` for a file another process has just removed."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return missing


def keep_newest(paths: Iterable[Path], keep: int) -> None:
    """Remove all but the `keep` most recently modified (or, touched on use, used) of `paths`:
    a cache's bound."""
    now = time.time()
    for old in sorted(paths, key=lambda p: modified_time(p, now), reverse=True)[keep:]:
        old.unlink(missing_ok=True)


def shipped(kind: str) -> Path:
    """The `presets`, `shaders` or `models` folder that comes with live. live/_shipped links to the
    project's own, so a checkout and an editable install use them; a wheel carries copies there."""
    return (Path(__file__).parent / "_shipped" / kind).resolve()


def write_whole(path: str | Path, data: bytes) -> Path:
    """Write `data` beside `path` and move it into place; the folder is made if missing,
    with the file mode of any new file. A folder that cannot be written is a UserError.
    Each writer (process and thread) writes its own partial file: two writers of one path
    (a cache entry two shows fill) would otherwise write into one file and move a mix."""
    path = Path(path)
    partial = path.with_name(f"{_partial_prefix(path.name)}{os.getpid():x}.{threading.get_ident() & 0xFFFFFFFF:x}"
                             ".partial")
    make_parent(path)
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except BaseException as e:  # a Ctrl-C mid-write too: each left a whole training state hidden
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise UserError(f"cannot write {path}: {reason(path, e)}") from None
        raise
    return path


def _partial_prefix(name: str) -> str:
    """Of `write_whole`'s partial files for `name` (then PID.THREAD.partial, hex): hidden, and
    short, so that a name near the file system's 255-byte limit still has one."""
    return f".{name[:200]}."


def remove_stale_partials(folder: Path, names: Iterable[str]) -> None:
    """Remove the partial files `write_whole` left in `folder` for these file names when their
    writing process is gone (a killed run's: a training state each). Nothing else is touched."""
    for name in names:
        prefix = _partial_prefix(name)
        for partial in folder.glob(f"{glob.escape(prefix)}*.*.partial"):
            pid = partial.name[len(prefix):].split(".")[0]
            if not re.fullmatch(r"[0-9a-f]{1,7}", pid):  # not write_whole's: PIDs stay below 2^22
                continue
            try:
                os.kill(int(pid, 16), 0)
            except ProcessLookupError:
                with suppress(OSError):
                    partial.unlink()
            except OSError:  # a process of another user's: alive
                pass


def npy_bytes(array: Any) -> bytes:
    """`array` (NumPy) as the bytes of a .npy file."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write_state(path: str | Path, state: Any) -> Path:
    """A training run's state (`torch.save`) written whole, the last one kept until then: on a
    full disk torch's file writer raised its own RuntimeError and left its partial file."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        return write_whole(path, buffer.getvalue())
    except UserError as e:
        raise UserError(f"{e}; the last state written is kept: free space, then run again to go on from it") from None


def gone(path: str) -> bool:
    """A place a run stored that is no longer there (moved, renamed or deleted). Only an
    absolute path can be known gone: a relative one names another place from another
    working folder."""
    return Path(path).is_absolute() and not Path(path).exists()


def strict(value: Any) -> Any:
    """`value` with NaN and infinities as None: JSON has no such numbers (Python writes
    `NaN` and `Infinity`, which jq, JavaScript and other strict parsers refuse). A diverged
    loss or a ratio without meaning is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file anyone may have written: a BOM (Windows editors) is allowed; what cannot be
    read, decoded or parsed is a UserError naming the file (tomllib raises ValueError for an
    integer of thousands of digits, RecursionError for arrays nested thousands deep)."""
    import tomllib

    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as e:
        raise UserError(f"cannot read {path}: {first_line(e)}") from None
    except RecursionError:
        raise UserError(f"cannot read {path}: arrays or tables nested too deeply") from None


def read_json(path: str | Path) -> Any:
    """A JSON file anyone may have written, as `read_toml`; NaN and Infinity, which Python's
    reader takes and no strict JSON has, are refused (an infinite resolution was a traceback)."""
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON number")

    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"), parse_constant=refuse)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:  # bad JSON or UTF-8, huge integers, deep nesting
        raise UserError(f"{path} is not valid JSON ({first_line(e) or 'nested too deeply'})") from None


def write_json(path: str | Path, value: Any) -> Path:
    """`value` as strict, indented JSON, written whole (a config, a report, run statistics)."""
    return write_whole(path, (json.dumps(strict(value), indent=2, allow_nan=False) + "\n").encode())


def log_line(row: dict[str, Any]) -> str:
    """A training log's row as a line of strict JSON."""
    return json.dumps(strict(row), allow_nan=False) + "\n"


def keep_log_until(path: str | Path, step: int) -> None:
    """Drop the rows of a JSON-lines training log past `step`, the checkpoint a run resumes
    from: the resumed run writes them again. A row cut short by a kill goes too."""
    path = Path(path)
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("step", 0) <= step:
            kept.append(line + "\n")
    write_whole(path, "".join(kept).encode())
