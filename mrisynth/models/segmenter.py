"""Articulator segmenter: a small 2-D U-Net that labels every pixel of a midsagittal MRI frame.

It turns synthesized (or real) frames into label maps with the ids of
:data:`mrisynth.phantom.labels.LABELS` (airway, tongue, lips, jaw/teeth, velum, hard palate,
pharyngeal wall, other tissue, background), so that generated videos can be scored for
anatomical consistency (Dice, constriction measures) against the phantom's ground truth.

The network is MONAI's :class:`~monai.networks.nets.BasicUNet` (four 2x down-samplings, so
inputs are padded to a multiple of :data:`PAD_MULTIPLE` = 16 px). :func:`segment` handles the
padding, batching and ``argmax``; training lives in :mod:`mrisynth.engine.solvers.segmenter`.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch
from monai.networks.nets import BasicUNet
from torch import nn

from mrisynth.phantom.labels import N_LABELS
from mrisynth.transforms.domain import DomainRandomization

logger = logging.getLogger(__name__)

__all__ = [
    "MIN_INPUT_SIZE",
    "PAD_MULTIPLE",
    "SegmenterConfig",
    "build_segmenter",
    "check_frames",
    "pad_to_multiple",
    "segment",
]

#: Input height/width must be a multiple of this (2**4 for BasicUNet's four poolings).
PAD_MULTIPLE = 16
#: Smallest padded height/width: instance norm needs > 1 pixel at the 1/16 bottleneck.
MIN_INPUT_SIZE = 32

_NORMS = ("instance", "batch")
_UPSAMPLE = ("deconv", "pixelshuffle", "nontrainable")


@dataclasses.dataclass
class SegmenterConfig:
    """Architecture, loss and augmentation settings of the segmenter (stored in its checkpoint).

    Raises:
        ValueError: on any out-of-range value; the message names the field.
    """

    img_size: int = 64
    """Square training frame size (px); frames given to training must be ``img_size`` square."""
    features: tuple[int, ...] = (8, 16, 32, 64, 128, 8)
    """BasicUNet widths: five encoder levels, then the last decoder level (6 positive ints)."""
    n_classes: int = N_LABELS
    """Output classes (label ids ``0 .. n_classes - 1``; 0 is background)."""
    dropout: float = 0.0
    """Dropout probability inside the U-Net blocks, in [0, 1)."""
    norm: str = "instance"
    """Feature normalisation: ``instance`` (robust at small batches) or ``batch``."""
    upsample: str = "deconv"
    """Decoder up-sampling: ``deconv``, ``pixelshuffle`` or ``nontrainable``."""
    lr: float = 3e-3
    """Peak AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    lambda_dice: float = 1.0
    """Weight of the soft Dice term of the Dice+CE loss."""
    lambda_ce: float = 1.0
    """Weight of the cross-entropy term of the Dice+CE loss."""
    augment: bool = True
    """Apply the on-the-fly augmentation below to training batches."""
    aug_intensity_scale: float = 0.15
    """Per-frame intensity gain drawn from ``U(1 - s, 1 + s)``."""
    aug_intensity_shift: float = 0.05
    """Per-frame intensity offset drawn from ``U(-s, s)`` (frames are in [0, 1])."""
    aug_noise_std: float = 0.03
    """Additive Gaussian noise, std drawn per frame from ``U(0, std)``."""
    aug_shift_px: float = 3.0
    """Translation drawn per frame and axis from ``U(-px, px)`` pixels."""
    aug_rotate_deg: float = 4.0
    """In-plane rotation drawn per frame from ``U(-deg, deg)`` degrees."""
    aug_zoom: float = 0.05
    """Isotropic zoom drawn per frame from ``U(1 - z, 1 + z)``."""
    domain: DomainRandomization | None = None
    """Domain randomisation of training frames (random contrast, shading, blur, noise and
    elastic shape; :mod:`mrisynth.transforms.domain`), applied before the augmentation above
    when ``augment``; None turns it off."""

    def __post_init__(self) -> None:
        if not isinstance(self.features, (list, tuple)):
            raise ValueError(f"features must be a sequence of 6 ints, got {self.features!r}")
        self.features = tuple(self.features)
        if self.img_size < PAD_MULTIPLE:
            raise ValueError(f"img_size must be >= {PAD_MULTIPLE} px, got {self.img_size}")
        if len(self.features) != 6:
            raise ValueError(
                "features must hold 6 widths (5 encoder levels + last decoder), "
                f"got {len(self.features)}: {self.features}"
            )
        if any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in self.features):
            raise ValueError(f"features must be positive integers, got {self.features}")
        if not 2 <= self.n_classes <= 255:
            raise ValueError(
                f"n_classes must be in [2, 255] (labels are uint8), got {self.n_classes}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {self.norm!r}")
        if self.upsample not in _UPSAMPLE:
            raise ValueError(f"upsample must be one of {_UPSAMPLE}, got {self.upsample!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("weight_decay", "lambda_dice", "lambda_ce", "aug_intensity_shift"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lambda_dice + self.lambda_ce <= 0:
            raise ValueError("lambda_dice + lambda_ce must be > 0 (the loss would be zero)")
        for name in ("aug_noise_std", "aug_shift_px", "aug_rotate_deg"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("aug_intensity_scale", "aug_zoom"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")


def build_segmenter(cfg: SegmenterConfig) -> nn.Module:
    """The U-Net of ``cfg``: ``(B, 1, H, W)`` frames -> ``(B, n_classes, H, W)`` logits.

    ``H`` and ``W`` should be multiples of :data:`PAD_MULTIPLE` (see :func:`pad_to_multiple`).
    """
    if not isinstance(cfg, SegmenterConfig):
        raise TypeError(f"build_segmenter: cfg must be a SegmenterConfig, got {type(cfg).__name__}")
    norm: str | tuple = ("instance", {"affine": True}) if cfg.norm == "instance" else "batch"
    return BasicUNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=cfg.n_classes,
        features=cfg.features,
        norm=norm,
        dropout=cfg.dropout,
        upsample=cfg.upsample,
    )


def pad_to_multiple(
    frames: np.ndarray, multiple: int = PAD_MULTIPLE, value: float = 0, min_size: int = 0
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Pad the last two axes of ``frames`` (..., H, W) up to multiples of ``multiple``.

    The padding is split evenly between both sides (so the anatomy stays centred) and filled
    with ``value`` (0: dark MRI background / the background label). Sizes below ``min_size``
    are padded up to ``min_size`` rounded up to a multiple.

    Returns:
        The padded array (..., H', W') and the ``(rows, cols)`` slices that crop it back.
    """
    h, w = frames.shape[-2:]
    ph, pw = (-max(h, min_size)) % multiple, (-max(w, min_size)) % multiple
    ph, pw = ph + max(min_size - h, 0), pw + max(min_size - w, 0)
    top, left = ph // 2, pw // 2
    pad = [(0, 0)] * (frames.ndim - 2) + [(top, ph - top), (left, pw - left)]
    padded = np.pad(frames, pad, mode="constant", constant_values=value) if ph or pw else frames
    return padded, (slice(top, top + h), slice(left, left + w))


def check_frames(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    """Validate ``(T, H, W)`` float frames scaled to [0, 1]; returns them as an array.

    Raises:
        ValueError / TypeError: naming ``name`` and what is wrong (shape, dtype, NaN, range).
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ValueError(f"{name} must be (T, H, W), got shape {frames.shape}")
    if frames.shape[0] == 0:
        raise ValueError(f"{name} holds no frames (shape {frames.shape})")
    if not np.issubdtype(frames.dtype, np.floating):
        raise TypeError(
            f"{name} must be floating point in [0, 1], got dtype {frames.dtype} "
            "(divide uint8 frames by 255)"
        )
    if not np.isfinite(frames).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    lo, hi = float(frames.min()), float(frames.max())
    if lo < -0.05 or hi > 1.05:  # small tolerance for noisy renders
        raise ValueError(f"{name} must be scaled to [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return frames


@torch.no_grad()
def segment(
    model: nn.Module,
    frames: np.ndarray,
    batch_size: int = 32,
    *,
    img_size: int | None = None,
) -> np.ndarray:
    """Label every pixel of ``frames`` with the model's most likely class.

    Runs in eval mode without gradients on the model's device; the model's previous train/eval
    mode is restored afterwards. Frames are zero-padded to a multiple of 16 px (at least 32) and
    the labels cropped back, so any ``H, W`` works.

    Args:
        model: a network from :func:`build_segmenter` (or any ``(B,1,H,W) -> (B,C,H,W)`` net).
        frames: ``(T, H, W)`` float intensities scaled to [0, 1].
        batch_size: frames per forward pass.
        img_size: the training frame size, if known; a different ``H``/``W`` is logged as a
            warning because the anatomy then appears at another scale than in training.

    Returns:
        ``(T, H, W)`` uint8 label ids (:data:`mrisynth.phantom.labels.LABELS`).

    Raises:
        ValueError / TypeError: frames not ``(T, H, W)``, not float, non-finite or not in [0, 1];
            ``batch_size < 1``.
    """
    frames = check_frames(frames)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    t, h, w = frames.shape
    if img_size is not None and (h, w) != (img_size, img_size):
        logger.warning(
            "segment: frames are %dx%d px, the model was trained on %d px", h, w, img_size
        )
    padded, (rows, cols) = pad_to_multiple(
        frames.astype(np.float32, copy=False), min_size=MIN_INPUT_SIZE
    )
    try:
        param = next(model.parameters())
        device, dtype = param.device, param.dtype
    except StopIteration:
        device, dtype = torch.device("cpu"), torch.float32
    was_training = model.training
    model.eval()
    out = np.empty((t, h, w), dtype=np.uint8)
    try:
        for start in range(0, t, batch_size):
            x = torch.from_numpy(padded[start : start + batch_size, None])  # (B, 1, H', W')
            logits = model(x.to(device=device, dtype=dtype))  # (B, C, H', W')
            labels = logits.argmax(dim=1)[:, rows, cols]  # (B, H, W)
            out[start : start + batch_size] = labels.to(torch.uint8).cpu().numpy()
    finally:
        model.train(was_training)
    return out
