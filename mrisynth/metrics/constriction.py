"""Constriction degree and location measured on articulator label maps (SPAN-style).

Synthesized frames carry no articulatory state, only pixels: the segmenter turns them into
label maps, and this module measures the vocal-tract constrictions on those maps the same way
for synthesized and reference frames, so the two can be compared.

For each place, the constriction is the closest pair of pixels between two tissue sets
(as in the SPAN constriction-degree code, which takes the minimum distance between two
contours):

============  =====================================  =========================================
place         set A                                  set B
============  =====================================  =========================================
lips          upper lip (upper lips component)       lower lip (one component = closed, 0 mm)
tongue_tip    front 20 mm of the tongue              hard palate (incl. alveolar ridge)
tongue_body   rest of the tongue                     hard palate and velum
velum         velum                                  posterior pharyngeal wall
pharynx       tongue below the velum                 posterior pharyngeal wall
============  =====================================  =========================================

- **degree** (mm) = distance between the two pixel centres minus one pixel (so touching
  regions give 0), clipped at 0; resolution-limited to about one pixel.
- **location** = midpoint of the closest pair, as ``(x_mm, y_mm)`` from the top-left corner
  (x anterior→posterior, y superior→inferior). Location errors are Euclidean distances in mm.

A place whose tissues are missing in a frame gives NaN (skipped in means).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from mrisynth.phantom.labels import CONSTRICTION_PLACES, LABELS

__all__ = [
    "measure_constrictions",
    "constriction_location_error",
    "pause_frames",
    "pause_motion_mm",
    "TONGUE_TIP_MM",
]

TONGUE_TIP_MM = 20.0


def _closest(a: np.ndarray, b: np.ndarray, ties: float | None = None) -> tuple[float, np.ndarray]:
    """Smallest distance between point sets ``a (N, 2)`` and ``b (M, 2)`` and its midpoint.

    With ``ties`` (mm), the midpoint is the mean over every pair within ``ties`` of the
    smallest distance (the centre of a contact), not the first such pair found."""
    if len(a) == 0 or len(b) == 0:
        return float("nan"), np.array([np.nan, np.nan])
    if a is b:  # one merged component: closed
        return 0.0, a.mean(0)
    d, j = cKDTree(b).query(a)
    i = int(np.argmin(d))
    if ties is None:
        return float(d[i]), (a[i] + b[j[i]]) / 2
    near = np.flatnonzero(d <= d[i] + ties)
    return float(d[i]), ((a[near] + b[j[near]]) / 2).mean(0)


def _upper_lower_lips(mask: np.ndarray, pts) -> tuple[np.ndarray, np.ndarray]:
    """The two largest lip components, upper first; one component = closed lips (0 mm apart)."""
    from scipy import ndimage

    comp, n = ndimage.label(mask)
    if n == 0:
        return np.empty((0, 2)), np.empty((0, 2))
    if n == 1:
        p = pts(mask)
        return p, p  # closed: identical sets give distance 0 at the lips' centre
    sizes = ndimage.sum(mask, comp, index=np.arange(1, n + 1))
    a, b = (np.argsort(sizes)[::-1][:2] + 1).tolist()
    pa, pb = pts(comp == a), pts(comp == b)
    return (pa, pb) if pa[:, 1].mean() < pb[:, 1].mean() else (pb, pa)


def _frame_sets(lab: np.ndarray, sp: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    def pts(mask: np.ndarray) -> np.ndarray:
        r, c = np.nonzero(mask)
        return np.stack([c * sp[1], r * sp[0]], 1).astype(np.float64)  # (x, y) mm

    tongue = pts(lab == LABELS["tongue"])
    velum = pts(lab == LABELS["velum"])
    palate = pts(lab == LABELS["hard_palate"])
    wall = pts(lab == LABELS["pharyngeal_wall"])
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    sets["lips"] = _upper_lower_lips(lab == LABELS["lips"], pts)
    if len(tongue):
        front = tongue[:, 0] <= tongue[:, 0].min() + TONGUE_TIP_MM
        sets["tongue_tip"] = (tongue[front], palate)
        sets["tongue_body"] = (tongue[~front], np.concatenate([palate, velum]))
        below = tongue[:, 1] > (velum[:, 1].max() if len(velum) else -np.inf)
        sets["pharynx"] = (tongue[below], wall)
    else:
        for place in ("tongue_tip", "tongue_body", "pharynx"):
            sets[place] = (tongue, tongue)
    sets["velum"] = (velum, wall)
    return sets


def measure_constrictions(
    labels: np.ndarray, spacing_mm: tuple[float, float], *, contact_centre: bool = False
) -> dict[str, np.ndarray]:
    """Constriction degree and location per frame from label maps.

    Args:
        labels: ``(T, H, W)`` integer label maps (ids of :mod:`mrisynth.phantom.labels`).
        spacing_mm: pixel spacing ``(row, col)`` in mm.
        contact_centre: locate a constriction at the centre of all its closest pairs (within
            half a pixel of the smallest distance) instead of at the first one found. A
            closure touches along many pixels, and the first of them is an arbitrary end of
            the contact: ``mrisynth compare`` compares locations phone by phone and needs the
            centre. (The evaluation keeps the first pair, as its published numbers were
            measured with it.)

    Returns:
        ``{"<place>_degree_mm": (T,), "<place>_location_mm": (T, 2)}`` for every place in
        :data:`CONSTRICTION_PLACES`; locations are ``(x, y)`` in mm.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must be (T, H, W), got {labels.shape}")
    sp = np.asarray(spacing_mm, dtype=np.float64)
    pixel = float(sp.mean())
    ties = pixel / 2 if contact_centre else None
    out = {f"{p}_degree_mm": np.full(len(labels), np.nan) for p in CONSTRICTION_PLACES}
    out.update({f"{p}_location_mm": np.full((len(labels), 2), np.nan) for p in CONSTRICTION_PLACES})
    for t, lab in enumerate(labels):
        for place, (a, b) in _frame_sets(lab, sp).items():
            d, loc = _closest(a, b, ties)
            if np.isfinite(d):
                out[f"{place}_degree_mm"][t] = max(0.0, d - pixel) if d > 0 else 0.0
                out[f"{place}_location_mm"][t] = loc
    return out


