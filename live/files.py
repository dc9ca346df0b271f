"""Files written whole or not at all: a crash or a full disk leaves the old file as it was."""
from __future__ import annotations

import json
from pathlib import Path

from live.errors import UserError


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
