"""No-reference sharpness: CPBD, the cumulative probability of blur detection (higher is sharper).

Implemented from the definition of Narvekar & Karam (2011), to catch the mouth blur that
Wav2Lip-style generators are known for, without needing a reference video:

1. Edge pixels: Canny (scikit-image, σ = 1, gradient thresholds ``low``/``high`` on the
   [0, 255] scale).
2. The image is cut into ``block`` × ``block`` blocks; a block is an *edge block* when more than
   0.2 % of its pixels are edge pixels. Its contrast ``C = max − min`` (0–255) sets the
   just-noticeable-blur width ``w_JNB`` = 5 px for ``C ≤ 50``, else 3 px.
3. Each edge pixel's width ``w`` is the distance between the intensity extrema on either side
   of it along its gradient axis. The paper (after Marziliano et al. 2002) measures along
   image rows; here the axis of the larger Sobel component is used, because the mouth's main
   edges (the lip boundaries) are horizontal and a row profile does not cross them.
4. Its probability of blur detection is ``P = 1 − exp(−|w / w_JNB|^β)``, β = 3.6, and CPBD is
   the fraction of edge pixels with ``P ≤ P_JNB = 1 − e^−1`` (≈ 63 %), i.e. ``w ≤ w_JNB``.

Rules: an image without edge blocks has no measurable edge and gives NaN (average with
:func:`numpy.nanmean`); an image smaller than ``block`` is one block. Values lie in [0, 1].

:func:`mouth_sharpness` applies it per frame to the mouth box of a face video given its
landmarks (the phantom's ground truth or :func:`mrisynth.models.landmarks.predict_landmarks`).
At 64-px faces the mouth box is about 20 × 10 px, so few edges are measured; compare methods on
the same frames, not with CPBD values published for full images.

References:

- Narvekar, N. D. & Karam, L. J. (2011), "A no-reference image blur metric based on the
  cumulative probability of blur detection (CPBD)", IEEE Trans. Image Processing 20(9),
  2678–2683.
- Marziliano, P. et al. (2002), "A no-reference perceptual blur metric", ICIP.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mrisynth.metrics.landmarks import MOUTH_LANDMARKS, check_landmarks

__all__ = ["BETA", "P_JNB", "cpbd", "edge_widths", "mouth_box", "mouth_sharpness"]

#: Slope of the probability-of-blur-detection psychometric function (Narvekar & Karam 2011).
BETA = 3.6
#: Probability of detecting blur at the just-noticeable blur width.
P_JNB = 1.0 - np.exp(-1.0)
_EDGE_FRACTION = 0.002


def _gray255(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` in [0, 1] (float) or uint8 → ``(H, W)`` float64 in [0, 255]."""
    img = np.asarray(image)
    scale = 1.0 if img.dtype == np.uint8 else 255.0
    img = img.astype(np.float64) * scale
    if img.ndim == 3 and img.shape[-1] == 3:
        img = img @ np.array([0.2125, 0.7154, 0.0721])  # luminance (ITU-R BT.709)
    if img.ndim != 2:
        raise ValueError(f"cpbd: image must be (H, W) or (H, W, 3), got {np.shape(image)}")
    if not np.isfinite(img).all():
        raise ValueError("cpbd: image contains NaN or infinite values")
    return img


def _extent(profile: np.ndarray, k: int, step: int, rising: bool) -> int:
    """Index of the extremum reached from ``k`` walking by ``step`` while the profile keeps
    rising (or falling) in the walking direction."""
    n = len(profile)
    j = k
    while 0 <= j + step < n:
        diff = profile[j + step] - profile[j]
        if (diff > 0) if rising else (diff < 0):
            j += step
        else:
            break
    return j


