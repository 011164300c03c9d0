"""Head-pose and blink tracks for one-shot image animation, conditioned on the speech's energy.

`mrisynth dub` animates a single face image (image+audio mode) with the tracks sampled here:
in-plane head rotation (roll, degrees) and translation (inter-ocular distances, IOD) over time,
and eyelid closure over time (0 open, 1 closed). :mod:`mrisynth.synthesis.animate` renders them
by warping the image.

What the tracks depend on
-------------------------
The model has two speech links, both **fitted** from tracked reference videos (never assumed):

- **Blinks**: a hazard (blinks per minute) that takes one value in the speech's pauses and
  another while it is voiced (:func:`speech_energy`, :func:`pause_mask`), with a refractory
  time after each blink (a blink is not followed by another within 0.25 s); durations are
  drawn from the fitted mean and spread of the reference blinks' time below half closure.
- **Head motion**: each of roll, x and y translation is Gaussian-smoothed white noise with
  the reference's standard deviation and smoothness (the kernel's width is half the lag at
  which the reference's autocorrelation falls to 1/e, the lag at which a Gaussian-smoothed
  noise's does; in seconds, so another frame rate keeps the timescale). Its amplitude follows
  the smoothed energy envelope with the fitted gain (0: speech-independent). A first-order
  (AR(1)) process was not used: fitted to smooth reference motion by its lag-1 correlation it
  wanders on a timescale of many seconds.

:func:`fit_motion_stats` fits both from landmark tracks (ground truth or
:func:`mrisynth.models.landmarks.predict_landmarks` on any talking-face video, so a user's own
real videos can be fitted: :func:`fit_motion_stats_from_videos`). **The default statistics are
fitted on the phantom's face videos, whose blinks and head motion are sampled independently of
the speech** (:mod:`mrisynth.phantom.face`): their fitted pause/speech blink ratio is close to
1 and their energy gain close to 0, so with the defaults the tracks are, in effect,
speech-independent statistics; only statistics fitted from real video carry a real speech link.

Out-of-plane rotation (yaw, pitch) is not generated: a 2-D warp of one image cannot turn a head.

Blink shape: the closing phase takes 41 % of a blink and the eyelid follows sin² closing and
cos² opening (the phantom's profile, Sforza et al. 2008), so the time below half closure,
which :func:`mrisynth.metrics.face_motion.detect_blinks` measures, is half the full duration.

Reference: Sforza, C. et al. (2008), "Spontaneous blinking in healthy persons: an
optoelectronic study of eyelid motion", Ophthalmic and Physiological Optics 28(4), 345–353.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from mrisynth.metrics.face_motion import detect_blinks, eye_openness, head_motion

__all__ = [
    "MotionStats",
    "MotionClip",
    "MotionTracks",
    "speech_energy",
    "pause_mask",
    "sample_tracks",
    "fit_motion_stats",
    "eyelid_closure",
    "track_video",
    "fit_motion_stats_from_videos",
]

_CLOSING_FRACTION = 0.41  # closing phase / blink duration (Sforza et al. 2008)
_REFRACTORY_S = 0.25  # no blink starts within this time after a blink ends
_PAUSE_DB = 30.0  # a frame this far below the clip's loud (95th percentile) level is a pause
_ENERGY_WINDOW_S = 0.04  # RMS window per frame (about one frame at 25 fps)
_FORMAT = "mrisynth.motion_stats/1"


@dataclasses.dataclass(frozen=True)
class MotionStats:
    """Fitted statistics of head motion and blinks (:func:`fit_motion_stats`); JSON on disk.

    The defaults were fitted on 24 phantom face clips (52 s, 8 speakers; tracked through the
    landmark regressor: ``experiments/face/animation_check.py``), with the speech links
    removed: the phantom's motion is independent of its speech by construction, and what the
    fit found there (pause/speech blink rates 14.4/18.2 per minute, energy gain 0.45) is the
    noise of 52 s of video and an artefact of the phantom's clip ends (its head-motion noise
    is smoothed with reflected edges, so the head slows down in the leading and trailing
    silences: with 10 frames trimmed at each end the gain falls to 0.05). So the defaults give
    speech-independent tracks; fit real videos (``mrisynth fit-motion``) for a speech link.

    Attributes:
        blink_rate_speech_per_min: blink hazard while the speech is voiced (blinks/min).
        blink_rate_pause_per_min: blink hazard in pauses (blinks/min).
        blink_half_s: mean time below half closure of a blink (s; half the full duration).
        blink_half_sd_s: its standard deviation between blinks (s).
        roll_std_deg: standard deviation of the in-plane rotation (degrees).
        translation_std_iod: ``(x, y)`` standard deviations of the translation (IOD).
        smooth_s: ``(roll, x, y)`` Gaussian smoothing widths (s): the tracks' autocorrelation
            is ``exp(-lag² / (4 smooth_s²))``.
        energy_gain: head-motion amplitude per unit of normalised energy above its mean
            (0: speech-independent motion).
        source: what the statistics were fitted on (free text).
    """

    blink_rate_speech_per_min: float = 17.3
    blink_rate_pause_per_min: float = 17.3
    blink_half_s: float = 0.111
    blink_half_sd_s: float = 0.022
    roll_std_deg: float = 1.10
    translation_std_iod: tuple[float, float] = (0.018, 0.0091)
    smooth_s: tuple[float, float, float] = (0.18, 0.19, 0.17)
    energy_gain: float = 0.0
    source: str = "built-in: phantom face clips (speech-independent motion)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "translation_std_iod", tuple(self.translation_std_iod))
        object.__setattr__(self, "smooth_s", tuple(self.smooth_s))
        for name in ("blink_rate_speech_per_min", "blink_rate_pause_per_min", "roll_std_deg"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"MotionStats.{name} must be finite and >= 0, got {v}")
        for name in ("blink_half_s", "blink_half_sd_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v < 1.0):
                raise ValueError(f"MotionStats.{name} must be in [0, 1) s, got {v}")
        if len(self.translation_std_iod) != 2 or not all(
            math.isfinite(v) and v >= 0 for v in self.translation_std_iod
        ):
            raise ValueError(
                f"MotionStats.translation_std_iod must be two values >= 0, got "
                f"{self.translation_std_iod}"
            )
        if len(self.smooth_s) != 3 or not all(math.isfinite(v) and v > 0 for v in self.smooth_s):
            raise ValueError(f"MotionStats.smooth_s must be three values > 0, got {self.smooth_s}")
        if not (math.isfinite(self.energy_gain) and -1.0 < self.energy_gain <= 10.0):
            raise ValueError(f"MotionStats.energy_gain must be in (-1, 10], got {self.energy_gain}")

    @property
    def blink_rate_per_min(self) -> float:
        """The rate of a clip that is half pauses, half speech (a summary, not a parameter)."""
        return 0.5 * (self.blink_rate_speech_per_min + self.blink_rate_pause_per_min)

    def save(self, path: str | Path) -> Path:
        """Write the statistics as JSON (atomically: a temporary file, then a rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"format": _FORMAT, **dataclasses.asdict(self)}, indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> MotionStats:
        """Read a file written by :meth:`save`.

        Raises:
            FileNotFoundError: no file. ValueError: not a statistics file, naming it.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"motion statistics not found: {path}")
        try:
            raw = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path.name}: not a motion statistics file ({e})") from e
        if not isinstance(raw, dict) or raw.pop("format", None) != _FORMAT:
            raise ValueError(f"{path.name}: not a motion statistics file (format {_FORMAT})")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - names
        if unknown:
            raise ValueError(f"{path.name}: unknown motion statistics {sorted(unknown)}")
        try:
            return cls(**raw)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path.name}: {e}") from e


@dataclasses.dataclass(frozen=True)
class MotionTracks:
    """Sampled tracks, one value per output frame.

    Attributes:
        roll_deg: ``(T,)`` in-plane rotation (degrees, clockwise in the image positive, as
            :func:`mrisynth.metrics.face_motion.head_motion` measures it).
        translation_iod: ``(T, 2)`` ``(x, y)`` shift in inter-ocular distances (y down).
        closure: ``(T,)`` eyelid closure in [0, 1] (mean over each frame's exposure).
        blinks: ``(start_s, end_s)`` of each blink (full closing-plus-opening span).
        fps: frame rate (Hz).
    """

    roll_deg: np.ndarray
    translation_iod: np.ndarray
    closure: np.ndarray
    blinks: list[tuple[float, float]]
    fps: float

    @property
    def n_frames(self) -> int:
        return len(self.roll_deg)

    @classmethod
    def still(cls, n_frames: int, fps: float) -> MotionTracks:
        """No head motion and no blinks."""
        z = np.zeros(n_frames)
        return cls(z, np.zeros((n_frames, 2)), z.copy(), [], float(fps))


@dataclasses.dataclass(frozen=True)
class MotionClip:
    """One tracked reference video for :func:`fit_motion_stats`.

    Attributes:
        landmarks: ``(T, K, 2)`` pixel landmarks (``LANDMARK_NAMES`` order).
        fps: frame rate (Hz).
        energy: ``(T,)`` :func:`speech_energy` of its audio in dB, or None (no audio: the
            clip's blinks count for the overall rate only and its motion for no energy link).
        name: for messages.
    """

    landmarks: np.ndarray
    fps: float
    energy: np.ndarray | None = None
    name: str = "clip"


def speech_energy(audio: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """Per-frame speech level: RMS in dB of a 40 ms window centred on each frame.

    Args:
        audio: ``(N,)`` mono samples; sample_rate: their rate (Hz).
        fps: frame rate (Hz); frame ``k`` is centred at ``(k + 0.5) / fps`` s.
        n_frames: number of frames ``T``.

    Returns:
        ``(T,)`` float64 dB (re 1.0 full scale; -120 dB floor for digital silence).
    """
    x = np.asarray(audio, np.float64).reshape(-1)
    half = max(1, int(round(_ENERGY_WINDOW_S * sample_rate / 2)))
    sq = np.concatenate([[0.0], np.cumsum(x * x)])
    centre = np.rint((np.arange(n_frames) + 0.5) / fps * sample_rate).astype(np.int64)
    lo = np.clip(centre - half, 0, len(x))
    hi = np.clip(centre + half, 0, len(x))
    n = np.maximum(hi - lo, 1)
    ms = (sq[hi] - sq[lo]) / n
    return 10.0 * np.log10(np.maximum(ms, 1e-12))


def pause_mask(energy_db: np.ndarray) -> np.ndarray:
    """``(T,)`` bool: frames more than 30 dB below the clip's loud level (its 95th percentile)."""
    e = np.asarray(energy_db, np.float64)
    return e < np.percentile(e, 95) - _PAUSE_DB


def _normalised_energy(energy_db: np.ndarray) -> np.ndarray:
    """Energy mapped to [0, 1] between the pause threshold and the loud level."""
    e = np.asarray(energy_db, np.float64)
    loud = np.percentile(e, 95)
    return np.clip((e - (loud - _PAUSE_DB)) / _PAUSE_DB, 0.0, 1.0)


def eyelid_closure(blinks: Sequence[tuple[float, float]], n_frames: int, fps: float) -> np.ndarray:
    """``(T,)`` eyelid closure in [0, 1] of ``blinks``, averaged over 4 instants per frame.

    Each blink closes (sin²) over its first 41 % and opens (cos²) over the rest.
    """
    n_sub = 4
    ts = (np.arange(n_frames * n_sub) + 0.5) / (fps * n_sub)
    closure = np.zeros_like(ts)
    for start, end in blinks:
        dc = _CLOSING_FRACTION * (end - start)
        do = (end - start) - dc
        closing = (ts >= start) & (ts < start + dc)
        opening = (ts >= start + dc) & (ts < end)
        closure[closing] = np.sin(0.5 * np.pi * (ts[closing] - start) / dc) ** 2
        closure[opening] = np.cos(0.5 * np.pi * (ts[opening] - start - dc) / do) ** 2
    return closure.reshape(n_frames, n_sub).mean(axis=1)


def _sample_blinks(
    stats: MotionStats, pause: np.ndarray, fps: float, rng: np.random.Generator
) -> list[tuple[float, float]]:
    """Blinks from the pause-dependent hazard with a refractory time (module docstring)."""
    n = len(pause)
    blinks: list[tuple[float, float]] = []
    k = 0
    while k < n:
        rate = stats.blink_rate_pause_per_min if pause[k] else stats.blink_rate_speech_per_min
        if rate > 0 and rng.random() < 1.0 - math.exp(-rate / 60.0 / fps):
            half = float(np.clip(rng.normal(stats.blink_half_s, stats.blink_half_sd_s), 0.04, 0.3))
            start = (k + rng.random()) / fps  # anywhere inside the frame
            end = start + 2.0 * half  # half the full span lies below half closure
            blinks.append((start, end))
            k = int(math.ceil((end + _REFRACTORY_S) * fps))
        else:
            k += 1
    return blinks


def _refractory_rate(rate_per_min: float, half_s: float) -> float:
    """The hazard outside the dead time that gives ``rate_per_min`` blinks overall: each blink
    leaves ``2 half_s + 0.25 s`` during which no other can start."""
    dead_min = (2.0 * half_s + _REFRACTORY_S) / 60.0
    return rate_per_min / max(1e-3, 1.0 - rate_per_min * dead_min)


def sample_tracks(
    stats: MotionStats,
    n_frames: int,
    fps: float,
    *,
    energy_db: np.ndarray | None = None,
    seed: int = 0,
) -> MotionTracks:
    """Head-pose and blink tracks for ``n_frames`` frames of speech (module docstring).

    Args:
        stats: the fitted statistics (:class:`MotionStats`).
        n_frames: number of output frames ``T``; fps: their rate (Hz).
        energy_db: ``(T,)`` :func:`speech_energy` of the speech; None: all frames voiced.
        seed: the random seed (same seed and inputs, same tracks).

    Returns:
        :class:`MotionTracks`.

    Raises:
        ValueError: non-positive ``n_frames`` or fps, or an energy of another length.
    """
    if n_frames < 1 or not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"sample_tracks: need n_frames >= 1 and fps > 0, got {n_frames}, {fps}")
    if energy_db is None:
        pause = np.zeros(n_frames, bool)
        level = np.full(n_frames, 0.5)
    else:
        energy_db = np.asarray(energy_db, np.float64)
        if energy_db.shape != (n_frames,):
            raise ValueError(f"sample_tracks: energy must be ({n_frames},), got {energy_db.shape}")
        pause, level = pause_mask(energy_db), _normalised_energy(energy_db)
    rng = np.random.default_rng([seed, 15])
    # the hazard outside each blink's dead time, so that the overall rates come out as fitted
    hazard = dataclasses.replace(
        stats,
        blink_rate_speech_per_min=_refractory_rate(
            stats.blink_rate_speech_per_min, stats.blink_half_s
        ),
        blink_rate_pause_per_min=_refractory_rate(
            stats.blink_rate_pause_per_min, stats.blink_half_s
        ),
    )
    blinks = _sample_blinks(hazard, pause, fps, rng)
    # amplitude follows the (smoothed) energy; normalised so that the mean variance is as fitted
    scale = np.clip(1.0 + stats.energy_gain * (level - level.mean()), 0.05, None)
    stds = (stats.roll_std_deg, *stats.translation_std_iod)
    out = np.zeros((n_frames, 3))
    for j, (sd, smooth) in enumerate(zip(stds, stats.smooth_s)):
        sigma = max(smooth * fps, 0.3)
        amp = gaussian_filter1d(scale, sigma, mode="nearest")
        amp /= math.sqrt(float(np.mean(amp**2)))
        noise = gaussian_filter1d(rng.standard_normal(n_frames), sigma, mode="reflect")
        # the std of Gaussian-smoothed unit white noise is (2 sqrt(pi) sigma)^-1/2
        out[:, j] = noise * math.sqrt(2.0 * math.sqrt(math.pi) * sigma) * sd * amp
    return MotionTracks(
        roll_deg=out[:, 0],
        translation_iod=out[:, 1:],
        closure=eyelid_closure(blinks, n_frames, fps),
        blinks=blinks,
        fps=float(fps),
    )


def _smooth_width(x: np.ndarray, fps: float) -> float:
    """Half the lag (s) at which a centred track's autocorrelation first falls to 1/e
    (interpolated between lags; NaN frames count as 0; NaN if it never does in half the clip)."""
    x = np.nan_to_num(np.asarray(x, np.float64))
    den = float(np.sum(x * x))
    if den <= 0:
        return float("nan")
    prev = 1.0
    for lag in range(1, len(x) // 2):
        rho = float(np.sum(x[:-lag] * x[lag:]) / den)
        if rho < math.exp(-1.0):
            frac = (prev - math.exp(-1.0)) / (prev - rho)
            return 0.5 * (lag - 1 + frac) / fps
        prev = rho
    return float("nan")


def fit_motion_stats(clips: Sequence[MotionClip], source: str = "fitted") -> MotionStats:
    """Fit :class:`MotionStats` to tracked reference videos.

    Blinks are found with :func:`~mrisynth.metrics.face_motion.detect_blinks` on the eye
    openness; a blink counts for the pause or the speech rate by the frame it starts in.
    Head motion is :func:`~mrisynth.metrics.face_motion.head_motion`'s roll and translation;
    each clip's tracks are centred on their own mean, their variances pooled over frames and
    their smoothness widths averaged. The energy gain is the slope over the intercept of
    the per-frame absolute change (in standard deviations) regressed on the normalised energy.

    Args:
        clips: the tracked videos (at least one; 2 s or more of frames in all).
        source: what they are (stored in the statistics).

    Raises:
        ValueError: no clips or too few frames.
    """
    if not clips:
        raise ValueError("fit_motion_stats: no clips")
    n_blinks = {True: 0, False: 0}
    time_s = {True: 0.0, False: 0.0}
    halves: list[float] = []
    tracks: list[np.ndarray] = []  # per clip (T, 3) centred roll, x, y
    levels: list[np.ndarray | None] = []
    fps_of: list[float] = []
    for clip in clips:
        lm, fps = np.asarray(clip.landmarks, np.float64), float(clip.fps)
        t = len(lm)
        pause = (
            pause_mask(clip.energy)
            if clip.energy is not None and len(clip.energy) == t
            else np.zeros(t, bool)
        )
        blinks, complete = detect_blinks(eye_openness(lm), fps)
        for (s, e), c in zip(blinks, complete):
            k = min(t - 1, int(s * fps))
            n_blinks[bool(pause[k])] += 1
            if c:
                halves.append(e - s)
        time_s[True] += pause.sum() / fps
        time_s[False] += (~pause).sum() / fps
        motion = head_motion(lm, fps)
        tr = np.column_stack([motion.roll_deg, motion.translation])
        tracks.append(tr - np.nanmean(tr, axis=0))
        levels.append(
            _normalised_energy(clip.energy)
            if clip.energy is not None and len(clip.energy) == t
            else None
        )
        fps_of.append(fps)
    total_s = time_s[True] + time_s[False]
    if total_s < 2.0:
        raise ValueError(f"fit_motion_stats: {total_s:.1f} s of video; need at least 2 s")
    overall = 60.0 * (n_blinks[True] + n_blinks[False]) / total_s

    def rate(p: bool) -> float:
        # a side seen for under 5 s tells little: fall back on the overall rate
        return 60.0 * n_blinks[p] / time_s[p] if time_s[p] >= 5.0 else overall

    std = np.sqrt(np.nanmean(np.concatenate([tr**2 for tr in tracks]), axis=0))
    smooth = []
    for j in range(3):
        widths = [_smooth_width(tr[:, j], f) for tr, f in zip(tracks, fps_of) if len(tr) > 2]
        ok = [w for w in widths if math.isfinite(w) and w > 0]
        smooth.append(float(np.mean(ok)) if ok else MotionStats.smooth_s[j])
    gain = 0.0
    xs, ys = [], []
    for tr, lev in zip(tracks, levels):
        if lev is None or len(tr) < 3:
            continue
        step = np.abs(np.diff(tr, axis=0)) / np.where(std > 0, std, 1.0)
        xs.append(np.repeat(0.5 * (lev[1:] + lev[:-1]), 3))
        ys.append(step.reshape(-1))
    if xs:
        x, y = np.concatenate(xs), np.concatenate(ys)
        ok = np.isfinite(y)
        if ok.sum() > 10 and np.ptp(x[ok]) > 0:
            slope, intercept = np.polyfit(x[ok], y[ok], 1)
            if intercept > 0:
                gain = float(np.clip(slope / intercept, -0.9, 10.0))
    return MotionStats(
        blink_rate_speech_per_min=rate(False),
        blink_rate_pause_per_min=rate(True),
        blink_half_s=float(np.mean(halves)) if halves else MotionStats.blink_half_s,
        blink_half_sd_s=float(np.std(halves)) if len(halves) > 1 else MotionStats.blink_half_sd_s,
        roll_std_deg=float(std[0]),
        translation_std_iod=(float(std[1]), float(std[2])),
        smooth_s=tuple(smooth),
        energy_gain=gain,
        source=source,
    )


def track_video(
    path: str | Path,
    regressor: object,
    img_size: int,
    *,
    scale: float = 1.05,
    shift: float = 0.13,
    box: tuple[int, int, int] | None = None,
    batch_size: int = 64,
) -> MotionClip:
    """Landmarks and speech energy of one talking-face video, for :func:`fit_motion_stats`.

    The face is found in every frame (OpenCV's cascade, as ``dub`` finds it); ONE crop, around
    the median face box, frames all of the video (a moving crop would cancel the head's
    translation), framed as the regressor's training frames were (``scale``, ``shift``; the
    defaults are the framing of the regressor trained on the phantom's face box, rows 20-84
    and columns 16-80 of its 96-px video, which is also the face model's:
    :class:`~mrisynth.synthesis.face.FaceCropConfig`), and resized to its ``img_size``.
    Landmarks come back in the video's pixels.

    Args:
        path: the video (MP4...; its audio track, if any, gives the energy).
        regressor: a landmark regressor (:func:`mrisynth.models.artifacts.load_landmark_regressor`).
        img_size: its input size (px).
        scale, shift: crop side and centre offset below the face-box centre, in face widths.
        box: ``(top, left, side)`` px: this crop for every frame instead of detecting the face
            (videos framed alike, e.g. the phantom's ``(20, 16, 64)``).
        batch_size: frames per forward pass.

    Raises:
        ValueError: unreadable video, or no face in it (naming the file).
    """
    from mrisynth.data.sequence import SequenceError
    from mrisynth.io import read_sequence
    from mrisynth.models.landmarks import predict_landmarks
    from mrisynth.synthesis.face import (
        FaceCropConfig,
        crop_boxes,
        crop_faces,
        detect_faces,
        track_faces,
    )

    path = Path(path)
    try:
        seq = read_sequence(path, audio=True, rgb=True, spacing_mm=1.0, strict_av=False)
    except SequenceError as e:
        raise ValueError(str(e)) from e
    frames = np.asarray(seq.frames)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    fps = float(seq.fps or 25.0)
    h, w = frames.shape[1:3]
    if box is not None:
        top, left, side = (int(v) for v in box)
        if not (side > 0 and top >= 0 and left >= 0 and top + side <= h and left + side <= w):
            raise ValueError(f"{path.name}: crop box {box} is not inside the {w}x{h} frame")
        crop_box = np.array([top, left, side, side])
    else:
        cfg = FaceCropConfig(scale=scale, shift=shift)
        # a face missing in many frames is no reason to refuse a reference video: bridge gaps
        track = track_faces(
            detect_faces(frames, cfg.min_face_px),
            fps,
            dataclasses.replace(cfg, max_gap_s=len(frames) / fps + 1.0),
            path.name,
        )
        crop_box = crop_boxes(np.median(track, axis=0)[None], (h, w), cfg)[0]
    crops = crop_faces(frames, np.tile(crop_box, (len(frames), 1)), img_size)
    lm = predict_landmarks(regressor, crops, batch_size=batch_size).astype(np.float64)
    top, left, side, _ = crop_box
    lm = lm * (side / img_size) + np.array([left, top]) + 0.5 * (side / img_size - 1.0)
    energy = None
    if seq.audio is not None and seq.sample_rate and len(seq.audio):
        energy = speech_energy(seq.audio, int(seq.sample_rate), fps, len(frames))
    return MotionClip(landmarks=lm, fps=fps, energy=energy, name=path.name)


def fit_motion_stats_from_videos(
    videos: Sequence[str | Path],
    regressor_path: str | Path,
    *,
    scale: float = 1.05,
    shift: float = 0.13,
    box: tuple[int, int, int] | None = None,
    progress: bool = True,
) -> MotionStats:
    """:func:`fit_motion_stats` of talking-face videos tracked with a landmark regressor.

    Args:
        videos: the video files; regressor_path: a landmark regressor file (``landmarks.pt``).
        scale, shift, box: the regressor's training framing (:func:`track_video`).
        progress: a tqdm bar over the videos.
    """
    from tqdm import tqdm

    from mrisynth.models.artifacts import load_landmark_regressor

    if not videos:
        raise ValueError("fit-motion: no videos given")
    model, cfg = load_landmark_regressor(regressor_path)
    clips = [
        track_video(v, model, cfg.img_size, scale=scale, shift=shift, box=box)
        for v in tqdm(list(videos), desc="track videos", unit="video", disable=not progress)
    ]
    names = ", ".join(c.name for c in clips[:3]) + (", ..." if len(clips) > 3 else "")
    return fit_motion_stats(clips, source=f"{len(clips)} videos ({names})")
