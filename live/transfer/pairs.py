"""Held-out (source, music, lambda) triples on which transfers are compared.

Sources are NVlabs-style seed latents (z = RandomState(seed).randn, truncation 0.7), the
way presets name them; the predictor trains on latents drawn from torch's generator, so
these never occur in training. Music comes from a held-out music bank, lambda from a
log-spaced grid cycled over the pairs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from live.bundle import Bundle
from live.transfer.embed import latent_features
from live.transfer.music import MusicBank, encode_clips, music_records
from live.transfer.source import seed_latent


@dataclass(frozen=True)
class TransferPairs:
    w_source: torch.Tensor  # [N, num_ws, w_dim]
    f_source: torch.Tensor  # f_I(G(w_o)) [N, D]
    f_music: torch.Tensor   # [N, D]
    va: torch.Tensor        # the music's VA [N, 2]
    lam: torch.Tensor       # [N]

    def __len__(self) -> int:
        return len(self.w_source)


def held_out_pairs(bundle: Bundle, bank: MusicBank, count: int, lambdas: list[float],
                   truncation: float = 0.7, first_seed: int = 0) -> TransferPairs:
    """`count` pairs: seeds first_seed.., music rows spread over the bank, lambdas cycled."""
    assert count >= 1 and lambdas, (count, lambdas)
    w_o = torch.stack([seed_latent(bundle.G, first_seed + i, truncation) for i in range(count)])
    rows = torch.from_numpy(np.linspace(0, len(bank) - 1, count).round().astype(np.int64))
    with torch.no_grad():
        f_o = torch.cat([latent_features(bundle, chunk) for chunk in w_o.split(16)])
    lam = torch.tensor([lambdas[i % len(lambdas)] for i in range(count)], dtype=torch.float32)
    device = bundle.device
    return TransferPairs(w_o, f_o, bank.features[rows].to(device), bank.va[rows].to(device), lam.to(device))


def benchmark_pairs(bundle: Bundle, data_root: str, count: int, lambdas: list[float],
                    first_seed: int = 0) -> TransferPairs:
    """`count` pairs for a benchmark: music of the held-out side, the 4Q test clips under
    `data_root` and `count` held-out synthetic clips (so the synthetic share grows with
    `count`), picked evenly over that list, one mel window each. Another `first_seed` draws other
    sources and shifts the music by as many clips: a fresh set for a verdict, where the
    default set has guided design choices."""
    clips = music_records(["4q", "synthetic"], data_root, count, held_out=True)
    clips = [clips[(first_seed + round(i * (len(clips) - 1) / max(count - 1, 1))) % len(clips)] for i in range(count)]
    bank = encode_clips(bundle, clips, windows_per_clip=1, progress=False)
    return held_out_pairs(bundle, bank, count, lambdas, first_seed=first_seed)
