"""Generator speed: batch-1 synthesis ms/frame and its share of this machine's GEMM bound.

Rows: the shipped default generator's architecture (read from models/default's
generator.json) at its resolution and, with the same channel widths, at twice and four
times it (the resolution rule: its size is the largest that makes 25 frames/s); and
NVlabs stylegan2-ada-pytorch's 'stylegan2' config (channel_base 32768, channel_max 512,
w 512, 8 mapping layers) at 256, 512 and 1024 px. All with random weights; `--network`
adds real checkpoints. Only synthesis is timed (the live path maps w separately), with
noise_mode const, through `live.nets.fast.FastSynthesis` in each `--dtypes` entry; the
fastest is the row's path. The plain reference path is timed beside it.

FLOPs per frame are counted analytically for the reference formulation (2 per
multiply-add in the convs, FIR filters and affines, plus the elementwise modulation and
demodulation of the weights). The bound for a row is the dense GEMM rate in the row's
dtype, measured here with the same thread count: the fastest of torch.mm, a prepacked
linear layer and a prepacked 1x1 conv, which can reach different libraries, chosen at the
start (the top-level `gemm_*` figures) and timed again among each row's frames, round
robin with them; a row's shares are against that second rate (`bound_gflops`). Times are
wall clock (ms_*) and this process's CPU time (cpu_*): another job on the machine
inflates the first far more than the second (it still shares caches), so with one thread
cpu_ms_per_frame is close to the time on an otherwise idle core. Never time with more
threads than idle cores: a frame waits for its slowest thread (beside other work, 2 threads
took 81 ms a frame where 1 took 58; with OpenMP's default spin-wait, which live's commands
shorten through GOMP_SPINCOUNT, 1,379 ms).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from live.cli.types import add_device, count, number, threads

if TYPE_CHECKING:
    import torch

    from live.nets.stylegan2 import Generator, SynthesisNetwork

MIN_REPEATS = 3
DTYPES = {"float32": "fp32", "bfloat16": "bf16"}


@dataclass(frozen=True)
class GeneratorShape:
    """A generator architecture, benchmarked with random weights."""

    name: str
    resolution: int
    channel_base: int
    channel_max: int
    w_dim: int
    mapping_layers: int

    def build(self, seed: int = 0) -> Generator:
        import torch

        from live.nets.stylegan2 import Generator

        torch.manual_seed(seed)
        return Generator(z_dim=self.w_dim, c_dim=0, w_dim=self.w_dim, img_resolution=self.resolution,
                         img_channels=3, mapping_kwargs={"num_layers": self.mapping_layers},
                         synthesis_kwargs={"channel_base": self.channel_base,
                                           "channel_max": self.channel_max}).eval().requires_grad_(False)

    @classmethod
    def of_checkpoint(cls, name: str, path: Path) -> GeneratorShape:
        """The architecture stored beside one of our checkpoints (NAME.json), without its weights."""
        from live.errors import UserError
        from live.files import read_json

        try:
            kwargs = read_json(path.with_suffix(".json"))["init_kwargs"]
            synthesis = kwargs["synthesis_kwargs"]
            sizes = (kwargs["img_resolution"], synthesis["channel_base"], synthesis["channel_max"], kwargs["w_dim"],
                     kwargs["mapping_kwargs"]["num_layers"])
            if not all(type(size) is int and size > 0 for size in sizes) or sizes[0] & (sizes[0] - 1) or sizes[0] < 4:
                raise ValueError("its sizes must be whole numbers above 0, the resolution a power of two")
            return cls(name, sizes[0], channel_base=sizes[1], channel_max=sizes[2], w_dim=sizes[3],
                       mapping_layers=sizes[4])
        except (UserError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"cannot read a generator architecture from {path.with_suffix('.json')} ({e}); "
                            "it is written beside our .safetensors checkpoints (models/default: restore it "
                            "from the repository)") from None


NVLABS = GeneratorShape("nvlabs", 1024, channel_base=32768, channel_max=512, w_dim=512, mapping_layers=8)


def shapes() -> tuple[GeneratorShape, ...]:
    from live.models import models_dir

    default = GeneratorShape.of_checkpoint("default", models_dir() / "default" / "generator.safetensors")
    larger = (replace(default, name=f"default@{r}", resolution=r)
              for r in (2 * default.resolution, 4 * default.resolution))
    return (default, *larger, *(replace(NVLABS, name=f"nvlabs-{r}", resolution=r) for r in (256, 512, 1024)))


@dataclass(frozen=True)
class SynthesisFlops:
    """Floating-point operations of one batch-1 reference synthesis pass."""

    conv: int        # modulated 3x3 convs (the up-sampling ones transposed) and 1x1 toRGB convs
    fir: int         # 4x4 FIR filters: after each up-sampling conv, and up-sampling the skip image
    affine: int      # style affines w -> s
    modulation: int  # styles folded into the weights and demodulated: 4 per weight, 1 for toRGB

    @property
    def matmul_like(self) -> int:
        """The convs, filters and affines: what `torch.utils.flop_counter` counts (a test checks)."""
        return self.conv + self.fir + self.affine

    @property
    def total(self) -> int:
        return self.matmul_like + self.modulation


def synthesis_flops(synthesis: SynthesisNetwork) -> SynthesisFlops:
    """Count `SynthesisNetwork.forward` at batch 1, op for op as ops.py computes it.

    A transposed conv costs its kernel per input pixel; a FIR costs its taps per output
    pixel and channel. Bias, noise, activations and clamping are left out (a few
    operations per activation, memory traffic rather than arithmetic).
    """
    conv = fir = affine = modulation = 0
    for res in synthesis.block_resolutions:
        block = getattr(synthesis, f"b{res}")
        layers = [block.conv0, block.conv1] if block.in_channels > 0 else [block.conv1]
        for layer in layers:
            out_channels, in_channels, kh, kw = layer.weight.shape
            conv += 2 * (res // layer.up) ** 2 * kh * kw * in_channels * out_channels
            affine += 2 * synthesis.w_dim * in_channels
            modulation += 4 * layer.weight.numel()
            if layer.up > 1:
                fir += 2 * res * res * out_channels * layer.resample_filter.numel()
        out_channels, in_channels, kh, kw = block.torgb.weight.shape
        conv += 2 * res * res * kh * kw * in_channels * out_channels
        affine += 2 * synthesis.w_dim * in_channels
        modulation += block.torgb.weight.numel()
        if block.in_channels > 0:  # every block but the first up-samples the image so far
            fir += 2 * res * res * synthesis.img_channels * block.resample_filter.numel()
    return SynthesisFlops(conv=conv, fir=fir, affine=affine, modulation=modulation)


@dataclass(frozen=True)
class Timing:
    """Seconds per call: wall clock and this process's CPU time (all its threads)."""

    wall: tuple[float, ...]
    cpu: tuple[float, ...]

    def wall_ms(self, q: float = 0.5) -> float:
        return 1e3 * quantile(self.wall, q)

    def cpu_ms(self, q: float = 0.5) -> float:
        return 1e3 * quantile(self.cpu, q)


