"""Presets: TOML files naming a bundle, a source picture, starting settings and a CC map.

    description = "warm embers"     # the preset's name is its file's: ember.toml is "ember"
    bundle = "default"             # a folder under models/, or a path (relative to the preset)

    [source]                       # exactly one of seed / w / image
    seed = 7                       # z = RandomState(seed).randn(1, z_dim), as NVlabs' scripts
    truncation = 0.7               # for seed sources (a w or image source is used as it is)
    # w = "ember.npy"              # a saved latent, [w_dim] or [num_ws, w_dim], relative to the preset
    # image = "photo.jpg"          # projected into W when a show, render or `preset new` first opens it (cached)

    [settings]                     # starting values of live parameters (live.settings.PARAMS)
    lambda = 0.03

    [[cc]]                         # control-change bindings (live.control.ccmap)
    channel = 1
    controller = 1
    param = "lambda"

Everything is checked when the file loads; a mistake is one line naming file and field.
"""
from __future__ import annotations

import shlex
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.control.ccmap import CcMap
from live.errors import UserError
from live.files import dangling_link, is_file, is_folder, real_path, shipped
from live.imageio import check_picture
from live.models import BUNDLE_FILE, SHIPPED_BUNDLE, bundle_dir, latent_shape
from live.settings import Settings

# "name" is read and ignored: presets of earlier versions carry one, and a copied file
# (cp ember.toml mine.toml) would otherwise show and switch under the other file's name.
PRESET_KEYS = {"name", "description", "bundle", "source", "settings", "cc"}
SOURCE_KEYS = {"seed", "truncation", "w", "image"}
NPY_MAGIC = b"\x93NUMPY"
LATENT_MAX = 1e4  # |w| above this is no StyleGAN latent
DEFAULT_PRESET = "default"


def default_presets_dir() -> Path:
    return shipped("presets")


@dataclass(frozen=True)
class PresetSource:
    seed: int | None = None
    truncation: float = 0.7
    w: Path | None = None
    image: Path | None = None

    def describe(self) -> str:
        if self.seed is not None:
            return f"seed {self.seed} (truncation {self.truncation})"
        return f"latent {self.w}" if self.w is not None else f"image {self.image}"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    bundle: str
    source: PresetSource
    settings: Settings
    cc: CcMap
    path: Path

    def bundle_folder(self) -> Path:
        """Its bundle's folder; a UserError names every place looked in, its own folder first."""
        return bundle_dir(self.bundle, relative_to=self.path.parent)


def read_latent(path: str | Path) -> np.ndarray:
    """A saved latent's values (.npy), checked to be real, finite numbers; any shape."""
    try:
        with open(path, "rb") as file:
            magic = file.read(len(NPY_MAGIC))
    except OSError as e:
        raise UserError(f"cannot read latent {path}: {e.strerror or e}") from None
    if magic != NPY_MAGIC:  # numpy's own answer is about unpickling, which is not the remedy
        raise UserError(f"latent {path} is not a .npy file; save one with numpy.save")
    try:
        w = np.load(path, allow_pickle=False)
    except (OSError, ValueError, MemoryError) as e:  # MemoryError: a header claiming terabytes
        raise UserError(f"cannot read latent {path}: {e}; save one with numpy.save") from None
    if w.dtype.kind not in "fiu":
        raise UserError(f"latent {path} holds {w.dtype} values; save real numbers (float32) with numpy.save")
    if not np.isfinite(w).all():
        raise UserError(f"latent {path} holds NaN or infinite values; save finite numbers")
    if w.size and np.abs(w).max() > LATENT_MAX:  # beyond float32 (used so), or far outside any W: a black picture
        raise UserError(f"latent {path} holds values up to {np.abs(w).max():.3g}, far outside a StyleGAN W "
                        "(values of a few units); save the latent itself")
    return w


def fitted_latent(w: np.ndarray, num_ws: int, w_dim: int, path: str | Path, generator: str) -> np.ndarray:
    """A saved latent as [num_ws, w_dim]: [w_dim] goes to every layer; any other shape is a
    UserError naming `generator`."""
    w = np.squeeze(w)
    if w.shape == (w_dim,):
        w = np.broadcast_to(w, (num_ws, w_dim))
    if w.shape != (num_ws, w_dim):
        raise UserError(f"latent {path} has shape {w.shape}; {generator} needs [{num_ws}, {w_dim}] or [{w_dim}]")
    return w


