"""StyleGAN2 losses: non-saturating logistic loss, the R1 gradient penalty and path-length regularization (pure math)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating: -log D(G(z)) = softplus(-logit)."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z)))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def r1_penalty(real_img: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||d logit / d x||^2 at real images (needs real_img.requires_grad)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_img, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3]).mean()


def path_length_penalty(img: torch.Tensor, ws: torch.Tensor, noise: torch.Tensor,
                        pl_mean: torch.Tensor, decay: float) -> tuple[torch.Tensor, torch.Tensor]:
    """StyleGAN2's path-length regularizer: (|J_w^T y| - a)^2 averaged over the batch, with
    y = `noise` / sqrt(H W) a random image-space direction and a the running mean of the
    lengths, so a fixed step in W moves the picture by a fixed amount in every direction:
    W, not the per-pixel noise, carries the picture's structure. Returns the penalty and
    the updated mean (needs ws.requires_grad and img built from ws)."""
    assert noise.shape == img.shape and ws.ndim == 3, (noise.shape, img.shape, ws.shape)
    scaled = noise / (img.shape[2] * img.shape[3]) ** 0.5
    (grads,) = torch.autograd.grad((img * scaled).sum(), ws, create_graph=True)
    lengths = grads.square().sum(dim=2).mean(dim=1).sqrt()
    mean = pl_mean.lerp(lengths.mean().detach(), decay)
    return (lengths - mean).square().mean(), mean