def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (q = 0.5 is the median)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def time_interleaved(calls: dict[str, Callable[[], Any]], samples: int, seconds: float,
                     burst_seconds: float = 0.05) -> dict[str, Timing]:
    """Time each call round-robin, so a changing background load hits them all alike.

    Each turn repeats one call for about `burst_seconds` and drops the turn's first call,
    whose caches the other calls have just evicted (a call longer than that runs once and
    counts). Stops at `samples` per call, or once `seconds` have passed and each call has
    MIN_REPEATS.
    """
    burst = {}
    for name, call in calls.items():
        call()  # warm-up: first-call allocations, lazy initialisation
        start = time.perf_counter()
        call()
        burst[name] = max(1, round(burst_seconds / (time.perf_counter() - start)))
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    deadline = time.perf_counter() + seconds
    while (min(len(w) for w in wall.values()) < MIN_REPEATS
           or (time.perf_counter() < deadline and min(len(w) for w in wall.values()) < samples)):
        for name, call in calls.items():
            # At most `samples` a call (at least MIN_REPEATS): a burst stops at the count asked for.
            wanted = max(samples, MIN_REPEATS) - len(wall[name])
            if wanted <= 0:
                continue
            dropped = 1 if burst[name] > 1 else 0
            for i in range(min(burst[name], wanted) + dropped):
                start_wall, start_cpu = time.perf_counter(), time.process_time()
                call()
                if i >= dropped:
                    wall[name].append(time.perf_counter() - start_wall)
                    cpu[name].append(time.process_time() - start_cpu)
    return {name: Timing(tuple(wall[name]), tuple(cpu[name])) for name in calls}


@dataclass(frozen=True)
class Bound:
    """A measured dense GEMM rate, GFLOP/s by wall clock and by CPU time."""

    method: str  # one of GEMM_METHODS
    n: int
    dtype: str   # "fp32" or "bf16"
    gflops: float
    cpu_gflops: float

    @property
    def label(self) -> str:
        return f"{self.method} {self.n}x{self.n} {self.dtype}"


