"""Where GAN training images come from: the procedural corpus or a folder of images."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from live.errors import UserError, note
from live.imageio import PICTURE_ERRORS, PICTURE_SUFFIXES, as_shown, open_picture


class ImageSource(Protocol):
    resolution: int

    def next_batch(self, n: int) -> torch.Tensor:
        """n images [n, 3, R, R], float32 in [-1, 1]."""


NOTED_UNREADABLE = 10   # pictures skipped with a note each; a folder of broken files said so 50,000 times


def pictures_under(root: Path) -> list[Path]:
    """The picture files under `root`, sorted, through symlinked folders too (a data set put
    together from collections without copying; each real folder is read once, so a link
    back up the tree ends), hidden files and folders left out (macOS's `._NAME.jpg`)."""
    found, seen = [], set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        where = os.stat(folder)
        if (where.st_dev, where.st_ino) in seen:
            subfolders.clear()
            continue
        seen.add((where.st_dev, where.st_ino))
        # Walked in name order: a folder reached twice (a link) is read under the same path on
        # every file system, so its pictures keep their places in the list, and a seed its draws.
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        found += [Path(folder) / name for name in files
                  if not name.startswith(".") and Path(name).suffix.lower() in PICTURE_SUFFIXES]
    return sorted(found)


class FolderImages:
    """Random center-cropped, resized images from a folder tree, half of them mirrored (`mirror`).

    Each batch's draws come from (seed, images drawn so far), so a run resumed at
    `position` draws what it would have drawn. An image that cannot be read is skipped,
    with a note, rather than end a run hours in: its draw goes to another picture drawn at
    random. Hidden files (macOS's `._NAME.jpg` beside every photo on a stick) are not scanned.
    """

    def __init__(self, root: str | Path, resolution: int, seed: int, position: int = 0, mirror: bool = True):
        self.resolution, self.seed, self.position, self.mirror = resolution, seed, position, mirror
        root = Path(root)
        if not root.is_dir():
            what = "is a file, not a folder" if root.exists() else "does not exist"
            raise UserError(f"image folder {root} {what}; pass --data DIR or --data procedural")
        self.root = root
        self.paths = pictures_under(root)
        if not self.paths:
            raise UserError(f"no images ({', '.join(sorted(PICTURE_SUFFIXES))}) under {root}")
        self._unreadable: set[Path] = set()
        # A folder of which nothing can be read is refused before the run makes its folder.
        if not any(self._read(path) is not None for path in self.paths):
            raise self._none_readable()

    def _none_readable(self) -> UserError:
        return UserError(f"none of the {len(self.paths)} images can be read; check the --data folder")

    def _load(self, index: int, draw: int) -> np.ndarray:
        """Picture `index`, the run's draw number `draw`. An unreadable picture's draw is made
        again from (seed, draw, attempt), uniform over the pictures and the same in a resumed
        run: stepping to the next path gave the first picture of a folder the draws of every
        `._NAME` sorted before it (53 %)."""
        attempt = 0
        while (image := self._read(self.paths[index])) is None:
            if len(self._unreadable) == len(self.paths):  # all gone unreadable during the run
                raise self._none_readable()
            attempt += 1
            index = int(np.random.default_rng([self.seed, draw, attempt]).integers(len(self.paths)))
        return image

    def _read(self, path: Path) -> np.ndarray | None:
        """The picture at `path`, cropped and scaled, or None (said once) if it cannot be read."""
        if path in self._unreadable:
            return None
        try:
            with open_picture(path) as opened:
                # A JPEG decodes at 1/2-1/8 scale for the asking (still at least twice the
                # run's size): a scan was decoded whole at every draw.
                opened.draft("RGB", (2 * self.resolution, 2 * self.resolution))
                img = as_shown(opened)
        except PICTURE_ERRORS as e:
            if not self.root.is_dir():
                raise UserError(f"the --data folder {self.root} is gone (unplugged or unmounted?); the run keeps "
                                "its last saved state: run the same command once the folder is back") from None
            self._unreadable.add(path)
            if len(self._unreadable) <= NOTED_UNREADABLE:
                more = "; more such pictures are skipped without a note" if len(
                    self._unreadable) == NOTED_UNREADABLE else ""
                note("data", f"skipping {path}, which cannot be read ({e}); remove or re-save it{more}")
            return None
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        square = img.crop((left, top, left + side, top + side))
        return np.asarray(square.resize((self.resolution,) * 2, Image.LANCZOS))

    def next_batch(self, n: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, self.position])
        first, self.position = self.position, self.position + n
        batch = np.stack([self._load(int(i), first + k) for k, i in enumerate(rng.integers(len(self.paths), size=n))])
        flips = rng.random(n) < 0.5  # drawn either way: the same pictures with --mirror or without
        if self.mirror:
            batch[flips] = batch[flips, :, ::-1]
        return _unit_range(batch)

    def at(self, indices: Sequence[int], first_draw: int = 0) -> torch.Tensor:
        """The pictures at `indices` of the folder's list, as they are (not mirrored); an
        unreadable one's place is drawn again as in `next_batch`, from `first_draw` on."""
        return _unit_range(np.stack([self._load(int(i), first_draw + k) for k, i in enumerate(indices)]))


def _unit_range(batch: np.ndarray) -> torch.Tensor:
    """uint8 pictures [N, H, W, 3] -> [N, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 127.5 - 1


class ProceduralStream:
    """The procedural corpus read in order, so a resumed run continues where it stopped."""

    def __init__(self, resolution: int, seed: int, position: int = 0):
        from live.corpus.procedural import ProceduralConfig, ProceduralImages

        self.resolution = resolution
        self.corpus = ProceduralImages(ProceduralConfig(resolution=resolution, seed=seed))
        self.position = position

    def next_batch(self, n: int) -> torch.Tensor:
        batch = self.corpus.batch(n, self.position)
        self.position += n
        return batch
