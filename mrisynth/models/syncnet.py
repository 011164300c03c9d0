"""Audio-visual sync expert (SyncNet-style) for MRI ROIs and faces.

A visual stream embeds ``Tv`` stacked frames (``Tv·C`` channels; the whole ROI for MRI, the
lower half for faces), an audio stream the mel window covering the same time span; both
embeddings are ReLU'd and L2-normalised, so their cosine similarity lies in [0, 1] and serves
as the probability that the pair is in sync. Windows are defined in milliseconds so one
expert definition fits 25 fps video and 83.28 fps MRI.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.modules.conv import Norm
from mrisynth.modules.encoders import ConvEncoder
from mrisynth.transforms.mel import frames_in_window

__all__ = ["SyncExpert", "frames_in_window", "crop_rows", "cosine_probability"]

Crop = Literal["full", "lower_half"]
_EPS = 1e-6


def crop_rows(frames: torch.Tensor, crop: Crop) -> torch.Tensor:
    """Keep all rows (``"full"``) or the lower half (``"lower_half"``, rows ``H//2:``)."""
    if crop == "full":
        return frames
    if crop == "lower_half":
        return frames[..., frames.shape[-2] // 2 :, :]
    raise ValueError(f"crop must be 'full' or 'lower_half', got {crop!r}")


class SyncExpert(nn.Module):
    """Two-stream sync expert.

    Args:
        channels: image channels ``C``.
        img_size: frame size (int or ``(H, W)``) before cropping.
        n_frames_window: ``Tv`` frames per visual window (see :func:`frames_in_window`).
        audio_window_steps: ``n_win`` mel steps per audio window.
        n_mels: mel bands.
        embed_dim: embedding size of both streams.
        base_width, max_width, res_blocks, norm: encoder widths (see :class:`ConvEncoder`).
        crop: ``"full"`` (MRI: the whole ROI moves) or ``"lower_half"`` (faces).
    """

    def __init__(
        self,
        channels: int,
        img_size: int | tuple[int, int],
        n_frames_window: int,
        audio_window_steps: int,
        n_mels: int = 80,
        embed_dim: int = 256,
        base_width: int = 32,
        max_width: int = 256,
        res_blocks: int = 1,
        norm: Norm = "batch",
        crop: Crop = "full",
    ) -> None:
        super().__init__()
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if n_frames_window < 1:
            raise ValueError(f"SyncExpert: n_frames_window must be >= 1, got {n_frames_window}")
        crop_rows(torch.zeros(1, 1), crop)  # validate early
        self.channels, self.img_size, self.crop = channels, size, crop
        self.n_frames_window, self.n_mels, self.audio_window_steps = (
            n_frames_window,
            n_mels,
            audio_window_steps,
        )
        vis_size = (size[0] - size[0] // 2, size[1]) if crop == "lower_half" else size
        self.visual_encoder = ConvEncoder(
            channels * n_frames_window, vis_size, base_width, max_width, embed_dim, res_blocks, norm
        )
        self.audio_encoder = ConvEncoder(
            1, (n_mels, audio_window_steps), base_width, max_width, embed_dim, res_blocks, norm
        )

    def forward(self, frames: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed a batch of windows.

        Args:
            frames: ``(B, Tv, C, H, W)`` in [0, 1].
            mel: ``(B, 1, n_mels, n_win)``.

        Returns:
            ``(audio_emb, video_emb)``, each ``(B, embed_dim)``, non-negative, unit L2 norm.
        """
        want = (self.n_frames_window, self.channels, *self.img_size)
        if frames.ndim != 5 or tuple(frames.shape[1:]) != want:
            raise ValueError(f"SyncExpert: frames must be (B, {want}), got {tuple(frames.shape)}")
        want_a = (frames.shape[0], 1, self.n_mels, self.audio_window_steps)
        if tuple(mel.shape) != want_a:
            raise ValueError(f"SyncExpert: mel must be {want_a}, got {tuple(mel.shape)}")
        v = crop_rows(frames, self.crop).flatten(1, 2)  # (B, Tv*C, H', W)
        v, _ = self.visual_encoder(v)
        a, _ = self.audio_encoder(mel)
        a = F.normalize(F.relu(a.flatten(1)), dim=1, eps=_EPS)
        v = F.normalize(F.relu(v.flatten(1)), dim=1, eps=_EPS)
        return a, v

    def sync_probability(self, frames: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """``(B,)`` cosine similarity of the embeddings clamped into (0, 1)."""
        a, v = self(frames, mel)
        return cosine_probability(a, v)


def cosine_probability(audio_emb: torch.Tensor, video_emb: torch.Tensor) -> torch.Tensor:
    """``(B,)`` cosine similarity of ``(B, D)`` embeddings clamped to ``[eps, 1 - eps]``."""
    return F.cosine_similarity(audio_emb, video_emb, dim=1, eps=_EPS).clamp(_EPS, 1 - _EPS)