GEMM_METHODS = ("torch.mm", "prepacked linear", "prepacked 1x1 conv")


def gemm_call(dtype: torch.dtype, device: torch.device, n: int, method: str = "torch.mm") -> Callable[[], None]:
    """[n, n] @ [n, n] by `method`: `torch.mm`; a frozen compiled linear layer, whose weight
    is prepacked once, as the fast synthesis path does with its conv weights; or the same
    product as a frozen 1x1 conv over n pixels, which oneDNN runs. The three reach the
    same library on some CPUs and not on others: on AMD CPUs torch.mm and the linear layer
    go to MKL, whose fp32 GEMM reached half of oneDNN's there (188 vs 410 GFLOP/s, Zen 5)."""
    import torch

    from live.bench.report import synchronizer
    from live.nets.fast import compile_frozen

    assert method in GEMM_METHODS, method
    sync = synchronizer(device)
    a = torch.randn(n, n, dtype=dtype, device=device)
    if method == "torch.mm":
        b, out = torch.randn(n, n, dtype=dtype, device=device), torch.empty(n, n, dtype=dtype, device=device)

        def run(_: torch.Tensor) -> None:
            torch.mm(a, b, out=out)
    else:
        if method == "prepacked linear":
            layer: torch.nn.Module = torch.nn.Linear(n, n, bias=False, dtype=dtype, device=device)
        else:
            layer = torch.nn.Conv2d(n, n, 1, bias=False, dtype=dtype, device=device).to(memory_format=torch.channels_last)
            a = a.t().reshape(1, n, 1, n).contiguous(memory_format=torch.channels_last)  # n pixels of n channels
        run = compile_frozen(layer.eval().requires_grad_(False), a)

    def call() -> None:
        with torch.inference_mode():
            run(a)
        sync()
    return call


def time_alone(call: Callable[[], None], samples: int = 10) -> Timing:
    return time_interleaved({"call": call}, samples=samples, seconds=math.inf)["call"]


def gemm_rate(timing: Timing, method: str, n: int, dtype: str) -> Bound:
    """A `gemm_call`'s rate from its timing."""
    flop = 2 * n ** 3
    return Bound(method, n, dtype, flop / quantile(timing.wall, 0.5) / 1e9, flop / quantile(timing.cpu, 0.5) / 1e9)


def short_name(dtype: torch.dtype) -> str:
    return DTYPES[str(dtype).removeprefix("torch.")]


def gemm_bounds(dtypes: Sequence[torch.dtype], device: torch.device,
                n: int) -> tuple[dict[str, Bound], list[Bound], dict[str, Callable[[], None]]]:
    """The bound per dtype ("fp32", and "bf16" if asked for): the fastest of the
    GEMM_METHODS, by CPU time; every way measured; and the fastest way's call per dtype."""
    import torch

    ways: list[Bound] = []
    bounds, calls = {}, {}
    for dtype in (torch.float32, *(d for d in dtypes if d != torch.float32)):
        short = short_name(dtype)
        measured = []
        for method in GEMM_METHODS:
            call = gemm_call(dtype, device, n, method)
            measured.append((gemm_rate(time_alone(call), method, n, short), call))
        ways += [bound for bound, _ in measured]
        bounds[short], calls[short] = max(measured, key=lambda way: way[0].cpu_gflops)
    return bounds, ways, calls


@dataclass(frozen=True)
class Plan:
    """How every row is measured."""

    dtypes: tuple[torch.dtype, ...]  # fast-path dtypes to try; the fastest makes the row
    bounds: dict[str, Bound]         # GEMM bound per dtype ("fp32", "bf16"), the fastest way, timed alone
    gemms: dict[str, Callable[[], None]]  # that way per dtype, timed again among each row's frames
    compile: bool                    # torch.compile the fast path
    samples: int                     # timed calls per path, at most
    seconds: float                   # time budget per row (at least MIN_REPEATS calls per path)
    seed: int = 0                    # z for the timed frame, as NVlabs' seed convention


def figures(timing: Timing, gflop: float, bound: Bound, fp32_bound: Bound) -> dict[str, float]:
    """Frame times (median and spread) and the shares of the GEMM bounds they reach."""
    return {"ms_per_frame": timing.wall_ms(), "ms_p10": timing.wall_ms(0.1), "ms_p90": timing.wall_ms(0.9),
            "fps": 1e3 / timing.wall_ms(),
            "share_of_bound": gflop / timing.wall_ms() * 1e3 / bound.gflops,
            "cpu_ms_per_frame": timing.cpu_ms(), "cpu_ms_p10": timing.cpu_ms(0.1), "cpu_ms_p90": timing.cpu_ms(0.9),
            "cpu_fps": 1e3 / timing.cpu_ms(),
            "cpu_share_of_bound": gflop / timing.cpu_ms() * 1e3 / bound.cpu_gflops,
            "cpu_share_of_fp32_bound": gflop / timing.cpu_ms() * 1e3 / fp32_bound.cpu_gflops}


