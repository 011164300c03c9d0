"""Intensity conversions, in one place: uint8 ↔ unit float and percentile scaling.

Every part of mrisynth that turns frames into bytes (training data, the device bank, video
writers) or bytes into network inputs (training, synthesis, evaluation) calls these, so the
scale of a frame never depends on which path it took.

The uint8 rule (:func:`to_uint8`) keeps an intensity scale where one exists:

- uint8 stays as it is;
- floats in ``[0, 1]`` are scaled by 255 and rounded;
- anything else (uint16 MRI, floats outside [0, 1]) is stretched min–max over the whole array.

Example::

    u8 = to_uint8(frames)            # (T, H, W) uint8
    x = to_unit(u8)                  # (T, H, W) float32 in [0, 1]
    y, (lo, hi) = percentile_scale(raw, 1, 99)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported by the one function that needs it: readers stay light
    import torch

__all__ = ["to_uint8", "to_unit", "unit_tensor", "percentile_scale"]


def to_uint8(frames: np.ndarray, source_dtype: np.dtype | type | None = None) -> np.ndarray:
    """Frames of any dtype as uint8, same shape.

    Args:
        frames: array of any shape, e.g. ``(T, H, W)`` or ``(T, H, W, 3)``.
        source_dtype: the dtype the frames had before a float resampling; uint8 data that was
            resampled as float keeps its 0..255 scale (rounded, clipped) instead of being
            stretched. ``None``: the array's own dtype.

    Returns:
        uint8 array. A constant array that is not already on a known scale maps to 0.
    """
    f = np.asarray(frames)
    src = np.dtype(source_dtype) if source_dtype is not None else f.dtype
    if f.dtype == np.uint8:
        return f
    if src == np.uint8:
        return np.clip(np.rint(f), 0, 255).astype(np.uint8)
    if f.dtype.kind == "f" and f.size and f.min() >= 0 and f.max() <= 1:
        return np.rint(f * 255).astype(np.uint8)
    if f.size == 0:
        return f.astype(np.uint8)
    lo, hi = float(f.min()), float(f.max())
    return np.rint((f.astype(np.float64) - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)


def to_unit(frames: np.ndarray) -> np.ndarray:
    """uint8 frames → float32 in [0, 1]; float frames are returned as float32 unchanged."""
    f = np.asarray(frames)
    return f.astype(np.float32) / 255.0 if f.dtype == np.uint8 else f.astype(np.float32)


def unit_tensor(x: torch.Tensor) -> torch.Tensor:
    """The torch twin of :func:`to_unit`: uint8 → float32 / 255, float → float32 (any shape)."""
    import torch

    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def percentile_scale(
    frames: np.ndarray, p_low: float = 1.0, p_high: float = 99.0
) -> tuple[np.ndarray, tuple[float, float]]:
    """Robust scaling to float32 [0, 1] by the ``p_low``/``p_high`` percentiles, clipped.

    Args:
        frames: intensities of any shape and numeric dtype.
        p_low, p_high: percentiles (0–100) mapped to 0 and 1.

    Returns:
        ``(scaled, (lo, hi))``: the float32 array and the intensities that map to 0 and 1.

    Raises:
        ValueError: the two percentiles coincide (a constant image cannot be scaled).
    """
    lo, hi = np.percentile(np.asarray(frames, dtype=np.float64), [p_low, p_high])
    if hi <= lo:
        raise ValueError(
            f"cannot normalise: intensity percentiles p{p_low}={lo} and p{p_high}={hi} coincide"
        )
    y = np.clip((np.asarray(frames, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return y.astype(np.float32), (float(lo), float(hi))
