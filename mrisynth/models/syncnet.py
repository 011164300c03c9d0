"""Audio-visual sync expert (SyncNet-style) for MRI ROIs and faces.

A visual stream embeds ``Tv`` stacked frames (``Tv·C`` channels; the whole ROI for MRI, the
lower half for faces), an audio stream the mel window covering the same time span; both
embeddings are ReLU'd and L2-normalised, so their cosine similarity lies in [0, 1] and serves
as the probability that the pair is in sync. Windows are defined in milliseconds so one
expert definition fits 25 fps video and 83.28 fps MRI.

The expert owns its input preprocessing (``visual_input``, ``audio_norm``), so every caller —
its solver, the generator's sync loss and the evaluation embeddings — feeds raw windows and
gets the same treatment:

- ``visual_input="minus_mean"`` subtracts the window's per-pixel temporal mean. Static anatomy
  (the speaker's identity) carries no sync information but lets a small expert overfit to the
  training speakers; what remains is how the articulators move within the window.
- ``visual_input="diff"``: the ``Tv - 1`` consecutive frame differences.
- ``audio_norm="window"`` standardises each log-mel window to zero mean and unit variance over
  all its bins (one scalar each): a gain or recording-level change is then invisible.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.modules.conv import Norm
from mrisynth.modules.encoders import ConvEncoder
from mrisynth.transforms.mel import frames_in_window

__all__ = [
    "SyncExpert",
    "frames_in_window",
    "crop_rows",
    "visible_rows",
    "cosine_probability",
    "visual_features",
    "normalise_mel",
    "VISUAL_INPUTS",
    "AUDIO_NORMS",
]

Crop = Literal["full", "lower_half"]
VisualInput = Literal["frames", "minus_mean", "diff"]
AudioNorm = Literal["none", "window"]
VISUAL_INPUTS: tuple[str, ...] = ("frames", "minus_mean", "diff")
AUDIO_NORMS: tuple[str, ...] = ("none", "window")
_EPS = 1e-6


def visible_rows(height: int, crop: Crop) -> slice:
    """The rows of a ``height``-row frame that ``crop`` keeps: all (``"full"``) or the lower
    half (``"lower_half"``, rows ``height//2:``)."""
    if crop == "full":
        return slice(0, height)
    if crop == "lower_half":
        return slice(height // 2, height)
    raise ValueError(f"crop must be 'full' or 'lower_half', got {crop!r}")


def crop_rows(frames: torch.Tensor, crop: Crop) -> torch.Tensor:
    """``(..., H, W)`` → ``(..., H', W)``: the rows :func:`visible_rows` keeps."""
    return frames[..., visible_rows(frames.shape[-2], crop), :]


def visual_features(frames: torch.Tensor, kind: VisualInput) -> torch.Tensor:
    """The expert's visual input from ``(B, Tv, C, H, W)`` frames (see the module docstring).

    Returns:
        ``(B, Tv, C, H, W)`` for ``"frames"`` / ``"minus_mean"`` (the window's temporal mean
        removed, values in [-1, 1]), ``(B, Tv - 1, C, H, W)`` for ``"diff"``.
    """
    if kind == "frames":
        return frames
    if kind == "minus_mean":
        return frames - frames.mean(dim=1, keepdim=True)
    if kind == "diff":
        return frames[:, 1:] - frames[:, :-1]
    raise ValueError(f"visual_input must be one of {VISUAL_INPUTS}, got {kind!r}")


def normalise_mel(mel: torch.Tensor, kind: AudioNorm) -> torch.Tensor:
    """``(B, 1, n_mels, n_win)`` log-mel windows, standardised per window for ``"window"``."""
    if kind == "none":
        return mel
    if kind == "window":
        mean = mel.mean(dim=(1, 2, 3), keepdim=True)
        std = mel.std(dim=(1, 2, 3), keepdim=True)
        return (mel - mean) / (std + 1e-3)
    raise ValueError(f"audio_norm must be one of {AUDIO_NORMS}, got {kind!r}")


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
        visual_input: ``"frames"``, ``"minus_mean"`` or ``"diff"`` (see :func:`visual_features`;
            ``"diff"`` needs ``n_frames_window >= 2``).
        audio_norm: ``"none"`` or ``"window"`` (see :func:`normalise_mel`).
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
        visual_input: VisualInput = "frames",
        audio_norm: AudioNorm = "none",
    ) -> None:
        super().__init__()
        if visual_input not in VISUAL_INPUTS:
            raise ValueError(
                f"SyncExpert: visual_input must be one of {VISUAL_INPUTS}, got {visual_input!r}"
            )
        if audio_norm not in AUDIO_NORMS:
            raise ValueError(
                f"SyncExpert: audio_norm must be one of {AUDIO_NORMS}, got {audio_norm!r}"
            )
        if visual_input == "diff" and n_frames_window < 2:
            raise ValueError("SyncExpert: visual_input='diff' needs n_frames_window >= 2")
        self.visual_input, self.audio_norm = visual_input, audio_norm
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
        n_vis = n_frames_window - 1 if visual_input == "diff" else n_frames_window
        self.visual_encoder = ConvEncoder(
            channels * n_vis, vis_size, base_width, max_width, embed_dim, res_blocks, norm
        )
        self.audio_encoder = ConvEncoder(
            1, (n_mels, audio_window_steps), base_width, max_width, embed_dim, res_blocks, norm
        )

    def forward(self, frames: torch.Tensor, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed a batch of windows.

        Args:
            frames: ``(B, Tv, C, H, W)`` in [0, 1] (raw: the expert applies ``visual_input``).
            mel: ``(B, 1, n_mels, n_win)`` log-mel (raw: the expert applies ``audio_norm``).

        Returns:
            ``(video_emb, audio_emb)`` (the order of the inputs), each ``(B, embed_dim)``,
            non-negative, unit L2 norm.
        """
        want = (self.n_frames_window, self.channels, *self.img_size)
        if frames.ndim != 5 or tuple(frames.shape[1:]) != want:
            raise ValueError(f"SyncExpert: frames must be (B, {want}), got {tuple(frames.shape)}")
        want_a = (frames.shape[0], 1, self.n_mels, self.audio_window_steps)
        if tuple(mel.shape) != want_a:
            raise ValueError(f"SyncExpert: mel must be {want_a}, got {tuple(mel.shape)}")
        v = visual_features(crop_rows(frames, self.crop), self.visual_input)
        v, _ = self.visual_encoder(v.flatten(1, 2))  # in: (B, Tv'*C, H', W)
        a, _ = self.audio_encoder(normalise_mel(mel, self.audio_norm))
        a = F.normalize(F.relu(a.flatten(1)), dim=1, eps=_EPS)
        v = F.normalize(F.relu(v.flatten(1)), dim=1, eps=_EPS)
        return v, a

    def sync_probability(self, frames: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """``(B,)`` cosine similarity of the embeddings clamped into (0, 1)."""
        v, a = self(frames, mel)
        return cosine_probability(v, a)


def cosine_probability(video_emb: torch.Tensor, audio_emb: torch.Tensor) -> torch.Tensor:
    """``(B,)`` cosine similarity of ``(B, D)`` embeddings clamped to ``[eps, 1 - eps]``."""
    return F.cosine_similarity(video_emb, audio_emb, dim=1, eps=_EPS).clamp(_EPS, 1 - _EPS)
