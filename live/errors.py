"""What reaches the user: the one exception type, a single line and never a traceback; the
notes commands and the library print on the way (each one line, `live: note: STAGE: ...`);
and the helpers their messages use."""
from __future__ import annotations

import sys
import unicodedata
from pathlib import Path
from typing import Any


class UserError(Exception):
    """Something the user can fix: a missing file, a bad checkpoint, a wrong option.

    The message says what is wrong and what to do; the CLI prints it on one line and
    exits with status 2.
    """


class MissingFile(UserError):
    """A file or folder a reader was pointed at is not there (a caller may know a way around it)."""


def note(stage: str, message: str) -> None:
    """One line on stderr about what a command does or skips: not an error, the work goes on.
    On a line of its own while a progress bar is drawn (printed, it joined the bar's line)."""
    from tqdm import tqdm

    tqdm.write(f"live: note: {stage}: {one_line(message)}", file=sys.stderr)


def one_line(text: str) -> str:
    """`text` with its control characters and line separators escaped: a newline in a file's
    name, carried into a message, started a forged line of output; an escape code would drive
    the terminal. Other characters stay as typed (U+3000, an emoji's joiners: the file's name)."""
    if text.isprintable():
        return text
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def first_line(e: BaseException | str) -> str:
    """An exception's message, or a message, cut to its first line (library messages run
    to paragraphs); an exception without one gives its type's name."""
    text = str(e).strip()
    if text:
        return text.splitlines()[0]
    return type(e).__name__ if isinstance(e, BaseException) else text


def check_file_name(value: object, where: str) -> str:
    """A config's file name of a file in the config's own folder: a path would let a command
    that writes the file write into another folder."""
    if not isinstance(value, str) or not value or Path(value).name != value or value in (".", ".."):
        shown = repr(value) if isinstance(value, str) and len(value) <= 60 else printable(value)  # a file's: cut
        raise UserError(f"{where} must be a file name in its folder, got {shown}")
    return value


PATH_LIMIT = 300  # characters of a stored path shown in a message


def printable(text: object, limit: int = 60) -> str:
    """A name or path read from a file, for a one-line message: as it is when it prints as
    itself, else quoted with its control characters escaped (a newline would start a forged
    line, an escape code would drive the terminal) and cut to `limit` characters."""
    if not isinstance(text, str):
        return f"a {type(text).__name__}"  # never a repr of a file's object: it can be exponentially long
    if text and text.isprintable() and len(text) <= limit:
        return text
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def some(items: list[str], shown: int = 3, separator: str = ", ") -> str:
    """The first few of `items` for a message, and how many more there are."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return separator.join(items[:shown]) + more


def differing(names: list[str], there: dict[str, Any], here: dict[str, Any]) -> str:
    """Settings that differ between a stored run (there) and this command (here), each with
    both values, for a one-line refusal."""
    return some([f"{k} {there.get(k)!r} there, {here.get(k)!r} here" for k in names], shown=4, separator="; ")
