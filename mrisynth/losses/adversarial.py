"""Non-saturating (BCE-with-logits) GAN losses for any logit map shape."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["generator_adversarial_loss", "discriminator_loss"]


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating G loss ``−log σ(D(G(z)))`` averaged over all logits (any shape)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D loss ``½[−log σ(D(x)) − log(1 − σ(D(G(z))))]``; pass ``fake`` detached from G."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)
