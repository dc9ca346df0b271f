"""Growing a trained network into a wider one that computes the same function.

A run can start from a narrower run of the same architecture (resolution, latent sizes,
mapping depth) instead of from scratch: each weight of the narrow network fills the
leading block of the wide one's, the wide weights that would feed a new channel into an
old one are zero, and the new channels keep their fresh initialization. An old channel
then sees exactly its old inputs, so the wide network's output equals the narrow one's,
and training grows the new channels in from there (their outgoing weights get gradients
at once; their incoming ones once those are nonzero).

Equalized learning rate scales each weight at run time by 1/sqrt(fan_in), and fan_in
grows with the width: the copied block is scaled by sqrt(fan_in_wide / fan_in_narrow) to
cancel it. A demodulated convolution is invariant to that scale, so the same rule holds
for every weight.

The minibatch-standard-deviation channels are appended after the features at the
discriminator's 4x4 block, so there the narrow network's last inputs go to the wide
one's last inputs, not to the leading block. That statistic is the one thing not kept
exactly when the 4x4 block itself widens: it averages the spread over all channels, the
new ones too (the discriminator's scores move by about 1e-4). Growing within one
channel_max leaves the 4x4 block as it was, and the function exact.
"""
from __future__ import annotations

import math

import torch

from live.errors import UserError

MBSTD_CONV = "b4.conv.weight"  # the discriminator epilogue's conv: features, then mbstd channels


def grow_state(narrow: dict[str, torch.Tensor], wide: dict[str, torch.Tensor],
               trailing_inputs: dict[str, int] | None = None) -> dict[str, torch.Tensor]:
    """The wide network's state holding the narrow network's function.

    `narrow` and `wide` are state dicts of the same architecture; every wide tensor is at
    least as large as the narrow one in each dimension. `wide` gives the fresh values of
    the new channels. `trailing_inputs` names weights whose last N input channels are
    not features (the mbstd channels) and stay last.
    """
    if narrow.keys() != wide.keys():
        missing, extra = sorted(wide.keys() - narrow.keys()), sorted(narrow.keys() - wide.keys())
        raise UserError(f"cannot grow: the networks differ in layers (missing {missing[:3]}, extra {extra[:3]}); "
                        "only channel counts may differ")
    trailing_inputs = trailing_inputs or {}
    return {name: _grow_tensor(name, narrow[name], wide[name], trailing_inputs.get(name, 0))
            for name in wide}


def _grow_tensor(name: str, small: torch.Tensor, big: torch.Tensor, trailing: int) -> torch.Tensor:
    if small.ndim != big.ndim or any(s > b for s, b in zip(small.shape, big.shape)):
        raise UserError(f"cannot grow {name}: shape {tuple(small.shape)} does not fit in {tuple(big.shape)}; "
                        "only channel counts may grow")
    small = small.to(big.dtype)
    if small.shape == big.shape:
        return small.clone()
    out = big.clone()
    if small.ndim < 2 or name.endswith("const"):
        # Biases, styles' biases and the constant input: one entry per channel.
        out[tuple(slice(0, s) for s in small.shape)] = small
        return out
    # A weight [out, in, ...]: old outputs read their old inputs only.
    old_out, old_in, new_in = small.shape[0], small.shape[1], big.shape[1]
    gain = math.sqrt(new_in / old_in)
    out[:old_out] = 0
    features = old_in - trailing
    out[:old_out, :features] = small[:, :features] * gain
    if trailing:
        out[:old_out, new_in - trailing:] = small[:, features:] * gain
    return out


def grow_generator(G: torch.nn.Module, narrow_state: dict[str, torch.Tensor],
                   fresh: dict[str, torch.Tensor] | None = None) -> None:
    """Load a narrower generator's state into G, widened. `fresh` (default: G's own state)
    gives the new channels' values: G_ema takes G's, so the two start as one network."""
    G.load_state_dict(grow_state(narrow_state, fresh if fresh is not None else G.state_dict()))


def grow_discriminator(D: torch.nn.Module, narrow_state: dict[str, torch.Tensor]) -> None:
    D.load_state_dict(grow_state(narrow_state, D.state_dict(), trailing_inputs={MBSTD_CONV: D.b4.mbstd.num_channels}))
