"""The live engine headless on the demo track: keyframes/s, render fps, latency, memory.

Runs the real-time pipeline (audio thread pacing the demo in real time, inference
thread, EGL render loop with readback) for `--seconds`, sampling the process's resident
memory every second, and compares with the engine issue's targets: >= 15 keyframes/s
and >= 30 rendered frames/s at once, audio-to-keyframe p95 <= 150 ms, no audio overflow,
flat memory.
"""
from __future__ import annotations

import argparse

from live.cli.types import number, threads

MEMORY_SECONDS = 20  # runs shorter than this are not judged on memory


def add_arguments(p: argparse.ArgumentParser) -> None:
    from live.cli.common import add_show_arguments

    add_show_arguments(p)
    p.add_argument("--seconds", type=number(0, low_open=True), default=60.0,
                   help="how long to run (default 60; 600 for the soak)")
    p.add_argument("--fps", type=number(1, 1000), default=30.0,
                   help="render rate cap (default 30; on a machine without a GPU, frames above it take CPU from "
                        "keyframes)")
    p.add_argument("--threads", type=threads(), default=1, help="torch threads for inference (default 1)")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _model_builds(engine) -> int:
    """Local models the refinement's worker has built for the current preset."""
    refinement = engine.show.maker.refinement
    return refinement.anchors.builds if refinement is not None else 0


def main(args: argparse.Namespace) -> int:
    import threading
    import time

    import torch

    from live.audio.sources import DemoSource
    from live.bench.report import report
    from live.cli.common import open_show, output_size
    from live.cli.stopping import stopped_by_signals
    from live.engine.realtime import LiveEngine, LiveOptions
    from live.files import check_distinct
    from live.presets import PresetLibrary
    from live.render.headless import create_headless_context
    from live.render.renderer import Renderer
    from live.render.shaders import ShaderLibrary

    check_distinct({"--json": args.json, "--stats": args.stats})  # the report would replace the stats
    torch.set_num_threads(args.threads)  # the machine's entry in the report: the inference thread's count
    show = open_show(args, live=True, seconds=args.seconds)
    if show.maker.image.options is not None:
        # Steady state is what a show runs in: measure after the background compile (or, in a
        # run too short to build it, after loading a package already built).
        start = time.perf_counter()
        print("preparing the fast synthesis path first (compiled, or loaded if built) ...", flush=True)
        show.maker.image.wait()  # compiled for the inference thread's count, set above
        print(f"  {show.maker.image.path} path after {time.perf_counter() - start:.0f} s")
    ctx = create_headless_context()
    library = ShaderLibrary(ctx, args.shaders)
    renderer = Renderer(ctx, output_size(args), library, fit=args.fit)
    engine = LiveEngine(show, PresetLibrary(args.presets_dir), DemoSource(), renderer, library,
                        LiveOptions(fps=args.fps, duration=args.seconds, torch_threads=args.threads, readback=True))
    memory: list[float] = []
    builds: list[int] = []  # beside memory, which has stepped up at model builds; one more at the end
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            memory.append(_rss_mb())
            builds.append(_model_builds(engine))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # Ctrl-C or SIGTERM ends the run as a show's (a soak stopped at minute 9 kept no numbers).
    with stopped_by_signals(engine.stopping, engine.asked_to_stop):
        run_stats = engine.run()
    done.set()
    sampler.join()
    builds.append(_model_builds(engine))  # those of the last second too
    if args.stats:
        run_stats.write(args.stats, 0.0)
    stats = run_stats.as_dict(0.0)
    k2k = stats["latency_ms"]["audio_to_keyframe"]
    a2s = stats["latency_ms"]["audio_to_screen"]
    # The first seconds' growth is the show's first allocations (64-68 MB in 2-6 s runs), not a leak.
    half = len(memory) // 2 if len(memory) >= MEMORY_SECONDS else 0
    growth = (max(memory[half:]) - max(memory[:half])) if half else float("nan")
    rows = [
        # Keyframes are asked for at the preset's keyframe_rate: below 15 it caps the count, as --fps caps frames.
        {"metric": "keyframes_per_s", "value": stats["keyframes_per_s"],
         "target": f">= 15 (asked for at {engine.choice.settings.get().keyframe_rate:g})",
         "ok": stats["keyframes_per_s"] >= 15 if engine.choice.settings.get().keyframe_rate >= 15
         else "not measurable below 15"},
        # The render loop keeps a grid of --fps: at the cap, on-time frames read 30 +- the
        # first and last frame's sleep, so 1 % below the cap is every slot met.
        {"metric": "render_fps", "value": stats["render_fps"], "target": f">= 30, within 1 % (paced at {args.fps:g})",
         "ok": stats["render_fps"] >= 0.99 * 30 if args.fps >= 30 else "not measurable below 30"},
        # What a viewer sees of them: a crossfade shows one, and passes over those made during it.
        {"metric": "keyframes_shown_per_s", "value": stats["keyframes_shown"] / max(stats["duration_s"], 1e-9),
         "target": "(report)", "ok": ""},
        {"metric": "audio_to_keyframe_p95_ms", "value": k2k["p95"], "target": "<= 150",
         "ok": k2k["p95"] is not None and k2k["p95"] <= 150},
        {"metric": "audio_to_screen_p95_ms", "value": a2s["p95"], "target": "(report)", "ok": ""},
        {"metric": "longest_frame_interval_ms", "value": stats["frame_interval_ms"]["max"], "target": "(report)",
         "ok": ""},
        {"metric": "audio_overflows", "value": stats["audio_overflows"], "target": "0",
         "ok": stats["audio_overflows"] == 0},
        {"metric": "dropped_keyframes", "value": stats["dropped_keyframes"], "target": "(report)", "ok": ""},
        {"metric": "rss_growth_mb_2nd_half", "value": growth, "target": "flat (< 20)",
         "ok": growth < 20 if half else f"not measured (under {MEMORY_SECONDS} s)"},
        {"metric": "local_model_builds", "value": builds[-1], "target": "(report)", "ok": ""},
    ]
    size = "x".join(map(str, output_size(args)))
    ran = f"{stats['duration_s']:.0f} s of {args.seconds:g} s, stopped early" if engine.asked_to_stop.is_set() \
        else f"{args.seconds:g} s"
    report(f"live engine, headless {size}, demo track, {ran}, {show.maker.image.path} synthesis",
           rows, ["metric", "value", "target", "ok"], args.json, show.bundle.device, seconds=args.seconds,
           stopped_early=engine.asked_to_stop.is_set(),
           synthesis=show.maker.image.path,
           keyframe_compute_ms=stats["keyframe_compute_ms"], rss_mb=memory, model_builds=builds,
           errors=stats["errors"])
    return 0
