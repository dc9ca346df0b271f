"""Command line: `python -m live COMMAND ...`.

Each command lives in `live/cli/<name>.py` with `register(subparsers)`, which adds its
parser and sets `func`; heavy imports happen inside the command, so `--help` is quick.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from live.errors import UserError

COMMANDS: tuple[str, ...] = ("perform", "render", "preset", "devices", "generate", "inspect", "convert", "train", "bundle", "transfer", "va", "eval", "bench", "control")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m live", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"live.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["perform", *argv]  # `python -m live [options]` is the show
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"live: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("live: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