def _source(table: object, where: str, base: Path, files: bool = True) -> PresetSource:
    """The [source] table; with `files`, its w or image file checked to be there (a latent's
    values read too)."""
    if not isinstance(table, dict):
        raise UserError(f"{where}: [source] must be a table with one of seed, w, image")
    unknown = set(table) - SOURCE_KEYS
    if unknown:
        raise UserError(f"{where}: unknown [source] key(s) {', '.join(sorted(unknown))}; use seed, w or image")
    kinds = [k for k in ("seed", "w", "image") if k in table]
    if len(kinds) != 1:
        raise UserError(f"{where}: [source] needs exactly one of seed, w, image (found {kinds or 'none'})")
    truncation = table.get("truncation", PresetSource.truncation)
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)) or not 0 <= truncation <= 2:
        raise UserError(f"{where}: source truncation must be a number in 0..2, got {truncation!r}")
    if "seed" in table:
        seed = table["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
            raise UserError(f"{where}: source seed must be a whole number in 0..2^32-1, got {seed!r}")
        return PresetSource(seed=seed, truncation=float(truncation))
    kind = kinds[0]
    if not isinstance(table[kind], str) or "\0" in table[kind]:
        raise UserError(f"{where}: source {kind} must be a file path string (with no NUL character)")
    path = real_path(base / table[kind])
    if not files:
        return PresetSource(truncation=float(truncation), **{kind: path})
    if not is_file(path):
        raise UserError(f"{where}: source {kind} file {path} {'is a folder' if is_folder(path) else 'does not exist'}")
    if kind == "w":  # its values now (a switch is refused in the reply); its shape needs the generator
        read_latent(path)
    return PresetSource(truncation=float(truncation), **{kind: path})


def load_preset(path: str | Path, source_files: bool = True) -> Preset:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # "UTF-8 with BOM", as Windows editors save it
    except FileNotFoundError:
        raise UserError(f"preset file {path} does not exist") from None
    except OSError as e:
        raise UserError(f"cannot read preset file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"preset {path} is not valid TOML: {e}") from None
    return parse_preset(text, path, source_files)


def parse_preset(text: str, path: Path, source_files: bool = True) -> Preset:
    """The preset `text` as the file `path` (its name, and the folder its source paths are in);
    without `source_files`, its w or image file is not looked for (a template's settings)."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as e:  # ValueError: an integer of over 4,300 digits
        raise UserError(f"preset {path} is not valid TOML: {e}") from None
    except RecursionError:
        raise UserError(f"preset {path} is not valid TOML: arrays or tables nested too deeply") from None
    where = f"preset {path}"  # as the TOML error names it: the folder may not be the one the performer thinks
    unknown = set(data) - PRESET_KEYS
    if unknown == {"cue"}:
        raise UserError(f"{path} is a cue sheet, not a preset; give it with --cues")
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(PRESET_KEYS))}")
    bundle = data.get("bundle", SHIPPED_BUNDLE)
    description = data.get("description", "")
    for key, value in (("bundle", bundle), ("description", description)):
        if not isinstance(value, str):
            raise UserError(f"{where}: {key} must be a string")
    if "\0" in bundle:
        raise UserError(f"{where}: bundle holds a NUL character; give a bundle name or folder")
    settings_table = data.get("settings", {})
    if not isinstance(settings_table, dict):
        raise UserError(f"{where}: [settings] must be a table of parameter = value")
    try:
        settings = Settings().with_values(settings_table)
    except ValueError as e:
        raise UserError(f"{where}: [settings] {e}") from None
    return Preset(name=path.stem, description=description, bundle=bundle,
                  source=_source(data.get("source"), where, path.parent, source_files), settings=settings,
                  cc=CcMap.from_table(data.get("cc", []), where), path=path)


class PresetLibrary:
    """The presets of a folder, by name (file stem), loaded when asked for; and `opening`, a
    preset file a show opened with from elsewhere (--preset PATH.toml), by its own stem where
    no preset of the folder has it: its name was reported, and a switch back to it refused."""

    def __init__(self, directory: str | Path | None = None, opening: Path | None = None):
        self.directory = Path(directory) if directory is not None else default_presets_dir()
        self.opening = opening

    def check_folder(self) -> None:
        if not self.directory.is_dir():
            what = "is a file, not a folder" if self.directory.exists() else "does not exist"
            raise UserError(f"presets folder {self.directory} {what}; check --presets-dir")

    def new_preset_command(self) -> str:
        """How to make a preset here, for messages about a folder without one."""
        return f"python -m live preset --presets-dir {shlex.quote(str(self.directory))} new NAME --seed 1"

    def names(self) -> list[str]:
        # A link whose preset moved is listed, and says so: the hotkeys follow this list. Hidden
        # files are not presets (no preset name starts with "."): macOS's `._NAME.toml` beside
        # each file copied to a stick, an editor's `.#NAME.toml` lock, took the hotkeys.
        found = sorted(p.stem for p in self.directory.glob("*.toml")
                       if not p.name.startswith(".") and (p.is_file() or dangling_link(p)))
        # After the folder's: sorted among them, it moved their hotkeys off `preset list`'s (found by review).
        return found + ([self.opening.stem] if self.opening is not None and self.opening.stem not in found else [])

    def path(self, name: str) -> Path:
        candidate = Path(name)
        if candidate.suffix == ".toml":
            if not is_file(candidate):
                raise UserError(f"preset file {name} does not exist; give a preset name "
                                f"({', '.join(self.names()) or 'none in ' + str(self.directory)}) or a .toml file")
            return candidate
        path = self.directory / f"{name}.toml"
        if self.opening is not None and name == self.opening.stem and not is_file(path):
            return self.opening
        self.check_folder()
        if target := dangling_link(path):
            raise UserError(f"preset {path} links to {target}, which cannot be opened (it is missing, "
                            "or the links go round in a loop); link it anew or remove it")
        if not is_file(path):
            # One name in another Unicode form: macOS writes file names decomposed (e + U+0301),
            # keyboards and controllers send them composed (found by review).
            same = [n for n in self.names() if unicodedata.normalize("NFC", n) == unicodedata.normalize("NFC", name)]
            if len(same) == 1 and same[0] != name:
                return self.path(same[0])
            known = ", ".join(self.names()) or "none"
            raise UserError(f"no preset named {name!r} in {self.directory} (presets: {known})")
        return path

    def load(self, name: str, source_files: bool = True) -> Preset:
        return load_preset(self.path(name), source_files)

    def load_all(self, on: tuple[int, int] | None = None,
                 bundle_config: bool = False) -> dict[str, Preset | UserError]:
        """Every preset by name, or why it cannot be played (its file, or no bundle where it
        says; `on` and `bundle_config` as check_playable takes them): one broken preset does not hide the others."""
        found: dict[str, Preset | UserError] = {}
        for name in self.names():
            try:
                found[name] = self.load(name)
                check_playable(found[name], on, bundle_config)
            except UserError as e:
                found[name] = e
        return found


def check_playable(preset: Preset, on: tuple[int, int] | None = None, bundle_config: bool = False) -> None:
    """UserError if `preset` cannot be played: no bundle where it says, a latent its bundle's
    generator does not take (read from the bundle's config files, torch-free), or a picture
    that does not open (a switch to it answered ok, and failed on telemetry only after).
    `on`: (num_ws, w_dim) of the generator playing it in place of its bundle's (a show's --bundle).
    `bundle_config`: read its bundle's bundle.toml whole too, where torch is loaded anyway (a show,
    `preset show`): a broken one passed, and a switch to it was answered ok (found by review);
    `preset list` stays torch-free, seconds faster."""
    if bundle_config and on is None:
        from live.bundle import BundleConfig

        BundleConfig.read(preset.bundle_folder() / BUNDLE_FILE)
    shape = on or latent_shape(preset.bundle_folder())
    if preset.source.w is not None and shape is not None:
        fitted_latent(read_latent(preset.source.w), *shape, preset.source.w,
                      "the show's generator" if on else f"the generator of bundle {preset.bundle!r}")
    if preset.source.image is not None:
        check_picture(preset.source.image)
