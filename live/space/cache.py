"""A folder of precomputed arrays (log-mel spectrograms, resized images), keyed by what made them.

Decoding an MP3 and computing its spectrogram costs far more than a training step's crop
of it, so every clip's spectrogram and every image's resized pixels are computed once and
kept as .npy files. The key is a text naming the item and the settings that shaped the
array; callers include a file's size and mtime, so an edited file is computed anew.
Entries are written under a temporary name and renamed into place, so processes may share
the folder and an interrupted run leaves no half-written entry.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from live.errors import UserError
from live.files import npy_bytes, real_path, write_whole


def file_identity(path: Path) -> str:
    """Path, size and mtime: changes whenever the file does."""
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    return f"{real_path(path)}|{stat.st_size}|{stat.st_mtime_ns}"


class ArrayCache:
    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"cannot create the cache folder {self.directory}: "
                            f"{error.strerror or error}; pass a writable --cache") from error

    def path(self, key: str) -> Path:
        return self.directory / f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.npy"

    def get(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        """The array stored under `key`, made and stored first if absent."""
        entry = self.path(key)
        if entry.exists():
            try:
                return np.load(entry)
            except (OSError, ValueError, EOFError):  # damaged (emptied, cut short): made again
                pass
        array = np.ascontiguousarray(make())
        write_whole(entry, npy_bytes(array))
        return array
