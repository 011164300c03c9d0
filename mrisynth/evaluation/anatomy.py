"""Anatomical scoring of label maps against a recording's reference labels.

The segmenter turns frames (recorded or synthesized) into articulator label maps;
:func:`score_anatomy` compares them with the recording's reference: Dice and HD95 (mm) per
articulator, constriction degree and location errors (mm) and their trajectory correlation
(:mod:`mrisynth.metrics.anatomy`, :mod:`mrisynth.metrics.constriction`) and the tongue-contour
distance (mm). What depends on the reference only is computed once per recording
(:class:`AnatomyTruth`).

The reference is the recording's ground-truth labels (``GROUND_TRUTH``) or, for a recording
without labels (real rtMRI), the segmenter's labels of its real frames (``PSEUDO_LABELS``,
:mod:`mrisynth.evaluation.config`). Against pseudo-labels the metrics measure agreement with
the segmenter's reading of the real video, not anatomical truth, so the reference travels
with every score (:attr:`AnatomyTruth.reference`).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from mrisynth.evaluation.config import ANATOMY_REFERENCES, GROUND_TRUTH
from mrisynth.evaluation.metrics_registry import ARTICULATORS
from mrisynth.metrics.anatomy import (
    constriction_errors,
    contour_distance_mm,
    dice_per_class,
    hd95_per_class,
    trajectory_correlation,
)
from mrisynth.metrics.constriction import constriction_location_error, measure_constrictions
from mrisynth.phantom.labels import CONSTRICTION_PLACES, LABELS, N_LABELS

__all__ = [
    "ARTICULATORS",
    "CLASS_PLACES",
    "AnatomyTruth",
    "AnatomyScore",
    "tongue_contours",
    "score_anatomy",
    "nanmean",
]

#: Places whose per-frame degree errors are grouped by phoneme class.
CLASS_PLACES = ("tongue_tip", "lips", "tongue_body")


def _finite(v) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a[np.isfinite(a)]


def nanmean(v) -> float:
    """Mean of the finite values of ``v`` (any shape); NaN when there are none."""
    a = _finite(v)
    return float(a.mean()) if a.size else float("nan")


def _nanmedian(v) -> float:
    a = _finite(v)
    return float(np.median(a)) if a.size else float("nan")


def tongue_contours(labels: np.ndarray, spacing_mm: tuple[float, float]) -> list[np.ndarray | None]:
    """Longest iso-contour of the tongue label per frame as ``(N, 2)`` ``(x, y)`` in mm.

    Args:
        labels: ``(T, H, W)`` label maps; spacing_mm: ``(row, col)`` pixel spacing (mm).

    Returns:
        One polyline per frame, or None where the frame has no tongue.
    """
    from skimage.measure import find_contours

    out: list[np.ndarray | None] = []
    for lab in labels:
        mask = np.pad((lab == LABELS["tongue"]).astype(np.float32), 1)  # closed contours
        cs = find_contours(mask, 0.5) if mask.any() else []
        if not cs:
            out.append(None)
            continue
        c = max(cs, key=len) - 1.0  # undo the padding
        out.append(np.stack([c[:, 1] * spacing_mm[1], c[:, 0] * spacing_mm[0]], 1))
    return out


@dataclasses.dataclass(frozen=True)
class AnatomyTruth:
    """A recording's reference anatomy, computed once and shared by every scored video.

    Attributes:
        labels: ``(T, H, W)`` label ids.
        spacing_mm: ``(row, col)`` pixel spacing (mm).
        measures: constriction measures of the labels (:func:`measure_constrictions`).
        contours: tongue contour per frame (:func:`tongue_contours`).
        reference: where ``labels`` come from: ``"ground_truth"`` (the recording's labels) or
            ``"pseudo_labels"`` (the segmenter's labels of the real frames).
    """

    labels: np.ndarray
    spacing_mm: tuple[float, float]
    measures: dict[str, np.ndarray]
    contours: list[np.ndarray | None]
    reference: str = GROUND_TRUTH

    @classmethod
    def of(
        cls, labels: np.ndarray, spacing_mm: tuple[float, float], reference: str = GROUND_TRUTH
    ) -> AnatomyTruth:
        """Measure ``(T, H, W)`` reference labels once.

        Raises:
            ValueError: ``reference`` is not one of ``ANATOMY_REFERENCES``.
        """
        if reference not in ANATOMY_REFERENCES:
            raise ValueError(
                f"AnatomyTruth: reference must be one of {sorted(ANATOMY_REFERENCES)}, "
                f"got {reference!r}"
            )
        labels = np.asarray(labels)
        return cls(
            labels=labels,
            spacing_mm=spacing_mm,
            measures=measure_constrictions(labels, spacing_mm),
            contours=tongue_contours(labels, spacing_mm),
            reference=reference,
        )

    @property
    def is_pseudo(self) -> bool:
        """Whether the reference is the segmenter's own reading of the real frames."""
        return self.reference != GROUND_TRUTH

    @property
    def tongue_tip_x(self) -> np.ndarray:
        """``(T,)`` tongue-tip constriction x (mm, grows posteriorly)."""
        return self.measures["tongue_tip_location_mm"][:, 0]


@dataclasses.dataclass
class AnatomyScore:
    """Anatomical metrics of one labelled video.

    Attributes:
        row: the anatomy columns of an evaluation row (names in the metric registry).
        measures: constriction measures of the scored labels.
        per_frame: ``{place}_degree_err_mm`` ``(T,)`` for :data:`CLASS_PLACES`.
    """

    row: dict[str, float]
    measures: dict[str, np.ndarray]
    per_frame: dict[str, np.ndarray]

    @property
    def tongue_tip_x(self) -> np.ndarray:
        """``(T,)`` tongue-tip constriction x (mm) of the scored labels."""
        return self.measures["tongue_tip_location_mm"][:, 0]


def score_anatomy(
    pred_labels: np.ndarray, truth: AnatomyTruth, hd95_stride: int = 1
) -> AnatomyScore:
    """Anatomical metrics of ``(T, H, W)`` label maps vs the recording's reference labels.

    Args:
        pred_labels: label ids of the scored frames.
        truth: the recording's anatomy (ground truth or pseudo-labels, ``truth.reference``).
        hd95_stride: score HD95 on every ``hd95_stride``-th frame only (the slow metric).
    """
    sp = truth.spacing_mm
    ref_measures = truth.measures
    row: dict[str, float] = {}
    dice = dice_per_class(pred_labels, truth.labels, N_LABELS)  # (T, K)
    sub = slice(None, None, hd95_stride)
    ids = [LABELS[a] for a in ARTICULATORS]
    with warnings.catch_warnings():
        # a class missing from one side is scored by the anatomy module's empty-mask rule
        warnings.filterwarnings("ignore", message=".* is all 0", category=UserWarning)
        hd = hd95_per_class(pred_labels[sub], truth.labels[sub], N_LABELS, sp, ids)  # (T/s, K)
    with np.errstate(all="ignore"):
        for a, k in zip(ARTICULATORS, ids):
            row[f"dice_{a}"] = nanmean(dice[:, k])
            row[f"hd95_{a}_mm"] = nanmean(hd[:, k])
        row["dice_mean"] = nanmean(dice[:, ids])
        row["hd95_mean_mm"] = nanmean(hd[:, ids])
        # a class present on one side only scores the image diagonal (anatomy module), so a
        # few such frames can move the mean; the median over frames is the robust companion
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # frames where all are empty
            hd_per_frame = np.nanmean(hd[:, ids], axis=1)
        row["hd95_median_mm"] = _nanmedian(hd_per_frame)
    measures = measure_constrictions(pred_labels, sp)
    degree = [f"{p}_degree_mm" for p in CONSTRICTION_PLACES]
    mine = {k: measures[k] for k in degree}
    ref = {k: ref_measures[k] for k in degree}
    deg_err = constriction_errors(mine, ref)
    loc_err = constriction_location_error(measures, ref_measures)
    corr = trajectory_correlation(mine, ref)
    for p in CONSTRICTION_PLACES:
        row[f"{p}_degree_err_mm"] = deg_err[f"{p}_degree_mm"]
        row[f"{p}_location_err_mm"] = loc_err[f"{p}_location_mm"]
        row[f"traj_r_{p}"] = corr[f"{p}_degree_mm"]
    row["degree_err_mean_mm"] = nanmean([deg_err[k] for k in degree])
    row["location_err_mean_mm"] = nanmean(list(loc_err.values()))
    row["traj_r_mean"] = nanmean(list(corr.values()))
    dists = [
        contour_distance_mm(a, b)
        for a, b in zip(tongue_contours(pred_labels, sp), truth.contours)
        if a is not None and b is not None
    ]
    row["tongue_contour_mm"] = nanmean(dists)
    per_frame = {
        f"{p}_degree_err_mm": np.abs(measures[f"{p}_degree_mm"] - ref_measures[f"{p}_degree_mm"])
        for p in CLASS_PLACES
    }
    return AnatomyScore(row=row, measures=measures, per_frame=per_frame)
