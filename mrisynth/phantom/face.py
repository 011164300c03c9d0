"""Frontal (or three-quarter) face video of the speech-production phantom.

The face is driven by the same articulatory trajectory as the phantom MRI: jaw opening, lip
aperture, lip width and lip protrusion (mm), already sampled at the video frame rate. It adds the
non-speech motion a real talking-face video has: natural blinks and small smooth head motion,
both seeded and returned as ground truth together with 2-D landmarks.

Geometry
--------
Shapes are built in a head frame in millimetres: origin at the head centre, ``x`` to image
right, ``y`` down, ``z`` toward the camera. Facial features lie on a flattened ellipsoid
(half width ``a`` = face width / 2, depth ``c`` = 0.55 ``a``), so yaw shifts and foreshortens
them the way a real head does, while the silhouette (face outline, hair) only rolls.
The projection is orthographic with a fixed face scale: a 140 mm wide face spans
``FACE_FRACTION`` (55 %) of the frame width, i.e. ``face_scale_px_per_mm(size)`` =
0.55 · size / 140 px/mm (0.377 px/mm at 96 px).

Pose angles (degrees): ``yaw`` > 0 turns the nose toward image right, ``pitch`` > 0 tips the
nose up, ``roll`` > 0 rotates the face clockwise in the image.

Rendering
---------
Every shape is vertically convex: an upper and a lower curve over a common ``x`` range. Such a
shape is rasterised with exact coverage along each pixel column and 4× supersampling across
columns (anti-aliased edges), then alpha-composited. This vectorised interval rasteriser is used
instead of ``skimage.draw.polygon`` because the latter costs 2.5–9 ms per face-sized polygon,
which alone would rule out the required ≥ 200 frames/s.

Kinematics
----------
- Blinks: intervals from a gamma renewal process with the requested mean rate (default 20/min;
  about 26/min in conversation, Bentivoglio et al. 1997; 10.5–32.5/min conversing, Doughty
  2001); each blink lasts 150–350 ms, closing phase 41 % of it (closing ~1.43× faster than
  opening, Sforza et al. 2008).
- Head: yaw/pitch/roll are Gaussian-smoothed noise (0.4 s kernel) with std 3°/2°/1.5°. Head
  motion accompanies speech (Munhall et al. 2004), but the literature gives no firm amplitudes:
  these are design values.
- Jaw: the chin drops 1.15 × ``jaw_open_mm`` (the chin is farther from the condyle than the
  incisor; jaw opening is a rotation plus a translation, Edwards & Harris 1990); the lower lip
  follows ``lip_aperture_mm``.

References:

- Bentivoglio, A. R. et al. (1997), "Analysis of blink rate patterns in normal subjects",
  Movement Disorders 12(6), 1028–1034.
- Doughty, M. J. (2001), "Consideration of three types of spontaneous eyeblink activity in
  normal humans: during reading and video display terminal use, in primary gaze, and while in
  conversation", Optometry and Vision Science 78(10), 712–725.
- Sforza, C. et al. (2008), "Spontaneous blinking in healthy persons: an optoelectronic study of
  eyelid motion", Ophthalmic and Physiological Optics 28(4), 345–353.
- Munhall, K. G. et al. (2004), "Visual prosody and speech intelligibility: head movement
  improves auditory speech perception", Psychological Science 15(2), 133–137.
- Edwards, J. & Harris, K. S. (1990), "Rotation and translation of the jaw during speech",
  J. Speech and Hearing Research 33(3), 550–562.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.ndimage import gaussian_filter1d

from mrisynth.data.face_landmarks import LANDMARK_INDEX, LANDMARK_NAMES

__all__ = [
    "FaceIdentity",
    "FaceVideo",
    "LANDMARK_NAMES",
    "LANDMARK_INDEX",
    "FACE_FRACTION",
    "face_scale_px_per_mm",
    "sample_face_identity",
    "sample_blinks",
    "sample_head_pose",
    "render_face",
]

#: Fraction of the frame width spanned by a 140 mm wide face.
FACE_FRACTION = 0.55
_REF_FACE_WIDTH_MM = 140.0
_THREE_QUARTER_YAW_DEG = 30.0
_HEAD_STD_DEG = (3.0, 2.0, 1.5)  # yaw, pitch, roll
_HEAD_SMOOTH_S = 0.4
_CHIN_PER_JAW = 1.15
_BLINK_CLOSING_FRACTION = 0.41  # closing 1.43x faster than opening
_BLINK_DURATION_S = (0.15, 0.35)
_EYELID_SUBSAMPLES = 4  # eyelid state is averaged over each frame's exposure
_SS = 4  # horizontal supersampling of the rasteriser

# Mouth interior and teeth colours (RGB 0..1); tests classify rendered pixels against them.
MOUTH_INTERIOR_RGB = (0.16, 0.04, 0.05)
TEETH_RGB = (0.93, 0.91, 0.84)
_INTERIOR = np.array(MOUTH_INTERIOR_RGB, np.float32)
_TEETH = np.array(TEETH_RGB, np.float32)
_SCLERA = np.array((0.9, 0.88, 0.85), np.float32)
_PUPIL = np.array((0.03, 0.03, 0.03), np.float32)


# Skin-tone anchors from very light to very dark (RGB 0..1); identities interpolate along them.
_SKIN_ANCHORS = np.array(
    [
        (0.98, 0.86, 0.77),
        (0.93, 0.76, 0.63),
        (0.84, 0.63, 0.48),
        (0.70, 0.49, 0.34),
        (0.55, 0.36, 0.24),
        (0.40, 0.26, 0.17),
        (0.28, 0.18, 0.12),
    ]
)
_HAIR_COLOURS = np.array(
    [
        (0.06, 0.05, 0.05),  # black
        (0.20, 0.13, 0.08),  # dark brown
        (0.40, 0.27, 0.15),  # brown
        (0.75, 0.62, 0.38),  # blond
        (0.55, 0.25, 0.12),  # red
        (0.62, 0.62, 0.62),  # grey
    ]
)
_HAIR_P = np.array([0.35, 0.25, 0.15, 0.1, 0.05, 0.1])
_IRIS_COLOURS = np.array(
    [(0.22, 0.13, 0.07), (0.35, 0.22, 0.1), (0.25, 0.4, 0.55), (0.3, 0.4, 0.25)]
)


def face_scale_px_per_mm(size: int) -> float:
    """Pixels per millimetre of the face projection for a ``size`` × ``size`` frame."""
    return FACE_FRACTION * size / _REF_FACE_WIDTH_MM


@dataclass(frozen=True)
class FaceIdentity:
    """Appearance and static geometry of one synthetic speaker (lengths in mm, colours RGB 0..1).

    Args:
        skin_rgb: base skin colour.
        face_width_mm: bizygomatic width (128–152 mm).
        face_height_mm: hairline to chin at rest (165–200 mm); aspect = height / width.
        jaw_width_ratio: gonial (jaw-angle) width / face width (0.68–0.9).
        chin_width_ratio: width of the flat chin / face width (0.18–0.36).
        eye_spacing_mm: inter-pupillary distance (56–70 mm).
        eye_width_mm: corner-to-corner eye opening (26–32 mm).
        eye_height_mm: open-eye height (9–12 mm).
        iris_rgb: iris colour.
        brow_rgb: eyebrow colour.
        brow_thickness_mm: eyebrow thickness (3–6 mm).
        nose_length_mm: eye line to nose tip (40–50 mm).
        nose_width_mm: alar width (30–40 mm).
        lip_rgb: lip (vermilion) colour.
        upper_lip_mm: upper vermilion height at rest (5–9 mm).
        lower_lip_mm: lower vermilion height at rest (7–12 mm).
        hair_rgb: hair colour.
        hairline_mm: eye line to hairline (55–80 mm).
        hair_volume_mm: hair thickness above the skull (4–25 mm).
        hair_length_mm: how far side hair falls below the temples (0 short – 90 long).
        background_rgb: backdrop colour.
        shirt_rgb: clothing colour.
    """

    skin_rgb: tuple[float, float, float] = (0.84, 0.63, 0.48)
    face_width_mm: float = 140.0
    face_height_mm: float = 185.0
    jaw_width_ratio: float = 0.8
    chin_width_ratio: float = 0.26
    eye_spacing_mm: float = 63.0
    eye_width_mm: float = 29.0
    eye_height_mm: float = 10.5
    iris_rgb: tuple[float, float, float] = (0.25, 0.15, 0.08)
    brow_rgb: tuple[float, float, float] = (0.15, 0.1, 0.07)
    brow_thickness_mm: float = 4.5
    nose_length_mm: float = 45.0
    nose_width_mm: float = 35.0
    lip_rgb: tuple[float, float, float] = (0.72, 0.38, 0.36)
    upper_lip_mm: float = 7.0
    lower_lip_mm: float = 9.5
    hair_rgb: tuple[float, float, float] = (0.15, 0.1, 0.07)
    hairline_mm: float = 68.0
    hair_volume_mm: float = 12.0
    hair_length_mm: float = 20.0
    background_rgb: tuple[float, float, float] = (0.55, 0.6, 0.66)
    shirt_rgb: tuple[float, float, float] = (0.2, 0.3, 0.5)

    @property
    def aspect_ratio(self) -> float:
        """Face height / width (hairline to chin over bizygomatic width)."""
        return self.face_height_mm / self.face_width_mm


def sample_face_identity(rng: np.random.Generator) -> FaceIdentity:
    """Draw a random speaker appearance (all skin tones equally likely along the anchor scale).

    Args:
        rng: numpy generator; the same seed gives the same identity.
    """
    t = rng.uniform(0.0, len(_SKIN_ANCHORS) - 1)
    i = min(int(t), len(_SKIN_ANCHORS) - 2)
    skin = _SKIN_ANCHORS[i] + (t - i) * (_SKIN_ANCHORS[i + 1] - _SKIN_ANCHORS[i])
    skin = np.clip(skin * rng.uniform(0.95, 1.05) + rng.normal(0, 0.015, 3), 0.05, 1.0)
    # Lips: skin pulled toward red and darkened; darker skin gets relatively darker lips.
    lip = np.clip(skin * np.array([0.86, 0.6, 0.62]) + np.array([0.05, 0.0, 0.01]), 0, 1)
    lip = lip * rng.uniform(0.85, 1.0)
    hair = _HAIR_COLOURS[rng.choice(len(_HAIR_COLOURS), p=_HAIR_P)] * rng.uniform(0.85, 1.15)
    hair = np.clip(hair, 0, 1)
    brow = np.clip(0.6 * hair + 0.4 * skin * 0.35, 0, 1)
    bg = rng.uniform(0.25, 0.85, 3)
    bg = 0.6 * bg + 0.4 * bg.mean()  # mostly muted backdrops
    width = rng.uniform(128, 152)

    def rgb(v: np.ndarray) -> tuple[float, float, float]:
        return (float(v[0]), float(v[1]), float(v[2]))

    return FaceIdentity(
        skin_rgb=rgb(skin),
        face_width_mm=float(width),
        face_height_mm=float(width * rng.uniform(1.2, 1.38)),
        jaw_width_ratio=float(rng.uniform(0.68, 0.9)),
        chin_width_ratio=float(rng.uniform(0.18, 0.36)),
        eye_spacing_mm=float(rng.uniform(56, 70)),
        eye_width_mm=float(rng.uniform(26, 32)),
        eye_height_mm=float(rng.uniform(9, 12)),
        iris_rgb=rgb(_IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))]),
        brow_rgb=rgb(brow),
        brow_thickness_mm=float(rng.uniform(3, 6)),
        nose_length_mm=float(rng.uniform(40, 50)),
        nose_width_mm=float(rng.uniform(30, 40)),
        lip_rgb=rgb(lip),
        upper_lip_mm=float(rng.uniform(5, 9)),
        lower_lip_mm=float(rng.uniform(7, 12)),
        hair_rgb=rgb(hair),
        hairline_mm=float(rng.uniform(55, 80)),
        hair_volume_mm=float(rng.uniform(4, 25)),
        hair_length_mm=float(rng.choice([0.0, rng.uniform(10, 40), rng.uniform(50, 90)])),
        background_rgb=rgb(bg),
        shirt_rgb=rgb(rng.uniform(0.1, 0.8, 3)),
    )


@dataclass
class FaceVideo:
    """A rendered face video with its ground truth.

    Attributes:
        frames: ``(T, size, size, 3)`` uint8 RGB.
        landmarks: ``(T, K, 2)`` float32 pixel ``(x, y)``; pixel ``(r, c)`` has its centre at
            ``x = c, y = r``. Names and order: ``LANDMARK_NAMES``.
        pose: ``(T, 3)`` float32 yaw, pitch, roll in degrees (including the 30° base yaw of the
            three-quarter view).
        eyelid_open: ``(T,)`` float32, 1 = fully open, 0 = closed (mean over the frame exposure).
        blinks: ``(start_s, end_s)`` of each blink on the video clock.
        mouth_opening_px: ``(T,)`` float32 distance between the inner-lip mid landmarks (px).
        fps: frame rate (Hz).
        px_per_mm: face scale used for the projection.
    """

    frames: np.ndarray
    landmarks: np.ndarray
    pose: np.ndarray
    eyelid_open: np.ndarray
    blinks: list[tuple[float, float]]
    mouth_opening_px: np.ndarray
    fps: float
    px_per_mm: float
    landmark_names: tuple[str, ...] = field(default=LANDMARK_NAMES)

    def landmark(self, name: str) -> np.ndarray:
        """``(T, 2)`` pixel track of one named landmark."""
        return self.landmarks[:, LANDMARK_INDEX[name]]


# --------------------------------------------------------------------------- kinematics


def sample_blinks(
    n_frames: int, fps: float, rate_per_min: float, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Blink times and the eyelid opening they produce.

    Inter-blink intervals follow a gamma renewal process (shape 4: more regular than Poisson,
    as blinking is) with mean ``60 / rate_per_min`` s, at least 0.25 s between blinks.

    Args:
        n_frames: number of frames ``T``.
        fps: frame rate (Hz); frame ``k`` covers ``[k / fps, (k + 1) / fps)`` s.
        rate_per_min: mean blink rate (blinks/min); 0 disables blinking.
        rng: numpy generator.

    Returns:
        ``eyelid_open`` ``(T,)`` float32 in [0, 1] averaged over each frame's exposure, and the
        list of ``(start_s, end_s)`` blinks that overlap the video.
    """
    duration = n_frames / fps
    blinks: list[tuple[float, float]] = []
    if rate_per_min > 0:
        mean_gap = 60.0 / rate_per_min
        shape = 4.0
        # The first blink can start anywhere in the first interval (stationary process).
        t = rng.uniform(0.0, mean_gap)
        while t < duration:
            d = rng.uniform(*_BLINK_DURATION_S)
            blinks.append((float(t), float(t + d)))
            t += d + max(0.25, rng.gamma(shape, mean_gap / shape) - d)
    n_sub = _EYELID_SUBSAMPLES
    ts = (np.arange(n_frames * n_sub) + 0.5) / (fps * n_sub)
    closure = np.zeros_like(ts)
    for start, end in blinks:
        dc = _BLINK_CLOSING_FRACTION * (end - start)
        do = (end - start) - dc
        closing = (ts >= start) & (ts < start + dc)
        opening = (ts >= start + dc) & (ts < end)
        closure[closing] = np.sin(0.5 * np.pi * (ts[closing] - start) / dc) ** 2
        closure[opening] = np.cos(0.5 * np.pi * (ts[opening] - start - dc) / do) ** 2
    eyelid = 1.0 - closure.reshape(n_frames, n_sub).mean(axis=1)
    return eyelid.astype(np.float32), blinks


