"""Where bundles are: a folder holding bundle.toml, named by path or by its name under
models/. Torch-free, so that the command line and the preset checks can find one without
loading the networks (live.bundle reads what is inside)."""
from __future__ import annotations

import os
from pathlib import Path

from live.errors import UserError
from live.files import is_file, read_json, read_toml, real_path, shipped

BUNDLE_FILE = "bundle.toml"
SHIPPED_BUNDLE = "default"  # under models/: what the shipped presets play


def models_dir() -> Path:
    return shipped("models")


def latent_shape(folder: Path) -> tuple[int, int] | None:
    """(num_ws, w_dim) of the generator of the bundle at `folder`, from its config files alone
    (its weights unread); None where they cannot be read, which loading the bundle then names."""
    try:
        table = read_toml(folder / BUNDLE_FILE)
        config = read_json((folder / table["generator"]["weights"]).with_suffix(".json"))
        resolution, w_dim = (int(config["init_kwargs"][k]) for k in ("img_resolution", "w_dim"))
    except (UserError, ValueError, KeyError, TypeError, ArithmeticError):  # 1e400 reads as an infinite float
        return None
    # As SynthesisNetwork counts them: a conv and a toRGB at 4 px, two convs at each size above.
    return 2 * (resolution.bit_length() - 1) - 2, w_dim


def bundle_dir(name: str | Path, relative_to: Path | None = None) -> Path:
    """A bundle by path (from `relative_to`, a preset's folder, if given) or by its
    name under models/. A plain name is looked for under models/ before the preset's folder
    (the working folder, for a name typed): a folder there named like a shipped bundle (a copy
    being edited) took the shipped presets' place without a word."""
    path = Path(name)
    text = os.fspath(name)
    plain = "/" not in text and os.sep not in text and text not in ("", ".", "..")  # as typed: not ./default
    places = [models_dir() / path] if plain else []
    # A preset's path is relative to the preset alone: found from the working folder too, one
    # preset played when started from one folder and could not be from another.
    places.append(relative_to / path if relative_to is not None and not path.is_absolute() else path)
    for place in places:
        if is_file(place / BUNDLE_FILE):
            # Absolute: found again from it (Bundle.load, a preset switch), ./default must not read as
            # the plain name default. Links kept: a bundle is named by its folder.
            return Path(os.path.abspath(place))
    looked = " or ".join(dict.fromkeys(str(real_path(p)) for p in places))  # one, for an absolute path
    raise UserError(f"no bundle {name!r} (no {BUNDLE_FILE} in {looked}); "
                    f"bundles: {', '.join(bundle_names(models_dir())) or 'none'}")


def bundle_names(folder: Path) -> list[str]:
    """The bundles in a models folder, by name."""
    return sorted(p.parent.name for p in folder.glob(f"*/{BUNDLE_FILE}"))