def constriction_location_error(
    pred: dict[str, np.ndarray], ref: dict[str, np.ndarray]
) -> dict[str, float]:
    """Mean Euclidean distance (mm) between predicted and reference constriction locations."""
    out = {}
    for place in CONSTRICTION_PLACES:
        key = f"{place}_location_mm"
        d = np.linalg.norm(np.asarray(pred[key]) - np.asarray(ref[key]), axis=1)
        out[key] = float(np.nanmean(d)) if np.isfinite(d).any() else float("nan")
    return out


def pause_frames(
    is_silence: np.ndarray, fps: float, min_pause_s: float = 0.3, trim_s: float = 0.1
) -> np.ndarray:
    """The frames inside long pauses, where a speaker's articulators rest.

    Args:
        is_silence: ``(T,)`` bool, True on frames whose phone is a pause.
        fps: frame rate (frames/s).
        min_pause_s: only runs of silence at least this long count (s).
        trim_s: frames within this time of a run's ends are dropped (the articulators are
            still moving into and out of the pause).

    Returns:
        ``(T,)`` bool.
    """
    sil = np.asarray(is_silence, dtype=bool)
    out = np.zeros(len(sil), bool)
    trim = int(round(trim_s * fps))
    k = 0
    while k < len(sil):
        if not sil[k]:
            k += 1
            continue
        end = k
        while end < len(sil) and sil[end]:
            end += 1
        if (end - k) / fps >= min_pause_s:
            out[k + trim : max(k + trim, end - trim)] = True
        k = end
    return out


def pause_motion_mm(measures: dict[str, np.ndarray], frames: np.ndarray) -> float:
    """Mean frame-to-frame change of the constriction degrees in pauses (mm/frame).

    ``mean |degree[t+1] - degree[t]|`` over consecutive frame pairs that both lie in
    ``frames`` (:func:`pause_frames`), over every place of :data:`CONSTRICTION_PLACES`. A mouth
    that keeps moving in silence (Wav2Lip's most repeated complaint) scores high; a resting
    one near the label maps' own jitter. NaN without such a pair.

    Args:
        measures: :func:`measure_constrictions` of a video.
        frames: ``(T,)`` bool, the pause frames.
    """
    frames = np.asarray(frames, dtype=bool)
    pairs = frames[1:] & frames[:-1]
    if not pairs.any():
        return float("nan")
    steps = [
        np.abs(np.diff(np.asarray(measures[f"{p}_degree_mm"], np.float64)))[pairs]
        for p in CONSTRICTION_PLACES
    ]
    flat = np.concatenate(steps)
    return float(np.nanmean(flat)) if np.isfinite(flat).any() else float("nan")
