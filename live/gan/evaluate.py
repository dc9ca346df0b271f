"""How close a generator's pictures come to the corpus it learns from: `python -m live eval gan`.

Three measures, each also taken between two disjoint sets of corpus images, which is
the floor a perfect generator would reach with this many samples:

- Frechet distance of image features. There is no Inception network here (nothing is
  downloaded), so the features are a space's f_I (E_I, trained on rated photos and the
  corpus): the number is comparable between generators scored with the same space, not
  with published FIDs.
- Colour: 1-D Wasserstein distance between the distributions of per-image mean CIELAB
  lightness, chroma, HSV brightness and saturation (the quantities the emotion edits move).
- Fine detail: mean |Laplacian| of luma, generator over corpus. Speckle (a generator
  painting its finest layers from per-pixel noise) shows as a ratio far above 1, washes
  as one far below.

The corpus images come from a seed no generator trains on (the held-out seed of the
synthetic corpora), or, for a generator trained on a folder of pictures, from that folder
(`pictures`): draws of the pictures it learned from, as NVlabs' FID is taken against the
training set.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import scipy.stats
import torch
import torch.nn.functional as F

from live.corpus.color import color_stats
from live.corpus.procedural import MIN_CORPUS_RESOLUTION, ProceduralConfig, ProceduralImages
from live.errors import UserError, note
from live.gan.config import GanEvalConfig
from live.gan.data import FolderImages
from live.nets.checkpoints import check_truncation
from live.nets.stylegan2 import Generator, to_unit
from live.space.probe import SpaceProbe
from live.space.sources import HELDOUT_SEED

COLOUR_STATS = ("lightness", "chroma", "brightness", "saturation")
LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two samples [N, D].

    tr((S_a S_b)^(1/2)) is the sum of the square roots of S_a S_b's eigenvalues, which are
    real and >= 0 for two covariances; unlike a matrix square root, this stays well
    conditioned when a covariance is singular (N <= D).
    """
    assert a.ndim == b.ndim == 2 and a.shape[1] == b.shape[1], (a.shape, b.shape)
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu = a.mean(axis=0) - b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_trace = np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0, None)).sum()
    return float(mu @ mu + np.trace(cov_a) + np.trace(cov_b) - 2 * root_trace)


def fine_energy(images: torch.Tensor) -> torch.Tensor:
    """Mean |Laplacian| of luma per image: images [N, 3, H, W] in [0, 1] -> [N]."""
    luma = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1).to(images)).sum(dim=1, keepdim=True)
    return F.conv2d(luma, LAPLACIAN.view(1, 1, 3, 3).to(images)).abs().mean(dim=(1, 2, 3))


@dataclass
class _Set:
    features: np.ndarray
    colour: dict[str, np.ndarray]
    fine: np.ndarray


def _describe(batches: Iterable[torch.Tensor], probe: SpaceProbe) -> _Set:
    """Pictures [n, 3, H, W] in [0, 1], a batch at a time: every measure is per picture, and
    a set held whole (with its float32 copies) took 40-55 GB at 512 px and 1024 pictures."""
    parts = []
    for images in batches:
        assert images.min() >= 0 and images.max() <= 1, "expected pictures in [0, 1]"
        features, _ = probe.images(images)
        stats = color_stats(images)
        parts.append(_Set(features.numpy(), {name: getattr(stats, name).numpy() for name in COLOUR_STATS},
                          fine_energy(images).numpy()))
    return _Set(np.concatenate([p.features for p in parts]),
                {name: np.concatenate([p.colour[name] for p in parts]) for name in COLOUR_STATS},
                np.concatenate([p.fine for p in parts]))


def _compare(x: _Set, y: _Set) -> dict[str, object]:
    return {"frechet_f_I": frechet_distance(x.features, y.features),
            "colour_wasserstein": {name: float(scipy.stats.wasserstein_distance(x.colour[name], y.colour[name]))
                                   for name in COLOUR_STATS},
            # None where the reference has no fine detail (flat pictures): no ratio to it (review 64).
            "fine_energy_ratio": float(x.fine.mean() / y.fine.mean()) if y.fine.mean() > 0 else None}


