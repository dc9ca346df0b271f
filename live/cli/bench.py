"""`python -m live bench NAME`: speed and quality benchmarks; each prints a table and, with `--json PATH`,
writes it as JSON.

A benchmark lives in `live/bench/<name>.py` with `add_arguments(parser)` and `main(args)`.
"""
from __future__ import annotations

import argparse
import importlib

from live.cli.types import json_file

BENCHES: tuple[str, ...] = ("beats", "engine", "generator", "lambdas", "transfer")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="run a benchmark (prints a table, writes JSON)")
    benches = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name in BENCHES:
        module = importlib.import_module(f"live.bench.{name}")
        p = benches.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--json", type=json_file, metavar="PATH", help="write the results here as JSON")
        module.add_arguments(p)
        p.set_defaults(func=module.main)

