"""Files written whole or not at all: a crash or a full disk leaves the old file as it was."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from live.errors import UserError, first_line

T = TypeVar("T")


def write_whole(path: str | Path, data: bytes) -> Path:
    """Write `data` beside `path` and move it into place; the folder is made if missing,
    with the file mode of any new file. A folder that cannot be written is a UserError."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as e:
        if partial.is_file():  # not unlink(missing_ok): under a path that is a file it raises too
            partial.unlink()
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    return path


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


def read_state(path: str | Path, what: str, use: Callable[[dict], T], device: object = "cpu") -> T:
    """`use(state)` of a training state saved with torch.save. Whatever goes wrong in reading
    or using it (a truncated file, another program's, another version's) is one line naming
    the file, since the remedy is the same."""
    import torch

    try:
        return use(torch.load(path, map_location=device, weights_only=True))
    except Exception as e:  # noqa: BLE001 - every way a state can be unusable gets the one answer
        raise UserError(f"cannot resume from {path}: it is not a readable {what} state "
                        f"({type(e).__name__}: {first_line(e)}); move it away or delete it to start over") from None
