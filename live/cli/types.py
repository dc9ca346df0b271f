"""Argument types that refuse a bad value while the command line is read, before any
network loads (a typo then costs a second, not the ten a bundle takes to load), and the
parser that says a bad command line in one line."""
from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

from live.errors import UserError, one_line
from live.files import check_folder, check_writable
from live.workers import cores


def number(low: float | None = None, high: float | None = None, low_open: bool = False, clock: bool = False):
    """A finite float in [low, high] ((low, high] when low_open): 'nan', 'inf' and values
    outside are refused with the range in the message. `clock`: a time of a song may also be
    written M:SS(.s) or H:MM:SS(.s), as a cue sheet's are."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            if not clock:
                raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
            from live.engine.cues import seconds

            try:
                value = seconds(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r}: give seconds (64.5) or a time like 1:04.5") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and value > high
        if not math.isfinite(value) or too_low or too_high:
            lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
            hi = "" if high is None else f"<= {high:g}"
            raise argparse.ArgumentTypeError(f"{text!r}: give a finite number {' and '.join(b for b in (lo, hi) if b)}"
                                             .rstrip())
        return value
    return parse


def count(low: int = 0, high: int | None = None):
    """An int >= low (and <= high)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number {bounds}")
        return value
    return parse


MAX_INPUT_CHANNEL = 64


def channel_span(text: str) -> tuple[int, int]:
    """An input's channels as (first, how many), 1-based: "2" is channels 1-2, "3-4" channels 3 and 4."""
    first, dash, last = text.partition("-")
    try:
        first_n, last_n = (int(first), int(last)) if dash else (1, int(first))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a count of channels (2) or a span of them (3-4)") from None
    if not 1 <= first_n <= last_n <= MAX_INPUT_CHANNEL:
        raise argparse.ArgumentTypeError(f"{text!r}: channels are numbered 1..{MAX_INPUT_CHANNEL}, a span low-high")
    return first_n, last_n - first_n + 1


# Seeds go to numpy's RandomState and torch's generators alike: 32 bits (a larger one ended
# in a traceback after the networks had loaded).
SEED_MAX = 2**32 - 1
seed = count(0, SEED_MAX)


def threads(low: int = 1):
    """Torch CPU threads, at most the cores: more only contend (100000 took minutes to start,
    swamped both cores and ignored SIGTERM)."""
    def parse(text: str) -> int:
        value = count(low)(text)
        if value > cores():
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {cores()} cores; give {low}..{cores()}")
        return value
    return parse


def use_threads(count: int | None) -> None:
    """torch's CPU threads set to `count` (--threads), or left at every core when it is None."""
    if count:
        import torch
        torch.set_num_threads(count)


