"""Blinks and head motion of a face video, from its landmarks (generated against real).

Landmarks are ``(T, K, 2)`` pixel ``(x, y)`` in :data:`mrisynth.phantom.face.LANDMARK_NAMES`
order (ground truth or a regressor's). Whether a generated video's values are plausible is
judged against reference videos with :func:`mrisynth.metrics.stats.percentile_rank` and
:func:`~mrisynth.metrics.stats.within_range`.

Blinks
------
- :func:`eye_openness`: the eye aspect ratio (EAR, Soukupová & Čech 2016) with the phantom's four
  points per eye: lid-to-lid height over corner-to-corner width, mean of both eyes.
- :func:`detect_blinks`: a blink is a run of frames whose openness falls below half of the
  open-eye level (the 90th percentile of the clip: eyes are open most of the time). Its start
  and end are the half-closure crossings, interpolated linearly between frames; its duration
  is the **time below half closure** (for the phantom's sin²/cos² eyelid, exactly half the
  full closing-plus-opening duration). Blinks cut by the clip's start or end are counted
  (they are blinks) but their durations are left out (they are cut).
- :func:`blink_stats`: rate per minute and mean duration.

Head motion
-----------
:func:`head_motion` fits, per frame, the similarity transform from the clip's mean rigid
upper-face shape (eye corners, brows, nose bridge) onto the frame's, giving in-plane rotation
(roll, degrees) and translation (in inter-ocular distances, so frame size drops out), plus a
yaw proxy: the nose tip's horizontal offset from the eye midpoint in inter-ocular distances
(out-of-plane rotation is not recoverable from a 2-D similarity). Amplitude is the standard
deviation over the clip, speed the mean absolute frame-to-frame change times the frame rate.

Reference: Soukupová, T. & Čech, J. (2016), "Real-time eye blink detection using facial
landmarks", 21st Computer Vision Winter Workshop.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mrisynth.data.face_landmarks import LANDMARK_INDEX
from mrisynth.metrics.landmarks import (
    UPPER_FACE_LANDMARKS,
    check_landmarks,
    inter_ocular_distance,
    similarity_fit,
)

__all__ = [
    "BlinkStats",
    "HeadMotion",
    "eye_openness",
    "detect_blinks",
    "blink_stats",
    "head_motion",
]

_OPEN_PERCENTILE = 90.0
_HALF = 0.5


def eye_openness(landmarks: np.ndarray) -> np.ndarray:
    """Eye aspect ratio per frame: lid height / eye width, mean of both eyes.

    Args:
        landmarks: ``(T, K, 2)`` pixel ``(x, y)``.

    Returns:
        ``(T,)``; NaN where a frame's eye landmarks are NaN or an eye has zero width.
    """
    lm = check_landmarks(landmarks)
    ratios = []
    for side, (a, b) in (("l", ("outer", "inner")), ("r", ("inner", "outer"))):
        i = {n: LANDMARK_INDEX[f"eye_{side}_{n}"] for n in (a, b, "upper", "lower")}
        height = np.linalg.norm(lm[:, i["upper"]] - lm[:, i["lower"]], axis=-1)
        width = np.linalg.norm(lm[:, i[a]] - lm[:, i[b]], axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios.append(np.where(width > 0, height / np.where(width > 0, width, 1), np.nan))
    return np.mean(ratios, axis=0)


def detect_blinks(
    openness: np.ndarray, fps: float, open_level: float | None = None
) -> tuple[list[tuple[float, float]], list[bool]]:
    """Blinks of an eye-openness signal (see the module docstring).

    Args:
        openness: ``(T,)`` eye openness (EAR, or the phantom's eyelid opening); NaN frames
            (no face) are treated as open, so they never make a blink.
        fps: frame rate (Hz); frame ``k`` covers ``[k / fps, (k + 1) / fps)`` s and is placed
            at its centre (as the phantom's frames are).
        open_level: the open-eye level; default the clip's 90th percentile.

    Returns:
        ``(start_s, end_s)`` of each blink (half-closure crossings) and, per blink, whether it
        lies wholly inside the clip (False: cut by the start or end; its times are clipped).

    Raises:
        ValueError: not 1-D, or a non-positive fps.
    """
    x = np.asarray(openness, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"detect_blinks: openness must be (T,), got {x.shape}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"detect_blinks: fps must be > 0, got {fps}")
    finite = np.isfinite(x)
    if not finite.any():
        return [], []
    level = float(np.percentile(x[finite], _OPEN_PERCENTILE)) if open_level is None else open_level
    if not level > 0:
        return [], []
    thr = _HALF * level
    closed = np.where(finite, x < thr, False)
    edges = np.diff(closed.astype(np.int8))
    starts = list(np.nonzero(edges == 1)[0] + 1)
    ends = list(np.nonzero(edges == -1)[0] + 1)  # first open frame after the run
    if closed[0]:
        starts.insert(0, 0)
    if closed[-1]:
        ends.append(len(x))
    blinks, complete = [], []
    for s, e in zip(starts, ends):
        whole = s > 0 and e < len(x)

        def crossing(i_open: int, i_closed: int) -> float:
            # linear interpolation between an open and a closed frame; beside a NaN frame
            # the closed frame's own time is all that is known
            if not np.isfinite(x[i_open]):
                return (i_closed + 0.5) / fps
            u = (thr - x[i_open]) / (x[i_closed] - x[i_open])
            return (i_open + u * (i_closed - i_open) + 0.5) / fps

        t0 = crossing(s - 1, s) if s > 0 else 0.0
        t1 = crossing(e, e - 1) if e < len(x) else len(x) / fps
        blinks.append((float(t0), float(t1)))
        complete.append(whole)
    return blinks, complete


@dataclasses.dataclass(frozen=True)
class BlinkStats:
    """Blinks of one clip.

    Attributes:
        n_blinks: blinks found (including those cut by the clip's ends).
        rate_per_min: ``n_blinks`` per minute of video.
        duration_s: mean time below half closure of the complete blinks (NaN if none).
    """

    n_blinks: int
    rate_per_min: float
    duration_s: float


def blink_stats(openness: np.ndarray, fps: float) -> BlinkStats:
    """Blink rate and mean duration of a clip (:func:`detect_blinks`).

    Args:
        openness: ``(T,)`` eye openness.
        fps: frame rate (Hz).
    """
    blinks, complete = detect_blinks(openness, fps)
    minutes = len(openness) / fps / 60.0
    durations = [e - s for (s, e), c in zip(blinks, complete) if c]
    return BlinkStats(
        n_blinks=len(blinks),
        rate_per_min=len(blinks) / minutes,
        duration_s=float(np.mean(durations)) if durations else float("nan"),
    )


@dataclasses.dataclass(frozen=True)
class HeadMotion:
    """Head-motion tracks and their statistics.

    Attributes:
        roll_deg: ``(T,)`` in-plane rotation relative to the clip's mean shape (degrees,
            clockwise in the image positive).
        translation: ``(T, 2)`` ``(x, y)`` shift of the rigid points' centroid from its clip mean,
            in inter-ocular distances.
        yaw_proxy: ``(T,)`` nose tip's horizontal offset from the eye midpoint, in inter-ocular
            distances (positive: nose toward image right).
        fps: frame rate (Hz).
    """

    roll_deg: np.ndarray
    translation: np.ndarray
    yaw_proxy: np.ndarray
    fps: float

    def stats(self) -> dict[str, float]:
        """Amplitudes (std over the clip) and speeds (mean |frame-to-frame change| · fps):
        ``roll_std_deg``, ``roll_speed_deg_s``, ``translation_std_iod`` (of the 2-D position,
        root of the summed variances), ``translation_speed_iod_s``, ``yaw_proxy_std``,
        ``yaw_proxy_speed_s``. NaN frames are skipped; fewer than 2 frames give NaN speeds."""
        t = self.translation

        def speed(d: np.ndarray) -> float:
            return float(np.nanmean(d) * self.fps) if np.isfinite(d).any() else float("nan")

        return {
            "roll_std_deg": float(np.nanstd(self.roll_deg)),
            "roll_speed_deg_s": speed(np.abs(np.diff(self.roll_deg))),
            "translation_std_iod": float(np.sqrt(np.nansum(np.nanvar(t, axis=0)))),
            "translation_speed_iod_s": speed(np.linalg.norm(np.diff(t, axis=0), axis=-1)),
            "yaw_proxy_std": float(np.nanstd(self.yaw_proxy)),
            "yaw_proxy_speed_s": speed(np.abs(np.diff(self.yaw_proxy))),
        }


def head_motion(landmarks: np.ndarray, fps: float) -> HeadMotion:
    """Head-motion tracks of a clip from its landmarks (see the module docstring).

    Args:
        landmarks: ``(T, K, 2)`` pixel ``(x, y)``; frames with NaN give NaN tracks.
        fps: frame rate (Hz).

    Returns:
        :class:`HeadMotion`.
    """
    lm = check_landmarks(landmarks)
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"head_motion: fps must be > 0, got {fps}")
    rigid = lm[:, list(UPPER_FACE_LANDMARKS)]  # (T, R, 2)
    ok = np.isfinite(rigid).all(axis=(1, 2))
    n = len(lm)
    roll = np.full(n, np.nan)
    trans = np.full((n, 2), np.nan)
    yaw = np.full(n, np.nan)
    if ok.any():
        mean_shape = rigid[ok].mean(0)
        iod = float(np.nanmean(inter_ocular_distance(lm[ok])))
        centroid = rigid.mean(1)  # (T, 2)
        for k in np.nonzero(ok)[0]:
            a, _ = similarity_fit(mean_shape, rigid[k])
            roll[k] = np.degrees(np.arctan2(a[1, 0], a[0, 0]))  # y down: clockwise positive
        trans[ok] = (centroid[ok] - centroid[ok].mean(0)) / iod
        eyes = 0.5 * (lm[:, LANDMARK_INDEX["eye_l_outer"]] + lm[:, LANDMARK_INDEX["eye_r_outer"]])
        yaw = (lm[:, LANDMARK_INDEX["nose_tip"], 0] - eyes[:, 0]) / inter_ocular_distance(lm)
    return HeadMotion(roll_deg=roll, translation=trans, yaw_proxy=yaw, fps=float(fps))
