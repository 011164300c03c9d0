"""Talking-face dubbing: a face image or video + speech audio → a talking-face video.

The face path of the same core as MRI synthesis: the generator paints the region it was
trained on (the lower half of a face crop) from each output frame's audio window, chunk by
chunk (:func:`~mrisynth.synthesis.stream.synthesize_span`). What is face-specific lives here:

1. **Detection** (:func:`detect_faces`): OpenCV's Haar cascade
   ``haarcascade_frontalface_default.xml``, shipped with ``opencv-python-headless<5`` (no
   download, no DNN model), on the histogram-equalised grey frame; frames under 160 px are
   upscaled 2× first. Where a frame has several candidates, the one nearest the previous face
   is kept (in the first frame, the one most detection windows agree on).
2. **Tracking** (:func:`track_faces`): boxes of frames without a detection are interpolated
   from their neighbours (a gap longer than ``max_gap_s`` is an error naming its frames), then
   smoothed over ``smooth_s`` (a median of 3, then a moving average), so the crop does not
   jitter with the detector. Where the cascade fails, a face box given by hand stands for
   every frame (a still camera).
3. **Crops** (:func:`crop_boxes`): a square around each face box, ``scale`` × its width, its
   centre ``shift`` × the width below the box centre: the framing of the face model's training
   crops (:class:`FaceCropConfig` says how it was measured).
4. **Paste-back**: each synthesized crop is resized to its box and blended in with the MRI
   path's feathered weight (:func:`~mrisynth.synthesis.roi.blend_weight`): 1 on the painted
   region, falling smoothly to 0 around it and at the box edge, so no seam shows.

Modes: a face **image** (image+audio) is planned here as a still head and animated, head
motion and blinks, by :mod:`mrisynth.synthesis.animate` (``DubStream.render``); a face
**video** keeps its own head motion (video+audio) and is played forward and backward when the
audio is longer, so no frame jumps.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from mrisynth.io.png import to_gray
from mrisynth.synthesis.roi import blend_weight, resize_frames
from mrisynth.synthesis.stream import (
    SynthesisModel,
    check_chunking,
    chunk_frames_of,
    n_output_frames,
    prepare_audio,
    synthesize_span,
)

logger = logging.getLogger(__name__)

__all__ = [
    "FaceCropConfig",
    "detect_faces",
    "track_faces",
    "crop_boxes",
    "crop_faces",
    "source_frame_index",
    "DubStream",
    "dub",
]

#: Frames narrower or lower than this are upscaled 2x for the cascade (it misses small faces).
_UPSCALE_BELOW_PX = 160


@dataclasses.dataclass(frozen=True)
class FaceCropConfig:
    """How face boxes become the model's crops.

    The defaults reproduce the face model's training crop: ``experiments/face`` trains on a
    fixed 64 px box (rows 20–84, columns 16–80) of the phantom's 96 px face videos, and on the
    seven of its eight speakers the cascade finds, the cascade's box is a median 61.5 px wide
    with its centre at row 43.75, column 48 (it misses one dark-skinned face on a low-contrast
    background entirely: give that face's box by hand, ``dub(face_box=...)``).

    Attributes:
        scale: crop side / detected face-box width (64 / 61.5).
        shift: crop centre below the face-box centre, in face-box widths ((52 - 43.75) / 61.5).
        smooth_s: moving-average window of the box track (s).
        max_gap_s: the longest run of frames without a face that is interpolated (s).
        min_face_px: the smallest face the detector looks for (px, in the frame).
    """

    scale: float = 1.05
    shift: float = 0.13
    smooth_s: float = 0.2
    max_gap_s: float = 1.0
    min_face_px: int = 20

    def __post_init__(self) -> None:
        for name in ("scale", "smooth_s", "max_gap_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FaceCropConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.min_face_px < 8:
            raise ValueError(f"FaceCropConfig.min_face_px must be >= 8, got {self.min_face_px}")


@functools.lru_cache(maxsize=1)
def _cascade():
    import cv2

    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():  # opencv-python-headless >= 5 ships no cascades
        raise RuntimeError(
            f"OpenCV's Haar cascade is missing ({path}): install opencv-python-headless<5"
        )
    return cascade


def _grey_uint8(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame)
    if f.dtype != np.uint8:
        f = np.clip(np.rint(f.astype(np.float32) * 255), 0, 255).astype(np.uint8)
    return to_gray(f)  # BT.601 luma, the package's one RGB -> grey


def detect_faces(frames: np.ndarray, min_face_px: int = 20) -> np.ndarray:
    """The face box of every frame (module docstring, step 1).

    Args:
        frames: ``(T, H, W, 3)`` RGB (or ``(T, H, W)`` grey) frames, uint8 or floats in [0, 1].
        min_face_px: the smallest face to look for (px).

    Returns:
        ``(T, 4)`` float64 ``(x, y, w, h)`` boxes in pixels; NaN rows where no face was found.
    """
    import cv2

    cascade = _cascade()
    out = np.full((len(frames), 4), np.nan)
    previous = None
    for k, frame in enumerate(frames):
        grey = _grey_uint8(frame)
        up = 2 if min(grey.shape) < _UPSCALE_BELOW_PX else 1
        if up > 1:
            grey = cv2.resize(grey, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
        grey = cv2.equalizeHist(grey)
        found, votes = cascade.detectMultiScale2(
            grey, scaleFactor=1.05, minNeighbors=5, minSize=(min_face_px * up,) * 2
        )
        if len(found) == 0:
            continue
        boxes = np.asarray(found, np.float64) / up
        if previous is None:  # the most certain face (most overlapping detections)
            pick = int(np.argmax(votes))
        else:  # the face nearest the one before: a second face in the picture does not steal it
            centres = boxes[:, :2] + boxes[:, 2:] / 2
            pick = int(np.argmin(np.linalg.norm(centres - previous, axis=1)))
        out[k] = boxes[pick]
        previous = boxes[pick, :2] + boxes[pick, 2:] / 2
    return out


def track_faces(
    detections: np.ndarray, fps: float, cfg: FaceCropConfig, name: str = "face video"
) -> np.ndarray:
    """Fill gaps and smooth a detection track (module docstring, step 2).

    Args:
        detections: ``(T, 4)`` ``(x, y, w, h)`` from :func:`detect_faces` (NaN: none).
        fps: the frames' rate (sets the gap and smoothing lengths).
        cfg: the crop settings.
        name: the video's name for messages.

    Returns:
        ``(T, 3)`` ``(centre x, centre y, width)`` of the face per frame (px).

    Raises:
        ValueError: no face in any frame, or a gap longer than ``cfg.max_gap_s`` (naming the
            first and last frame of the gap).
    """
    det = np.asarray(detections, np.float64)
    n = len(det)
    found = ~np.isnan(det).any(axis=1)
    if not found.any():
        frames = "its only frame (0)" if n == 1 else f"any of its {n} frames (0-{n - 1})"
        raise ValueError(f"{name}: no face found in {frames}; give a frontal, well-lit face")
    missing = np.flatnonzero(~found)
    if missing.size:
        runs = np.split(missing, np.flatnonzero(np.diff(missing) > 1) + 1)
        longest = max(runs, key=len)
        if len(longest) / fps > cfg.max_gap_s:
            raise ValueError(
                f"{name}: no face in frames {longest[0]}-{longest[-1]} "
                f"({len(longest) / fps:.1f} s, more than max_gap_s={cfg.max_gap_s:g} s to "
                "bridge); trim the video or give one where the face stays in view"
            )
        logger.warning(
            "%s: no face detected in %d of %d frames (first: frame %d); their boxes are "
            "interpolated",
            name,
            missing.size,
            n,
            missing[0],
        )
    track = np.stack([det[:, 0] + det[:, 2] / 2, det[:, 1] + det[:, 3] / 2, det[:, 2]], axis=1)
    t = np.arange(n)
    for j in range(3):  # linear across gaps, held at the ends
        track[~found, j] = np.interp(t[~found], t[found], track[found, j])
    if n >= 3:
        track = ndimage.median_filter(track, size=(3, 1), mode="nearest")
    width = max(1, int(round(cfg.smooth_s * fps)))
    return ndimage.uniform_filter1d(track, size=width, axis=0, mode="nearest")


def crop_boxes(track: np.ndarray, frame_shape: tuple[int, int], cfg: FaceCropConfig) -> np.ndarray:
    """Square crop boxes around a face track (module docstring, step 3).

    Args:
        track: ``(T, 3)`` ``(centre x, centre y, face width)`` from :func:`track_faces`.
        frame_shape: ``(H, W)`` of the frames.
        cfg: the crop settings.

    Returns:
        ``(T, 4)`` int ``(top, left, side, side)`` boxes, each inside the frame (a box that
        would leave it is moved in; one larger than the frame is shrunk to it).
    """
    h, w = frame_shape
    track = np.asarray(track, np.float64)
    side = np.clip(np.rint(cfg.scale * track[:, 2]), 8, min(h, w)).astype(int)
    cx, cy = track[:, 0], track[:, 1] + cfg.shift * track[:, 2]
    top = np.clip(np.rint(cy - side / 2), 0, h - side).astype(int)
    left = np.clip(np.rint(cx - side / 2), 0, w - side).astype(int)
    return np.stack([top, left, side, side], axis=1)


def _resize_rgb(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(t, h, w, C)`` → ``(t, size, C)`` float32 with the package's one resampling."""
    t, _, _, c = frames.shape
    planes = np.moveaxis(np.asarray(frames, np.float32), -1, 1).reshape(t * c, *frames.shape[1:3])
    out = resize_frames(planes, size).reshape(t, c, *size)
    return np.moveaxis(out, 1, -1)


def crop_faces(frames: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """``(t, H, W, 3)`` uint8 frames → ``(t, size, size, 3)`` uint8 crops of ``boxes``."""
    out = np.empty((len(frames), size, size, frames.shape[-1]), np.uint8)
    for k, (frame, (top, left, side, _)) in enumerate(zip(frames, boxes)):
        crop = frame[None, top : top + side, left : left + side]
        out[k] = np.clip(np.rint(_resize_rgb(crop, (size, size))[0]), 0, 255)
    return out


def source_frame_index(k: np.ndarray, n_source: int) -> np.ndarray:
    """The source frame of output frames ``k``: in order, then backward and forward again
    (a ping-pong loop) when there are more output frames than source frames."""
    k = np.asarray(k)
    if n_source == 1:
        return np.zeros(len(k), int)
    period = 2 * (n_source - 1)
    k = k % period
    return np.where(k < n_source, k, period - k)


@dataclasses.dataclass
class DubStream:
    """The planned output of :func:`dub`; iterate it for ``(t, H, W, 3)`` uint8 chunks.

    Attributes:
        model: the face generator; ``frames``: ``(Ts, H, W, 3)`` uint8 source frames;
        boxes: ``(Ts, 4)`` crop boxes; ``crops``: ``(Ts, S, S, 3)`` uint8 model inputs (made
        once per source frame: a still image or a looped video repeats them); ``audio``: mono float32 at ``sample_rate`` (the
        model's); ``n_frames``/``fps``: the output; ``chunk_frames``: frames per chunk;
        ``warnings``: what the user should know (silence, padding); ``render``: where set
        (an animated image, :class:`mrisynth.synthesis.animate.AnimatedFace`), it makes the
        source frames and boxes of output frames ``k`` instead of ``frames``/``boxes``.
    """

    model: SynthesisModel
    frames: np.ndarray
    boxes: np.ndarray
    crops: np.ndarray
    audio: np.ndarray
    sample_rate: int
    n_frames: int
    fps: float
    chunk_frames: int
    batch_size: int
    device: str | torch.device
    progress: bool = True
    warnings: list[str] = dataclasses.field(default_factory=list)
    render: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    _weights: dict[int, np.ndarray] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def frame_shape(self) -> tuple[int, int]:
        return tuple(self.frames.shape[1:3])  # type: ignore[return-value]

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def source_frames(self, k0: int, k1: int) -> np.ndarray:
        """The source frames shown under output frames ``[k0, k1)``."""
        if self.render is not None:
            return self.render(np.arange(k0, k1))[0]
        return self.frames[source_frame_index(np.arange(k0, k1), len(self.frames))]

    def _weight(self, side: int) -> np.ndarray:
        """The paste-back weight of a ``side``-px box, ``(side, side, 1)`` (cached by size)."""
        if side not in self._weights:
            self._weights[side] = blend_weight((side, side), self.model.mask)[..., None]
        return self._weights[side]

    def __iter__(self) -> Iterator[np.ndarray]:
        from tqdm import tqdm

        bar = tqdm(total=self.n_frames, unit="frame", desc="dub", disable=not self.progress)
        try:
            for k0 in range(0, self.n_frames, self.chunk_frames):
                k1 = min(self.n_frames, k0 + self.chunk_frames)
                index = source_frame_index(np.arange(k0, k1), len(self.frames))
                if self.render is not None:  # an animated image: warped frames, moved boxes
                    src, boxes = self.render(np.arange(k0, k1))
                    crops = crop_faces(src, boxes, self.model.config.img_size)
                else:
                    src, boxes, crops = self.frames[index], self.boxes[index], self.crops[index]
                out = synthesize_span(
                    self.model,
                    crops,
                    self.audio,
                    self.sample_rate,
                    self.fps,
                    k0,
                    k1,
                    batch_size=self.batch_size,
                    device=self.device,
                    cycle_reference=False,
                )
                frames = src.astype(np.float32)
                for k, (top, left, side, _) in enumerate(boxes):
                    pasted = _resize_rgb(out[k : k + 1] * 255.0, (side, side))[0]
                    region = frames[k, top : top + side, left : left + side]
                    region += self._weight(side) * (pasted - region)
                bar.update(k1 - k0)
                yield np.clip(np.rint(frames), 0, 255).astype(np.uint8)
        finally:
            bar.close()


def dub(
    face: np.ndarray,
    face_fps: float | None,
    audio: np.ndarray,
    sample_rate: int,
    model: str | Path | SynthesisModel | None,
    *,
    crop: FaceCropConfig | None = None,
    fps: float | None = None,
    still: bool = False,
    face_box: tuple[float, float, float, float] | None = None,
    chunk_s: float = 4.0,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = True,
    name: str = "face",
    audio_name: str = "audio",
) -> DubStream:
    """Plan a talking-face video of ``face`` saying ``audio``; iterate it for frame chunks.

    Args:
        face: ``(Ts, H, W, 3)`` uint8 RGB frames: one image (``Ts = 1``) or a video.
        face_fps: the video's frame rate (None for an image).
        audio: ``(N,)`` mono or ``(N, C)`` samples; ``sample_rate`` their rate (Hz; another
            rate than the model's is resampled).
        model: a face generator file, a folder holding ``generator.pt``, a loaded
            :class:`SynthesisModel`, or None (the face pipeline's).
        crop: how face boxes become crops (default :class:`FaceCropConfig`).
        fps: output frame rate; None: the video's, else the model's.
        still: use the first frame only (a still head), even for a video.
        face_box: ``(x, y, w, h)`` px of the face, for every frame, instead of detecting it
            (where the detector misses a face; the camera and the head must stay still).
        chunk_s: seconds of output per chunk (memory; the result does not depend on it).
        batch_size: generator batch size (frames); device: where it runs.
        progress: a tqdm progress bar while iterating.
        name, audio_name: how messages name the inputs (e.g. their file names).

    Raises:
        FileNotFoundError: no model (with how to get one).
        ValueError: not a 3-channel face model, frames that are not RGB, no face found
            (naming the frames), empty audio, bad options.
    """
    check_chunking(chunk_s, batch_size)
    frames = np.asarray(face)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"{name}: face frames must be (T, H, W, 3) uint8 RGB, got {frames.dtype} {frames.shape}"
        )
    crop = crop or FaceCropConfig()
    loaded = (
        model if isinstance(model, SynthesisModel) else SynthesisModel.load(model, device, True)
    )
    cfg = loaded.config
    if still:
        frames = frames[:1]
    out_fps = float(fps or (face_fps if len(frames) > 1 and face_fps else cfg.fps))
    if not out_fps > 0:
        raise ValueError(f"output fps must be > 0, got {out_fps}")
    if len(frames) > 1 and face_fps and abs(out_fps - face_fps) > 1e-6:
        # keep the video's timing: resample its frames to the output rate
        n = max(1, int(round(len(frames) / face_fps * out_fps)))
        frames = frames[
            np.minimum((np.arange(n) * face_fps / out_fps).astype(int), len(frames) - 1)
        ]
    samples, warnings = prepare_audio(
        audio, sample_rate, cfg.mel.sample_rate, cfg.audio_window_ms / 1000.0, name=audio_name
    )
    if face_box is not None:
        x, y, w, h = (float(v) for v in face_box)
        fh, fw = frames.shape[1:3]
        if not (w > 0 and h > 0 and 0 <= x < fw and 0 <= y < fh):
            raise ValueError(f"{name}: face box {face_box} is not inside the {fw}x{fh} frame")
        detections = np.tile([x, y, w, h], (len(frames), 1))
    else:
        detections = detect_faces(frames, crop.min_face_px)
    track = track_faces(detections, out_fps, crop, name)
    boxes = crop_boxes(track, frames.shape[1:3], crop)
    n_frames = n_output_frames(len(samples), cfg.mel.sample_rate, out_fps)
    chunk_frames = chunk_frames_of(chunk_s, out_fps, batch_size)
    for w in warnings:
        logger.warning("%s", w)
    return DubStream(
        model=loaded,
        frames=frames,
        boxes=boxes,
        crops=crop_faces(frames, boxes, cfg.img_size),
        audio=samples,
        sample_rate=cfg.mel.sample_rate,
        n_frames=n_frames,
        fps=out_fps,
        chunk_frames=chunk_frames,
        batch_size=batch_size,
        device=device,
        progress=progress,
        warnings=warnings,
    )
