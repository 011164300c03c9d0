"""Air–tissue boundary distance on real rtMRI with manual contours: the scoring protocol.

How a segmentation of a prepared ROI is compared with a clip's manual contours
(:mod:`mrisynth.io.contours`), the same for every method (segmenter, Otsu threshold...):

1. **Grid.** The clip is prepared as users prepare recordings (:mod:`mrisynth.data.prepare`:
   the speaker's automatic vocal-tract ROI, resized to the model's size). Methods label the
   ROI frames; distances are measured in the clip's own pixels and spacing (USC-TIMIT:
   2.941 mm), mapping the ROI back with the exact crop-and-resize geometry
   (``align_corners=False``).
2. **Predicted boundary** = the edge of the predicted *air* region, half-way between air and
   tissue pixel centres (:func:`~mrisynth.metrics.anatomy.air_boundary`). Air is the vocal
   tract *and* the air outside the head (a segmenter's ``airway`` and ``background``): the
   manual contours trace the face profile too, so the skin–air edge counts on both sides.
3. **Manual boundary** = the clip's traced contours inside the ROI (image-border closures
   and blank frames are untraced: see :mod:`mrisynth.io.contours`).
4. **Untraced regions.** The manual tracing covers the vocal tract and the face profile, not
   e.g. the nasal cavity or the brain. Predicted boundary farther than ``band_mm`` (default
   10 mm, ~3.4 px) from every manual point is therefore not scored; ``pred_scored`` reports
   the fraction of the predicted boundary that was. Missing boundary is still penalised in
   full by the manual -> predicted direction.
5. **Scores per frame**: symmetric mean distance and HD95 (mm), then the mean over frames of a
   clip, then over clips of a speaker.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from mrisynth.data.prepare import PrepareConfig, find_vocal_tract_roi, prepare_sequence
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.io.contours import ContourAnnotation, read_contours
from mrisynth.metrics.anatomy import air_boundary, boundary_distance_mm
from mrisynth.phantom.labels import LABELS

__all__ = [
    "USC_TIMIT_SPACING_MM",
    "RoiGrid",
    "ContourClip",
    "load_contour_clips",
    "segmenter_air",
    "otsu_air",
    "clip_boundary_scores",
]

#: USC-TIMIT rtMRI: 68 x 68 px over a 200 mm field of view.
USC_TIMIT_SPACING_MM = 200.0 / 68
#: Default band (mm) around the manual tracing inside which predicted boundary is scored.
BAND_MM = 10.0


@dataclasses.dataclass(frozen=True)
class RoiGrid:
    """The crop-and-resize from a frame to its prepared ROI.

    Attributes:
        box: ``(top, left, height, width)`` of the ROI in frame pixels.
        size: ``(rows, cols)`` of the prepared ROI image.
    """

    box: tuple[int, int, int, int]
    size: tuple[int, int]

    @property
    def _scale(self) -> np.ndarray:
        return np.array([self.size[0] / self.box[2], self.size[1] / self.box[3]])

    def to_roi(self, pts: np.ndarray) -> np.ndarray:
        """Frame ``(N, 2)`` row/col points -> ROI pixel coordinates."""
        return (np.asarray(pts, float) - self.box[:2] + 0.5) * self._scale - 0.5

    def to_frame(self, pts: np.ndarray) -> np.ndarray:
        """ROI ``(N, 2)`` row/col points -> frame pixel coordinates."""
        return (np.asarray(pts, float) + 0.5) / self._scale - 0.5 + self.box[:2]

    def inside(self, pts: np.ndarray) -> np.ndarray:
        """``(N,)`` whether frame points lie inside the ROI (pixel edges included)."""
        top, left, h, w = self.box
        p = np.asarray(pts, float)
        return (
            (p[:, 0] >= top - 0.5)
            & (p[:, 0] <= top + h - 0.5)
            & (p[:, 1] >= left - 0.5)
            & (p[:, 1] <= left + w - 0.5)
        )

    def clip(self, lines: list[np.ndarray]) -> list[np.ndarray]:
        """The parts of frame polylines inside the ROI (split where they leave it)."""
        out = []
        for line in lines:
            keep = self.inside(line)
            edges = np.flatnonzero(np.diff(np.r_[False, keep, False].astype(int)))
            out += [line[a:b] for a, b in zip(edges[::2], edges[1::2]) if b - a >= 2]
        return out


@dataclasses.dataclass(frozen=True)
class ContourClip:
    """A real clip prepared like a user's recording, with its manual contours.

    Attributes:
        name: clip stem, e.g. ``"F1_001"``.
        speaker: e.g. ``"F1"``.
        roi: the prepared ROI sequence (uint8 ``(T, size, size)`` frames).
        grid: its crop-and-resize from the clip's frames.
        annotation: the manual contours, in the clip's frame pixels.
        spacing_mm: the clip's pixel spacing.
    """

    name: str
    speaker: str
    roi: SpeechMRISequence
    grid: RoiGrid
    annotation: ContourAnnotation
    spacing_mm: tuple[float, float]

    def unit_frames(self) -> np.ndarray:
        """``(T, H, W)`` float32 ROI frames in [0, 1] (the models' input scale)."""
        return self.roi.frames.astype(np.float32) / 255.0

    def labels(self) -> np.ndarray:
        """``(T, H, W)`` air/tissue/untraced labels of the manual contours on the ROI grid."""
        return self.annotation.labels(self.grid.size, to_pixels=self.grid.to_roi)


def load_contour_clips(
    folder: str | Path,
    cfg: PrepareConfig,
    spacing_mm: float = USC_TIMIT_SPACING_MM,
    fps: float = 23.18,
) -> list[ContourClip]:
    """Read every ``<SPK>_<NNN>.avi`` + ``.mat`` pair of a folder and prepare it.

    The ROI is found per speaker over all of that speaker's clips (as ``mrisynth prepare``
    does), then each clip is cropped, resized to ``cfg.img_size`` and percentile-scaled.

    Args:
        folder: e.g. ``../shared/data/real-rtmri-contours``.
        cfg: the preparation of the model the clips are scored for (``img_size``,
            ``roi_size_mm``, ``percentiles``).
        spacing_mm: pixel spacing of the clips (not stored in the AVIs).
        fps: the clips' frame rate (one header states 30 fps wrongly, so it is given).

    Raises:
        SequenceError: a video without its ``.mat`` or a frame-count mismatch (names the file).
    """
    from mrisynth.data.sequence import SequenceError
    from mrisynth.io import read_sequence

    folder = Path(folder)
    videos = sorted(folder.glob("*.avi"))
    if not videos:
        raise SequenceError(f"{folder}: no .avi clips with contour annotations")
    by_speaker: dict[str, list[tuple[Path, SpeechMRISequence]]] = {}
    for video in videos:
        seq = read_sequence(video, fps=fps, spacing_mm=spacing_mm, strict_av=False)
        by_speaker.setdefault(video.stem.split("_")[0], []).append((video, seq))
    clips = []
    for speaker, items in by_speaker.items():
        box = find_vocal_tract_roi([s for _, s in items], cfg.roi_size_mm, cfg.roi_top_fraction)
        for video, seq in items:
            mat = video.with_suffix(".mat")
            if not mat.is_file():
                raise SequenceError(f"{video}: no contour annotation {mat.name} beside it")
            ann = read_contours(mat, frame_shape=(seq.height, seq.width))
            if ann.n_frames != seq.n_frames:
                raise SequenceError(
                    f"{mat}: {ann.n_frames} annotated frames for {seq.n_frames} video frames"
                )
            roi = prepare_sequence(seq, box, cfg)
            grid = RoiGrid(box, (roi.height, roi.width))
            clips.append(ContourClip(video.stem, speaker, roi, grid, ann, seq.spacing_mm))
    return clips


def segmenter_air(labels: np.ndarray) -> np.ndarray:
    """Air mask of segmenter label maps: ``airway`` or ``background`` (air outside the head)."""
    return np.isin(labels, (LABELS["airway"], LABELS["background"]))


def otsu_air(frames: np.ndarray) -> np.ndarray:
    """The threshold baseline: air = below each frame's Otsu threshold.

    Args:
        frames: ``(T, H, W)`` intensities.

    Returns:
        ``(T, H, W)`` bool.
    """
    from skimage.filters import threshold_otsu

    frames = np.asarray(frames, np.float32)
    return np.stack([f < threshold_otsu(f) for f in frames])


def clip_boundary_scores(
    air: np.ndarray, clip: ContourClip, band_mm: float = BAND_MM
) -> dict[str, np.ndarray]:
    """Per-frame boundary distances of air masks on a clip's ROI against its contours.

    Args:
        air: ``(T, H, W)`` boolean air masks on ``clip.grid``.
        clip: the clip and its annotation.
        band_mm: see the module docstring (4.).

    Returns:
        ``{"mean", "hd95", "pred_to_ref", "ref_to_pred", "pred_scored"}`` -> ``(T,)`` arrays,
        NaN in untraced frames.
    """
    air = np.asarray(air, bool)
    if air.shape != (clip.annotation.n_frames, *clip.grid.size):
        raise ValueError(
            f"{clip.name}: air masks {air.shape} do not match the clip's "
            f"({clip.annotation.n_frames}, {clip.grid.size[0]}, {clip.grid.size[1]})"
        )
    rows = []
    for t in range(len(air)):
        ref = clip.grid.clip(clip.annotation.boundary(t))
        pred = [clip.grid.to_frame(line) for line in air_boundary(air[t])]
        rows.append(boundary_distance_mm(pred, ref, clip.spacing_mm, max_mm=band_mm))
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}
