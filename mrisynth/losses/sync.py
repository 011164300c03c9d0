"""Sync losses: BCE of the expert's cosine probability against an in-sync label.

:func:`expert_bce` is the one definition of the sync BCE: the expert's training loss, the
generator's sync loss (:func:`sync_loss`) and the evaluation's ``sync_bce``
(:func:`mrisynth.metrics.sync.sync_bce`) all call it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mrisynth.losses.reconstruction import at_least_fp32
from mrisynth.models.syncnet import SyncExpert, cosine_probability

__all__ = ["expert_bce", "sync_loss"]


def expert_bce(
    video_emb: torch.Tensor, audio_emb: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Sync expert training loss.

    Args:
        video_emb, audio_emb: ``(B, D)`` non-negative unit-norm embeddings.
        labels: ``(B,)`` 1 = in sync, 0 = shifted.

    Returns:
        scalar mean BCE of ``cos(video, audio)`` (clamped into (0, 1)) vs ``labels``;
        chance level for a balanced batch is ln 2 ≈ 0.693.
    """
    if audio_emb.shape != video_emb.shape or video_emb.ndim != 2:
        raise ValueError(
            f"expert_bce: embeddings must both be (B, D), got {tuple(video_emb.shape)} and "
            f"{tuple(audio_emb.shape)}"
        )
    labels = labels.to(video_emb.dtype).reshape(-1)
    if labels.shape[0] != video_emb.shape[0]:
        raise ValueError(f"expert_bce: {labels.shape[0]} labels for {video_emb.shape[0]} pairs")
    # in fp32 outside autocast: CUDA autocast refuses binary_cross_entropy, and in bf16 the
    # clamp's 1 − eps rounds to 1, where a shifted pair's loss would hit PyTorch's log clamp
    # (half precision goes up to fp32; fp32 and fp64 embeddings keep their precision)
    with torch.autocast(video_emb.device.type, enabled=False):
        p = cosine_probability(at_least_fp32(video_emb), at_least_fp32(audio_emb))
        return F.binary_cross_entropy(p, labels.to(p.dtype))


def sync_loss(expert: SyncExpert, frames: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
    """Generator sync loss: the (frozen) expert should judge generated windows in sync.

    Args:
        expert: the sync expert (its parameters are typically frozen; gradients still flow
            to ``frames``).
        frames: ``(B, Tv, C, H, W)`` generated frames in [0, 1] (raw: the expert applies its
            own visual preprocessing, as when it was trained).
        mel: ``(B, 1, n_mels, n_win)`` the audio window covering the same span.

    Returns:
        scalar BCE against label 1.
    """
    v, a = expert(frames, mel)
    return expert_bce(v, a, torch.ones(v.shape[0], device=v.device))