def sample_head_pose(
    n_frames: int,
    fps: float,
    rng: np.random.Generator,
    *,
    enabled: bool = True,
    base_yaw_deg: float = 0.0,
) -> np.ndarray:
    """Small smooth head motion: ``(T, 3)`` yaw, pitch, roll in degrees.

    Each angle is white noise smoothed by a 0.4 s Gaussian and scaled to std 3°/2°/1.5°, then
    clipped at ±2.5 std, so motion is slow (< ~2 Hz) and stays within a few degrees.
    """
    pose = np.zeros((n_frames, 3))
    if enabled:
        sigma = _HEAD_SMOOTH_S * fps
        noise = rng.standard_normal((n_frames, 3))
        smooth = gaussian_filter1d(noise, sigma, axis=0, mode="reflect")
        # std of Gaussian-smoothed unit white noise is (2 sqrt(pi) sigma)^-1/2
        smooth *= math.sqrt(2.0 * math.sqrt(math.pi) * max(sigma, 0.3))
        pose = np.clip(smooth, -2.5, 2.5) * np.array(_HEAD_STD_DEG)
    pose[:, 0] += base_yaw_deg
    return pose.astype(np.float32)


# --------------------------------------------------------------------------- rasteriser


def _fill(
    canvas: np.ndarray,
    xt: np.ndarray,
    yt: np.ndarray,
    xb: np.ndarray,
    yb: np.ndarray,
    colour,
    alpha: float = 1.0,
) -> None:
    """Alpha-composite the region between an upper and a lower curve onto ``canvas`` in place.

    Coverage is exact along each pixel column and supersampled ``_SS``× across columns.

    Args:
        canvas: ``(H, W, 3)`` float32 RGB 0..1.
        xt, yt: upper curve in pixel coordinates (pixel centres at integers), ``xt`` increasing.
        xb, yb: lower curve, ``xb`` increasing; the shape spans the overlap of both x ranges.
        colour: RGB triple, or a callable ``(rows (R, 1), cols (1, C)) -> (R, C, 3)`` (shading).
        alpha: opacity.
    """
    H, W = canvas.shape[:2]
    x0 = max(xt[0], xb[0])
    x1 = min(xt[-1], xb[-1])
    c0 = max(int(math.floor(x0 + 0.5)), 0)
    c1 = min(int(math.ceil(x1 + 0.5)), W)
    r0 = max(int(math.floor(min(yt.min(), yb.min()) + 0.5)), 0)
    r1 = min(int(math.ceil(max(yt.max(), yb.max()) + 0.5)), H)
    if c1 <= c0 or r1 <= r0:
        return
    nc = c1 - c0
    xs = (c0 - 0.5 + 0.5 / _SS) + np.arange(nc * _SS) * (1.0 / _SS)  # sub-column centres
    top = np.interp(xs, xt, yt)
    bot = np.interp(xs, xb, yb)
    outside = (xs < x0) | (xs > x1)
    bot[outside] = top[outside]  # empty outside the shape's x range
    rows = np.arange(r0 - 0.5, r1 - 0.5)[:, None]
    cov = np.minimum(rows + 1.0, bot) - np.maximum(rows, top)  # (R, nc * SS)
    np.maximum(cov, 0.0, out=cov)
    np.minimum(cov, 1.0, out=cov)
    a = cov.reshape(r1 - r0, nc, _SS).sum(axis=2)
    a *= alpha / _SS
    a = a.astype(np.float32)[..., None]
    region = canvas[r0:r1, c0:c1]
    if callable(colour):
        col = colour(np.arange(r0, r1)[:, None], np.arange(c0, c1)[None, :])
    else:
        col = colour
    region += a * (col - region)