def generator_images(G: Generator, config: GanEvalConfig) -> Iterator[torch.Tensor]:
    """config.count pictures in batches [n, 3, H, W] in [0, 1], noise const."""
    z = torch.randn(config.count, G.z_dim, generator=torch.Generator().manual_seed(config.seed))
    device = next(G.parameters()).device
    for chunk in z.split(config.batch):
        with torch.no_grad():
            images = G(chunk.to(device), truncation_psi=config.truncation, noise_mode="const").float().cpu()
        yield to_unit(images)


def check_scorable(G: Generator, truncation: float, procedural: bool = True) -> None:
    """One line for a generator eval gan cannot score, before anything else loads."""
    if G.c_dim:
        raise UserError(f"this is a conditional generator (c_dim {G.c_dim}); eval gan scores unconditional "
                        "ones against pictures without classes")
    if G.img_channels != 3:
        raise UserError(f"this generator draws {G.img_channels}-channel pictures; eval gan scores RGB ones")
    if procedural and G.img_resolution < MIN_CORPUS_RESOLUTION:
        raise UserError(f"this generator draws {G.img_resolution} px pictures; eval gan compares them with the "
                        f"procedural corpus, painted at {MIN_CORPUS_RESOLUTION} px or more")
    check_truncation(G, truncation)


def evaluate_generator(G: Generator, probe: SpaceProbe, config: GanEvalConfig,
                       pictures: FolderImages | None = None) -> dict[str, object]:
    """The report: the generator against corpus set A, and corpus set B against A (the floor).
    `pictures`: the folder the generator learned from (drawn unmirrored, at its resolution),
    else the held-out procedural corpus."""
    check_scorable(G, config.truncation, procedural=pictures is None)
    if pictures is None:
        corpus = ProceduralImages(ProceduralConfig(resolution=G.img_resolution, seed=HELDOUT_SEED))
        draw, named = corpus.batch, f"the procedural corpus (held-out seed {HELDOUT_SEED})"
    else:
        assert pictures.resolution == G.img_resolution and not pictures.mirror
        # Two disjoint sets of the folder: drawn with replacement, a folder of fewer than twice
        # --count pictures shared most of them, and the floor fell toward 0 (found by review).
        held = len(pictures.paths)
        if held < 4:
            raise UserError(f"{pictures.root} holds {held} pictures; eval gan compares two sets of them, of 2 or more")
        if 2 * config.count > held:
            note("eval", f"{pictures.root} holds {held} pictures: the generator and two disjoint sets of the folder "
                         f"are compared at {held // 2} pictures each, not --count {config.count}")
            config = replace(config, count=held // 2)
        order = np.random.default_rng(config.seed).permutation(held)
        draw, named = (lambda n, start: pictures.at(order[start:start + n], start)), f"pictures of {pictures.root}"

    def corpus_set(index0: int) -> _Set:
        starts = range(index0, index0 + config.count, config.batch)
        # Both sources paint in [-1, 1].
        return _describe((to_unit(draw(min(config.batch, index0 + config.count - start), start))
                          for start in starts), probe)

    reference, other = corpus_set(0), corpus_set(config.count)
    generated = _describe(generator_images(G, config), probe)
    return {
        "reference": named,
        "count": config.count, "resolution": G.img_resolution, "truncation": config.truncation,
        "generator": _compare(generated, reference),
        "corpus_floor": _compare(other, reference),
        "means": {name: {"generator": float(generated.colour[name].mean()),
                         "corpus": float(reference.colour[name].mean())} for name in COLOUR_STATS},
    }


def format_report(report: dict[str, object]) -> str:
    lines = [f"against {report['reference']}", f"{'measure':<28}{'generator':>12}{'corpus floor':>14}"]
    g, floor = report["generator"], report["corpus_floor"]
    lines.append(f"{'Frechet distance (f_I)':<28}{g['frechet_f_I']:>12.4f}{floor['frechet_f_I']:>14.4f}")
    for name in COLOUR_STATS:
        lines.append(f"{'W1 ' + name:<28}{g['colour_wasserstein'][name]:>12.3f}"
                     f"{floor['colour_wasserstein'][name]:>14.3f}")
    ratios = [f"{r:.2f}" if r is not None else "n/a" for r in (g["fine_energy_ratio"], floor["fine_energy_ratio"])]
    lines.append(f"{'fine-detail energy ratio':<28}{ratios[0]:>12}{ratios[1]:>14}")
    for name, m in report["means"].items():
        lines.append(f"mean {name:<23}{m['generator']:>12.3f}{m['corpus']:>14.3f}")
    return "\n".join(lines)
