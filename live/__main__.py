"""Command line: `python -m live COMMAND ...`.

Each command lives in `live/cli/<name>.py` with `register(subparsers)`, which adds its
parser and sets `func`; heavy imports happen inside the command, so `--help` is quick.
"""
from __future__ import annotations

import argparse
import atexit
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, MutableMapping

from live.errors import UserError, first_line, one_line
from live.cli.types import Parser
from live.heap import keep_freed_memory

COMMANDS: tuple[str, ...] = ("perform", "render", "preset", "devices", "generate", "inspect", "convert", "train", "bundle", "transfer", "va", "beats", "eval", "bench", "control")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m live", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"live.cli.{name}").register(sub)
    return parser


# OpenMP threads that finish their share of a step wait for the others by spinning, 300,000
# turns by default. With another process on a core (a show beside `preset new`, `render`,
# `transfer`), a spinning thread holds a core its partner needs: projecting a picture on 2
# threads took 19.3 s for 10 steps instead of 0.75 (1 thread: 3.0). At 1,000 turns it took
# 3.8 s, and a frame of the default generator on 2 idle threads 3.57 ms instead of 3.43
# (`bench generator --rows default --threads 2`; session 35). A user's own setting stands.
OPENMP_SPIN = "1000"


def spin_briefly(environ: MutableMapping[str, str]) -> None:
    if "GOMP_SPINCOUNT" not in environ and "OMP_WAIT_POLICY" not in environ:
        environ["GOMP_SPINCOUNT"] = OPENMP_SPIN


def _command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The deepest sub-command parser that `argv` names (e.g. `train gan`), else `parser`."""
    for word in argv:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers or word not in subparsers[0].choices:
            continue
        parser = subparsers[0].choices[word]
    return parser


def main(argv: list[str] | None = None) -> int:
    spin_briefly(os.environ)  # before torch loads its OpenMP runtime, which reads it once (reading --device does)
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["perform", *argv]  # `python -m live [options]` is the show
    try:
        return _run(argv)
    except KeyboardInterrupt:  # at any moment: parsing --device imports torch, seconds a performer may stop in
        print("live: interrupted", file=sys.stderr)
        return 130


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the command whose options these are not, with its usage, not the top level's
        _command_parser(parser, argv).error(f"unrecognized arguments: {' '.join(extra)}")
    if not hasattr(args, "func"):
        parser.print_help()
        return 1
    keep_freed_memory()  # every command that renders allocates the same frames over and over
    # A show's recovered failures are logged: one line each, marked as ours like every other.
    logging.basicConfig(format="live: %(message)s")
    logging.getLogger("live").setLevel(logging.INFO)  # a show's notices too (not the libraries' chatter)
    restore = _interrupt_on_terminate()
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"live: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of our output went away (`control listen | head`): done
        try:  # and exit's flush of what is left must not fail on the pipe again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is no file (captured)
            pass
        return 0
    except OSError as e:  # a path the command was given cannot be made, read or written
        where = f" {e.filename}" if e.filename else ""
        print(one_line(f"live: error: cannot use{where} ({e.strerror or e}); check the path and its permissions"),
              file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:
        # torch.OutOfMemoryError (a RuntimeError; named so, as this module stays torch-free at
        # import) on a GPU; on a CPU torch's allocator raises a plain RuntimeError.
        if not isinstance(e, MemoryError) and type(e).__name__ != "OutOfMemoryError" \
                and "can't allocate memory" not in str(e):
            raise
        print(one_line(f"live: error: out of memory ({first_line(e)}); close other programs using "
                       "the device, or ask for less (--size, --batch) or another device (--device) where the command "
                       "takes them"), file=sys.stderr)
        return 2
    finally:
        restore()


def _interrupt_on_terminate() -> Callable[[], None]:
    """SIGTERM and SIGHUP (`timeout`, a closed terminal, a process manager) stop a command as
    Ctrl-C does, so its cleanups run (a render's unfinished video is removed, a training's
    progress line ended), where they ended the process on the spot. The show sets its own.
    Returns what puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signals = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {sig: signal.signal(sig, interrupt) for sig in signals}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return restore


def run() -> None:
    """`python -m live` and the `live` command."""
    # A file name that is not UTF-8 (a Latin-1 archive) is printed with its odd bytes
    # escaped, not as a UnicodeEncodeError once the work is done: stdout is strict under a
    # desktop's UTF-8 locale (stderr escapes already).
    sys.stdout.reconfigure(errors="backslashreplace")
    exit_process(main())


def exit_process(code: int) -> None:
    # The command is over: a stop signal from now on (a second Ctrl-C a moment late) must not
    # change its exit status. Python's handler raised into the interpreter's finalization, and
    # once that restores the default handlers (before a second or so of module teardown with
    # torch) the signal killed the process: a script read a finished show as interrupted. So
    # the process ends at once while threads are joined, and ignores the signal from the exit
    # callbacks on.
    stops = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]
    for sig in stops:
        signal.signal(sig, lambda signum, frame: _leave(code))
    atexit.register(lambda: [signal.signal(sig, signal.SIG_IGN) for sig in stops])
    synthesis = sys.modules.get("live.engine.synthesizer")
    if code == 130 or (synthesis is not None and synthesis.busy_lanes()):
        # Interrupted, the show's threads may still be inside torch, FFmpeg or a compiled
        # call, and a compile may still run (the show ended during it): finalizing the
        # interpreter under them aborts the process (SIGABRT, at times SIGSEGV).
        _leave(code)
    sys.exit(code)


def _leave(code: int) -> None:
    """End the process now, without the interpreter's finalization: everything the command
    writes is written by now."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
