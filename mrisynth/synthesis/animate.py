"""One-shot animation of a face image: head pose and blinks rendered by warping the image.

Every output frame is ONE warp of the original image (never of the previous frame), so a long
clip cannot drift away from the identity:

1. **Geometry** (:func:`face_geometry`): the face box (OpenCV's Haar cascade, as `dub` finds
   faces) and both eyes (the cascade ``haarcascade_eye.xml`` in the upper face; where it does
   not find one eye left and one right of the face's centre, the eyes are placed where they sit
   in the cascade's face box on the phantom and scikit-image's astronaut photo).
2. **Blink** (eyelid closure ``c``): a piecewise-linear vertical warp per image column across
   each eye: the skin between the brow side and the lower lid is stretched down over the eye,
   so the upper lid edge reaches the lower lid at ``c = 1``. The travel is largest at the
   eye's centre and falls to 0 at its corners (an elliptic profile), so a closed eye is an
   almond-shaped lid. Nothing moves outside the eyes.
3. **Head pose** (roll, translation): a similarity warp about the face's centre.

The eyelid warp resamples the eyes' regions only, the similarity the whole image (bilinear,
edges replicated; :func:`warp_face`), both from the original image. The face box of each frame is the original box moved with the
warp, so it follows the face without re-detection and without detector jitter; the lip-sync
generator then paints each warped frame (:class:`mrisynth.synthesis.face.DubStream`).

A driving video's head motion (:func:`pose_from_video`) comes from its face track and image
motion: corner features of its first frame's face, followed with pyramidal Lucas-Kanade
optical flow, give each frame's similarity to the first frame (RANSAC).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import numpy as np

from mrisynth.synthesis.face import (
    DubStream,
    FaceCropConfig,
    crop_boxes,
    detect_faces,
    source_frame_index,
    track_faces,
)
from mrisynth.synthesis.motion import MotionStats, MotionTracks, sample_tracks, speech_energy

__all__ = [
    "FaceGeometry",
    "face_geometry",
    "similarity_matrix",
    "warp_face",
    "AnimatedFace",
    "pose_from_video",
    "animate_stream",
]

#: Eye centres in the face box (fractions of its width/height) where the eye cascade fails
#: (on one phantom speaker in seven): the phantom's (0.25-0.32, 0.40-0.51); the astronaut's
#: (0.26, 0.37), (0.73, 0.40).
_EYES_IN_BOX = ((0.25, 0.48), (0.75, 0.48))
_EYE_WIDTH_PER_FACE = 0.22  # eye corner to corner / face-box width (phantom 0.24)
_EYE_PER_CASCADE_BOX = 0.8  # eye width / the eye cascade's box (phantom 0.86, astronaut ~0.7)
#: How far the upper lid travels / eye width: more than a real eye's opening (the phantom's
#: 0.32-0.40), so that an eye placed a pixel off still closes completely.
_EYE_OPENING = 0.55
_SKIN_ABOVE = 0.8  # stretched skin above the upper lid, in lid travels
_TRAVEL_POWER = 0.75


@dataclasses.dataclass(frozen=True)
class FaceGeometry:
    """Where the face and eyes are in the reference image (pixels, ``x`` right, ``y`` down).

    Attributes:
        centre: ``(x, y)`` centre of the face box; width: its width.
        eyes: ``((x, y), (x, y))`` eye centres, image-left first.
        eye_width: corner-to-corner width of one eye.
        iod: inter-ocular distance (outer eye corners): the unit of translation tracks.
        eyes_found: whether the eye cascade found both eyes (else the box's usual places).
    """

    centre: tuple[float, float]
    width: float
    eyes: tuple[tuple[float, float], tuple[float, float]]
    eye_width: float
    eyes_found: bool

    @property
    def iod(self) -> float:
        (xl, yl), (xr, yr) = self.eyes
        return math.hypot(xr - xl, yr - yl) + self.eye_width


@functools.lru_cache(maxsize=1)
def _eye_cascade():
    import cv2

    path = Path(cv2.data.haarcascades) / "haarcascade_eye.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(
            f"OpenCV's eye cascade is missing ({path}): install opencv-python-headless<5"
        )
    return cascade


def face_geometry(
    image: np.ndarray,
    face_box: tuple[float, float, float, float] | None = None,
    crop: FaceCropConfig | None = None,
    name: str = "face",
) -> FaceGeometry:
    """Face box and eyes of one image (module docstring, step 1).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        face_box: ``(x, y, w, h)`` px instead of detecting the face.
        crop: detection settings (``min_face_px``; default :class:`FaceCropConfig`).
        name: the image's name for messages.

    Raises:
        ValueError: no face found (naming the image).
    """
    import cv2

    crop = crop or FaceCropConfig()
    if face_box is None:
        det = detect_faces(image[None], crop.min_face_px)
        track_faces(det, 1.0, crop, name)  # the one clear "no face" message
        x, y, w, h = (float(v) for v in det[0])
    else:
        x, y, w, h = (float(v) for v in face_box)
    grey = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY))
    top, bottom = int(max(0, y)), int(min(grey.shape[0], y + 0.62 * h))
    left, right = int(max(0, x)), int(min(grey.shape[1], x + w))
    eyes, found = [], False
    if bottom - top >= 12 and right - left >= 12:
        roi = grey[top:bottom, left:right]
        # the eye cascade misses small eyes: the phantom's 47-68 px faces need 4x
        up = 4 if w < 80 else 2 if w < 160 else 1
        if up > 1:
            roi = cv2.resize(roi, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
        boxes = _eye_cascade().detectMultiScale(
            roi, scaleFactor=1.05, minNeighbors=3, minSize=(int(0.1 * w * up),) * 2
        )
        cands = [
            (left + (bx + bw / 2) / up, top + (by + bh / 2) / up, bw / up)
            for bx, by, bw, bh in np.asarray(boxes).reshape(-1, 4)
            if bw / up < 0.45 * w
        ]
        cx = x + w / 2
        lefts = [c for c in cands if c[0] < cx - 0.08 * w]
        rights = [c for c in cands if c[0] > cx + 0.08 * w]
        if lefts and rights:
            # the pair most level with each other (a nostril or a brow is not level with an eye)
            el, er = min(
                ((a, b) for a in lefts for b in rights), key=lambda p: abs(p[0][1] - p[1][1])
            )
            if abs(el[1] - er[1]) < 0.15 * w:
                eyes = [el, er]
                found = True
    if found:
        ew = _EYE_PER_CASCADE_BOX * 0.5 * (eyes[0][2] + eyes[1][2])
        eye_xy = ((eyes[0][0], eyes[0][1]), (eyes[1][0], eyes[1][1]))
    else:
        ew = _EYE_WIDTH_PER_FACE * w
        eye_xy = tuple((x + fx * w, y + fy * h) for fx, fy in _EYES_IN_BOX)  # type: ignore[assignment]
    return FaceGeometry(
        centre=(x + w / 2, y + h / 2),
        width=w,
        eyes=eye_xy,  # type: ignore[arg-type]
        eye_width=float(ew),
        eyes_found=found,
    )


def _eyelid_patch(
    image: np.ndarray, geom: FaceGeometry, eye: tuple[float, float], closure: float
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """The region around one eye with its upper lid moved down by ``closure`` (step 2).

    Returns ``((rows, cols), patch)``: the patch to paste at ``image[rows, cols]``, or None
    where the eye lies outside the image.
    """
    import cv2

    h, w = image.shape[:2]
    ex, ey = eye
    half_w = 0.5 * geom.eye_width
    opening = _EYE_OPENING * geom.eye_width
    y_top = ey - 0.5 * opening - _SKIN_ABOVE * opening
    r0, r1 = max(0, int(math.floor(y_top))), min(h, int(math.ceil(ey + 0.5 * opening)) + 1)
    c0, c1 = max(0, int(math.floor(ex - half_w))), min(w, int(math.ceil(ex + half_w)) + 1)
    if r1 <= r0 or c1 <= c0:
        return None
    yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32)
    u = (xx - ex) / half_w
    profile = np.sqrt(np.clip(1.0 - u * u, 0.0, 1.0))  # elliptic: 0 at the corners
    y_bot = ey + 0.5 * opening * profile  # the lower lid at this column
    length = y_bot - y_top
    band = (np.abs(u) < 1.0) & (yy >= y_top) & (yy < y_bot)
    # how far the upper lid edge travels down: the travel starts above the real lid edge
    # (_EYE_OPENING), so closure^0.75 makes the eye look half closed at closure 0.5 (through
    # the landmark regressor on phantom faces, as blink durations are measured)
    d = closure**_TRAVEL_POWER * opening * profile
    shrink = (length - d) / np.where(length > 0, length, 1.0)
    my = np.where(band, y_top + (yy - y_top) * shrink, yy).astype(np.float32)
    patch = cv2.remap(image, xx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return (slice(r0, r1), slice(c0, c1)), patch


def similarity_matrix(
    geom: FaceGeometry, roll_deg: float, translation_iod: tuple[float, float]
) -> np.ndarray:
    """``(2, 3)`` forward similarity of step 3: ``x' = R (x - c) + c + t`` about the face
    centre ``c``, ``t`` in inter-ocular distances (for :func:`cv2.warpAffine`)."""
    a = math.radians(roll_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    c = np.asarray(geom.centre, np.float64)
    t = np.asarray(translation_iod, np.float64) * geom.iod
    return np.column_stack([rot, c + t - rot @ c])


def warp_face(
    image: np.ndarray,
    geom: FaceGeometry,
    roll_deg: float,
    translation_iod: tuple[float, float],
    closure: float,
) -> np.ndarray:
    """The reference image with closed-by-``closure`` eyelids, moved by the head pose.

    Args:
        image: ``(H, W, 3)`` uint8 reference image; geom: its :class:`FaceGeometry`.
        roll_deg: in-plane rotation (degrees, clockwise in the image positive).
        translation_iod: ``(x, y)`` shift in inter-ocular distances.
        closure: eyelid closure in [0, 1].

    Returns:
        ``(H, W, 3)`` uint8. No motion and open eyes give the image itself; the eyelid warp
        touches only the eyes' regions (steps 2 and 3 of the module docstring).
    """
    import cv2

    out = image
    c = float(np.clip(closure, 0.0, 1.0))
    if c > 0:
        out = image.copy()
        for eye in geom.eyes:
            found = _eyelid_patch(image, geom, eye, c)
            if found is not None:
                where, patch = found
                out[where] = patch
    if roll_deg == 0 and not np.any(translation_iod):
        return out if out is not image else image.copy()
    h, w = image.shape[:2]
    m = similarity_matrix(geom, roll_deg, translation_iod)
    return cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


@dataclasses.dataclass
class AnimatedFace:
    """Renders output frames of an animated image for :class:`~mrisynth.synthesis.face.DubStream`.

    Calling it with output frame indices ``k`` returns ``(frames, boxes)``: ``(t, H, W, 3)``
    uint8 warped frames and their ``(t, 4)`` crop boxes (the original face box moved with
    each frame's translation).

    Attributes:
        image: ``(H, W, 3)`` uint8 reference image; geom: its :class:`FaceGeometry`;
        tracks: the pose and blink tracks (one value per output frame); crop: the crop
        settings; name: the image's name for messages.
    """

    image: np.ndarray
    geom: FaceGeometry
    tracks: MotionTracks
    crop: FaceCropConfig
    name: str = "face"

    def __post_init__(self) -> None:
        h, w = self.image.shape[:2]
        cx, cy = self.geom.centre
        shift = self.tracks.translation_iod * self.geom.iod
        centres = np.column_stack([cx + shift[:, 0], cy + shift[:, 1]])
        # the face is out of view when more than a quarter of its box leaves the frame
        margin = 0.25 * self.geom.width
        half = 0.5 * self.geom.width
        out = (
            (centres[:, 0] - half < -margin)
            | (centres[:, 0] + half > w + margin)
            | (centres[:, 1] - half < -margin)
            | (centres[:, 1] + half > h + margin)
        )
        if out.any():
            k = int(np.argmax(out))
            raise ValueError(
                f"{self.name}: the moved head leaves the {w}x{h} frame at output frame {k} "
                f"({k / self.tracks.fps:.2f} s); use a smaller motion, --still, or a larger "
                "image around the face"
            )
        track = np.column_stack([centres, np.full(len(centres), self.geom.width)])
        self.boxes = crop_boxes(track, (h, w), self.crop)

    def __call__(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = self.tracks
        frames = np.stack(
            [
                warp_face(self.image, self.geom, t.roll_deg[i], t.translation_iod[i], t.closure[i])
                for i in k
            ]
        )
        return frames, self.boxes[k]


def pose_from_video(
    frames: np.ndarray,
    fps: float,
    crop: FaceCropConfig | None = None,
    name: str = "driving video",
) -> tuple[np.ndarray, np.ndarray]:
    """Head motion of a driving video relative to its first frame (module docstring).

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB; fps: their rate (Hz).
        crop: face tracking settings (``max_gap_s``, ``min_face_px``).
        name: the video's name for messages.

    Returns:
        ``roll_deg`` ``(T,)`` and ``translation_iod`` ``(T, 2)`` of the face, relative to the
        first frame, translation in the first frame's inter-ocular distances.

    Raises:
        ValueError: no face, or a stretch without a face longer than ``crop.max_gap_s``
            (naming its frames).
    """
    import cv2

    crop = crop or FaceCropConfig()
    track = track_faces(detect_faces(frames, crop.min_face_px), fps, crop, name)
    x0, y0, w0 = track[0]
    geom = face_geometry(frames[0], (x0 - w0 / 2, y0 - w0 / 2, w0, w0), crop, name)
    grey0 = cv2.cvtColor(np.ascontiguousarray(frames[0]), cv2.COLOR_RGB2GRAY)
    mask = np.zeros_like(grey0)
    x, y, w = int(x0 - w0 / 2), int(y0 - w0 / 2), int(w0)
    mask[max(0, y) : y + w, max(0, x) : x + w] = 255
    pts0 = cv2.goodFeaturesToTrack(grey0, 200, 0.01, max(2.0, w0 / 30), mask=mask)
    n = len(frames)
    roll = np.zeros(n)
    trans = (track[:, :2] - track[0, :2]) / geom.iod  # the face box's motion, where flow fails
    if pts0 is None or len(pts0) < 6:
        return gaussian_smooth(roll, trans, fps, crop.smooth_s)
    prev_grey, prev_pts, first = grey0, pts0.astype(np.float32), pts0.reshape(-1, 2)
    alive = np.ones(len(first), bool)
    centre = np.array([x0, y0])
    for k in range(1, n):
        grey = cv2.cvtColor(np.ascontiguousarray(frames[k]), cv2.COLOR_RGB2GRAY)
        pts, status, _ = cv2.calcOpticalFlowPyrLK(prev_grey, grey, prev_pts, None)
        alive &= status.reshape(-1).astype(bool)
        if alive.sum() >= 6:
            m, _ = cv2.estimateAffinePartial2D(
                first[alive], pts.reshape(-1, 2)[alive], method=cv2.RANSAC
            )
            if m is not None:
                roll[k] = math.degrees(math.atan2(m[1, 0], m[0, 0]))
                trans[k] = (m[:, :2] @ centre + m[:, 2] - centre) / geom.iod
        else:  # features lost: roll held, translation from the face box
            roll[k] = roll[k - 1]
        prev_grey, prev_pts = grey, pts
    return gaussian_smooth(roll, trans, fps, crop.smooth_s)


def gaussian_smooth(
    roll: np.ndarray, trans: np.ndarray, fps: float, smooth_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Tracking jitter removed: a Gaussian of ``smooth_s / 2`` s over each track."""
    from scipy.ndimage import gaussian_filter1d

    sigma = max(0.5 * smooth_s * fps, 0.3)
    return (
        gaussian_filter1d(roll, sigma, mode="nearest"),
        gaussian_filter1d(trans, sigma, axis=0, mode="nearest"),
    )


def animate_stream(
    stream: DubStream,
    image: np.ndarray,
    *,
    stats: MotionStats | None = None,
    drive: tuple[np.ndarray, float] | None = None,
    seed: int = 0,
    face_box: tuple[float, float, float, float] | None = None,
    crop: FaceCropConfig | None = None,
    name: str = "face",
    drive_name: str = "driving video",
) -> DubStream:
    """A still-image :func:`~mrisynth.synthesis.face.dub` stream, animated.

    The blink track is sampled from ``stats`` and the speech's energy
    (:func:`~mrisynth.synthesis.motion.sample_tracks`); the head motion too, or, with
    ``drive``, copied from a driving video (:func:`pose_from_video`, played forward and
    backward when the speech is longer).

    Args:
        stream: the plan of ``dub(image, None, ..., still=True)``.
        image: ``(H, W, 3)`` uint8 the reference image.
        stats: fitted motion statistics (default :class:`MotionStats`: the phantom's).
        drive: ``(frames (T, H, W, 3) uint8, fps)`` of a driving video, or None.
        seed: seed of the sampled tracks.
        face_box, crop: as for ``dub``; name, drive_name: for messages.

    Returns:
        the stream with :attr:`~mrisynth.synthesis.face.DubStream.render` set.

    Raises:
        ValueError: no face in the image or the driving video (naming frames), or a head
            moved out of the frame.
    """
    crop = crop or FaceCropConfig()
    stats = stats or MotionStats()
    geom = face_geometry(image, face_box, crop, name)
    n, fps = stream.n_frames, stream.fps
    energy = speech_energy(stream.audio, stream.sample_rate, fps, n)
    tracks = sample_tracks(stats, n, fps, energy_db=energy, seed=seed)
    if drive is not None:
        frames, drive_fps = drive
        roll, trans = pose_from_video(frames, drive_fps, crop, drive_name)
        # the driving frame shown at each output time, looped back and forth
        k = np.floor((np.arange(n) + 0.5) / fps * drive_fps).astype(int)
        k = source_frame_index(k, len(frames))
        tracks = dataclasses.replace(tracks, roll_deg=roll[k], translation_iod=trans[k])
    return dataclasses.replace(
        stream, render=AnimatedFace(np.ascontiguousarray(image), geom, tracks, crop, name)
    )