def measure_generator(name: str, G: Generator, plan: Plan) -> dict[str, Any]:
    """One row: the reference path and the fast path in each dtype, timed interleaved;
    the fastest fast path gives the row's figures, every path is kept under "paths"."""
    import numpy as np
    import torch

    from live.bench.report import synchronizer
    from live.nets.fast import FastOptions, FastSynthesis

    synthesis = G.synthesis.eval()
    device = synthesis.b4.const.device
    z = torch.from_numpy(np.random.RandomState(plan.seed).randn(1, G.z_dim)).float().to(device)
    c = torch.zeros(1, G.c_dim, device=device) if G.c_dim else None  # conditional nets: an all-zero label
    with torch.inference_mode():
        ws = G.mapping(z, c)
        reference = synthesis(ws, noise_mode="const")
    sync = synchronizer(device)

    def frame(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def call() -> None:
            fn(ws)
            sync()
        return call

    calls = {"reference": frame(torch.inference_mode()(lambda w: synthesis(w, noise_mode="const")))}
    paths: dict[str, dict[str, Any]] = {}
    for dtype in plan.dtypes:
        short = short_name(dtype)
        fast = FastSynthesis(synthesis, FastOptions(dtype=dtype, compile=plan.compile))
        diff = (fast(ws) - reference).abs().max().item()
        calls[short] = frame(fast)
        paths[short] = {"dtype": short, "up_conv": fast.options.resolved_up_conv, "compile_s": fast.compile_seconds,
                        "max_abs_diff": diff, "rel_max_diff": diff / reference.abs().max().item()}
    # The bound is timed again among the frames: on a shared machine the rate of the same
    # GEMM moved 3x within minutes here (AMX, 360-1,100 GFLOP/s on one core), so a share
    # against a rate from another minute says more about the machine than the path.
    calls.update({f"gemm {short}": call for short, call in plan.gemms.items()})
    timings = time_interleaved(calls, samples=plan.samples, seconds=plan.seconds)
    beside = {short: gemm_rate(timings[f"gemm {short}"], bound.method, bound.n, short)
              for short, bound in plan.bounds.items()}

    flops = synthesis_flops(synthesis)
    gflop = flops.total / 1e9
    for short, path in paths.items():
        path.update(figures(timings[short], gflop, beside[short], beside["fp32"]),
                    bound=beside[short].label, bound_gflops=beside[short].gflops,
                    bound_cpu_gflops=beside[short].cpu_gflops, samples=len(timings[short].wall))
    best = paths[min(paths, key=lambda short: paths[short]["ms_per_frame"])]
    how = "compiled (inductor, frozen weights)" if plan.compile else "eager"
    reference_timing = timings["reference"]
    return {"name": name, "resolution": synthesis.img_resolution,
            "channels": "/".join(str(synthesis.channels[r]) for r in synthesis.block_resolutions),
            "gflop_per_frame": gflop, "gflop_conv": flops.conv / 1e9,
            "gflop_without_modulation": flops.matmul_like / 1e9, **best,
            "path": f"FastSynthesis {best['dtype']} {how}, channels_last, up-conv {best['up_conv']}, "
                    f"{torch.get_num_threads()} thread(s)",
            **{f"{short}_cpu_ms": path["cpu_ms_per_frame"] for short, path in paths.items()},
            "reference_ms": reference_timing.wall_ms(), "reference_cpu_ms": reference_timing.cpu_ms(),
            "speedup": reference_timing.cpu_ms() / best["cpu_ms_per_frame"],
            "reference_samples": len(reference_timing.wall), "paths": paths,
            "gemm_beside": {short: {"method": bound.method, "gflops": bound.gflops, "cpu_gflops": bound.cpu_gflops}
                            for short, bound in beside.items()}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", help="comma-separated, from default and the default architecture at twice and "
                                        "four times its resolution, by name (e.g. default@256, default@512), "
                                        "nvlabs-256, nvlabs-512, nvlabs-1024 (default: all; --rows '' with "
                                        "--network times that network alone)")
    parser.add_argument("--network", action="append", default=[], metavar="PATH",
                        help="also time this checkpoint (any format live.nets.checkpoints reads); repeatable")
    parser.add_argument("--dtypes", default="float32,bfloat16",
                        help=f"fast-path dtypes to try, comma-separated, from {', '.join(DTYPES)} (default "
                             "float32,bfloat16)")
    parser.add_argument("--threads", type=threads(), default=1,
                        help="torch threads (GEMM bound and synthesis; default 1)")
    parser.add_argument("--gemm-size", type=count(64, 16384), default=2048,
                        help="n of the n x n GEMM that sets the bound (default 2048)")
    add_device(parser)
    parser.add_argument("--samples", type=count(3), default=100,
                        help="timed frames per path and row, at most (default 100)")
    parser.add_argument("--seconds", type=number(0), default=20.0,
                        help="stop a row's timing after this long (at least 3 frames per path; default 20)")
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="time the eager fast path (no torch.compile)")


