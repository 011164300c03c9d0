"""Pixel reconstruction losses: (masked) L1 and optional SSIM (MONAI ``SSIMLoss``)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["at_least_fp32", "l1_loss", "ReconstructionLoss"]


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in fp32 if it is half precision (fp16, bf16), else unchanged (fp32, fp64): where
    a loss must not run in autocast's half precision but must not lose fp64 either."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check(pred: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"{name}: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ"
        )


def l1_loss(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean absolute error; with ``weight`` (broadcastable, e.g. an ``(H, W)`` mask) the
    weighted mean ``sum(w·|pred − target|) / sum(w)`` over the broadcast shape.

    Args:
        pred, target: any equal shapes, e.g. ``(B, T, C, H, W)`` in [0, 1].
        weight: optional non-negative weights broadcastable to ``pred``.

    Returns:
        scalar tensor (0 iff ``pred == target`` where weighted).
    """
    _check(pred, target, "l1_loss")
    err = (pred - target).abs()
    if weight is None:
        return err.mean()
    w = weight.to(err.dtype).expand_as(err)
    return (w * err).sum() / w.sum().clamp_min(1e-8)


class ReconstructionLoss(nn.Module):
    """``l1_weight · L1 + ssim_weight · (1 − SSIM)``.

    Args:
        l1_weight: weight of the L1 term.
        ssim_weight: weight of MONAI's ``SSIMLoss`` (2D, Gaussian 11×11 window, σ 1.5);
            0 disables it (no MONAI call). Frames must be at least 11 px.
        data_range: intensity range of the images (1 for [0, 1]).

    ``forward(pred, target)`` takes ``(B, T, C, H, W)`` or ``(N, C, H, W)``; returns a scalar.
    """

    def __init__(self, l1_weight: float = 1.0, ssim_weight: float = 0.0, data_range: float = 1.0):
        super().__init__()
        if l1_weight < 0 or ssim_weight < 0:
            raise ValueError("ReconstructionLoss: weights must be >= 0")
        self.l1_weight, self.ssim_weight = l1_weight, ssim_weight
        self.ssim = None
        if ssim_weight > 0:
            from monai.losses import SSIMLoss

            self.ssim = SSIMLoss(spatial_dims=2, data_range=data_range)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(pred, target, "ReconstructionLoss")
        loss = self.l1_weight * l1_loss(pred, target)
        if self.ssim is not None:
            p = pred.flatten(0, 1) if pred.ndim == 5 else pred
            t = target.flatten(0, 1) if target.ndim == 5 else target
            # in fp32 even under bf16/fp16 autocast: SSIM's local variances E[x²] − E[x]²
            # cancel, and in bf16 they come out negative on flat regions, which made the
            # GPU presets' first step NaN (found by benchmarks/gpu/session.sh's rehearsal)
            with torch.autocast(p.device.type, enabled=False):
                loss = loss + self.ssim_weight * self.ssim(at_least_fp32(p), at_least_fp32(t))
        return loss
