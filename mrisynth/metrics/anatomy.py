"""Anatomical-consistency metrics between synthesized and reference vocal tracts.

- :func:`dice_per_class`: Dice per articulator label (MONAI ``compute_dice``); 1 = perfect.
- :func:`hd95_per_class`: 95th-percentile symmetric Hausdorff distance in **mm** (MONAI
  ``compute_hausdorff_distance`` with the pixel spacing); 0 = perfect.
- :func:`constriction_errors`: mean absolute error (mm) of constriction degree/location
  measures (names from :data:`mrisynth.phantom.labels.MEASURE_NAMES`).
- :func:`contour_distance_mm`: mean symmetric closest-point distance between two polylines (mm).
- :func:`air_boundary`: the air–tissue boundary of an air mask as sub-pixel polylines.
- :func:`boundary_distance_mm`: symmetric mean and 95th-percentile distance (mm) between two
  boundaries given as polylines (e.g. a segmenter's air edge against manual contours).
- :func:`trajectory_correlation`: Pearson r over time of each measure (synth vs reference).

Empty-mask rule: a class absent from **both** reference and prediction in a frame is skipped
(NaN, excluded from means); absent from only one gives Dice 0 and HD95 = the image diagonal.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "dice_per_class",
    "hd95_per_class",
    "constriction_errors",
    "contour_distance_mm",
    "air_boundary",
    "boundary_distance_mm",
    "trajectory_correlation",
]


def _one_hot(labels: np.ndarray, n_classes: int):
    import torch

    t = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if t.min() < 0 or t.max() >= n_classes:
        raise ValueError(
            f"labels must lie in 0..{n_classes - 1}, got {int(t.min())}..{int(t.max())}"
        )
    return torch.nn.functional.one_hot(t, n_classes).permute(0, 3, 1, 2).float()  # (T, K, H, W)


def _check(pred: np.ndarray, ref: np.ndarray) -> None:
    if pred.shape != ref.shape or pred.ndim != 3:
        raise ValueError(
            f"label maps must both be (T, H, W) of one shape, got {pred.shape} and {ref.shape}"
        )


def dice_per_class(pred: np.ndarray, ref: np.ndarray, n_classes: int) -> np.ndarray:
    """Dice ``(T, K)`` per frame and class (class 0 included; NaN where both are empty)."""
    from monai.metrics import compute_dice

    _check(pred, ref)
    d = compute_dice(
        _one_hot(pred, n_classes),
        _one_hot(ref, n_classes),
        include_background=True,
        ignore_empty=False,
    )
    out = d.numpy().astype(np.float64)
    both_empty = np.stack(
        [((pred == k).sum((1, 2)) == 0) & ((ref == k).sum((1, 2)) == 0) for k in range(n_classes)],
        1,
    )
    out[both_empty] = np.nan
    return out


def hd95_per_class(
    pred: np.ndarray,
    ref: np.ndarray,
    n_classes: int,
    spacing_mm: tuple[float, float],
    classes: list[int] | tuple[int, ...] | None = None,
) -> np.ndarray:
    """HD95 in mm ``(T, K)`` per frame and class (NaN where both are empty).

    Args:
        pred, ref: ``(T, H, W)`` label maps with ids ``0..n_classes - 1``.
        n_classes: ``K``.
        spacing_mm: ``(row, col)`` pixel spacing (mm).
        classes: class ids to score (default all); the others are NaN. MONAI's surface
            distances cost per class and frame, so skipping unused classes saves time.
    """
    from monai.metrics import compute_hausdorff_distance

    _check(pred, ref)
    ids = list(range(n_classes)) if classes is None else sorted({int(k) for k in classes})
    if any(not 0 <= k < n_classes for k in ids):
        raise ValueError(f"classes must lie in 0..{n_classes - 1}, got {ids}")
    hd = np.full((len(pred), n_classes), np.nan)
    hd[:, ids] = (
        compute_hausdorff_distance(
            _one_hot(pred, n_classes)[:, ids],
            _one_hot(ref, n_classes)[:, ids],
            include_background=True,
            percentile=95,
            spacing=list(spacing_mm),
        )
        .numpy()
        .astype(np.float64)
    )
    p_empty = np.stack([(pred == k).sum((1, 2)) == 0 for k in ids], 1)
    r_empty = np.stack([(ref == k).sum((1, 2)) == 0 for k in ids], 1)
    diag = float(np.hypot(pred.shape[1] * spacing_mm[0], pred.shape[2] * spacing_mm[1]))
    sub = hd[:, ids]
    sub[p_empty ^ r_empty] = diag
    sub[p_empty & r_empty] = np.nan
    hd[:, ids] = sub
    return hd


def constriction_errors(
    pred: dict[str, np.ndarray], ref: dict[str, np.ndarray]
) -> dict[str, float]:
    """Mean absolute error (mm) per measure present in both dicts of ``(T,)`` arrays."""
    out = {}
    for name in ref:
        if name in pred:
            p, r = np.asarray(pred[name], float), np.asarray(ref[name], float)
            if p.shape != r.shape:
                raise ValueError(f"measure {name!r}: lengths differ ({p.shape} vs {r.shape})")
            ok = np.isfinite(p) & np.isfinite(r)
            out[name] = float(np.abs(p[ok] - r[ok]).mean()) if ok.any() else float("nan")
    return out


def contour_distance_mm(a: np.ndarray, b: np.ndarray) -> float:
    """Mean symmetric closest-point distance between polylines ``a (N, 2)`` and ``b (M, 2)`` in mm.

    Both polylines are densified to ≤ 0.25 mm point spacing so the result does not depend on
    how many vertices each has.
    """
    return boundary_distance_mm([a], [b], (1.0, 1.0))["mean"]


def air_boundary(air: np.ndarray) -> list[np.ndarray]:
    """The edge of an air region as sub-pixel polylines.

    The boundary runs half-way between air and tissue pixel centres (marching squares at 0.5,
    scikit-image ``find_contours``); the image border is not a boundary.

    Args:
        air: ``(H, W)`` boolean air mask.

    Returns:
        ``(N_i, 2)`` ``(row, col)`` polylines in pixels.
    """
    from skimage.measure import find_contours

    air = np.asarray(air)
    if air.ndim != 2:
        raise ValueError(f"air mask must be (H, W), got shape {air.shape}")
    return [c for c in find_contours(air.astype(np.float32), 0.5) if len(c) >= 2]


def boundary_distance_mm(
    pred: list[np.ndarray],
    ref: list[np.ndarray],
    spacing_mm: tuple[float, float],
    max_mm: float | None = None,
) -> dict[str, float]:
    """Distances between two boundaries, each a list of ``(N, 2)`` ``(row, col)`` polylines.

    Every polyline is densified to ≤ 0.25 mm point spacing, so results do not depend on vertex
    counts. ``mean`` is the symmetric mean, ``(mean(pred -> ref) + mean(ref -> pred)) / 2``;
    ``hd95`` is the larger of the two directed 95th percentiles (MONAI's
    ``compute_hausdorff_distance(percentile=95)`` convention, as :func:`hd95_per_class`).

    Args:
        pred: predicted boundary polylines (pixels).
        ref: reference polylines (pixels), e.g. manual contours.
        spacing_mm: ``(row, col)`` pixel spacing.
        max_mm: score only predicted points within this distance of the reference (a band
            around a reference traced on part of the image); ``pred_scored`` says how much of
            the predicted boundary that kept.

    Returns:
        ``{"mean", "hd95", "pred_to_ref", "ref_to_pred", "pred_scored"}`` (mm, mm, mm, mm,
        fraction); all NaN when either boundary is empty.
    """
    from scipy.spatial import cKDTree

    scale = np.asarray(spacing_mm, float)
    a = _points_mm(pred, scale)
    b = _points_mm(ref, scale)
    nan = float("nan")
    if len(a) == 0 or len(b) == 0:
        return dict.fromkeys(("mean", "hd95", "pred_to_ref", "ref_to_pred", "pred_scored"), nan)
    da, _ = cKDTree(b).query(a)
    kept = da <= max_mm if max_mm is not None else np.ones(len(a), bool)
    if not kept.any():
        return {
            **dict.fromkeys(("mean", "hd95", "pred_to_ref", "ref_to_pred"), nan),
            "pred_scored": 0.0,
        }
    a, da = a[kept], da[kept]
    db, _ = cKDTree(a).query(b)
    return {
        "mean": float((da.mean() + db.mean()) / 2),
        "hd95": float(max(np.percentile(da, 95), np.percentile(db, 95))),
        "pred_to_ref": float(da.mean()),
        "ref_to_pred": float(db.mean()),
        "pred_scored": float(kept.mean()),
    }


def _points_mm(lines: list[np.ndarray], scale: np.ndarray) -> np.ndarray:
    pts = [_densify(np.asarray(p, float) * scale) for p in lines]
    pts = [p for p in pts if len(p)]
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def _densify(poly: np.ndarray, step_mm: float = 0.25) -> np.ndarray:
    if poly.ndim != 2 or poly.shape[1] != 2:
        raise ValueError(f"polyline must be (N, 2), got {poly.shape}")
    if len(poly) < 2:
        return poly
    seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(np.ceil(s[-1] / step_mm)) + 1)
    t = np.linspace(0, s[-1], n)
    return np.stack([np.interp(t, s, poly[:, 0]), np.interp(t, s, poly[:, 1])], 1)


def trajectory_correlation(
    pred: dict[str, np.ndarray], ref: dict[str, np.ndarray]
) -> dict[str, float]:
    """Pearson correlation over time per measure (NaN when either trajectory is constant)."""
    out = {}
    for name in ref:
        if name not in pred:
            continue
        p, r = np.asarray(pred[name], float), np.asarray(ref[name], float)
        ok = np.isfinite(p) & np.isfinite(r)
        if ok.sum() < 3 or p[ok].std() == 0 or r[ok].std() == 0:
            out[name] = float("nan")
        else:
            out[name] = float(np.corrcoef(p[ok], r[ok])[0, 1])
    return out
