"""Held-out evaluation of a trained space: `python -m live eval space`.

Only the held-out side is read: split.py's hash split of every real data set, and the
synthetic corpora of seed sources.HELDOUT_SEED, which training refuses. Per data set:
VA MSE, Pearson r and CCC per dimension (metrics.py); for music, the sign accuracy of
each dimension and, where the data set labels quadrants, quadrant accuracy; then
image-from-music retrieval recall@10 by VA for every music set against every image set.
A clip's prediction is the mean over its windows (probe.py).

The issue's targets are checked at the end; every number is reported, met or not.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from live.errors import UserError
from live.files import strict
from live.space.cache import ArrayCache
from live.space.data.color_emotion import valdez_mehrabian_va
from live.space.data.split import DEFAULT_TEST_FRACTION
from live.space.data.records import LabelledClip, LabelledImage
from live.space.inputs import square_image
from live.space.load import SpaceSpec
from live.space.metrics import quadrant_accuracy, recall_at_k, regression_report, sign_accuracy
from live.space.model import SpaceNet
from live.space.pools import clip_log_mel
from live.space.probe import SpaceProbe
from live.space.sources import DataConfig, read_sources

RECALL_K = 10


@dataclass(frozen=True)
class Target:
    name: str
    path: tuple[str, ...]  # keys into the report
    threshold: float


TARGETS = (
    Target("4Q quadrant accuracy", ("music", "4q", "quadrant_accuracy"), 0.55),
    Target("4Q arousal-sign accuracy", ("music", "4q", "arousal_sign_accuracy"), 0.80),
    Target("4Q valence-sign accuracy", ("music", "4q", "valence_sign_accuracy"), 0.65),
    Target("OASIS valence Pearson r", ("images", "oasis", "pearson", "valence"), 0.40),
    Target("OASIS arousal Pearson r", ("images", "oasis", "pearson", "arousal"), 0.30),
)


@dataclass
class _Encoded:
    features: np.ndarray  # [N, F]
    predicted: np.ndarray  # [N, 2]
    labels: np.ndarray  # [N, 2]


def _encode_images(probe: SpaceProbe, records: list[LabelledImage]) -> _Encoded:
    size = probe.spec.image_size
    pixels = torch.stack([square_image(r.load(), size) for r in records])
    features, va = probe.images(pixels)
    labels = np.array([(r.valence, r.arousal) for r in records])
    return _Encoded(features.numpy(), va.numpy(), labels)


def _encode_colour_images(probe: SpaceProbe, batches: Iterable[torch.Tensor]) -> _Encoded:
    """Colour-rule images, labelled on the pixels the encoder sees (resized to its size)."""
    pixels = torch.cat([square_image(batch, probe.spec.image_size) for batch in batches])
    features, va = probe.images(pixels)
    return _Encoded(features.numpy(), va.numpy(), valdez_mehrabian_va(pixels).numpy())


def _encode_clips(probe: SpaceProbe, records: list[LabelledClip], cache: ArrayCache, progress: bool,
                  name: str) -> _Encoded:
    features, predicted = [], []
    for record in tqdm(records, desc=f"eval {name}", disable=not progress, leave=False):
        f, va = probe.spectrogram(clip_log_mel(record, probe.spec.config.mel, cache))
        features.append(f.numpy())
        predicted.append(va.numpy())
    labels = np.array([(r.valence, r.arousal) for r in records])
    return _Encoded(np.stack(features), np.stack(predicted), labels)


def _music_report(encoded: _Encoded, records: list[LabelledClip]) -> dict[str, object]:
    report: dict[str, object] = {"count": len(records), **regression_report(encoded.predicted, encoded.labels)}
    report["valence_sign_accuracy"] = sign_accuracy(encoded.predicted[:, 0], encoded.labels[:, 0])
    report["arousal_sign_accuracy"] = sign_accuracy(encoded.predicted[:, 1], encoded.labels[:, 1])
    quadrants = [r.quadrant for r in records]
    if all(q is not None for q in quadrants):
        report["quadrant_accuracy"] = quadrant_accuracy(encoded.predicted, np.array(quadrants))
    return report


def evaluate_space(net: SpaceNet, spec: SpaceSpec, data: DataConfig, cache: ArrayCache,
                   progress: bool = True) -> dict[str, object]:
    """The held-out report (plain JSON-ready values)."""
    sources = read_sources(data, spec.config.mel.sample_rate, held_out=True)
    probe = SpaceProbe(net, spec)
    images: dict[str, _Encoded] = {name: _encode_images(probe, records)
                                   for name, records in sources.images.items() if records}
    images.update({name: _encode_colour_images(probe, corpus.batches())
                   for name, corpus in sources.colour_images.items()})
    music = {name: _encode_clips(probe, records, cache, progress, name)
             for name, records in sources.music.items() if records}
    report: dict[str, object] = {
        "images": {name: {"count": len(e.labels), **regression_report(e.predicted, e.labels)}
                   for name, e in images.items()},
        "music": {name: _music_report(e, sources.music[name]) for name, e in music.items()},
        "retrieval": {f"{m}->{i}": {f"recall@{RECALL_K}": recall_at_k(me.features, ie.features, me.labels,
                                                                      ie.labels, RECALL_K),
                                    "chance": min(RECALL_K, len(ie.labels)) / len(ie.labels)}
                      for m, me in music.items() for i, ie in images.items()},
    }
    report["targets"] = [_check(target, report) for target in TARGETS]
    return strict(report)  # a correlation of a constant is NaN: null in the report


def _check(target: Target, report: dict[str, object]) -> dict[str, object]:
    value: object = report
    for key in target.path:
        value = value.get(key) if isinstance(value, dict) else None
    # A set not evaluated (no 4q/ under --data) measured nothing: not met, not missed either
    # (a NaN was measured, and misses).
    measured = float(value) if isinstance(value, (int, float)) else None
    return {"name": target.name, "value": measured, "target": target.threshold,
            "met": None if measured is None else bool(measured >= target.threshold)}


def format_report(report: dict[str, object]) -> str:
    """A plain-text table of the report."""
    lines = [f"{'set':<22}{'n':>5}  {'MSE v/a':>13}  {'Pearson v/a':>13}  {'CCC v/a':>13}  "
             f"{'quad':>5}  {'v-sign':>6}  {'a-sign':>6}"]

    def number(value: float | None) -> str:
        return f"{value:6.3f}" if value is not None else f"{'-':>6}"

    def pair(table: dict[str, float | None]) -> str:
        return f"{number(table['valence'])}/{number(table['arousal'])}"

    def share(value: object, width: int = 6) -> str:
        return f"{value:{width}.1%}" if isinstance(value, float) else f"{'':>{width}}"

    for kind in ("images", "music"):
        for name, row in report[kind].items():
            lines.append(f"{kind[0]}:{name:<20}{row['count']:>5}  {pair(row['mse'])}  {pair(row['pearson'])}  "
                         f"{pair(row['ccc'])}  {share(row.get('quadrant_accuracy'), 5)}  "
                         f"{share(row.get('valence_sign_accuracy'))}  {share(row.get('arousal_sign_accuracy'))}")
    lines.append("")
    lines.append(f"{'retrieval (image from music)':<32}{'recall@' + str(RECALL_K):>10}{'chance':>9}")
    for name, row in report["retrieval"].items():
        lines.append(f"{name:<32}{row[f'recall@{RECALL_K}']:>10.3f}{row['chance']:>9.3f}")
    lines.append("")
    for target in report["targets"]:
        said = {True: "met ", False: "MISS", None: "n/a "}[target["met"]]
        lines.append(f"{said}  {target['name']:<28} {number(target['value'])} "
                     f"(target >= {target['target']:.2f})")
    return "\n".join(lines)


def evaluation_data(root: Path, midi_renders: Path, test_fraction: float = DEFAULT_TEST_FRACTION) -> DataConfig:
    """The held-out data under `root` (the share `test_fraction` of each set); the MIDI sets
    only where their renderings exist."""
    return DataConfig(root=str(root), midi_renders=str(midi_renders), test_fraction=test_fraction,
                      oasis=(root / "oasis").is_dir(), fourq=(root / "4q").is_dir(),
                      emopia=(midi_renders / "emopia").is_dir(), vgmidi=(midi_renders / "vgmidi").is_dir())


def _run_config(folder: Path):
    """A `train space` run folder's config.toml, read; None for a bundle."""
    from live.space.config import SpaceTrainConfig
    from live.space.train import CONFIG_FILE

    run_config = Path(folder) / CONFIG_FILE
    return SpaceTrainConfig.read(run_config) if run_config.is_file() else None


def run_cache(folder: Path) -> str | None:
    """The spectrogram cache a `train space` run folder's config names (None for a bundle)."""
    config = _run_config(folder)
    return config.cache if config is not None else None


def held_out_fraction(folder: Path) -> float:
    """The share a `train space` run folder held out (its config.toml's data.test_fraction),
    or the default for a bundle, which does not record it; refused if the run held out nothing."""
    config = _run_config(folder)
    if config is None:
        return DEFAULT_TEST_FRACTION
    fraction = config.data.test_fraction
    if fraction == 0:
        raise UserError(f"{folder} was trained with data.test_fraction 0, on every item: none is held out "
                        "to evaluate it on")
    return fraction
