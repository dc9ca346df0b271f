"""Where bundles are: a folder holding bundle.toml, named by path or by its name under
models/. Torch-free, so that the command line and the preset checks can find one without
loading the networks (live.bundle reads what is inside)."""
from __future__ import annotations

from pathlib import Path

from live.errors import UserError

BUNDLE_FILE = "bundle.toml"


def models_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models"


def bundle_dir(name: str | Path) -> Path:
    """A bundle by name (a folder of models/) or by path."""
    path = Path(name)
    if (path / BUNDLE_FILE).is_file():
        return path
    candidate = models_dir() / str(name)
    if (candidate / BUNDLE_FILE).is_file():
        return candidate
    known = sorted(p.parent.name for p in models_dir().glob(f"*/{BUNDLE_FILE}"))
    places = " or ".join(dict.fromkeys(str(p.resolve()) for p in (path, candidate)))  # one, for an absolute path
    raise UserError(f"no bundle {name!r} (no {BUNDLE_FILE} in {places}); "
                    f"bundles: {', '.join(known) or 'none'}")
