"""Finding, loading and exporting a trained space (E_I, E_M and their heads) on its own.

Evaluation and the `va` probe need only the space, not G or the predictor, so they read
it from either kind of folder:
- a bundle (bundle.toml; its [space] section names the weights and the config);
- a training run or a space-only export (space.toml: the same [space] and [space.mel]
  sections that bundle.toml has, so the text can be pasted into a bundle.toml).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from live.bundle import BundleConfig, retrain_advice
from live.models import BUNDLE_FILE, bundle_dir
from live.nets.device import checked_device
from live.errors import UserError, check_file_name
from live.files import SPACE_STATE, read_toml, write_whole
from live.nets.encoders import check_image_size
from live.tables import to_toml
from live.space.model import SpaceNet, SpaceNetConfig

SPACE_FILE = "space.toml"
WEIGHTS_FILE = "space.safetensors"


@dataclass(frozen=True)
class SpaceSpec:
    config: SpaceNetConfig
    image_size: int                 # E_I's input side
    weights: str = WEIGHTS_FILE     # file name, relative to the folder

    @classmethod
    def read(cls, folder: Path) -> SpaceSpec:
        """From `folder`/space.toml, else from the bundle `folder` names (a path or a name)."""
        space_file = Path(folder) / SPACE_FILE
        if space_file.is_file():
            table = read_toml(space_file).get("space")
            if table is None:
                raise UserError(f"{space_file} has no [space] section")
            if not isinstance(table, dict):
                raise UserError(f"{space_file}: space must be a [space] table")
            table = dict(table)
            weights = table.pop("weights", WEIGHTS_FILE)
            image_size = check_image_size(table.pop("image_size", 128), str(space_file))
            check_file_name(weights, f"{space_file}: weights")
            return cls(SpaceNetConfig.from_dict(table), image_size, weights)
        bundle = BundleConfig.read(bundle_dir(folder) / BUNDLE_FILE)
        return cls(bundle.space, bundle.image_size, bundle.space_weights)

    def write(self, folder: Path) -> Path:
        net = self.config.to_dict()
        mel = net.pop("mel")
        path = Path(folder) / SPACE_FILE
        write_whole(path, to_toml({"space": {"weights": self.weights, "image_size": self.image_size, **net,
                                           "mel": mel}}).encode())
        return path


def space_folder(name: str | Path) -> Path:
    """A folder with space.toml, or a bundle by path or name; a `train space` run that has
    not finished (no space written yet) is named as one."""
    path = Path(name)
    if (path / SPACE_FILE).is_file():
        return path
    if (path / SPACE_STATE).is_file() and not (path / BUNDLE_FILE).is_file():
        raise UserError(f"{path} is a `train space` run that has not reached its last step: its space is written "
                        "then (run its command again without --stop-at to finish it)")
    return bundle_dir(name)


def load_space(name: str | Path, device: str | torch.device = "cpu") -> tuple[SpaceNet, SpaceSpec]:
    """The space of a bundle or run folder, in eval mode without gradients."""
    folder = space_folder(name)
    spec = SpaceSpec.read(folder)
    target = checked_device(device)
    net = SpaceNet.load(spec.config, folder / spec.weights, spec.image_size).to(target)
    return net.eval().requires_grad_(False), spec


def check_export(config: SpaceNetConfig, folder: Path) -> BundleConfig | None:
    """The bundle in `folder` that a space of `config` can be exported into (None: no bundle
    there). Checked before training, and again before writing: a bundle.toml that cannot be
    read must stop the export before new weights sit beside old settings, and a space of
    another width would leave the bundle's predictor, which reads f_M, unable to load."""
    bundle_file = Path(folder) / BUNDLE_FILE
    if not bundle_file.is_file():
        return None
    bundle = BundleConfig.read(bundle_file)
    if bundle.space.feature_dim != config.feature_dim:
        raise UserError(f"--export {folder}: its predictor reads {bundle.space.feature_dim}-wide features, this space "
                        f"makes {config.feature_dim}; export into a new folder and make a bundle of it "
                        "(bundle new), or keep net.feature_dim")
    return bundle


def export_space(net: SpaceNet, spec: SpaceSpec, folder: Path) -> str:
    """Write the weights (fp16) into `folder`; point its bundle.toml's [space] at them, keeping
    the other sections, or, without a bundle.toml, write space.toml. Returns what was done."""
    assert net.config == spec.config, (net.config, spec.config)
    folder = Path(folder)
    bundle_file = folder / BUNDLE_FILE
    bundle = check_export(spec.config, folder)
    net.save(folder / spec.weights, spec.image_size)
    if bundle is not None:
        replace(bundle, space=spec.config, space_weights=spec.weights, image_size=spec.image_size).write(bundle_file)
        return (f"wrote {folder / spec.weights} and updated [space] of {bundle_file}; a predictor trained before "
                f"learned through the space it replaces: {retrain_advice(folder)}")
    path = spec.write(folder)
    return (f"wrote {folder / spec.weights} and {path}; {folder} has no {BUNDLE_FILE}: "
            f"paste {path.name}'s sections into one next to a generator and predictor")
