"""Benchmark output: a table on stdout and the same numbers as JSON."""
from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import torch

from live.files import write_json

T = TypeVar("T")


def machine(device: torch.device | None) -> dict[str, Any]:
    """What the numbers were measured on, stored beside them: `device` is where the networks ran
    (None: no networks ran), and its model when it is a GPU."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": None if device is None else str(device),
        "gpu": torch.cuda.get_device_name(device) if device is not None and device.type == "cuda" else None,
    }


def synchronizer(device: torch.device) -> Callable[[], None]:
    """What waits for `device`'s queued work: a GPU call returns once its kernels are queued,
    so a clock read then times the queueing, not the work."""
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def timed(device: torch.device, fn: Callable[[], T]) -> tuple[T, float]:
    """fn()'s result and the seconds it took on `device`, its queued work included."""
    sync = synchronizer(device)
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - start


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(v: Any) -> str:
        if v is None or isinstance(v, float) and not math.isfinite(v):  # the JSON's null
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    table = [list(columns)] + [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str],
           json_path: str | Path | None, device: torch.device | None, **summary: Any) -> dict[str, Any]:
    """Print `rows` as a table under `title`, then write summary + rows + machine (`device`: where
    the networks ran, None without networks) as JSON."""
    print(title)
    for key, value in summary.items():
        print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    print(format_table(rows, columns))
    result = {**summary, "rows": list(rows), "machine": machine(device)}
    if json_path is not None:
        write_json(json_path, result)
        print(f"wrote {json_path}")
    return result