def main(args: argparse.Namespace) -> int:
    import torch

    from live.bench.report import report
    from live.errors import UserError
    from live.files import check_distinct
    from live.nets.checkpoints import load_generator
    from live.nets.device import checked_device

    known = {shape.name: shape for shape in shapes()}
    # Each row once: a name or a file given twice was timed and reported twice.
    rows_wanted = list(dict.fromkeys(name for name in args.rows.split(",") if name)) if args.rows is not None \
        else list(known)
    unknown = [name for name in rows_wanted if name not in known]
    if not rows_wanted and not args.network:
        raise UserError(f"--rows {args.rows!r} names no row; choose from {', '.join(known)}")
    if unknown:
        raise UserError(f"unknown rows {', '.join(unknown)}; choose from {', '.join(known)}")
    dtype_names = [name for name in args.dtypes.split(",") if name]
    if not dtype_names or any(name not in DTYPES for name in dtype_names):
        raise UserError(f"--dtypes {args.dtypes!r}: use a comma-separated subset of {', '.join(DTYPES)}")
    check_distinct({"--json": args.json, **{f"--network {path}": path for path in args.network}})
    device = checked_device(args.device)
    # Loaded first: a bad file is refused before the minutes of timing, not after them.
    # Named by the path as given: the files of two runs are often named alike (runs/a/G.safetensors).
    given = [(path, load_generator(path, device=device)[0]) for path in dict.fromkeys(args.network)]
    torch.set_num_threads(args.threads)
    dtypes = [getattr(torch, name) for name in dtype_names]

    load_start = os.getloadavg()[0]
    bounds, ways, gemms = gemm_bounds(dtypes, device, args.gemm_size)
    plan = Plan(tuple(dtypes), bounds, gemms, compile=args.compile, samples=args.samples, seconds=args.seconds)

    networks: list[tuple[str, Callable[[], Generator]]] = [
        (name, lambda shape=known[name]: shape.build().to(device)) for name in rows_wanted]
    networks += [(name, lambda G=G: G) for name, G in given]
    rows = []
    for name, build in networks:
        print(f"{name}: building, {'compiling ' if args.compile else ''}and timing ...", file=sys.stderr, flush=True)
        rows.append(measure_generator(name, build(), plan))
    end_bound = gemm_rate(time_alone(gemms["fp32"]), bounds["fp32"].method, args.gemm_size, "fp32")

    summary: dict[str, Any] = {
        "gemm_gflops": bounds["fp32"].gflops, "gemm_cpu_gflops": bounds["fp32"].cpu_gflops,
        "gemm_method": bounds["fp32"].label, "gemm_gflops_at_end": end_bound.gflops,
        "gemm_cpu_gflops_at_end": end_bound.cpu_gflops}
    if "bf16" in bounds:
        summary.update({"gemm_bf16_gflops": bounds["bf16"].gflops, "gemm_bf16_cpu_gflops": bounds["bf16"].cpu_gflops,
                        "gemm_bf16_method": bounds["bf16"].label})
    summary["gemm_cpu_gflops_by_method"] = {b.label: b.cpu_gflops for b in ways}
    summary.update(threads=args.threads, compile=args.compile,
                   loadavg_1min_start=load_start, loadavg_1min_end=os.getloadavg()[0])
    columns = ["name", "resolution", "gflop_per_frame", "dtype", "ms_per_frame", "ms_p10", "ms_p90", "fps",
               "share_of_bound", "bound_gflops", "cpu_ms_per_frame", "cpu_share_of_bound", "cpu_share_of_fp32_bound",
               *(f"{DTYPES[n]}_cpu_ms" for n in dtype_names), "reference_cpu_ms"]
    report(f"StyleGAN2 synthesis, batch 1, noise const, {args.threads} thread(s) on {device}", rows, columns,
           args.json, device, **summary)
    return 0
