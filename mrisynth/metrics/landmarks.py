"""Landmark distance (LMD) between generated and reference face landmarks (lower is better).

Landmarks are ``(T, K, 2)`` pixel ``(x, y)`` arrays in the order of
:data:`mrisynth.phantom.face.LANDMARK_NAMES` (the phantom's ground truth, or a landmark
regressor's output on any video of the same frame size).

- :func:`landmark_distance`: per-frame mean Euclidean distance ``(T,)`` over a landmark subset
  (:data:`MOUTH_LANDMARKS`, :data:`FACE_LANDMARKS`), in pixels or divided by the reference's
  inter-ocular distance (:func:`inter_ocular_distance`: outer eye corners, as in 300-W), which
  makes it independent of frame size and face scale.
- ``align=True`` first maps each generated frame onto its reference frame with the
  least-squares similarity transform (rotation, uniform scale, translation; Umeyama 1991)
  fitted on the rigid upper-face landmarks (:data:`UPPER_FACE_LANDMARKS`: eye corners, brows,
  nose bridge). Head pose then no longer counts, and the mouth LMD measures the mouth shape
  relative to the head ("mouth LMD after pose alignment"). Only rigid points take part in the
  fit, so a mouth that moves differently is not pulled onto the reference.

LMD follows Chen et al. (2018), "Lip movements generation at a glance", ECCV: mean distance
of the mouth landmarks between generated and real frames.

Rules: a frame whose landmarks hold NaN (no face found) gives NaN for that frame; average with
:func:`numpy.nanmean` or :func:`mrisynth.metrics.stats.summarize`. A reference with a zero
inter-ocular distance gives NaN when normalised. No frames → ValueError.

Reference: Umeyama, S. (1991), "Least-squares estimation of transformation parameters between
two point patterns", IEEE TPAMI 13(4), 376–380.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mrisynth.data.face_landmarks import LANDMARK_INDEX, LANDMARK_NAMES

__all__ = [
    "MOUTH_LANDMARKS",
    "FACE_LANDMARKS",
    "UPPER_FACE_LANDMARKS",
    "check_landmarks",
    "inter_ocular_distance",
    "similarity_fit",
    "align_to",
    "landmark_distance",
]


def _idx(prefixes: Sequence[str]) -> tuple[int, ...]:
    return tuple(i for i, n in enumerate(LANDMARK_NAMES) if n.startswith(tuple(prefixes)))


#: Outer and inner lip landmarks (12).
MOUTH_LANDMARKS: tuple[int, ...] = _idx(("mouth_", "lip_"))
#: Every landmark.
FACE_LANDMARKS: tuple[int, ...] = tuple(range(len(LANDMARK_NAMES)))
#: Rigid points for pose alignment: eye corners, brows, nose bridge (eyelids and jaw move).
UPPER_FACE_LANDMARKS: tuple[int, ...] = tuple(
    LANDMARK_INDEX[n]
    for n in (
        "eye_l_outer",
        "eye_l_inner",
        "eye_r_inner",
        "eye_r_outer",
        "brow_l",
        "brow_r",
        "nose_bridge",
    )
)


def check_landmarks(landmarks: np.ndarray, what: str = "landmarks") -> np.ndarray:
    """``landmarks`` as float64 ``(T, K, 2)``.

    Raises:
        ValueError: another shape or no frames.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[-1] != 2 or lm.shape[0] == 0 or lm.shape[1] == 0:
        raise ValueError(f"{what} must be (T, K, 2) with T, K > 0, got {lm.shape}")
    return lm