def device(text: str) -> str:
    """A torch device this machine has (cpu, cuda, cuda:N), as given: a misspelt or missing
    one was found only where the networks load, after the command's other checks."""
    if text == "cpu":  # every machine's, and the default, which argparse parses too: no torch import (2 s)
        return text
    from live.nets.device import checked_device

    try:
        checked_device(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def add_device(p: argparse.ArgumentParser, default: str | None = "cpu", what: str = "the networks") -> None:
    p.add_argument("--device", type=device, default=default,
                   help=f"torch device for {what}: cpu, cuda or cuda:N" + (f" (default {default})" if default else ""))


def at_home(text: str) -> str:
    """`text` with a leading ~ as the user's home: the shell leaves it after `=` (`--out=~/v.mp4`)
    and after `file:`, and a folder named ~ made in the working folder invited `rm -rf ~` (review 76)."""
    return os.path.expanduser(text) if text == "~" or text.startswith("~/") else text


def given(text: str) -> str:
    """A name or path to read, not empty: an unset shell variable gave "", which read as the
    current folder or as the option's default without a word."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give a value (an empty one, an unset shell variable?, means nothing here)")
    return at_home(text)


def input_path(text: str) -> Path:
    """A file to read, named (`given`, ~ as the home folder)."""
    return Path(given(text))


def beat_source(text: str) -> str | Path:
    """`lookahead`, `live`, or a file of beats (read once the audio is checked)."""
    return text if text in ("lookahead", "live") else input_path(text)


def output_path(text: str) -> Path:
    """A file or folder to write, named: an empty path is the current folder."""
    if not text:
        raise argparse.ArgumentTypeError("give a path (an empty one would write into the current folder)")
    return Path(at_home(text))


def shader_dir(text: str) -> Path:
    """A folder of GLSL passes that exists (checked before a show or render loads its networks)."""
    path = Path(at_home(text))
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a folder; give a copy of the project's shaders/")
    return path


def output_dir(text: str) -> Path:
    """A folder to write into: it may not exist yet, but it must not be a file, and its
    nearest existing ancestor must be a writable folder."""
    return _checked(check_folder, text)


def output_file(text: str) -> Path:
    """A file to write: not empty, not a folder, in a folder that is (or can be made) writable."""
    return _checked(check_writable, text)


def cue_sheet_file(text: str) -> Path:
    """A cue sheet to write, named NAME.toml; an existing file there must be one (a preset or a
    bundle.toml written over would be lost)."""
    from live.files import read_toml

    path = output_file(text)
    if path.suffix.lower() != ".toml":
        raise argparse.ArgumentTypeError(f"{text!r}: a cue sheet is named NAME.toml")
    if path.exists():
        try:
            other = set(read_toml(path)) - {"cue"}
        except UserError:
            other = {"?"}
        if other:
            raise argparse.ArgumentTypeError(f"{text!r} holds something other than a cue sheet (a preset?); "
                                             "write the cues elsewhere")
    return path


NAME_MAX = 255  # bytes in one file name, on Linux's file systems and macOS's


def json_file(text: str) -> Path:
    """A JSON report to write, named so: a report may replace its last run's, and `--json
    song.wav` replaced the song."""
    path = output_file(text)
    if path.suffix.lower() != ".json":
        raise argparse.ArgumentTypeError(f"{text!r}: a JSON report is named NAME.json")
    weights = path.with_suffix(".safetensors")
    # A bundle's generator.json: replaced, its bundle no longer loads. (A name too long to be a
    # file is none; is_file raises on it.)
    if len(weights.name.encode()) <= NAME_MAX and weights.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is the config of {weights.name} beside it; "
                                         "write the report elsewhere")
    return path


def _checked(check: Callable[[Path], None], text: str) -> Path:
    """The path `text`, if `check` (a UserError for a bad one) passes it."""
    path = output_path(text)
    try:
        check(path)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return path


def plain_name(text: str) -> str:
    """A name that becomes one file or folder inside the project's own folder, and is typed
    in shell commands and control messages: ASCII letters, digits, _, and (not first) - and dots
    (`--bundle -x`, which the commands print, is read as an option)."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", text):
        raise argparse.ArgumentTypeError(f"{text!r}: a name holds ASCII letters, digits, _, and - and . (not first), "
                                         "no path")
    return text


class Parser(argparse.ArgumentParser):
    """argparse's, but a bad command line is one line, as every other error is: its usage
    block (ten lines for the show) buried the line that says what is wrong."""

    def _get_value(self, action: argparse.Action, arg_string: str) -> object:
        try:
            return super()._get_value(action, arg_string)
        except OSError as e:  # a path type's check the file system refused: Path.is_dir raises on a name too long
            raise argparse.ArgumentError(action, f"cannot use {arg_string!r}: {e.strerror or e}") from None

    def error(self, message: str) -> None:
        if message.endswith("expected one argument"):  # or its value starts with '-', which reads as an option
            option = message.split()[1].rstrip(":").split("/")[-1]
            message += f"; a value that starts with '-' is written {option}=VALUE"
        # Escaped: the value echoed is the user's (a file name holding a newline or an escape code).
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")