def _ellipse_curves(cx: float, cy: float, rx: float, ry: float, n: int = 17):
    """Upper and lower half of an axis-aligned ellipse sampled at ``n`` x positions (mm)."""
    x = cx + rx * np.cos(np.linspace(np.pi, 0.0, n))
    h = ry * np.sqrt(np.clip(1.0 - ((x - cx) / rx) ** 2, 0.0, 1.0))
    return x, cy - h, cy + h


def _rgb(c) -> np.ndarray:
    return np.clip(np.asarray(c, dtype=np.float32), 0.0, 1.0)


# --------------------------------------------------------------------------- geometry

# A shape: x (n,), upper y (n,), lower y (n,), upper z (n,), lower z (n,) in head-frame mm,
# colour, alpha, and whether it is a silhouette (projected without the yaw feature shift).
_Shape = tuple


class _Head:
    """Per-identity geometry in head-frame mm, its static shapes, and the per-frame projection."""

    def __init__(self, ident: FaceIdentity, size: int):
        self.ident = ident
        self.size = size
        self.s = face_scale_px_per_mm(size)
        self.a = ident.face_width_mm / 2.0
        self.c = 0.55 * self.a
        eye_to_chin = 0.62 * ident.face_height_mm
        self.y_eye = -24.0
        self.y_nose = self.y_eye + ident.nose_length_mm
        self.y_mouth = self.y_nose + 0.17 * eye_to_chin
        self.y_chin = self.y_eye + eye_to_chin
        self.y_hair = self.y_eye - ident.hairline_mm
        self.y_side = self.y_eye + 8.0  # widest point of the face outline
        self.b = self.y_chin - self.y_side + 30.0  # vertical half-axis of the depth ellipsoid
        self.cx = self.cy = size / 2.0 - 0.5
        self.skin = _rgb(ident.skin_rgb)
        self.lip = _rgb(ident.lip_rgb)
        self._outline()
        self._static_shapes()
        self.set_pose(0.0, 0.0, 0.0)

    def depth(self, x: np.ndarray, y) -> np.ndarray:
        """Surface depth z (mm) of the face ellipsoid at head-frame (x, y)."""
        q = 1.0 - (x / self.a) ** 2 - (np.asarray(y) / self.b) ** 2
        return self.c * np.sqrt(np.clip(q, 0.05, 1.0))

    def _outline(self) -> None:
        """Face outline: jaw curve (pchip through cheek, jaw angle, chin) and hairline."""
        ident, a = self.ident, self.a
        jw, cw = ident.jaw_width_ratio * a, ident.chin_width_ratio * a
        y_ang = self.y_mouth + 0.1 * (self.y_chin - self.y_mouth)
        kx = np.array([-a, -0.97 * a, -jw, -cw, 0.0, cw, jw, 0.97 * a, a])
        ys, yc = self.y_side, self.y_chin
        ky = np.array([ys, ys + 15, y_ang, yc - 4, yc, yc - 4, y_ang, ys + 15, ys])
        self.sil_x = np.linspace(-a, a, 41)
        self.jaw_y0 = PchipInterpolator(kx, ky)(self.sil_x)
        # The jaw rotates about the condyle: the outline below the nose moves, most at the chin.
        pivot = self.y_nose
        self.jaw_w = np.clip((self.jaw_y0 - pivot) / (yc - pivot), 0.0, 1.0) ** 1.5
        # Forehead ellipse cut by the hairline, which comes down at the temples.
        ex = self.sil_x
        fore = ys - (ys - self.y_hair + 8) * np.sqrt(np.clip(1 - (ex / a) ** 2, 0, 1))
        hairline = self.y_hair + (self.y_eye - 12 - self.y_hair) * (np.abs(ex) / a) ** 3
        self.face_top = np.maximum(fore, hairline)
        self.sil_z = np.zeros_like(ex)

    def _surf(self, x, yt, yb, colour, alpha=1.0, dz=0.0) -> _Shape:
        """A shape lying on the face surface, raised by ``dz`` mm."""
        return (x, yt, yb, self.depth(x, yt) + dz, self.depth(x, yb) + dz, colour, alpha, False)

    def _static_shapes(self) -> None:
        """Shapes that only move with the head: drawn behind the face, and over it."""
        ident, a, skin = self.ident, self.a, self.skin
        hair = _rgb(ident.hair_rgb)
        vol = ident.hair_volume_mm
        back: list[_Shape] = []
        hx, ht, _ = _ellipse_curves(
            0.0, self.y_side - 5, a + vol * 0.6, self.y_side - self.y_hair + 6 + vol
        )
        hb = np.maximum(np.full_like(hx, self.y_side + ident.hair_length_mm), ht)
        zero = np.zeros_like(hx)
        back.append((hx, ht, hb, zero, zero, hair, 1.0, True))
        # Ears sit behind the head centre plane: the ear away from the nose shows on a turn.
        for side in (-1, 1):
            ex, et, eb = _ellipse_curves(side * (a + 2), self.y_eye + 14, 7.0, 17.0, 9)
            z = np.full_like(ex, -0.45 * self.c)
            back.append((ex, et, eb, z, z, skin * 0.9, 1.0, False))
        self.back = back

        over: list[_Shape] = []
        for side in (-1, 1):  # cheek blush
            bx, bt, bb = _ellipse_curves(side * 0.55 * a, self.y_nose + 2, 14, 9, 9)
            over.append(self._surf(bx, bt, bb, _rgb(_lerp(skin, (0.85, 0.35, 0.35), 0.35)), 0.1))
        self.brow_mid: list[tuple[float, float]] = []
        for side in (-1, 1):  # brows: arched, tapering toward the temple
            xc = side * ident.eye_spacing_mm / 2
            span = 0.62 * 1.25 * ident.eye_width_mm
            bx = xc + np.linspace(-span, span, 11)
            arch = (1 - ((bx - xc - side * 3) / (ident.eye_width_mm * 0.8)) ** 2) * 4.0
            yb = self.y_eye - 14 - arch
            taper = 1 - 0.5 * np.clip(side * (bx - xc) / span, 0, 1)
            over.append(
                self._surf(bx, yb - ident.brow_thickness_mm * taper, yb, _rgb(ident.brow_rgb), 0.9)
            )
            self.brow_mid.append((xc, float(np.interp(xc, bx, yb))))
        # Nose: bridge shadows, alae, nostrils and a tip highlight raised above the surface.
        nw = ident.nose_width_mm / 2
        yn = self.y_nose
        for side in (-1, 1):
            bx = side * np.array([7.0, 9.0, 11.0])
            if side < 0:
                bx = bx[::-1]
            yt = np.array([self.y_eye, yn - 22, yn - 8])
            yb = np.array([self.y_eye + 3, yn - 16, yn - 4])
            if side < 0:
                yt, yb = yt[::-1], yb[::-1]
            over.append(self._surf(bx, yt, yb, skin * 0.7, 0.3))
            ax, at, ab = _ellipse_curves(side * 0.62 * nw, yn - 1, 0.38 * nw, 5.5, 9)
            over.append(self._surf(ax, at, ab, skin * 0.85, 0.5, dz=8))
            nx, nt, nb = _ellipse_curves(side * 0.32 * nw, yn + 2.5, 0.22 * nw, 1.9, 9)
            over.append(self._surf(nx, nt, nb, skin * 0.35, 0.85, dz=8))
        tx, tt, tb = _ellipse_curves(0.0, yn - 5, 0.3 * nw, 4.5, 9)
        over.append(self._surf(tx, tt, tb, np.minimum(skin * 1.12, 1.0), 0.5, dz=18))
        self.over = over

        # Eyes: lower lid and lid-profile templates; the upper lid moves with eyelid_open.
        self.eyes = []
        t = np.linspace(-1.0, 1.0, 17)
        for side in (-1, 1):
            xc = side * ident.eye_spacing_mm / 2
            ex = xc + ident.eye_width_mm / 2 * t
            bump_u = np.clip(1 - t**2, 0, 1) ** 0.8 * (1 - 0.15 * side * t)  # peak toward nose
            bump_l = np.clip(1 - t**2, 0, 1) ** 0.9 * (1 + 0.1 * side * t)
            lower = self.y_eye + 0.38 * ident.eye_height_mm * bump_l
            lift = ident.eye_height_mm * (0.62 * bump_u + 0.38 * bump_l)
            ix, it, ib = _ellipse_curves(xc, self.y_eye - 0.5, 5.6, 5.6, 13)
            px, pt, pb = _ellipse_curves(xc, self.y_eye - 0.5, 2.3, 2.3, 9)
            self.eyes.append(
                dict(
                    x=ex, lower=lower, lift=lift, bump_u=bump_u, bump_l=bump_l,
                    z=self.depth(ex, lower) + 2.0,
                    ix=ix, it=it, ib=ib, iz=self.depth(ix, it) + 3.0,
                    px=px, pt=pt, pb=pb, pz=self.depth(px, pt) + 3.2,
                )
            )  # fmt: skip
        self.nose_tip = (0.0, yn - 2, float(self.depth(np.zeros(1), yn)[0]) + 18)
        z_al = float(self.depth(np.array([nw]), yn)[0]) + 8
        self.nose_ala = ((-0.95 * nw, yn - 1, z_al), (0.95 * nw, yn - 1, z_al))
        self.nose_bridge = (0.0, self.y_eye - 2, float(self.depth(np.zeros(1), self.y_eye)[0]))

    def set_pose(self, yaw: float, pitch: float, roll: float) -> None:
        """Set the head rotation (degrees) used by :meth:`project`."""
        cy_, sy_ = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
        cp, sp = math.cos(math.radians(pitch)), math.sin(math.radians(pitch))
        cr, sr = math.cos(math.radians(roll)), math.sin(math.radians(roll))
        ry = np.array([[cy_, 0, sy_], [0, 1, 0], [-sy_, 0, cy_]])
        rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
        self.R = (rz @ rx @ ry)[:2] * self.s  # (2, 3) head mm -> px, orthographic
        # Silhouettes narrow under yaw like an ellipsoid of depth c; the back of the head
        # (hair) slides opposite to the nose.
        narrow = math.sqrt(cy_**2 + (self.c / self.a) ** 2 * sy_**2)
        self.Rs = (rz @ rx)[:2] * self.s * np.array([narrow, 1.0, 1.0])
        self.sil_shift = -0.3 * self.c * sy_ * self.s * np.array([cr, sr])

    def project(self, xyz: np.ndarray, sil: np.ndarray) -> np.ndarray:
        """``(3, N)`` head-frame mm -> ``(2, N)`` pixel (x, y); ``sil`` marks silhouette points."""
        p = self.R @ xyz
        ps = self.Rs @ xyz
        p[:, sil] = ps[:, sil]
        p[0] += self.cx
        p[1] += self.cy
        return p


