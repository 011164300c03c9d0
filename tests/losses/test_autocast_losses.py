"""Losses keep their numbers under bf16 autocast (the GPU presets train in it)."""

import torch

from mrisynth.losses.reconstruction import ReconstructionLoss
from mrisynth.losses.sync import expert_bce


def _frames(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.full((2, 3, 1, 48, 48), 0.5)  # mostly flat, as MRI background and tissue
    x[..., 10:30, 12:36] = 0.8
    return (x + 0.02 * torch.rand(x.shape, generator=g)).clamp(0, 1)


def test_ssim_term_under_bf16_autocast_matches_fp32_with_finite_gradients():
    loss_fn = ReconstructionLoss(l1_weight=0.8, ssim_weight=0.1)
    target = _frames(0)
    pred32 = _frames(1).requires_grad_()
    ref = loss_fn(pred32, target)
    ref.backward()
    pred = _frames(1).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss_fn(pred.bfloat16(), target.bfloat16())
    got.backward()
    assert torch.isfinite(got) and torch.isfinite(pred.grad).all()
    # bf16 inputs are rounded to ~3 significant digits; the loss itself is computed in fp32
    assert abs(got.item() - ref.item()) < 5e-3
    cos = torch.nn.functional.cosine_similarity(pred.grad.flatten(), pred32.grad.flatten(), dim=0)
    assert cos > 0.9


def test_expert_bce_is_fp32_under_autocast():
    g = torch.Generator().manual_seed(0)
    v = torch.rand(8, 64, generator=g)
    a = torch.rand(8, 64, generator=g)
    labels = torch.tensor([1.0, 0.0] * 4)
    ref = expert_bce(v, a, labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = expert_bce(v.bfloat16(), a.bfloat16(), labels)
    assert got.dtype == torch.float32
    assert abs(got.item() - ref.item()) < 1e-2
    # identical embeddings of a shifted pair: a large but finite loss, not log(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        same = expert_bce(v[:1].bfloat16(), v[:1].bfloat16(), torch.zeros(1))
    assert torch.isfinite(same)


def test_expert_bce_keeps_fp64_embeddings_in_fp64():
    # the evaluation scores sync_bce on fp64 embeddings; fp32 would move it in the 8th digit
    g = torch.Generator().manual_seed(0)
    v = torch.rand(8, 64, generator=g, dtype=torch.float64)
    a = torch.rand(8, 64, generator=g, dtype=torch.float64)
    got = expert_bce(v, a, torch.tensor([1.0, 0.0] * 4))
    assert got.dtype == torch.float64
