"""Image-quality metrics for video: SSIM, MS-SSIM, PSNR (higher is better for all three).

Videos are ``(T, H, W)`` (grayscale MRI) or ``(T, H, W, C)`` (face RGB) arrays with values in
``[0, data_range]``. Each metric is computed per frame and returned per frame ``(T,)``; average
with :func:`numpy.mean` or the helpers in :mod:`mrisynth.metrics.stats`.

- SSIM, PSNR: scikit-image (``structural_similarity`` with a 7×7 Gaussian-free window,
  ``peak_signal_noise_ratio``).
- MS-SSIM: MONAI ``MultiScaleSSIMMetric``. The defaults (5 scales, 11-px kernel) need at least
  ``(11 - 1) * 2**4 + 1 = 161`` px; on 64–96 px vocal-tract ROIs we use **3 scales** with a
  **7-px Gaussian kernel** (σ 1.5) and the first three default weights renormalised
  (0.0448, 0.2856, 0.3001 → sum 1), which needs ``(7 - 1) * 2**2 + 1 = 25`` px.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = ["check_same_video", "ssim", "psnr", "ms_ssim", "MS_SSIM_WEIGHTS", "MS_SSIM_KERNEL"]

_W5 = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
MS_SSIM_WEIGHTS: tuple[float, ...] = tuple((_W5[:3] / _W5[:3].sum()).tolist())
MS_SSIM_KERNEL = 7


def check_same_video(reference: np.ndarray, prediction: np.ndarray, what: str = "videos") -> None:
    """Raise ValueError unless both videos have the same shape (never compare silently)."""
    if reference.shape != prediction.shape:
        raise ValueError(
            f"cannot compare {what} of different shapes: reference {reference.shape} vs "
            f"prediction {prediction.shape}; resample/align them first"
        )
    if reference.ndim not in (3, 4):
        raise ValueError(f"{what} must be (T, H, W) or (T, H, W, C), got {reference.shape}")


def ssim(reference: np.ndarray, prediction: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Per-frame SSIM ``(T,)``; 1 for identical frames."""
    check_same_video(reference, prediction)
    channel_axis = -1 if reference.ndim == 4 else None
    return np.array(
        [
            structural_similarity(
                r.astype(np.float64),
                p.astype(np.float64),
                data_range=data_range,
                channel_axis=channel_axis,
            )
            for r, p in zip(reference, prediction)
        ]
    )


def psnr(reference: np.ndarray, prediction: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Per-frame PSNR in dB ``(T,)``; identical frames give ``inf`` (capped at 100 dB)."""
    check_same_video(reference, prediction)
    out = []
    for r, p in zip(reference, prediction):
        if np.array_equal(r, p):
            out.append(100.0)
        else:
            out.append(
                min(
                    100.0,
                    peak_signal_noise_ratio(
                        r.astype(np.float64), p.astype(np.float64), data_range=data_range
                    ),
                )
            )
    return np.array(out)


def ms_ssim(reference: np.ndarray, prediction: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Per-frame MS-SSIM ``(T,)`` with the small-ROI setting documented in the module."""
    import torch
    from monai.metrics import MultiScaleSSIMMetric

    check_same_video(reference, prediction)
    min_side = (MS_SSIM_KERNEL - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1) + 1
    if min(reference.shape[1:3]) < min_side:
        raise ValueError(
            f"MS-SSIM needs frames of at least {min_side} px, got {reference.shape[1:3]}"
        )

    def to_bchw(v: np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(np.asarray(v, dtype=np.float32))
        return t[:, None] if v.ndim == 3 else t.permute(0, 3, 1, 2)

    metric = MultiScaleSSIMMetric(
        spatial_dims=2,
        data_range=data_range,
        kernel_size=MS_SSIM_KERNEL,
        weights=MS_SSIM_WEIGHTS,
        reduction="none",
    )
    vals = metric(to_bchw(prediction), to_bchw(reference))
    return vals.reshape(len(reference), -1).mean(1).numpy().astype(np.float64)
