"""Tiny labelled data in the real data sets' formats, and a tiny space training config.

Images: an OASIS folder whose pictures' brightness follows their valence rating and
saturation their arousal. Music: a 4Q folder of short tones whose loudness and pitch
follow the quadrant (WAV content under .mp3 names: libsndfile reads by content).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from live.audio.mel import MelWindow
from live.space.batches import BatchConfig
from live.space.config import SpaceTrainConfig
from live.space.model import SpaceNetConfig
from live.space.sources import DataConfig

RATE = 8000
TINY_MEL = MelWindow(sample_rate=RATE, n_fft=256, hop_length=128, n_mels=16, window_seconds=0.5)


def write_oasis(root: Path, count: int = 16) -> Path:
    folder = root / "oasis"
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    with (folder / "OASIS.csv").open("w", newline="") as file:
        out = csv.writer(file, lineterminator="\n")
        out.writerow(["Id", "Theme", "Category", "Source", "Valence_mean", "Valence_SD", "Valence_N",
                      "Arousal_mean", "Arousal_SD", "Arousal_N"])
        for k in range(count):
            valence, arousal = 1 + 6 * k / (count - 1), 1 + 6 * ((k * 5) % count) / (count - 1)
            theme = f"Thing {k}"
            out.writerow([f"I{k}", theme, "Object", "Pixabay", valence, 1.0, 100, arousal, 1.0, 100])
            grey = (valence - 1) / 6 * 200 + 20
            colour = np.array([grey + (arousal - 1) * 5, grey, grey - (arousal - 1) * 5]).clip(0, 255)
            pixels = (colour + rng.normal(0, 8, (48, 64, 3))).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / "images" / f"{theme}.jpg")
    return folder


def quadrant_tone(quadrant: int, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """High arousal loud and high, positive valence major-third bright; a little noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 660.0 if quadrant in (1, 2) else 220.0
    third = 5 / 4 if quadrant in (1, 4) else 6 / 5
    level = 0.5 if quadrant in (1, 2) else 0.05
    noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
    return (level * (np.sin(2 * np.pi * pitch * t) + np.sin(2 * np.pi * pitch * third * t)) / 2 + noise).astype(np.float32)


def write_4q(root: Path, per_quadrant: int = 4) -> Path:
    folder = root / "4q"
    with_header = [["Song", "Artist", "Title", "Quadrant", "PQuad", "MoodsFoundStr", "GenresStr"]]
    for quadrant in range(1, 5):
        (folder / f"Q{quadrant}").mkdir(parents=True)
        for k in range(per_quadrant):
            song = f"MT{quadrant}{k:03d}"
            with_header.append([song, "Artist", "Title", f"Q{quadrant}", "1", "mood", "Genre"])
            sf.write(folder / f"Q{quadrant}" / f"{song}.mp3", quadrant_tone(quadrant, seed=k), RATE, format="WAV")
    with (folder / "annotations.csv").open("w", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows(with_header)
    return folder


def write_data(root: Path) -> Path:
    write_oasis(root)
    write_4q(root)
    return root


def tiny_config(data_root: Path, cache: Path, **overrides) -> SpaceTrainConfig:
    """resnet18 at 64 px, a 16-band half-second mel, 6 pairs per step, a few steps."""
    data = DataConfig(root=str(data_root), emopia=False, vgmidi=False, procedural_images=8,
                      procedural_resolution=32, synth_music=8, synth_seconds=1.0)
    values = dict(seed=0, steps=4, checkpoint_every=2, log_every=1, threads=1, cache=str(cache), image_size=64,
                  net=SpaceNetConfig(image_backbone="resnet18", mel=TINY_MEL), data=data,
                  batch=BatchConfig(pairs=6, partner_k=3))
    values.update(overrides)
    return SpaceTrainConfig(**values)


def write_imemnet(root: Path) -> dict[str, str]:
    """A DEAM folder (static labels, 6 s songs), a NAPS sheet with images, and an IMEMNet list
    pairing them; returns the DataConfig fields that point at them."""
    deam = root / "deam"
    (deam / "MEMD_audio").mkdir(parents=True)
    header = "song_id, valence_mean, valence_std, arousal_mean, arousal_std\n"
    rows = [f"{song},{1 + song % 9},1,{9 - song % 9},1\n" for song in range(3, 9)]
    (deam / "static_annotations_averaged_songs_1_2000.csv").write_text(header + "".join(rows))
    (deam / "static_annotations_averaged_songs_2000_2058.csv").write_text(header)
    for song in range(3, 9):
        sf.write(deam / "MEMD_audio" / f"{song}.mp3", quadrant_tone(1 + song % 4, seconds=6.0), RATE, format="WAV")
    naps = root / "naps"
    naps.mkdir()
    lines = ["ID,Category,Valence_M,Valence_SD,Arousal_M,Arousal_SD"]
    for k in range(1, 8):
        lines.append(f"Animals_{k:03d}_h,Animals,{1 + k},1,{9 - k},1")
        Image.fromarray(np.full((40, 60, 3), 30 * k, np.uint8)).save(naps / f"Animals_{k:03d}_h.jpg")
    (naps / "ratings.csv").write_text("\n".join(lines) + "\n")
    pairs = [f"{song}-{clip} Animals_{(song + clip) % 7 + 1:03d}_h 0.{song}" for song in range(3, 9) for clip in (0, 1)]
    (root / "pairs.txt").write_text("\n".join(pairs) + "\n")
    return {"deam": str(deam), "naps_sheet": str(naps / "ratings.csv"), "naps_images": str(naps),
            "imemnet": str(root / "pairs.txt")}
