"""Losses: identities, hand-computed values, gradient flow and weights."""

import math

import pytest
import torch
import torch.nn.functional as F

from mrisynth.losses import (
    GeneratorLossWeights,
    ReconstructionLoss,
    discriminator_loss,
    expert_bce,
    generator_adversarial_loss,
    l1_loss,
    sync_loss,
    temporal_difference_loss,
)
from mrisynth.models import SyncExpert


def test_l1_identity_weighted_and_grad():
    x = torch.rand(2, 3, 1, 16, 16)
    assert l1_loss(x, x) == 0
    y = x.clone()
    y[..., 8:, :] += 0.5  # error only in the lower half
    mask = torch.zeros(16, 16)
    mask[8:] = 1
    assert torch.isclose(l1_loss(y, x, mask), torch.tensor(0.5))
    assert torch.isclose(l1_loss(y, x, 1 - mask), torch.tensor(0.0))
    p = x.clone().requires_grad_()
    l1_loss(p, x + 0.1).backward()
    assert p.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="differ"):
        l1_loss(x, x[:, :2])


def test_reconstruction_with_monai_ssim():
    x = torch.rand(2, 2, 1, 32, 32)
    loss = ReconstructionLoss(l1_weight=1.0, ssim_weight=1.0)
    assert loss(x, x).abs() < 1e-5
    noisy = (x + 0.2 * torch.randn_like(x)).clamp(0, 1).requires_grad_()
    v = loss(noisy, x)
    assert v > 0.1
    v.backward()
    assert noisy.grad.abs().sum() > 0


def test_expert_bce_values():
    a = F.normalize(torch.rand(4, 8), dim=1)
    ortho = torch.zeros(4, 8)
    ortho[:, 0] = 1
    a_perp = torch.zeros(4, 8)
    a_perp[:, 1] = 1
    assert expert_bce(a, a, torch.ones(4)) < 1e-4  # same embedding, in sync: ~0
    assert expert_bce(a_perp, ortho, torch.zeros(4)) < 1e-4  # orthogonal, off-sync: ~0
    assert expert_bce(a_perp, ortho, torch.ones(4)) > 10  # orthogonal but labelled in sync
    # cos = 0.5 everywhere → BCE = ln 2 whatever the labels (chance level)
    half = F.normalize(torch.tensor([[1.0, math.sqrt(3)]]), dim=1).repeat(2, 1)
    e1 = torch.tensor([[1.0, 0.0]]).repeat(2, 1)
    assert torch.isclose(expert_bce(half, e1, torch.tensor([0.0, 1.0])), torch.tensor(math.log(2)))
    with pytest.raises(ValueError, match="labels"):
        expert_bce(a, a, torch.ones(3))


def test_sync_loss_gradient_reaches_frames_with_frozen_expert():
    e = SyncExpert(1, 32, 4, 20, embed_dim=16, base_width=4, max_width=16).eval()
    e.requires_grad_(False)
    frames = torch.rand(2, 4, 1, 32, 32, requires_grad=True)
    loss = sync_loss(e, frames, torch.randn(2, 1, 80, 20))
    assert loss.ndim == 0 and loss > 0
    loss.backward()
    assert frames.grad is not None and frames.grad.abs().sum() > 0
    assert all(p.grad is None for p in e.parameters())


def test_adversarial_losses():
    big = torch.full((3, 1, 4, 4), 30.0)
    assert generator_adversarial_loss(big) < 1e-6
    assert discriminator_loss(big, -big) < 1e-6
    zero = torch.zeros(3, 1, 4, 4)
    assert torch.isclose(generator_adversarial_loss(zero), torch.tensor(math.log(2)))
    assert torch.isclose(discriminator_loss(zero, zero), torch.tensor(math.log(2)))
    f = zero.clone().requires_grad_()
    generator_adversarial_loss(f).backward()
    assert (f.grad < 0).all()  # raising fake logits lowers the G loss


def test_temporal_difference_loss():
    x = torch.rand(2, 5, 1, 8, 8)
    assert temporal_difference_loss(x, x) == 0
    assert temporal_difference_loss(x + 0.3, x) < 1e-6  # static offset is not penalised
    flicker = x.clone()
    flicker[:, 1::2] += 0.1
    assert torch.isclose(temporal_difference_loss(flicker, x), torch.tensor(0.1), atol=1e-6)
    p = flicker.clone().requires_grad_()
    temporal_difference_loss(p, x).backward()
    assert p.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="T>=2"):
        temporal_difference_loss(x[:, :1], x[:, :1])


def test_generator_loss_weights():
    face = GeneratorLossWeights.face()
    assert (face.recon, face.sync, face.gan, face.temporal) == (0.9, 0.03, 0.07, 0.0)
    mri = GeneratorLossWeights.mri()
    assert mri.temporal > 0 and mri.sync == 0.03
    terms = {"recon": torch.tensor(1.0), "sync": torch.tensor(10.0), "gan": torch.tensor(2.0)}
    assert torch.isclose(face.combine(terms), torch.tensor(0.9 + 0.3 + 0.14))
    assert torch.isclose(face.combine(terms, sync_enabled=False), torch.tensor(0.9 + 0.14))
    with pytest.raises(ValueError, match="unknown loss terms"):
        face.combine({"l2": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="sync"):
        GeneratorLossWeights(sync=-1)
