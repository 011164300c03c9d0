"""Temporal consistency: generated frame-to-frame changes should match the real ones."""

from __future__ import annotations

import torch

__all__ = ["temporal_difference_loss"]


def temporal_difference_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the temporal differences of generated and real clips.

    ``mean |(p[t+1] − p[t]) − (x[t+1] − x[t])|``. Zero for identical clips and also for a
    constant per-pixel offset (it penalises flicker and wrong motion, not a static error,
    which the reconstruction loss covers).

    Args:
        pred, target: ``(B, T, C, H, W)`` with ``T >= 2``.

    Returns:
        scalar tensor.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"temporal_difference_loss: pred {tuple(pred.shape)} != target {tuple(target.shape)}"
        )
    if pred.ndim != 5 or pred.shape[1] < 2:
        raise ValueError(
            f"temporal_difference_loss: needs (B, T>=2, C, H, W), got {tuple(pred.shape)}"
        )
    return (pred.diff(dim=1) - target.diff(dim=1)).abs().mean()