def edge_widths(
    image: np.ndarray, low: float = 20.0, high: float = 40.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canny edge pixels and their widths along the dominant gradient axis.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)``, uint8 or float in [0, 1].
        low: Canny low hysteresis threshold (gradient magnitude on the [0, 255] scale).
        high: Canny high threshold.

    Returns:
        ``rows``, ``cols`` ``(N,)`` int of the edge pixels and their widths ``(N,)`` float (px).
    """
    from scipy.ndimage import sobel
    from skimage.feature import canny

    img = _gray255(image)
    edges = canny(img, sigma=1.0, low_threshold=low, high_threshold=high)
    gy, gx = sobel(img, axis=0), sobel(img, axis=1)
    rows, cols = np.nonzero(edges)
    widths = np.empty(len(rows))
    for i, (r, c) in enumerate(zip(rows, cols)):
        if abs(gx[r, c]) >= abs(gy[r, c]):
            profile, k, rising = img[r], c, gx[r, c] > 0
        else:
            profile, k, rising = img[:, c], r, gy[r, c] > 0
        # intensity rises along +axis when the gradient is positive: walk up one way and down
        # the other; the width spans the two extrema
        hi = _extent(profile, k, 1, rising)
        lo = _extent(profile, k, -1, not rising)
        widths[i] = hi - lo
    return rows, cols, widths


def cpbd(image: np.ndarray, block: int = 64, low: float = 20.0, high: float = 40.0) -> float:
    """CPBD of one image (see the module docstring).

    Args:
        image: ``(H, W)`` or ``(H, W, 3)``, uint8 or float in [0, 1].
        block: block side (px) for the edge-block and contrast rule (64 in the paper).
        low, high: Canny thresholds on the [0, 255] scale.

    Returns:
        The fraction of edge pixels (in edge blocks) whose blur is below the just-noticeable
        level, in [0, 1]; NaN without edge blocks.

    Example::

        cpbd(skimage.data.camera()) > cpbd(gaussian(skimage.data.camera(), 2))   # True
    """
    img = _gray255(image)
    rows, cols, widths = edge_widths(img, low, high)
    if len(rows) == 0:
        return float("nan")
    h, w = img.shape
    bh, bw = min(block, h), min(block, w)
    block_id = (rows // bh) * (-(-w // bw)) + cols // bw
    sharp = n = 0
    for b in np.unique(block_id):
        sel = block_id == b
        r0, c0 = (rows[sel][0] // bh) * bh, (cols[sel][0] // bw) * bw
        tile = img[r0 : r0 + bh, c0 : c0 + bw]
        if sel.sum() <= _EDGE_FRACTION * tile.size:
            continue
        w_jnb = 5.0 if tile.max() - tile.min() <= 50 else 3.0
        p_blur = 1.0 - np.exp(-(np.abs(widths[sel] / w_jnb) ** BETA))
        sharp += int((p_blur <= P_JNB).sum())
        n += int(sel.sum())
    return float(sharp / n) if n else float("nan")


def mouth_box(
    landmarks: np.ndarray,
    shape: tuple[int, int],
    margin: float = 0.25,
    indices: Sequence[int] = MOUTH_LANDMARKS,
) -> np.ndarray:
    """Per-frame mouth box from landmarks, clipped to the frame.

    Args:
        landmarks: ``(T, K, 2)`` pixel ``(x, y)``.
        shape: frame ``(H, W)``.
        margin: added on each side as a fraction of the mouth width.
        indices: the landmarks spanned (default the lips).

    Returns:
        ``(T, 4)`` int ``(row0, row1, col0, col1)``, half-open; all -1 for a frame with NaN
        landmarks.
    """
    lm = check_landmarks(landmarks)[:, list(indices)]
    out = np.full((len(lm), 4), -1, dtype=np.int64)
    for k, pts in enumerate(lm):
        if not np.isfinite(pts).all():
            continue
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        pad = margin * max(x1 - x0, 1.0)
        r0, r1 = int(np.floor(y0 - pad)), int(np.ceil(y1 + pad)) + 1
        c0, c1 = int(np.floor(x0 - pad)), int(np.ceil(x1 + pad)) + 1
        out[k] = (max(r0, 0), min(r1, shape[0]), max(c0, 0), min(c1, shape[1]))
    return out


def mouth_sharpness(frames: np.ndarray, landmarks: np.ndarray, margin: float = 0.25) -> np.ndarray:
    """CPBD of the mouth region of every frame.

    Args:
        frames: ``(T, H, W, 3)`` or ``(T, H, W)``, uint8 or float in [0, 1].
        landmarks: ``(T, K, 2)`` pixel landmarks of the same frames.
        margin: mouth-box margin (:func:`mouth_box`).

    Returns:
        ``(T,)`` CPBD; NaN for a frame without landmarks, an empty box or no edges.

    Raises:
        ValueError: frame and landmark counts differ.
    """
    frames = np.asarray(frames)
    if len(frames) != len(landmarks):
        raise ValueError(
            f"mouth_sharpness: {len(frames)} frames but {len(landmarks)} landmark frames"
        )
    boxes = mouth_box(landmarks, frames.shape[1:3], margin)
    out = np.full(len(frames), np.nan)
    for k, (r0, r1, c0, c1) in enumerate(boxes):
        if r0 < 0 or r1 - r0 < 3 or c1 - c0 < 3:
            continue
        out[k] = cpbd(frames[k, r0:r1, c0:c1])
    return out
