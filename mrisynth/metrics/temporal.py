"""Temporal-coherence metrics for synthesized videos ``(T, H, W)`` in [0, 1] (lower is better).

- :func:`warping_error` (Lai et al. 2018): optical flow is estimated **once on the reference**
  (scikit-image TV-L1) between frames ``t-1`` and ``t``; the *synthesized* frame ``t-1`` is
  warped with it and compared with synthesized frame ``t`` (mean squared error over
  non-occluded pixels, where the reference itself warps consistently). Frames are subsampled
  (``stride``) to keep it cheap. A video identical to the reference scores the reference's own
  residual, ≈ 0 for smooth motion.
- :func:`temporal_gradient_difference`: mean ``|Δ_t pred − Δ_t ref|`` (frame differences).
  A frozen video scores the mean ``|Δ_t ref|``, a perfect one 0.
- :func:`flicker`: mean absolute temporal second difference of the prediction in regions that
  are static in the reference (reference temporal std below a threshold), i.e. energy of the
  temporal high-pass where nothing should move.
"""

from __future__ import annotations

import numpy as np

__all__ = ["warping_error", "temporal_gradient_difference", "flicker", "reference_flows"]


def _check(ref: np.ndarray, pred: np.ndarray) -> None:
    if ref.shape != pred.shape or ref.ndim != 3:
        raise ValueError(
            f"videos must both be (T, H, W) of one shape, got {ref.shape} and {pred.shape}"
        )
    if len(ref) < 3:
        raise ValueError(f"temporal metrics need at least 3 frames, got {len(ref)}")


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    from skimage.transform import warp

    rows, cols = np.meshgrid(np.arange(image.shape[0]), np.arange(image.shape[1]), indexing="ij")
    return warp(image, np.array([rows + flow[0], cols + flow[1]]), mode="edge", order=1)


def reference_flows(ref: np.ndarray, stride: int = 4) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """TV-L1 flows on the reference for frame pairs ``(t-1, t)`` with ``t`` every ``stride``.

    Returns a list of ``(t, flow (2, H, W), valid (H, W) bool)`` — compute once per reference
    and reuse for every method compared on it.
    """
    from skimage.registration import optical_flow_tvl1

    out = []
    for t in range(1, len(ref), stride):
        prev, cur = ref[t - 1].astype(np.float32), ref[t].astype(np.float32)
        flow = optical_flow_tvl1(cur, prev)  # maps cur pixel -> location in prev
        # occlusion mask: where warping the reference itself fails, the flow is not trusted
        resid = np.abs(_warp(prev, flow) - cur)
        valid = resid < max(0.05, np.percentile(resid, 95))
        out.append((t, flow, valid))
    return out


def warping_error(
    ref: np.ndarray,
    pred: np.ndarray,
    *,
    stride: int = 4,
    flows: list[tuple[int, np.ndarray, np.ndarray]] | None = None,
) -> float:
    """Warping error of ``pred`` using flow from ``ref`` (see module docstring)."""
    _check(ref, pred)
    flows = reference_flows(ref, stride) if flows is None else flows
    errs = []
    for t, flow, valid in flows:
        warped = _warp(pred[t - 1].astype(np.float32), flow)
        errs.append(float(((warped - pred[t]) ** 2)[valid].mean()))
    return float(np.mean(errs))


def temporal_gradient_difference(ref: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute difference of frame-to-frame changes (pred vs ref)."""
    _check(ref, pred)
    d_ref = np.diff(ref.astype(np.float64), axis=0)
    d_pred = np.diff(pred.astype(np.float64), axis=0)
    return float(np.abs(d_pred - d_ref).mean())


def flicker(ref: np.ndarray, pred: np.ndarray, static_std: float = 0.02) -> float:
    """Mean |second temporal difference| of ``pred`` where ``ref`` is static (std < threshold)."""
    _check(ref, pred)
    static = ref.astype(np.float64).std(0) < static_std
    if not static.any():
        return float("nan")
    d2 = np.abs(np.diff(pred.astype(np.float64), n=2, axis=0))
    return float(d2[:, static].mean())
