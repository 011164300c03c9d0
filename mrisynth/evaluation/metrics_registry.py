"""The metrics an evaluation reports, in one registry: name, source, direction, unit, meaning.

Every numeric column of an evaluation row (and so every metric in ``metrics.json``, where a
key is ``<method>[.<condition>].<metric>`` or ``retroflex_check.<source>.<metric>``, see
:func:`mrisynth.evaluation.report.parse_metrics_key`) has one :class:`Metric` here.
:mod:`mrisynth.evaluation.report` takes from it which metrics go in which table, which way is
better and what each one means; the per-clip image metrics are also *computed* from it
(:attr:`Metric.fn`), so adding one of those touches this module only. A test checks that the
registry covers every key of a real ``metrics.json``.

There is one SSIM: ``ssim`` is scikit-image's SSIM with a **7×7 uniform window**
(:func:`mrisynth.metrics.image.ssim`). The training curve ``valid/ssim11`` (MONAI, 11×11
Gaussian window) is another quantity and is not reported here.

Example::

    m = metric("hd95_tongue_mm")     # Metric(group="anatomy", direction="min", unit="mm", ...)
    metric_names("compare")          # ("dice_mean", ..., "lse_d", "lse_c", "sync_bce")
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Literal

import numpy as np

from mrisynth.phantom.labels import CONSTRICTION_PLACES, LABEL_NAMES

__all__ = [
    "ARTICULATORS",
    "Direction",
    "Metric",
    "METRICS",
    "VIEWS",
    "metric",
    "find_metric",
    "metric_names",
    "directions",
]

#: Labels scored per articulator (background and other tissue are not articulators).
ARTICULATORS = tuple(n for n in LABEL_NAMES if n not in ("background", "other_tissue"))

Direction = Literal["max", "min"]
#: Where a metric is shown: ``table`` (method × condition), ``breakdown`` (per language and
#: per speaker), ``compare`` (model-vs-baseline verdicts), ``plot`` (distribution plot).
VIEWS = ("table", "breakdown", "compare", "plot")
#: Groups in the order the comparison list takes them (anatomy first, then sync).
_COMPARE_GROUPS = ("anatomy", "sync")

ClipMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


@dataclasses.dataclass(frozen=True)
class Metric:
    """One reported metric.

    Attributes:
        name: the row column and last part of a ``metrics.json`` key; ``{shift}`` stands for
            a deliberate audio shift in frames (``shift_{shift}_offset`` → ``shift_-6_offset``).
        group: ``count``, ``image``, ``sync``, ``anatomy``, ``temporal``, ``face`` or
            ``retroflex``.
        direction: ``"max"`` (higher is better), ``"min"`` (lower is better) or None (a count
            or a signed quantity).
        unit: ``""`` (dimensionless), ``"mm"``, ``"dB"``, ``"frames"``, ``"clips"``...
        description: what it measures, in one line.
        source: the function that computes it.
        views: the report views that show it (:data:`VIEWS`).
        fn: for per-clip image metrics, ``fn(reference, prediction, mask) -> float`` on
            ``(T, H, W[, C])`` float frames in [0, 1] and the ``(H, W)`` bool generator mask.
    """

    name: str
    group: str
    direction: Direction | None
    unit: str
    description: str
    source: str
    views: frozenset[str] = frozenset()
    fn: ClipMetric | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.views) - set(VIEWS)
        if unknown:
            raise ValueError(f"Metric {self.name}: unknown views {sorted(unknown)}")
        if self.direction not in ("max", "min", None):
            raise ValueError(f"Metric {self.name}: direction must be 'max', 'min' or None")

    @property
    def pattern(self) -> re.Pattern[str]:
        """Regular expression of the column names this entry covers."""
        return re.compile(re.escape(self.name).replace(re.escape("{shift}"), r"-?\d+") + "$")

    def matches(self, column: str) -> bool:
        """Whether ``column`` (a row column / last part of a metrics key) is this metric."""
        return self.name == column or ("{" in self.name and bool(self.pattern.match(column)))

    @property
    def better(self) -> str:
        """``"higher better"``, ``"lower better"`` or ``""``."""
        return {"max": "higher better", "min": "lower better"}.get(self.direction or "", "")


# ---------------------------------------------------------------------------------- image
def _l1(reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(prediction - reference).mean())


def _l1_mask(reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(prediction - reference)[:, mask].mean())


def _ssim(reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray) -> float:
    from mrisynth.metrics.image import ssim

    return float(ssim(reference, prediction).mean())


def _ms_ssim(reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray) -> float:
    from mrisynth.metrics.image import ms_ssim

    return float(ms_ssim(reference, prediction).mean())


def _psnr(reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray) -> float:
    from mrisynth.metrics.image import psnr

    return float(psnr(reference, prediction).mean())


def _m(
    name: str,
    group: str,
    direction: Direction | None,
    unit: str,
    views: str,
    source: str,
    description: str,
    fn: ClipMetric | None = None,
) -> Metric:
    return Metric(name, group, direction, unit, description, source, frozenset(views.split()), fn)


_IMG = "mrisynth.metrics.image"
_SYNC = "mrisynth.metrics.sync.lse_scores"
_ANAT = "mrisynth.metrics.anatomy"
_CONS = "mrisynth.metrics.constriction"
_TEMP = "mrisynth.metrics.temporal"
_RETRO = "mrisynth.evaluation.phones.retroflex_check"
_LMD = "mrisynth.metrics.landmarks"
_FM = "mrisynth.metrics.face_motion"
_ALL = "table breakdown compare plot"

#: Every reported metric. Order matters: it is the column order of the report's tables.
METRICS: tuple[Metric, ...] = (
    # ---- counts
    _m("n_frames", "count", None, "frames", "", "the recording", "frames scored in the clip"),
    _m("n_clips", "count", None, "clips", "", "report.aggregate", "clips in the cell"),
    # ---- image quality: per frame vs the recording, mean over frames
    _m("l1", "image", "min", "", "table breakdown plot", "numpy", "mean |error| (all pixels)", _l1),
    _m("l1_mask", "image", "min", "", "", "numpy", "mean |error| in the generator mask", _l1_mask),
    _m("ssim", "image", "max", "", "table breakdown plot", f"{_IMG}.ssim",
       "SSIM with a 7×7 uniform window (scikit-image)", _ssim),
    _m("ms_ssim", "image", "max", "", "table", f"{_IMG}.ms_ssim",
       "MS-SSIM: 3 scales, 7-px Gaussian kernel (MONAI)", _ms_ssim),
    _m("psnr", "image", "max", "dB", "table", f"{_IMG}.psnr",
       "peak signal-to-noise ratio (identical frames: 100 dB)", _psnr),
    # ---- audio-visual sync, scored by the evaluation expert
    _m("lse_d", "sync", "min", "", _ALL, _SYNC,
       "LSE-D: min over offsets of the mean embedding distance"),
    _m("lse_c", "sync", "max", "", "table breakdown compare", _SYNC,
       "LSE-C: median minus min of the offset-distance curve"),
    _m("sync_bce", "sync", "min", "", "table compare", "mrisynth.metrics.sync.sync_bce",
       "the expert's sync loss on the in-sync windows (ln 2: chance)"),
    _m("offset", "sync", None, "frames", "", _SYNC, "AV offset at the minimum (+: audio later)"),
    _m("abs_offset", "sync", "min", "frames", "table", _SYNC, "|AV offset|"),
    _m("shift_{shift}_offset", "sync", None, "frames", "", _SYNC,
       "offset found on the recording with its audio shifted by {shift} frames"),
    _m("shift_{shift}_offset_error", "sync", "min", "frames", "", _SYNC,
       "|found − applied| offset for a {shift}-frame audio shift"),
    _m("av_offset_error", "sync", "min", "frames", "", _SYNC,
       "offset error, mean over the audio shifts"),
    # ---- anatomy: segmenter labels of the frames vs the ground-truth labels
    _m("dice_mean", "anatomy", "max", "", _ALL, f"{_ANAT}.dice_per_class",
       "Dice, mean over articulators and frames"),
    _m("hd95_mean_mm", "anatomy", "min", "mm", "table compare", f"{_ANAT}.hd95_per_class",
       "HD95, mean over articulators and frames"),
    _m("hd95_median_mm", "anatomy", "min", "mm", "table compare", f"{_ANAT}.hd95_per_class",
       "HD95, median over frames of the articulator mean"),
    _m("degree_err_mean_mm", "anatomy", "min", "mm", _ALL, f"{_ANAT}.constriction_errors",
       "constriction-degree error, mean over places and frames"),
    _m("location_err_mean_mm", "anatomy", "min", "mm", "table compare",
       f"{_CONS}.constriction_location_error",
       "constriction-location error, mean over places and frames"),
    _m("tongue_contour_mm", "anatomy", "min", "mm", "table compare",
       f"{_ANAT}.contour_distance_mm", "tongue-contour distance, mean over frames"),
    _m("traj_r_mean", "anatomy", "max", "", "table compare", f"{_ANAT}.trajectory_correlation",
       "constriction-degree trajectory r, mean over places"),
    *(
        m
        for a in ARTICULATORS
        for m in (
            _m(f"dice_{a}", "anatomy", "max", "", "", f"{_ANAT}.dice_per_class", f"Dice: {a}"),
            _m(f"hd95_{a}_mm", "anatomy", "min", "mm", "", f"{_ANAT}.hd95_per_class", f"HD95: {a}"),
        )
    ),
    *(
        m
        for p in CONSTRICTION_PLACES
        for m in (
            _m(f"{p}_degree_err_mm", "anatomy", "min", "mm", "", f"{_ANAT}.constriction_errors",
               f"constriction-degree error: {p}"),
            _m(f"{p}_location_err_mm", "anatomy", "min", "mm", "",
               f"{_CONS}.constriction_location_error", f"constriction-location error: {p}"),
            _m(f"traj_r_{p}", "anatomy", "max", "", "", f"{_ANAT}.trajectory_correlation",
               f"constriction-degree trajectory r: {p}"),
        )
    ),
    # ---- temporal coherence, on luminance
    _m("warp_error", "temporal", "min", "", "table", f"{_TEMP}.warping_error",
       "warping error along the recording's optical flow"),
    _m("temporal_grad_diff", "temporal", "min", "", "table",
       f"{_TEMP}.temporal_gradient_difference", "mean |Δt prediction − Δt recording|"),
    _m("flicker", "temporal", "min", "", "table", f"{_TEMP}.flicker",
       "temporal high-pass where the recording is static"),
    _m("pause_motion_mm", "temporal", "min", "mm/frame", "table",
       "mrisynth.metrics.constriction.pause_motion_mm",
       "articulator motion in pauses >= 300 ms (100 ms trimmed): mean |Δ constriction degree| "
       "of the segmented video; row real: the segmented recording"),
    _m("pause_motion_ratio", "temporal", "min", "", "table",
       "mrisynth.metrics.constriction.pause_motion_mm",
       "pause motion / the recording's (both segmented); a resting speaker's is 1"),
    # ---- talking faces: landmarks of the generated video vs the reference's (IOD: fraction
    # of the reference's inter-ocular distance, so frame size and face scale drop out)
    _m("lmd_mouth", "face", "min", "IOD", "", f"{_LMD}.landmark_distance",
       "mouth landmark distance / inter-ocular distance, mean over frames"),
    _m("lmd_mouth_aligned", "face", "min", "IOD", "", f"{_LMD}.landmark_distance",
       "mouth landmark distance after per-frame upper-face similarity alignment (pose removed)"),
    _m("lmd_face", "face", "min", "IOD", "", f"{_LMD}.landmark_distance",
       "whole-face landmark distance / inter-ocular distance, mean over frames"),
    _m("lmd_mouth_px", "face", "min", "px", "", f"{_LMD}.landmark_distance",
       "mouth landmark distance in pixels, mean over frames"),
    _m("mouth_cpbd", "face", "max", "", "", "mrisynth.metrics.sharpness.mouth_sharpness",
       "no-reference mouth sharpness: CPBD in the mouth box, mean over frames"),
    # blinks and head motion have no better direction: a generated value should lie within the
    # reference videos' distribution (mrisynth.metrics.stats.percentile_rank / within_range)
    _m("blink_rate_per_min", "face", None, "1/min", "", f"{_FM}.blink_stats",
       "blinks per minute (eye aspect ratio below half its open level)"),
    _m("blink_duration_s", "face", None, "s", "", f"{_FM}.blink_stats",
       "mean blink duration: time below half closure"),
    _m("head_roll_std_deg", "face", None, "deg", "", f"{_FM}.head_motion",
       "head roll amplitude: std over the clip (upper-face similarity fit)"),
    _m("head_roll_speed_deg_s", "face", None, "deg/s", "", f"{_FM}.head_motion",
       "head roll speed: mean |frame-to-frame change| × fps"),
    _m("head_translation_std_iod", "face", None, "IOD", "", f"{_FM}.head_motion",
       "head translation amplitude (upper-face centroid), inter-ocular distances"),
    _m("head_translation_speed_iod_s", "face", None, "IOD/s", "", f"{_FM}.head_motion",
       "head translation speed, inter-ocular distances per second"),
    # ---- the retroflex-vs-dental check (keys retroflex_check.<source>.<metric>)
    _m("retroflex_x_mm", "retroflex", None, "mm", "", _RETRO,
       "tongue-tip constriction x during retroflex phones (grows posteriorly)"),
    _m("dental_x_mm", "retroflex", None, "mm", "", _RETRO,
       "tongue-tip constriction x during dental phones"),
    _m("retroflex_behind_dental", "retroflex", "max", "", "", _RETRO,
       "1 when retroflex constrictions lie behind dental ones (as they should)"),
    _m("n_retroflex_frames", "retroflex", None, "frames", "", _RETRO, "retroflex frames measured"),
    _m("n_dental_frames", "retroflex", None, "frames", "", _RETRO, "dental frames measured"),
)  # fmt: skip

_BY_NAME = {m.name: m for m in METRICS}
if len(_BY_NAME) != len(METRICS):  # pragma: no cover - a registry edit error
    raise RuntimeError("metrics_registry: duplicate metric names")


def find_metric(column: str) -> Metric | None:
    """The entry of a row column / last part of a metrics key, or None when there is none."""
    if column in _BY_NAME:
        return _BY_NAME[column]
    return next((m for m in METRICS if "{" in m.name and m.matches(column)), None)


def metric(column: str) -> Metric:
    """The entry of ``column``.

    Raises:
        KeyError: no entry covers it (add one to :data:`METRICS`).
    """
    m = find_metric(column)
    if m is None:
        raise KeyError(f"metric {column!r} is not in mrisynth.evaluation.metrics_registry")
    return m


def metric_names(view: str, group: str | None = None) -> tuple[str, ...]:
    """Names of the metrics a report view shows, in registry order (``compare``: anatomy
    first, then sync).

    Raises:
        ValueError: unknown view.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose from {VIEWS}")
    chosen = [m for m in METRICS if view in m.views and group in (None, m.group)]
    if view == "compare":
        chosen.sort(key=lambda m: _COMPARE_GROUPS.index(m.group))
    return tuple(m.name for m in chosen)


def directions() -> dict[str, Direction]:
    """``{name: "max" | "min"}`` of every concrete metric that has a direction."""
    return {m.name: m.direction for m in METRICS if m.direction and "{" not in m.name}
