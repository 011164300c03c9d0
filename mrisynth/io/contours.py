"""Manual air–tissue boundary (ATB) contours of real rtMRI, and the labels they define.

The format is the USC-TIMIT ATB annotation set (SPIRE Lab style): one MATLAB 5 ``.mat`` file
per clip, beside its ``.avi``, holding ``annotation``, a 1 x n_frames struct array with

- ``contour1``: upper boundary (face profile, upper lip, hard palate, velum);
- ``contour2``: lower boundary (neck and chin profile, lower lip, tongue, epiglottis);
- ``contour3``: posterior pharyngeal wall, closed around the back of the head along the image
  border;
- landmarks ``UL``, ``LL``, ``AVR``, ``VEL``, ``GLTB`` (upper/lower lip, alveolar ridge, velum,
  glottis).

Each contour encloses tissue: contour1 the nose, upper lip and maxilla; contour2 the tongue, jaw,
chin and neck; contour3 the spine and the back of the head. Air (the vocal tract *and* the air
outside the head) is what none of them encloses.

Conventions, as read here:

- Coordinates are MATLAB's 1-based ``(x = column, y = row)``; they are returned as 0-based
  ``(row, col)`` pixel-centre coordinates, the package's convention. The 1-based reading was
  checked on the 27 shared clips: the image gradient along the contours peaks at an offset of
  -0.8 px (−1: 177, 0: 162 mean Sobel magnitude).
- *Untraced stretches*: segments of a contour that run along the image border (contour3 closes
  itself around the image edge) are not air–tissue boundaries and are dropped from
  :meth:`ContourAnnotation.boundary`. A frame whose annotation is empty (some clips leave one
  frame blank) is untraced: :meth:`~ContourAnnotation.is_traced` is False and its labels are all
  :data:`UNTRACED`.

Example::

    ann = read_contours("F1_001.mat")                 # 46 frames
    labels = ann.labels((68, 68))                     # (46, 68, 68) uint8: 0 air, 1 tissue
    pts = ann.boundary(0)                             # (N, 2) row/col points of the ATB
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mrisynth.data.sequence import SequenceError

__all__ = [
    "AIR",
    "TISSUE",
    "UNTRACED",
    "CONTOUR_NAMES",
    "LANDMARK_NAMES",
    "ContourAnnotation",
    "read_contours",
]

#: Label ids of :meth:`ContourAnnotation.labels`.
AIR, TISSUE, UNTRACED = 0, 1, 255
CONTOUR_NAMES: tuple[str, ...] = ("contour1", "contour2", "contour3")
LANDMARK_NAMES: tuple[str, ...] = ("UL", "LL", "AVR", "VEL", "GLTB")
#: A segment with both ends this close (px) to the same image edge is a closure, not a tracing.
_BORDER_PX = 1.5
#: Closures are drawn up to about a pixel beyond the frame (seen: row 68.0 in a 68-row clip).
_SLACK_PX = 1.5

#: Maps ``(N, 2)`` row/col points of the annotated frame to another pixel grid (e.g. a ROI).
PointMap = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class ContourAnnotation:
    """Per-frame manual contours of one clip.

    Attributes:
        source: the ``.mat`` file read.
        frame_shape: ``(H, W)`` of the annotated frames (the clip's matrix).
        contours: per frame, contour name -> ``(N, 2)`` float ``(row, col)`` points, 0-based;
            an empty dict for an untraced frame.
        landmarks: per frame, landmark name -> ``(2,)`` ``(row, col)``.
    """

    source: str
    frame_shape: tuple[int, int]
    contours: tuple[dict[str, np.ndarray], ...]
    landmarks: tuple[dict[str, np.ndarray], ...]

    @property
    def n_frames(self) -> int:
        return len(self.contours)

    def is_traced(self, t: int) -> bool:
        """Whether frame ``t`` has all three contours."""
        return len(self.contours[t]) == len(CONTOUR_NAMES)

    def boundary(self, t: int, to_pixels: PointMap | None = None) -> list[np.ndarray]:
        """The traced air–tissue boundary of frame ``t`` as polylines.

        Args:
            t: frame index.
            to_pixels: optional map of ``(N, 2)`` row/col points to another grid (e.g. a ROI's).

        Returns:
            ``(N_i, 2)`` row/col polylines, image-border closures removed (a contour is split
            where one is dropped); empty for an untraced frame.
        """
        h, w = self.frame_shape
        lines: list[np.ndarray] = []
        for pts in self.contours[t].values():
            on_edge = np.stack(
                [
                    pts[:, 0] < _BORDER_PX,
                    pts[:, 0] > h - 1 - _BORDER_PX,
                    pts[:, 1] < _BORDER_PX,
                    pts[:, 1] > w - 1 - _BORDER_PX,
                ],
                1,
            )  # (N, 4): near each image edge
            closure = (on_edge[:-1] & on_edge[1:]).any(1)  # (N-1,) segment along one edge
            start = 0
            for i in [*np.flatnonzero(closure), len(pts) - 1]:
                piece = pts[start : i + 1]
                if len(piece) >= 2:
                    lines.append(piece if to_pixels is None else to_pixels(piece))
                start = i + 1
        return lines

    def labels(self, shape: tuple[int, int], to_pixels: PointMap | None = None) -> np.ndarray:
        """Air/tissue label maps of every frame on a pixel grid.

        A pixel is :data:`TISSUE` when its centre lies inside any of the three (closed)
        contours, :data:`AIR` otherwise, and :data:`UNTRACED` in untraced frames.

        Args:
            shape: ``(H, W)`` of the output grid (the annotated frame's, or a ROI's).
            to_pixels: map from annotated-frame ``(row, col)`` to the output grid, e.g. the
                crop-and-resize of a ROI (default: identity, ``shape`` = the frame's).

        Returns:
            ``(T, H, W)`` uint8.
        """
        from matplotlib.path import Path as Polygon

        h, w = shape
        rows, cols = np.mgrid[0:h, 0:w]
        centres = np.stack([rows.ravel(), cols.ravel()], 1).astype(float)  # (H*W, 2)
        out = np.full((self.n_frames, h, w), UNTRACED, np.uint8)
        for t in range(self.n_frames):
            if not self.is_traced(t):
                continue
            tissue = np.zeros(h * w, bool)
            for pts in self.contours[t].values():
                poly = pts if to_pixels is None else to_pixels(pts)
                tissue |= Polygon(poly).contains_points(centres)
            out[t] = np.where(tissue, TISSUE, AIR).reshape(h, w)
        return out


def _points(value: object, where: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
        raise SequenceError(f"{where}: expected finite (N, 2) x/y points, got shape {arr.shape}")
    return arr[:, ::-1] - 1.0  # MATLAB 1-based (x, y) -> 0-based (row, col)


def read_contours(path: str | Path, frame_shape: tuple[int, int] = (68, 68)) -> ContourAnnotation:
    """Read a USC-TIMIT air–tissue boundary annotation ``.mat`` (see the module docstring).

    Args:
        path: the ``.mat`` file.
        frame_shape: ``(H, W)`` of the annotated clip (USC-TIMIT: 68 x 68); points outside it
            are an error.

    Raises:
        SequenceError: missing file, no ``annotation`` struct, a frame without the contour
            fields, points not ``(N, 2)``, or points outside the frame; the message names the
            file (and the frame).
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise SequenceError(f"{path}: contour annotation file not found")
    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except (ValueError, OSError, NotImplementedError, scipy.io.matlab.MatReadError) as e:
        raise SequenceError(f"{path}: not a readable MATLAB 5 file ({e})") from e
    if "annotation" not in mat:
        raise SequenceError(f"{path}: no 'annotation' struct array (found {sorted(mat)})")
    frames = np.atleast_1d(mat["annotation"])
    h, w = frame_shape
    contours, landmarks = [], []
    for t, frame in enumerate(frames):
        where = f"{path} frame {t}"
        fields = getattr(frame, "_fieldnames", None)
        missing = [k for k in CONTOUR_NAMES if fields is None or k not in fields]
        if missing:
            raise SequenceError(f"{where}: annotation lacks {', '.join(missing)}")
        polys = {k: _points(getattr(frame, k), f"{where} {k}") for k in CONTOUR_NAMES}
        if any(len(p) == 0 for p in polys.values()):
            polys = {}  # untraced frame (an empty annotation)
        for k, p in polys.items():
            if len(p) < 3:
                raise SequenceError(f"{where} {k}: {len(p)} points; a contour needs >= 3")
            lo, hi = p.min(0), p.max(0)
            if lo.min() < -_SLACK_PX or hi[0] > h - 1 + _SLACK_PX or hi[1] > w - 1 + _SLACK_PX:
                raise SequenceError(
                    f"{where} {k}: points span rows {lo[0]:.1f}..{hi[0]:.1f}, cols "
                    f"{lo[1]:.1f}..{hi[1]:.1f}, outside the {h}x{w} frame (pass frame_shape=)"
                )
        marks = {}
        for k in LANDMARK_NAMES:
            if fields is not None and k in fields:
                p = _points(np.reshape(getattr(frame, k), (-1, 2)), f"{where} {k}")
                if len(p) == 1:
                    marks[k] = p[0]
        contours.append(polys)
        landmarks.append(marks)
    return ContourAnnotation(str(path), (h, w), tuple(contours), tuple(landmarks))