def _lerp(c1, c2, t: float) -> np.ndarray:
    return np.asarray(c1, dtype=np.float32) * (1 - t) + np.asarray(c2, dtype=np.float32) * t


def _background(head: _Head) -> np.ndarray:
    """Backdrop, shoulders and neck: static layers that do not follow the head."""
    ident, size, s, cx, cy = head.ident, head.size, head.s, head.cx, head.cy
    bg = _rgb(ident.background_rgb)
    ramp = np.linspace(1.08, 0.85, size, dtype=np.float32)[:, None, None]
    canvas = np.clip(bg[None, None, :] * ramp, 0, 1) * np.ones((1, size, 1), np.float32)
    x = np.linspace(-2.2 * head.a, 2.2 * head.a, 41)  # shoulders
    y_sh = head.y_chin + 28 + 0.175 * (np.abs(x) / head.a) ** 2 * head.a
    px = cx + s * x
    _fill(canvas, px, cy + s * y_sh, px, np.full_like(px, size + 2.0), _rgb(ident.shirt_rgb))
    nw = 0.6 * head.a  # neck, shadowed under the jaw
    x = np.linspace(-nw, nw, 9)
    px = cx + s * x
    top = np.full_like(px, cy + s * head.y_mouth)
    _fill(
        canvas, px, top, px, cy + s * (head.y_chin + 32 - 6 * (1 - (x / nw) ** 2)), head.skin * 0.78
    )
    return canvas