def inter_ocular_distance(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners, per frame.

    Args:
        landmarks: ``(T, K, 2)`` pixel ``(x, y)``.

    Returns:
        ``(T,)`` pixels.
    """
    lm = check_landmarks(landmarks)
    d = lm[:, LANDMARK_INDEX["eye_r_outer"]] - lm[:, LANDMARK_INDEX["eye_l_outer"]]
    return np.linalg.norm(d, axis=-1)


def similarity_fit(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity transform mapping ``source`` points onto ``target`` (Umeyama).

    Args:
        source: ``(N, 2)`` points (N ≥ 2, not all equal).
        target: ``(N, 2)`` points.

    Returns:
        ``(A, t)``: ``A`` ``(2, 2)`` = scale × rotation (no reflection) and ``t`` ``(2,)``, so
        that ``source @ A.T + t`` ≈ ``target``. Degenerate input (fewer than 2 points, all
        source points equal, or NaN) gives NaN ``A`` and ``t``.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    nan = (np.full((2, 2), np.nan), np.full(2, np.nan))
    if len(src) < 2 or not (np.isfinite(src).all() and np.isfinite(dst).all()):
        return nan
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s**2).sum() / len(src)
    if var_s <= 1e-12:
        return nan
    cov = d.T @ s / len(src)
    u, sv, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # a reflection fits better: forbid it
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(sv) @ sign)) / var_s
    a = scale * rot
    return a, mu_d - a @ mu_s


def align_to(
    moving: np.ndarray,
    fixed: np.ndarray,
    indices: Sequence[int] = UPPER_FACE_LANDMARKS,
) -> np.ndarray:
    """Map every frame of ``moving`` onto ``fixed`` by the similarity fitted on ``indices``.

    Args:
        moving: ``(T, K, 2)`` landmarks to transform (e.g. the generated video's).
        fixed: ``(T, K, 2)`` target landmarks (e.g. the reference's).
        indices: the landmarks the transform is fitted on (rigid ones).

    Returns:
        ``(T, K, 2)`` transformed ``moving``; frames where the fit is degenerate are NaN.
    """
    mov = check_landmarks(moving, "moving landmarks")
    fix = check_landmarks(fixed, "fixed landmarks")
    if mov.shape != fix.shape:
        raise ValueError(f"landmark shapes differ: {mov.shape} vs {fix.shape}")
    idx = list(indices)
    out = np.empty_like(mov)
    for k in range(len(mov)):
        a, t = similarity_fit(mov[k, idx], fix[k, idx])
        out[k] = mov[k] @ a.T + t
    return out


def landmark_distance(
    reference: np.ndarray,
    prediction: np.ndarray,
    indices: Sequence[int] = MOUTH_LANDMARKS,
    *,
    align: bool = False,
    normalize: bool = False,
) -> np.ndarray:
    """Per-frame landmark distance (LMD).

    Args:
        reference: ``(T, K, 2)`` reference landmarks (pixels).
        prediction: ``(T, K, 2)`` generated landmarks (pixels).
        indices: the landmarks averaged over (default the mouth).
        align: first map ``prediction`` onto ``reference`` per frame by the similarity fitted
            on :data:`UPPER_FACE_LANDMARKS` (pose alignment).
        normalize: divide by the reference's inter-ocular distance of each frame.

    Returns:
        ``(T,)`` mean Euclidean distance over ``indices``: pixels, or a fraction of the
        inter-ocular distance when ``normalize``. NaN where a frame has NaN landmarks, or a
        zero inter-ocular distance when normalised.

    Raises:
        ValueError: shapes differ or are not ``(T, K, 2)``, or ``indices`` is empty.

    Example::

        lmd_mouth = np.nanmean(landmark_distance(ref_lm, gen_lm, align=True, normalize=True))
    """
    ref = check_landmarks(reference, "reference landmarks")
    pred = check_landmarks(prediction, "predicted landmarks")
    if ref.shape != pred.shape:
        raise ValueError(
            f"cannot compare landmarks of different shapes: reference {ref.shape} vs "
            f"prediction {pred.shape}"
        )
    idx = list(indices)
    if not idx:
        raise ValueError("landmark_distance: no landmark indices given")
    if align:
        pred = align_to(pred, ref)
    dist = np.linalg.norm(pred[:, idx] - ref[:, idx], axis=-1).mean(axis=1)
    if normalize:
        iod = inter_ocular_distance(ref)
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.where(iod > 0, dist / np.where(iod > 0, iod, 1.0), np.nan)
    return dist
