"""A bundle: everything one show needs, in one folder `models/NAME/`.

    bundle.toml                  names the files below and holds their configs
    generator.safetensors/.json  G (live checkpoint format, live.nets.checkpoints)
    space.safetensors            E_I, E_M, VA heads, similarity head (live.space.model)
    predictor.safetensors        the amortized transfer (live.nets.predictor)

bundle.toml:

    name = "default"
    description = "..."
    [generator]
    weights = "generator.safetensors"
    [space]                      # live.space.model.SpaceNetConfig
    weights = "space.safetensors"
    image_backbone = "resnet50"
    image_size = 128             # E_I sees images resized to this
    [space.mel]                  # live.audio.mel.MelWindow: the live engine uses the same
    sample_rate = 22050
    [predictor]                  # live.nets.predictor.PredictorConfig (num_ws, w_dim from G)
    weights = "predictor.safetensors"
    [predictor.trained_with]     # written by `train predictor`: the networks it learned through
    generator = "..."            # (weights_digest); a show warns when they are no longer these
    space = "..."
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from live.audio.mel import MelWindow
from live.errors import UserError, check_file_name, printable, some
from live.tables import from_table
from live.files import file_stamp, read_toml, write_whole
from live.models import BUNDLE_FILE, bundle_dir
from live.nets.checkpoints import load_generator, save_generator
from live.nets.digest import digest_weights
from live.nets.encoders import check_image_size
from live.nets.predictor import LatentPredictor, PredictorConfig
from live.nets.stylegan2 import Generator
from live.nets.weights import load_weights, save_weights
from live.tables import to_toml
from live.space.model import SpaceNet, SpaceNetConfig

SECTIONS = {"name", "description", "generator", "space", "predictor"}
DERIVED_PREDICTOR_KEYS = ("num_ws", "w_dim", "feature_dim")  # PredictorConfig's, set by G and the space
TRAINED_WITH = {"generator", "space"}


def weights_digest(module: torch.nn.Module) -> str:
    """A network's identity, as [predictor.trained_with] records it: its tensors' SHA-256 (16
    hex digits). Of the tensors, not the file: a generator saved again in float32 is the same
    network, and was taken for another (a few tenths of a second for the default bundle)."""
    digest = hashlib.sha256()
    digest_weights(digest, module)
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class BundleConfig:
    name: str
    description: str
    generator_weights: str
    space: SpaceNetConfig
    space_weights: str
    image_size: int
    predictor: dict[str, Any]       # PredictorConfig fields except num_ws and w_dim (G's)
    predictor_weights: str
    # {"generator": digest, "space": digest} of the networks the predictor was trained through;
    # empty where that is unknown (a bundle made before it was recorded, or never trained).
    trained_with: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> BundleConfig:
        data = read_toml(path)
        where = str(path)
        unknown = sorted(set(data) - SECTIONS)
        if unknown:
            raise UserError(f"{where}: unknown section(s) {unknown}; allowed: {sorted(SECTIONS)}")
        missing = sorted(SECTIONS - {"name", "description"} - set(data))
        if missing:
            raise UserError(f"{where}: missing section [{missing[0]}]")
        not_tables = [k for k in ("generator", "space", "predictor") if not isinstance(data[k], dict)]
        if not_tables:
            raise UserError(f"{where}: {not_tables[0]} must be a [{not_tables[0]}] table")
        gen, space, predictor = dict(data["generator"]), dict(data["space"]), dict(data["predictor"])
        # A table written before layer_heads existed (bundle versions <= 0.4) holds one output per group.
        predictor.setdefault("layer_heads", False)
        if set(gen) - {"weights"}:  # a misspelt weights key would quietly mean the default file
            unknown = some([printable(key) for key in sorted(set(gen) - {"weights"})])
            raise UserError(f"{where}: unknown [generator] keys {unknown}; "
                            "it holds only weights")
        weights = {"generator": gen.pop("weights", "generator.safetensors"),
                   "space": space.pop("weights", "space.safetensors"),
                   "predictor": predictor.pop("weights", "predictor.safetensors")}
        for section, file in weights.items():
            check_file_name(file, f"{where}: [{section}] weights")
        image_size = check_image_size(space.pop("image_size", 128), f"{where} [space]")
        trained_with = predictor.pop("trained_with", {})
        if (not isinstance(trained_with, dict) or set(trained_with) - TRAINED_WITH
                or not all(isinstance(v, str) for v in trained_with.values())):
            raise UserError(f"{where}: [predictor.trained_with] holds the networks' digests as strings under "
                            f"{sorted(TRAINED_WITH)}; delete it if unsure (train predictor writes it again)")
        if derived := sorted(set(predictor) & set(DERIVED_PREDICTOR_KEYS)):
            raise UserError(f"{where}: [predictor] {', '.join(derived)}: these come from the generator and the "
                            "space; remove them")
        # Checked here, not when the predictor is built: that comes after G and the space load.
        from_table(PredictorConfig, {**predictor, "num_ws": 1, "w_dim": 1}, f"{where} [predictor]")
        # Printed where the bundle's folder is not known: a path there would mislead.
        name = check_file_name(data.get("name", path.parent.name), f"{where}: name")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise UserError(f"{where}: description must be a string, got {type(description).__name__}")
        return cls(name=name, description=description,
                   generator_weights=weights["generator"], space=SpaceNetConfig.from_dict(space),
                   space_weights=weights["space"], image_size=image_size, predictor_weights=weights["predictor"],
                   predictor=predictor, trained_with=trained_with)

    def write(self, path: Path, header: str = "") -> None:
        """`header`: comment lines that go first (the notes a user wrote above the tables)."""
        space = {k: v for k, v in self.space.to_dict().items() if k != "mel"}
        text = to_toml({"name": self.name, "description": self.description,
                        "generator": {"weights": self.generator_weights},
                        "space": {"weights": self.space_weights, "image_size": self.image_size, **space,
                                  "mel": dataclasses.asdict(self.space.mel)},
                        "predictor": {"weights": self.predictor_weights, **self.predictor,
                                      **({"trained_with": self.trained_with} if self.trained_with else {})}})
        write_whole(path, (header + text).encode())


class Bundle:
    """The loaded networks of a bundle, frozen, on one device."""

    def __init__(self, config: BundleConfig, G: Generator, space: SpaceNet, predictor: LatentPredictor,
                 root: Path | None = None):
        self.config, self.G, self.space, self.predictor, self.root = config, G, space, predictor, root
        self.as_read: Stamps = ()  # its files' stamps when `load` read them (none: made in memory)
        self._music_encoders: dict[torch.dtype, torch.nn.Module] = {}  # E_M in other precisions (frozen)
        # NHWC is oneDNN's native layout: the same float32 numbers, the encoders twice as
        # fast on a CPU (music encoder 26 -> 13 ms a window here).
        space.to(memory_format=torch.channels_last)

    @property
    def mel(self) -> MelWindow:
        return self.config.space.mel

    @property
    def device(self) -> torch.device:
        return self.G.mapping.w_avg.device

    @property
    def label(self) -> str:
        """The bundle's folder name, what commands name it by: copies of a bundle share bundle.toml's `name`."""
        return self.root.name if self.root is not None else self.config.name

    def network_digests(self) -> dict[str, str]:
        """The digests of its generator and space, as loaded."""
        return {"generator": weights_digest(self.G), "space": weights_digest(self.space)}

    def predictor_note(self) -> str | None:
        """What to say, before it plays, of a bundle whose predictor was never trained, or was
        trained through a generator or space the bundle no longer holds (a space exported into
        it since, a generator file swapped): its moves then aim where the old networks led."""
        if self.predictor.is_identity():
            return (f"bundle {self.root}: its predictor is untrained (w_m = w_o), so pictures move only by refinement "
                    "steps (none in shows and renders by default: the picture stays at each preset's source); train "
                    f"it with: python -m live train predictor --bundle {shlex.quote(str(self.root))}")
        if self.root is None or not self.config.trained_with:
            return None
        now = self.network_digests()
        changed = [k for k, v in self.config.trained_with.items() if now[k] != v]
        if not changed:
            return None
        return (f"bundle {self.root}: its predictor was trained through another {' and '.join(changed)} than the "
                f"bundle now holds, so its pictures follow the music less well; {retrain_advice(self.root)}")

    @classmethod
    def load(cls, name: str | Path, device: str | torch.device = "cpu") -> Bundle:
        root = bundle_dir(name)
        config = BundleConfig.read(root / BUNDLE_FILE)
        for file in (config.generator_weights, config.space_weights, config.predictor_weights):
            if not (root / file).is_file():
                raise UserError(f"bundle {root}: {file} is missing; restore it, or make the bundle again "
                                "(python -m live bundle new)")
        as_read = bundle_stamps(root, config)  # before the weights' seconds: a write meanwhile differs
        G, _ = load_generator(root / config.generator_weights, device=device)
        space = SpaceNet.load(config.space, root / config.space_weights, config.image_size)
        predictor = _load_predictor(predictor_config(config, G), root / config.predictor_weights)
        bundle = cls(config, G, space.to(device).eval().requires_grad_(False),
                     predictor.to(device).eval().requires_grad_(False), root)
        bundle.as_read = as_read
        return bundle

    def save(self, root: str | Path) -> Path:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        # float16 halves the file; a generator holding weights past its range keeps float32.
        half = torch.finfo(torch.float16).max
        fits = all(t.abs().max() <= half for t in self.G.state_dict().values() if t.is_floating_point() and t.numel())
        save_generator(self.G, root / self.config.generator_weights, torch.float16 if fits else torch.float32)
        self.space.save(root / self.config.space_weights, self.config.image_size)
        save_weights(self.predictor, root / self.config.predictor_weights)
        self.write_config(root)
        return root

    def write_config(self, root: Path) -> None:
        # The table records the predictor's whole config, so later defaults cannot reinterpret it.
        dataclasses.replace(self.config, predictor=predictor_table(self.predictor.cfg)).write(root / BUNDLE_FILE)

    def write_predictor_table(self, trained_with: dict[str, str]) -> None:
        """Record the predictor's config, and the networks it was trained through, in the
        bundle.toml on disk, the rest as it is there now: a training run rewrote the copy it
        read hours before, undoing a space exported meanwhile (the bundle then refused to load)
        or an edit. Comments above the first table or key stay; those among the tables do not."""
        path = self.root / BUNDLE_FILE
        on_disk = BundleConfig.read(path)
        lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
        header = "".join(itertools.takewhile(lambda line: line.lstrip().startswith("#") or not line.strip(), lines))
        dataclasses.replace(on_disk, predictor=predictor_table(self.predictor.cfg),
                            trained_with=trained_with).write(path, header)

    # --- the bundle's view of its networks, as the stages use them --------------------
    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """G's images [N, 3, R, R] in [-1, 1] -> f_I [N, feature_dim], at the encoder's size."""
        size = self.config.image_size
        if images.shape[-1] != size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                                   antialias=images.shape[-1] > size)
        return self.space.image_encoder(images.contiguous(memory_format=torch.channels_last))

    def music_features(self, log_mel: torch.Tensor,
                       dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """log-mel [N, n_mels, frames] or [N, 1, n_mels, frames] -> (f_M, VA in [0, 1]^2), both
        float32. `dtype` runs E_M in that precision: a copy of its weights, made on first use and
        kept (autocast would cast the weights again at every call)."""
        encoder = self.space.music_encoder
        if dtype is not None and dtype != next(encoder.parameters()).dtype:
            if dtype not in self._music_encoders:
                self._music_encoders[dtype] = copy.deepcopy(encoder).to(dtype)
            encoder = self._music_encoders[dtype]
        if log_mel.ndim == 3:
            log_mel = log_mel.unsqueeze(1)
        f_m = encoder(log_mel.to(dtype or log_mel.dtype).contiguous(memory_format=torch.channels_last)).float()
        return f_m, self.space.music_va(f_m)


def _load_predictor(cfg: PredictorConfig, path: Path) -> LatentPredictor:
    try:
        return load_weights(lambda: LatentPredictor(cfg), path)
    except UserError as error:
        # `train predictor --layer-heads` writes the grown weights a moment before bundle.toml
        # says so: after a kill between the two, they disagree about the heads alone, and
        # heads at zero change nothing.
        try:
            flipped = dataclasses.replace(cfg, layer_heads=not cfg.layer_heads)
            other = load_weights(lambda: LatentPredictor(flipped), path)
        except UserError:
            raise error from None
        return other.with_layer_heads() if cfg.layer_heads else other


Stamps = tuple[tuple[int, int] | None, ...]


def bundle_stamps(root: Path, config: BundleConfig) -> Stamps:
    """The stamps of the files a bundle is read from: remade (`bundle new --force`) or retrained
    (`train predictor`) since, they hold other networks."""
    return tuple(file_stamp(root / name) for name in (BUNDLE_FILE, config.generator_weights, config.space_weights,
                                                      config.predictor_weights))


def retrain_advice(folder: Path) -> str:
    return (f"train it again in a new run folder: python -m live train predictor --bundle {shlex.quote(str(folder))} "
            "--from-bundle --outdir NEW")


def predictor_config(config: BundleConfig, G: Generator) -> PredictorConfig:
    return PredictorConfig(**{**config.predictor, "num_ws": G.num_ws, "w_dim": G.w_dim,
                              "feature_dim": config.space.feature_dim})


def predictor_table(cfg: PredictorConfig) -> dict[str, Any]:
    """`cfg` as bundle.toml's [predictor] records it: every field but those G and the space set.

    Every one, defaults included: a trained predictor reads lambda as a position in its
    training range, so a later change of the code's defaults must not change what the
    inputs of a stored bundle's predictor mean.
    """
    return {k: v for k, v in cfg.to_dict().items() if k not in DERIVED_PREDICTOR_KEYS}


def random_bundle(G: Generator | None = None, space: SpaceNetConfig | None = None, mel: MelWindow | None = None,
                  image_size: int = 64, seed: int = 0, name: str = "random") -> Bundle:
    """A bundle of randomly initialized networks (the tests' stand-in for a trained one).

    Small by default: a 64 px generator and a ResNet18 image encoder.
    """
    torch.manual_seed(seed)
    if G is None:
        G = Generator(z_dim=64, c_dim=0, w_dim=64, img_resolution=64, img_channels=3,
                      mapping_kwargs={"num_layers": 2},
                      synthesis_kwargs={"channel_base": 1024, "channel_max": 128})
    space = space or SpaceNetConfig(image_backbone="resnet18", mel=mel or MelWindow())
    config = BundleConfig(name=name, description="randomly initialized networks", generator_weights="generator.safetensors",
                          space=space, space_weights="space.safetensors", image_size=image_size,
                          predictor={"hidden": 128, "layers": 2}, predictor_weights="predictor.safetensors")
    space_net = SpaceNet(space)  # before the predictor: the space's draw does not depend on the predictor's size
    predictor = LatentPredictor(predictor_config(config, G))
    return Bundle(config, G.eval().requires_grad_(False), space_net.eval().requires_grad_(False),
                  predictor.eval().requires_grad_(False))
