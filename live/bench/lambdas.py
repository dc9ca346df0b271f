"""Lambda: how far the seed's optimization moves the picture at each lambda, to set a bundle's live range.

L_O = ||w_o - w_m||_2 has a kink at the source: where lambda exceeds |grad_w L_S| at w_o,
w_o itself is a local minimum of L_transfer and the picture does not move at all. How
large that gradient is depends on the bundle (its G, its E_I), so the useful range of
lambda does too. This benchmark measures it on held-out pairs (NVlabs seed latents at
truncation 0.7, held-out music): |grad L_S| at each source, then for every lambda the
optimization's (--steps, the seed's schedule) mean pixel change from the source (0-255),
its distance in W+ and its L_S. The live default and the presets' lambdas should sit
where the pixel change is clear but the source still shows.
"""
from __future__ import annotations

import argparse

from live.cli.types import add_device, count, number, threads, use_threads
from live.transfer.config import MIN_OPTIMIZATION_STEPS

DEFAULT_LAMBDAS = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", default="default", help="bundle (name under models/ or a folder; default: default)")
    p.add_argument("--lambdas", type=number(0), nargs="+", default=list(DEFAULT_LAMBDAS),
                   help=f"the lambdas to optimize at (default {' '.join(f'{lam:g}' for lam in DEFAULT_LAMBDAS)})")
    p.add_argument("--pairs", type=count(1, 10_000), default=6,
                   help="held-out (source, music) pairs, optimized as one batch (default 6)")
    p.add_argument("--steps", type=count(MIN_OPTIMIZATION_STEPS), default=100,
                   help=f"optimization steps per lambda, at least {MIN_OPTIMIZATION_STEPS} (default 100)")
    p.add_argument("--data", default="../shared/data", help="shared data folder holding 4q/ (default ../shared/data)")
    p.add_argument("--threads", type=threads(), help="torch CPU threads (default: torch's, one per core)")
    add_device(p)


def main(args: argparse.Namespace) -> int:
    import torch

    from live.bench.report import report
    from live.bundle import Bundle
    from live.errors import UserError
    from live.imageio import to_uint8
    from live.transfer.embed import true_transfer_loss
    from live.transfer.optimize import OptimizeConfig, optimize_transfer
    from live.transfer.pairs import benchmark_pairs
    from live.transfer.refine import reference_loss_and_gradient

    if args.pairs < 1 or args.steps < MIN_OPTIMIZATION_STEPS or min(args.lambdas) < 0:
        raise UserError(f"--pairs must be >= 1, --steps >= {MIN_OPTIMIZATION_STEPS} and every lambda >= 0")
    use_threads(args.threads)
    bundle = Bundle.load(args.bundle, device=args.device)
    pairs = benchmark_pairs(bundle, args.data, args.pairs, [0.0])

    def render(ws: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.from_numpy(to_uint8(bundle.G.synthesis(ws, noise_mode="const"))).float()

    # lambda = 0: the gradient of L_transfer is that of L_S alone.
    kinks = torch.stack([reference_loss_and_gradient(bundle, pairs.w_source[i], pairs.w_source[i],
                                                     pairs.f_music[i], 0.0)[1].norm()
                         for i in range(len(pairs))])
    source_pixels = render(pairs.w_source)
    rows = []
    for lam in args.lambdas:
        w_m = optimize_transfer(bundle, pairs.w_source, pairs.f_music, lam, OptimizeConfig(steps=args.steps)).w_m
        with torch.no_grad():
            loss = true_transfer_loss(bundle, w_m, pairs.w_source, pairs.f_music, lam)
        rows.append({"lambda": lam, "pixel_change": float((render(w_m) - source_pixels).abs().mean()),
                     "w_distance": float(loss.origin.mean()), "L_S": float(loss.semantic.mean()),
                     "pinned_sources": int((kinks <= lam).sum())})
    columns = ["lambda", "pixel_change", "w_distance", "L_S", "pinned_sources"]
    report(f"Lambda sweep: {len(pairs)} held-out pairs, {args.steps}-step optimizations, bundle {args.bundle}",
           rows, columns, args.json, bundle.device, pairs=len(pairs), steps=args.steps,
           grad_L_S_at_source={"min": float(kinks.min()), "mean": float(kinks.mean()), "max": float(kinks.max())},
           source_L_S=float(true_transfer_loss(bundle, pairs.w_source, pairs.w_source, pairs.f_music, 0.0)
                            .semantic.mean()))
    return 0