def render_face(
    jaw_open_mm: np.ndarray,
    lip_aperture_mm: np.ndarray,
    lip_width_mm: np.ndarray,
    lip_protrusion_mm: np.ndarray,
    *,
    fps: float,
    identity: FaceIdentity,
    rng: np.random.Generator,
    size: int = 96,
    view: str = "frontal",
    blink_rate_per_min: float = 20.0,
    head_motion: bool = True,
) -> FaceVideo:
    """Render the phantom speaker's face driven by an articulatory trajectory.

    Args:
        jaw_open_mm: ``(T,)`` lower-incisor drop below the intercuspal position (mm, ≥ 0;
            negative values are treated as 0).
        lip_aperture_mm: ``(T,)`` vertical inner-lip opening at the midline (mm). Values ≤ 0
            (closure/compression) render closed lips.
        lip_width_mm: ``(T,)`` mouth width between the inner lip corners (mm, > 0; 10–45 mm
            speaking range, about 50 mm at rest).
        lip_protrusion_mm: ``(T,)`` lip protrusion relative to rest (mm; > 0 rounded/protruded:
            thicker, darker, slightly narrower lips; < 0 spread).
        fps: frame rate (Hz) at which the four arrays are sampled.
        identity: speaker appearance, e.g. from :func:`sample_face_identity`.
        rng: numpy generator for blinks and head motion (same seed, same video).
        size: output frame side in pixels (≥ 32).
        view: ``"frontal"`` or ``"three_quarter"`` (30° base yaw).
        blink_rate_per_min: mean blink rate (0 = no blinks; conversation ~26/min).
        head_motion: add small smooth yaw/pitch/roll motion.

    Returns:
        :class:`FaceVideo` with frames ``(T, size, size, 3)`` uint8 and ground truth.

    Raises:
        ValueError: mismatched/empty/non-1-D/non-finite inputs, non-positive lip width or fps,
            ``size`` < 32, unknown ``view`` or a negative blink rate.
    """
    arrays = {
        "jaw_open_mm": jaw_open_mm,
        "lip_aperture_mm": lip_aperture_mm,
        "lip_width_mm": lip_width_mm,
        "lip_protrusion_mm": lip_protrusion_mm,
    }
    arrs = {}
    for name, v in arrays.items():
        v = np.asarray(v, dtype=np.float64)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"render_face: {name} must be a non-empty 1-D array, got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"render_face: {name} contains NaN or infinite values")
        arrs[name] = v
    lengths = {k: v.size for k, v in arrs.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"render_face: input lengths differ: {lengths}")
    if np.any(arrs["lip_width_mm"] <= 0):
        raise ValueError("render_face: lip_width_mm must be > 0 mm")
    if not (isinstance(size, (int, np.integer)) and size >= 32):
        raise ValueError(f"render_face: size must be an integer >= 32, got {size!r}")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"render_face: fps must be a positive finite number, got {fps!r}")
    if view not in ("frontal", "three_quarter"):
        raise ValueError(f"render_face: view must be 'frontal' or 'three_quarter', got {view!r}")
    if not (math.isfinite(blink_rate_per_min) and blink_rate_per_min >= 0):
        raise ValueError(f"render_face: blink_rate_per_min must be >= 0, got {blink_rate_per_min}")

    T = lengths["jaw_open_mm"]
    jaw = np.clip(arrs["jaw_open_mm"], 0.0, 30.0)
    aperture = np.clip(arrs["lip_aperture_mm"], 0.0, 35.0)
    prot = np.clip(arrs["lip_protrusion_mm"], -8.0, 15.0)
    head = _Head(identity, int(size))
    width = np.clip(arrs["lip_width_mm"], 5.0, 1.3 * head.a) * (1.0 - 0.01 * np.maximum(prot, 0))

    eyelid, blinks = sample_blinks(T, fps, blink_rate_per_min, rng)
    base_yaw = _THREE_QUARTER_YAW_DEG if view == "three_quarter" else 0.0
    pose = sample_head_pose(T, fps, rng, enabled=head_motion, base_yaw_deg=base_yaw)

    background = _background(head)
    frames = np.empty((T, size, size, 3), dtype=np.uint8)
    landmarks = np.empty((T, len(LANDMARK_NAMES), 2), dtype=np.float32)
    for k in range(T):
        head.set_pose(*(float(v) for v in pose[k]))
        canvas = background.copy()
        lm = _draw_frame(canvas, head, jaw[k], aperture[k], width[k], prot[k], float(eyelid[k]))
        landmarks[k] = lm
        frames[k] = (np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    upper = landmarks[:, LANDMARK_INDEX["lip_upper_inner"]]
    lower = landmarks[:, LANDMARK_INDEX["lip_lower_inner"]]
    opening = np.linalg.norm(lower - upper, axis=1).astype(np.float32)
    return FaceVideo(
        frames=frames,
        landmarks=landmarks,
        pose=pose,
        eyelid_open=eyelid,
        blinks=blinks,
        mouth_opening_px=opening,
        fps=float(fps),
        px_per_mm=head.s,
    )


def _draw_frame(
    canvas: np.ndarray,
    h: _Head,
    jaw: float,
    aperture: float,
    width: float,
    prot: float,
    eyelid: float,
) -> np.ndarray:
    """Draw one frame onto ``canvas`` (in place, pose already set); return ``(K, 2)`` landmarks.

    All shapes and landmarks of the frame are projected together in one matrix product.
    """
    ident, skin, a = h.ident, h.skin, h.a
    shapes: list[_Shape] = list(h.back)

    # Face skin (silhouette) with the chin lowered by the jaw.
    drop = _CHIN_PER_JAW * jaw
    jaw_y = h.jaw_y0 + drop * h.jaw_w
    shapes.append((h.sil_x, h.face_top, jaw_y, h.sil_z, h.sil_z, "face", 1.0, True))
    shapes.extend(h.over)

    # Eyes: lid crease, sclera, iris and pupil clipped to the lid opening, lash line, lower lid.
    lm_pts: list[tuple[float, float, float]] = []
    lash = np.array((0.08, 0.06, 0.06), np.float32)
    for e in h.eyes:
        ex, lower, z = e["x"], e["lower"], e["z"]
        bu = e["bump_u"]
        upper = lower - eyelid * e["lift"]
        shapes.append(
            (ex, upper - 4.5 * bu - 1.0, upper - 3.8 * bu - 0.3, z, z, skin * 0.7, 0.35, False)
        )
        shapes.append((ex, upper, lower, z, z, _SCLERA, 1.0, False))
        for k, col in (("i", _rgb(ident.iris_rgb)), ("p", _PUPIL)):
            cx_ = e[k + "x"]
            top = np.maximum(e[k + "t"], np.interp(cx_, ex, upper))
            bot = np.minimum(e[k + "b"], np.interp(cx_, ex, lower))
            shapes.append((cx_, top, bot, e[k + "z"], e[k + "z"], col, 1.0, False))
        shapes.append((ex, upper - 0.9 * bu - 0.3, upper + 0.5 * bu, z, z, lash, 0.9, False))
        shapes.append((ex, lower, lower + 0.5 * e["bump_l"], z, z, skin * 0.6, 0.4, False))
        m = len(ex) // 2
        lm_pts += [(ex[i], lower[i], z[i]) for i in (0, -1)]
        lm_pts += [(ex[m], upper[m], z[m]), (ex[m], lower[m], z[m])]

    # Mouth. Inner corners at +-width/2; the lower lip takes 75 % of the aperture (it rides on
    # the jaw), the upper lip 25 %. Protrusion thickens, darkens and brings the lips forward.
    thick = 1.0 + 0.05 * prot
    tu, tl = ident.upper_lip_mm * thick, ident.lower_lip_mm * thick
    half = width / 2
    mx = np.linspace(-half - 2.0, half + 2.0, 25)
    u = np.minimum(np.abs(mx) / (half + 2.0), 1.0)
    e_ = np.maximum(1 - (mx / half) ** 2, 0.0) ** 0.6  # opening profile, 0 at the corners
    ym = h.y_mouth  # stomion at rest: the upper lip hangs from the maxilla
    up_in = ym - 0.25 * aperture * e_
    lo_in = ym + 0.75 * aperture * e_
    bow = (1 - u**2) ** 0.7 * (1 - 0.18 * np.exp(-((mx / 3.5) ** 2)))  # Cupid's bow
    up_out = up_in - tu * bow - 0.2
    lo_out = np.minimum(lo_in + tl * (1 - u**2.2) ** 0.55 + 0.2, h.y_chin + drop - 8)
    zl = h.depth(mx, ym) + 6 + 0.8 * max(prot, -5.0)
    lip = h.lip * (1 - 0.02 * max(prot, 0.0))
    shapes.append((mx, up_out - 1.5, up_out, zl, zl, skin * 0.8, 0.3, False))  # philtrum edge
    shapes.append((mx, lo_out, lo_out + 3.0 * (1 - u**2), zl, zl, skin * 0.7, 0.35, False))
    shapes.append((mx, up_out, up_in, zl, zl, lip * 0.93, 1.0, False))
    shapes.append((mx, lo_in, lo_out, zl, zl, lip, 1.0, False))
    if aperture > 0:
        shapes.append((mx, up_in, lo_in, zl, zl, _INTERIOR, 1.0, False))
        # Upper teeth under the upper lip, lower teeth above the lower lip.
        tw = np.abs(mx) < 0.7 * half
        teeth_b = np.where(tw, np.minimum(up_in + min(0.3 * aperture, 4.0), lo_in), up_in)
        shapes.append((mx, up_in, teeth_b, zl, zl, _TEETH, 0.95, False))
        low_t = np.where(tw, np.maximum(lo_in - min(0.1 * aperture, 2.0), up_in), lo_in)
        shapes.append((mx, low_t, lo_in, zl, zl, _TEETH, 0.8, False))
    # The seam where the lips meet, drawn last so a closed mouth shows a line.
    seam_b = up_in + (0.25 if aperture <= 0 else 0.0)
    shapes.append((mx, up_in - 0.35, seam_b, zl, zl, lip * 0.55, 0.8, False))

    m, q = len(mx) // 2, 6
    zin = float(h.depth(np.array([half]), ym)[0]) + 6 + 0.8 * max(prot, -5.0)
    lm_pts += [h.nose_bridge, h.nose_tip, *h.nose_ala]
    lm_pts += [(mx[0], up_in[0], zl[0]), (mx[-1], up_in[-1], zl[-1])]
    lm_pts += [(0.0, up_out[m], zl[m]), (0.0, lo_out[m], zl[m])]
    lm_pts += [(mx[q], up_out[q], zl[q]), (mx[-q - 1], up_out[-q - 1], zl[-q - 1])]
    lm_pts += [(mx[q], lo_out[q], zl[q]), (mx[-q - 1], lo_out[-q - 1], zl[-q - 1])]
    lm_pts += [(-half, ym, zin), (half, ym, zin), (0.0, up_in[m], zl[m]), (0.0, lo_in[m], zl[m])]
    z_br = [float(h.depth(np.array([bx]), by)[0]) for bx, by in h.brow_mid]
    lm_pts += [(bx, by, zb) for (bx, by), zb in zip(h.brow_mid, z_br)]
    jx = np.linspace(-a, a, 9)
    jy = np.interp(jx, h.sil_x, jaw_y)

    # One projection for every curve and landmark of the frame.
    xs, ys, zs, sil = [], [], [], []
    for x, yt, yb, zt, zb, _, _, is_sil in shapes:
        xs += [x, x]
        ys += [yt, yb]
        zs += [zt, zb]
        sil.append(np.full(2 * len(x), is_sil))
    lm_arr = np.array(lm_pts, dtype=np.float64).T
    xs += [lm_arr[0], jx]
    ys += [lm_arr[1], jy]
    zs += [lm_arr[2], np.zeros(9)]
    sil += [np.zeros(lm_arr.shape[1], bool), np.ones(9, bool)]
    xyz = np.stack([np.concatenate(xs), np.concatenate(ys), np.concatenate(zs)])
    P = h.project(xyz, np.concatenate(sil))

    shade = _face_shader(h)
    o = 0
    for x, _, _, _, _, col, alpha, _ in shapes:
        n = len(x)
        # A projected curve may fold back at the far side of a strongly turned head.
        xt = np.maximum.accumulate(P[0, o : o + n])
        xb = np.maximum.accumulate(P[0, o + n : o + 2 * n])
        _fill(
            canvas,
            xt,
            P[1, o : o + n],
            xb,
            P[1, o + n : o + 2 * n],
            shade if isinstance(col, str) else col,
            alpha,
        )
        o += 2 * n
    pts = P[:, o:].T  # (n_lm + 9, 2)
    n_eye = 8
    out = np.empty((len(LANDMARK_NAMES), 2), dtype=np.float32)
    out[:9] = pts[-9:]
    eyes = pts[:n_eye]
    rest = pts[n_eye:-9]
    out[LANDMARK_INDEX["brow_l"]] = rest[-2]
    out[LANDMARK_INDEX["brow_r"]] = rest[-1]
    # Eye points come as (left corner, right corner, upper, lower) per eye, image-left eye first.
    for i, name in enumerate(
        ("eye_l_outer", "eye_l_inner", "eye_l_upper", "eye_l_lower",
         "eye_r_inner", "eye_r_outer", "eye_r_upper", "eye_r_lower")
    ):  # fmt: skip
        out[LANDMARK_INDEX[name]] = eyes[i]
    start = LANDMARK_INDEX["nose_bridge"]
    out[start : start + len(rest) - 2] = rest[:-2]
    return out


def _face_shader(h: _Head):
    """Skin colour with smooth shading: darker toward the outline, light from upper left."""
    c = h.project(np.array([[0.0], [h.y_eye + 15], [0.0]]), np.ones(1, bool))
    sxc, syc = float(c[0, 0]), float(c[1, 0])
    rx, ry = h.a * h.s, (h.y_chin - h.y_hair) * 0.55 * h.s
    skin = h.skin

    def shade(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        u = (cols - sxc) / rx
        v = (rows - syc) / ry
        f = 1.02 - 0.22 * (u * u + 0.6 * v * v) ** 1.5 - 0.05 * u - 0.04 * v
        return skin * np.clip(f, 0.55, 1.1).astype(np.float32)[..., None]

    return shade
