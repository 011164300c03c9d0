"""Face metrics of talking-face videos: landmarks, mouth sharpness, blinks and head motion.

With a face landmark regressor (:mod:`mrisynth.models.landmarks`, trained on phantom ground
truth by :mod:`mrisynth.engine.solvers.landmarks`), every RGB video an evaluation scores gets
the ``face`` columns of the metric registry:

- :func:`face_row`: a generated video against its recording: landmark distance (mouth, mouth
  after pose alignment, whole face; :mod:`mrisynth.metrics.landmarks`) between the regressor's
  landmarks of the generated and of the recorded frames, plus :func:`face_stats_row`.
- :func:`face_stats_row`: what one video has on its own: mouth CPBD
  (:mod:`mrisynth.metrics.sharpness`), blink rate and duration, head-motion amplitude and speed
  (:mod:`mrisynth.metrics.face_motion`). The ``real`` row gets these of the recording, so the
  recordings give the reference distribution.
- :func:`plausibility`: where a method's per-clip blink and head-motion values sit among the
  recordings' (percentile rank of their mean; within the central 95 %).

Both sides of an LMD go through the same regressor, as published LMDs run one detector on
generated and real frames; the regressor's own error on phantom ground truth is reported with
it (README).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

from mrisynth.metrics.face_motion import blink_stats, eye_openness, head_motion
from mrisynth.metrics.landmarks import FACE_LANDMARKS, MOUTH_LANDMARKS, landmark_distance
from mrisynth.metrics.sharpness import mouth_sharpness
from mrisynth.metrics.stats import percentile_rank, within_range
from mrisynth.models.landmarks import predict_landmarks

__all__ = ["MOTION_METRICS", "face_landmarks", "face_row", "face_stats_row", "plausibility"]

#: Columns judged against the recordings' distribution rather than by a direction.
MOTION_METRICS = (
    "blink_rate_per_min",
    "blink_duration_s",
    "head_roll_std_deg",
    "head_roll_speed_deg_s",
    "head_translation_std_iod",
    "head_translation_speed_iod_s",
)
#: :meth:`~mrisynth.metrics.face_motion.HeadMotion.stats` keys reported as ``head_<key>``.
MOTION_KEYS = ("roll_std_deg", "roll_speed_deg_s", "translation_std_iod", "translation_speed_iod_s")


def face_landmarks(regressor: torch.nn.Module, frames: np.ndarray, batch_size: int = 64):
    """``(T, K, 2)`` pixel landmarks of ``(T, H, W, 3)`` frames (float in [0, 1] or uint8).

    Raises:
        ValueError: the frames are not RGB of the regressor's size (named in the message).
    """
    return predict_landmarks(regressor, np.clip(frames, 0, 1), batch_size=batch_size)


def _mean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def face_stats_row(landmarks: np.ndarray, frames: np.ndarray, fps: float) -> dict[str, float]:
    """Mouth sharpness, blinks and head motion of one video.

    Args:
        landmarks: ``(T, K, 2)`` its landmarks.
        frames: ``(T, H, W, 3)`` its frames.
        fps: frame rate (Hz).
    """
    blinks = blink_stats(eye_openness(landmarks), fps)
    motion = head_motion(landmarks, fps).stats()
    return {
        "mouth_cpbd": _mean(mouth_sharpness(frames, landmarks)),
        "blink_rate_per_min": blinks.rate_per_min,
        "blink_duration_s": blinks.duration_s,
        **{f"head_{k}": motion[k] for k in MOTION_KEYS},
    }


def face_row(
    pred_landmarks: np.ndarray,
    ref_landmarks: np.ndarray,
    pred_frames: np.ndarray,
    fps: float,
) -> dict[str, float]:
    """The face columns of a generated video against its recording.

    Args:
        pred_landmarks: ``(T, K, 2)`` landmarks of the generated frames.
        ref_landmarks: ``(T, K, 2)`` landmarks of the recorded frames.
        pred_frames: ``(T, H, W, 3)`` the generated frames.
        fps: frame rate (Hz).

    Returns:
        ``lmd_mouth``, ``lmd_mouth_aligned``, ``lmd_face`` (inter-ocular distances),
        ``lmd_mouth_px`` and the :func:`face_stats_row` columns.
    """

    def lmd(idx, **kw) -> float:
        return _mean(landmark_distance(ref_landmarks, pred_landmarks, idx, **kw))

    return {
        "lmd_mouth": lmd(MOUTH_LANDMARKS, normalize=True),
        "lmd_mouth_aligned": lmd(MOUTH_LANDMARKS, normalize=True, align=True),
        "lmd_face": lmd(FACE_LANDMARKS, normalize=True),
        "lmd_mouth_px": lmd(MOUTH_LANDMARKS),
        **face_stats_row(pred_landmarks, pred_frames, fps),
    }


def plausibility(
    rows: Iterable[Mapping[str, object]], method: str, condition: str | None = None
) -> dict[str, dict[str, float | bool]]:
    """Where a method's blink and head-motion values sit among the recordings'.

    Args:
        rows: evaluation rows; the ``real`` rows give the reference distribution (one value
            per recording), the rows of ``method`` (and ``condition``, if given) the generated.
        method: the method judged.
        condition: its condition, or None: all its rows.

    Returns:
        Per motion metric with values on both sides: ``{"generated": mean over the method's
        clips, "percentile": its percentile rank among the recordings' values, "within": whether
        it lies within their central 95 %}``.
    """
    rows = list(rows)
    out: dict[str, dict[str, float | bool]] = {}
    for name in MOTION_METRICS:
        ref = [r[name] for r in rows if r.get("method") == "real" and name in r]
        gen = [
            r[name]
            for r in rows
            if r.get("method") == method
            and (condition is None or r.get("condition") == condition)
            and name in r
        ]
        ref_v = np.asarray(ref, dtype=np.float64)
        gen_v = np.asarray(gen, dtype=np.float64)
        if not np.isfinite(ref_v).any() or not np.isfinite(gen_v).any():
            continue
        value = float(np.nanmean(gen_v))
        out[name] = {
            "generated": value,
            "percentile": percentile_rank(value, ref_v),
            "within": within_range(value, ref_v),
        }
    return out
