"""Defects of real recordings that can be seen in the frames themselves.

**Non-steady-state start** (:func:`steady_state_start`). A real-time MRI scan starts with
fully relaxed magnetisation, so the first frames are brighter
until the signal settles into its steady state (USC-75: the frame mean falls from ~100 to a
steady ~55 over the first ~1.5 s, ~124 frames at 83.28 fps; ``shared/reference/
real-rtmri-notes.md``). Those frames look like no other frame of the recording and are best
left out of training.

Rule of :func:`steady_state_start` (frame means ``m[t]`` over all pixels and channels):

1. reference level ``ref`` = median of ``m`` over the second half of the recording (the
   steady part; a median ignores speech-related excursions);
2. ``m`` is smoothed by a centred running mean of ``window_s`` (0.25 s; at least 3 frames;
   shrinking at the ends):
   real frame means swing by +-20 % from frame to frame with the articulators, a transient
   lasts seconds;
3. the start is transient only if the smoothed mean of frame 0 exceeds ``ref`` by more than
   ``detect_tol`` (10 %); then steady state begins at the first frame whose smoothed mean is
   within ``settle_tol`` (3 %) above ``ref``. The two tolerances (hysteresis) keep steady
   recordings at 0 while the end of a real transient is placed where it has settled, not
   where it first crosses the detection band. The centred window errs late, never early: an
   abrupt transient ends up to half a window (0.125 s) before the frame returned.

Only a *brighter* start counts: that is the physics (relaxed magnetisation), and a darker
start is a pose or a speech sound. On the shared USC-TIMIT / SPAN AVIs (already steady) the
rule gives 0 for all but one clip (M3_394: 4 frames of 13 % brighter start).

**Corrupt border lines** (:func:`corrupt_border`): rows or columns at the image edge that
are noise, not image. Seen in 9 of the 27 shared USC-TIMIT contour clips (the bottom 1-3 rows
of M1_342, M1_358, M1_398, M2_359, M2_393, M2_399; the top 2-3 rows of F3_003, F3_033,
F3_359): they change by ~90 grey levels from frame to frame, against 2-10 for image rows.
Left in, they are the most "moving" region of a clip and pull the automatic vocal-tract ROI
onto themselves (:func:`mrisynth.data.prepare.find_vocal_tract_roi` ignores them).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CORRUPT_FACTOR", "corrupt_border", "steady_state_start"]


def steady_state_start(
    frames: np.ndarray,
    fps: float | None = None,
    *,
    detect_tol: float = 0.10,
    settle_tol: float = 0.03,
    window_s: float = 0.25,
) -> int:
    """Number of leading frames before the frame mean reaches steady state (rule: module doc).

    Args:
        frames: ``(T, H, W)`` or ``(T, H, W, C)`` intensities, any real dtype (non-negative
            magnitude images: the tolerances are relative to the steady mean).
        fps: frame rate (fps) setting the smoothing window; None: a 5-frame window.
        detect_tol: relative excess of the first frames over the steady mean that counts as
            a transient.
        settle_tol: relative excess at which the transient has settled.
        window_s: smoothing window (s).

    Returns:
        ``N`` in ``[0, T // 2]``: frames ``[0, N)`` are the transient (0: steady from the
        start, or too short to tell: fewer than 4 smoothing windows).
    """
    f = np.asarray(frames)
    if f.ndim < 1 or f.shape[0] == 0:
        return 0
    means = f.reshape(f.shape[0], -1).mean(axis=1, dtype=np.float64)
    n = len(means)
    w = 5 if fps is None else max(3, int(round(window_s * float(fps))))
    w |= 1  # odd: centred
    if n < 4 * w:
        return 0
    ref = float(np.median(means[n // 2 :]))
    if not np.isfinite(ref) or ref <= 0:
        return 0
    # centred running mean over the frames that exist (the window shrinks at the ends:
    # padding would repeat frame 0 and weigh a single bright first frame w / 2 times)
    c = np.concatenate([[0.0], np.cumsum(means)])
    idx = np.arange(n)
    lo, hi = np.maximum(idx - w // 2, 0), np.minimum(idx + w // 2 + 1, n)
    excess = (c[hi] - c[lo]) / (hi - lo) / ref - 1.0
    if excess[0] <= detect_tol:
        return 0
    settled = np.flatnonzero(excess[: n // 2 + 1] <= settle_tol)
    # a transient over the whole first half leaves no steady reference to trust: cap there
    return int(settled[0]) if settled.size else n // 2


#: A border line is corrupt when its mean frame-to-frame change exceeds this many times the
#: median line's (image rows of rtMRI vary 2-5x among themselves; the defect is ~20x).
CORRUPT_FACTOR = 8.0


def corrupt_border(frames: np.ndarray, factor: float = CORRUPT_FACTOR) -> tuple[int, int, int, int]:
    """How many rows/columns at each image edge are temporal noise.

    A line (row or column) is corrupt when its mean absolute frame-to-frame change is more
    than ``factor`` times the median line's; the count per edge is the run of corrupt lines
    starting at that edge (a corrupt line inside the image is not a border defect).

    Args:
        frames: ``(T, H, W)`` grey frames, ``T >= 2``.
        factor: see :data:`CORRUPT_FACTOR`.

    Returns:
        ``(top, bottom, left, right)`` line counts (0 for a clean frame).
    """
    f = np.asarray(frames, np.float32)
    if f.ndim != 3 or len(f) < 2:
        return 0, 0, 0, 0
    change = np.abs(np.diff(f, axis=0)).mean(0)  # (H, W)

    def run(profile: np.ndarray) -> int:
        bad = profile > factor * max(float(np.median(profile)), 1e-6)
        n = int(np.argmin(bad)) if not bad.all() else len(bad)
        return min(n, len(bad) // 4)  # a quarter of the frame is a different problem

    rows, cols = change.mean(1), change.mean(0)
    return run(rows), run(rows[::-1]), run(cols), run(cols[::-1])
