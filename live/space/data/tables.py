"""Reading the data sets' CSV sheets and checking that the files they name exist."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence

from live.errors import MissingFile, UserError


def read_rows(path: Path, required: Sequence[str], what: str,
              delimiter: str = ",") -> tuple[list[str], list[list[str]]]:
    """The header and the non-empty rows of a CSV sheet, every name and cell stripped of
    surrounding spaces (DEAM's headers carry leading spaces). Fails on a missing file or
    column."""
    rows = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file, delimiter=delimiter)
            header = [name.strip() for name in next(reader, [])]
            for row in reader:
                cells = [cell.strip() for cell in row]
                if any(cells) and len(cells) != len(header):  # zipped with the header, it lost its labels
                    raise UserError(f"{what} {path} line {reader.line_num} has {len(cells)} cells where its "
                                    f"header has {len(header)}; mend or remove that row")
                rows.append(cells)
    except FileNotFoundError:
        raise MissingFile(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"cannot read {what} {path} ({error}); is it a {delimiter!r}-separated text file?") from error
    missing = [name for name in required if name not in header]
    if missing:
        raise UserError(f"{what} {path} lacks the column(s) {', '.join(missing)}; "
                        f"it has {', '.join(header) or 'no header'}")
    return header, [row for row in rows if any(row)]


def read_table(path: Path, required: Sequence[str], what: str, delimiter: str = ",",
               unique: str | None = None) -> list[dict[str, str]]:
    """The rows of a CSV sheet as dicts keyed by the stripped header names; with `unique`,
    a column no two rows may share (an item listed twice was trained on twice, or with two
    labels)."""
    header, rows = read_rows(path, required, what, delimiter)
    table = [dict(zip(header, row)) for row in rows]
    if unique is not None:
        seen: set[str] = set()
        for row in table:
            if row[unique] in seen:
                raise UserError(f"{what} {path} lists {unique} {row[unique]!r} twice; remove one of its rows")
            seen.add(row[unique])
    return table


def require_files(paths: Iterable[Path], what: str,
                  remedy: str = "point the reader at the complete data set folder") -> None:
    """UserError naming how many of `paths` are missing, the first of them, and the remedy."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"{len(missing)} {what} missing, e.g. {missing[0]}; {remedy}")
