"""The torch device a command runs its networks on, checked where the command line is read."""
from __future__ import annotations

import torch

from live.errors import UserError


def checked_device(device: str | torch.device) -> torch.device:
    """`torch.device(device)`, or a one-line error when it is misspelt or not on this machine."""
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UserError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from e
    if target.type != "cpu":
        accelerator = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
        if accelerator is None or accelerator.type != target.type:
            raise UserError(f"device {str(device)!r} is not available on this machine; use cpu")
        count = torch.accelerator.device_count()
        if target.index is not None and target.index >= count:  # else a traceback where a network moves there
            raise UserError(f"device {str(device)!r}: this machine has {count} {target.type} device(s), "
                            f"{target.type}:0 to {target.type}:{count - 1}")
    if target.type == "cuda":
        # torch runs float32 convolutions in TF32 on Ampere and later (10 mantissa bits): the
        # reference path is float32, and NVlabs' StyleGAN2 turns it off as well.
        torch.backends.cudnn.allow_tf32 = False
    return target
