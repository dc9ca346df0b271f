"""live installed from a wheel, run from another folder: it finds the presets, shaders and
default bundle it ships, not the checkout's."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {"presets": "*.toml", "presets/controllers": "*.toml", "shaders": "*", "models/default": "*"}


def _shipped_files() -> list[str]:
    return sorted(f"live/_shipped/{folder}/{p.name}" for folder, pattern in SHIPPED.items()
                  for p in (ROOT / folder).glob(pattern) if p.is_file())


def _source(tmp_path: Path) -> Path:
    """The checkout's files a wheel is built from, plus a user's bundle beside the default one."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("live", "presets", "shaders", "models/default"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    (source / "models" / "mine").mkdir()
    (source / "models" / "mine" / "bundle.toml").write_text("")
    return source


def _live(site: Path, cwd: Path, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(site))
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_wheel_ships_the_data_and_runs_from_another_folder(tmp_path):
    dist, site, elsewhere = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", dist, _source(tmp_path)],
                   check=True, timeout=300)
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(_shipped_files()) <= names
    assert "live/control/PROTOCOL.md" in names
    assert not [n for n in names if n.startswith("live/_shipped/models/mine")]

    subprocess.run([*pip, "install", "--no-deps", "--target", site, wheel], check=True, timeout=300)
    where = _live(site, elsewhere, "-c", "import live.files as f; print(f.__file__); "
                  "print(*(f.shipped(k) for k in ('presets', 'shaders', 'models')), sep='\\n')").split()
    assert all(Path(p).is_relative_to(site) for p in where), where
    listed = _live(site, elsewhere, "-m", "live", "preset", "list")
    names = [line.split()[1] for line in listed.splitlines()]
    assert names == sorted(p.stem for p in (ROOT / "presets").glob("*.toml"))
    assert "cannot be played" not in listed
