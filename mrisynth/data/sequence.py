"""One type for a real-time speech-MRI recording and its audio.

Every reader in :mod:`mrisynth.io` returns a :class:`SpeechMRISequence`; everything downstream
(phantom writer, datasets, training, evaluation) consumes one. The type is validated on
construction so that bad data fails where it enters, with the file named.

Conventions
-----------
- ``frames``: ``(T, H, W)`` in the canonical orientation: anterior (face) to the **left**
  (low column index), superior **up** (low row index). Any real numeric dtype is kept as read
  (uint8/uint16/int16/float32...), so the intensity range is never silently changed. Colour
  video (a talking face for the same training core) is ``(T, H, W, 3)`` RGB.
- time: frame ``k`` covers ``[k / fps, (k + 1) / fps)`` seconds on the video clock.
- audio: mono float32 samples; sample ``i`` sits at ``audio_offset_s + i / sample_rate`` seconds
  on the video clock (``audio_offset_s`` > 0: audio starts after the first frame).
- ``spacing_mm``: (row, column) pixel spacing in millimetres.
- unknown fps / spacing: a sequence read only to be *described* (``mrisynth info``,
  ``read_sequence(..., require_fps=False, require_spacing=False)``) may hold ``fps=None`` /
  ``spacing_mm=None``, allowed only together with ``provenance["fps_source"]`` /
  ``["spacing_source"] == UNKNOWN``. The methods here, the writers of :mod:`mrisynth.io`
  and :mod:`mrisynth.data.prepare` that need the value go through
  :meth:`SpeechMRISequence.require_fps` / :meth:`~SpeechMRISequence.require_spacing`, which
  raise one clear :class:`SequenceError`; a sequence with a value missing cannot be saved.
  Every other reader path (manifests, synthesis, evaluation) uses ``read_sequence``'s
  default, which refuses an unknown value at read time.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mrisynth.data.intensity import percentile_scale, to_uint8

__all__ = [
    "SpeechMRISequence",
    "SequenceError",
    "SUPPORTED_DTYPES",
    "UNKNOWN",
    "audio_sample_index",
]

#: ``provenance["fps_source"]`` / ``["spacing_source"]`` of a value the recording does not
#: state; the only case in which ``fps`` / ``spacing_mm`` may be None (see the module docstring).
UNKNOWN = "unknown"

SUPPORTED_DTYPES = (
    np.uint8,
    np.uint16,
    np.int16,
    np.int32,
    np.uint32,
    np.float16,
    np.float32,
    np.float64,
)


class SequenceError(ValueError):
    """Raised when a sequence (or the file it came from) is not valid speech-MRI data."""


def audio_sample_index(t_s: float | np.ndarray, sample_rate: int, audio_offset_s: float = 0.0):
    """Index of the audio sample at video-clock time ``t_s`` (seconds), rounded to nearest.

    Used by every place that maps frames to audio, so training and inference agree exactly.
    The rounding error is at most half a sample for any fps (also non-integer ones like 83.28).
    """
    return np.rint((np.asarray(t_s, dtype=np.float64) - audio_offset_s) * sample_rate).astype(
        np.int64
    )


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


@dataclasses.dataclass
class SpeechMRISequence:
    """A midsagittal rtMRI recording with its audio and metadata.

    Args:
        frames: ``(T, H, W)`` image stack, canonical orientation (face left, superior up), or
            ``(T, H, W, 3)`` RGB for colour (face) video.
        fps: frame rate in frames per second (> 0); None only with
            ``provenance["fps_source"] == UNKNOWN`` (a recording read for description).
        spacing_mm: pixel spacing ``(row, col)`` in mm (> 0); None only with
            ``provenance["spacing_source"] == UNKNOWN``.
        audio: mono samples ``(N,)`` (float32, roughly in [-1, 1]) or None.
        sample_rate: audio sample rate in Hz; required when ``audio`` is given.
        audio_offset_s: time of the first audio sample minus the start of the first frame (s).
        speaker, language, utterance_id, transcript: descriptive metadata.
        labels: optional ``(T, H, W)`` integer label maps aligned with ``frames`` (phantom
            ground truth or manual segmentations).
        provenance: de-identified description of where the data came from (relative source
            paths, reader name, header summary). Never contains patient identifiers.
    """

    frames: np.ndarray
    fps: float | None
    spacing_mm: tuple[float, float] | None
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    audio_offset_s: float = 0.0
    speaker: str | None = None
    language: str | None = None
    utterance_id: str | None = None
    transcript: str | None = None
    labels: np.ndarray | None = None
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self, source: str | None = None) -> None:
        """Check shapes, dtypes, finiteness and metadata; raise :class:`SequenceError` if bad."""
        src = _where(source or self.provenance.get("source"))
        frames = np.asarray(self.frames)
        if not (frames.ndim == 3 or (frames.ndim == 4 and frames.shape[-1] == 3)):
            raise SequenceError(
                f"{src}frames must be (T, H, W) or RGB (T, H, W, 3), got shape {frames.shape}"
            )
        if min(frames.shape) < 1:
            raise SequenceError(f"{src}frames are empty (shape {frames.shape})")
        if frames.dtype.type not in SUPPORTED_DTYPES:
            raise SequenceError(
                f"{src}unsupported pixel dtype {frames.dtype}; expected one of "
                + ", ".join(np.dtype(d).name for d in SUPPORTED_DTYPES)
            )
        if frames.dtype.kind == "f" and not np.isfinite(frames).all():
            raise SequenceError(f"{src}frames contain NaN or Inf values")
        self.frames = frames
        if self.fps is None and self.provenance.get("fps_source") == UNKNOWN:
            pass  # read for description only: require_fps() refuses every use
        elif self.fps is None or not math.isfinite(float(self.fps)) or float(self.fps) <= 0:
            raise SequenceError(f"{src}frame rate is unknown or invalid ({self.fps!r}); pass fps=")
        else:
            self.fps = float(self.fps)
        if self.spacing_mm is None and self.provenance.get("spacing_source") == UNKNOWN:
            pass  # read for description only: require_spacing() refuses every use
        elif self.spacing_mm is None:
            raise SequenceError(f"{src}pixel spacing is unknown; pass spacing_mm=")
        else:
            sp = np.broadcast_to(np.asarray(self.spacing_mm, dtype=np.float64), (2,))
            if not np.isfinite(sp).all() or (sp <= 0).any():
                raise SequenceError(
                    f"{src}pixel spacing must be positive mm, got {self.spacing_mm!r}"
                )
            self.spacing_mm = (float(sp[0]), float(sp[1]))
        if self.audio is not None:
            audio = np.asarray(self.audio)
            if audio.ndim != 1:
                raise SequenceError(f"{src}audio must be mono (N,), got shape {audio.shape}")
            if audio.size == 0:
                raise SequenceError(f"{src}audio is empty")
            if not np.isfinite(audio).all():
                raise SequenceError(f"{src}audio contains NaN or Inf values")
            self.audio = audio.astype(np.float32, copy=False)
            if self.sample_rate is None or int(self.sample_rate) <= 0:
                raise SequenceError(f"{src}audio given without a valid sample_rate")
            self.sample_rate = int(self.sample_rate)
        if not math.isfinite(float(self.audio_offset_s)):
            raise SequenceError(f"{src}audio_offset_s must be finite")
        self.audio_offset_s = float(self.audio_offset_s)
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != frames.shape[:3]:
                raise SequenceError(
                    f"{src}labels shape {labels.shape} does not match frames {frames.shape}"
                )
            if labels.dtype.kind not in "iu":
                raise SequenceError(f"{src}labels must be integers, got {labels.dtype}")
            self.labels = labels

    def require_fps(self, what: str = "this operation") -> float:
        """The frame rate (fps); raises :class:`SequenceError` naming the source when unknown."""
        if self.fps is None:
            raise SequenceError(
                f"{_where(self.provenance.get('source'))}frame rate unknown (not in the file); "
                f"{what} needs it: pass fps= (CLI: --fps) or a dataset preset (--dataset)"
            )
        return self.fps

    def require_spacing(self, what: str = "this operation") -> tuple[float, float]:
        """``(row, col)`` spacing (mm); raises :class:`SequenceError` when unknown."""
        if self.spacing_mm is None:
            raise SequenceError(
                f"{_where(self.provenance.get('source'))}pixel spacing unknown (not in the "
                f"file); {what} needs it: pass spacing_mm= (CLI: --spacing) or a dataset preset "
                "(--dataset)"
            )
        return self.spacing_mm

    # ------------------------------------------------------------------ properties
    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def channels(self) -> int:
        """1 for (grey) MRI, 3 for RGB video."""
        return 1 if self.frames.ndim == 3 else int(self.frames.shape[3])

    @property
    def duration_s(self) -> float:
        """Video duration in seconds (``T / fps``)."""
        return self.n_frames / self.require_fps("the duration")

    @property
    def audio_duration_s(self) -> float | None:
        if self.audio is None:
            return None
        return len(self.audio) / self.sample_rate

    @property
    def intensity_range(self) -> tuple[float, float]:
        return float(self.frames.min()), float(self.frames.max())

    def replace(self, **changes: Any) -> SpeechMRISequence:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def summary(self) -> dict[str, Any]:
        """What a researcher checks first, as a JSON-ready dict (no identifiers).

        An unknown fps or spacing is None, and so is what depends on it (duration, A/V mismatch).
        """
        lo, hi = self.intensity_range
        known_fps = self.fps is not None
        out: dict[str, Any] = {
            "frames": self.n_frames,
            "height": self.height,
            "width": self.width,
            "channels": self.channels,
            "dtype": self.frames.dtype.name,
            "intensity_min": lo,
            "intensity_max": hi,
            "fps": self.fps,
            "spacing_mm": None if self.spacing_mm is None else list(self.spacing_mm),
            "duration_s": self.duration_s if known_fps else None,
            "audio_sample_rate": self.sample_rate,
            "audio_duration_s": self.audio_duration_s,
            "audio_offset_s": self.audio_offset_s,
            "speaker": self.speaker,
            "language": self.language,
            "utterance_id": self.utterance_id,
        }
        if self.audio is not None and known_fps:
            out["audio_video_mismatch_s"] = (
                self.audio_offset_s + self.audio_duration_s - self.duration_s
            )
        return out

    # ------------------------------------------------------------------ audio alignment
    def audio_span(self, start_frame: int, stop_frame: int) -> tuple[int, int]:
        """Audio sample indices ``[a0, a1)`` covering frames ``[start_frame, stop_frame)``.

        Exact for any fps up to rounding to the nearest sample (< 1 sample error). Indices may
        fall outside ``[0, len(audio)]`` when the audio does not cover those frames.
        """
        if self.sample_rate is None:
            raise SequenceError("sequence has no audio")
        fps = self.require_fps("aligning audio to frames")
        a0, a1 = audio_sample_index(
            np.array([start_frame, stop_frame]) / fps, self.sample_rate, self.audio_offset_s
        )
        return int(a0), int(a1)

    def audio_for_frames(self, start_frame: int, stop_frame: int) -> np.ndarray:
        """Audio samples for frames ``[start_frame, stop_frame)``, zero-padded where missing."""
        if self.audio is None:
            raise SequenceError("sequence has no audio")
        a0, a1 = self.audio_span(start_frame, stop_frame)
        out = np.zeros(a1 - a0, dtype=np.float32)
        s0, s1 = max(a0, 0), min(a1, len(self.audio))
        if s1 > s0:
            out[s0 - a0 : s1 - a0] = self.audio[s0:s1]
        return out

    def clip(self, start_frame: int, stop_frame: int) -> SpeechMRISequence:
        """Sub-sequence of frames ``[start_frame, stop_frame)`` with exactly aligned audio.

        The returned clip's audio starts at the clip's first frame (offset 0), zero-padded
        if the original audio does not cover the whole span.
        """
        if not 0 <= start_frame < stop_frame <= self.n_frames:
            raise SequenceError(
                f"clip [{start_frame}, {stop_frame}) outside 0..{self.n_frames} frames"
            )
        audio = None if self.audio is None else self.audio_for_frames(start_frame, stop_frame)
        if audio is not None and audio.size == 0:
            audio = None
        return self.replace(
            frames=self.frames[start_frame:stop_frame],
            labels=None if self.labels is None else self.labels[start_frame:stop_frame],
            audio=audio,
            sample_rate=self.sample_rate if audio is not None else None,
            audio_offset_s=0.0,
            provenance={**self.provenance, "clip": [int(start_frame), int(stop_frame)]},
        )

    def clips(self, length: int, hop: int | None = None) -> Iterator[SpeechMRISequence]:
        """Consecutive clips of ``length`` frames every ``hop`` frames (default: no overlap)."""
        hop = hop or length
        if length < 1 or hop < 1:
            raise SequenceError("clip length and hop must be >= 1")
        for start in range(0, self.n_frames - length + 1, hop):
            yield self.clip(start, start + length)

    # ------------------------------------------------------------------ image operations
    def crop(self, top: int, left: int, height: int, width: int) -> SpeechMRISequence:
        """Crop a rectangular ROI given in pixels (rows ``top:top+height``, cols ``left:...``)."""
        if top < 0 or left < 0 or height < 1 or width < 1:
            raise SequenceError(f"invalid crop {top, left, height, width}")
        if top + height > self.height or left + width > self.width:
            raise SequenceError(
                f"crop {top, left, height, width} exceeds frame size {self.height}x{self.width}"
            )
        sl = (slice(None), slice(top, top + height), slice(left, left + width))
        return self.replace(
            frames=self.frames[sl].copy(),
            labels=None if self.labels is None else self.labels[sl].copy(),
            provenance={
                **self.provenance,
                "crop_px": [int(top), int(left), int(height), int(width)],
            },
        )

    def crop_mm(
        self, top_mm: float, left_mm: float, height_mm: float, width_mm: float
    ) -> SpeechMRISequence:
        """Crop an ROI given in mm from the top-left corner of the frame."""
        sr, sc = self.require_spacing("a crop in mm")
        return self.crop(
            int(round(top_mm / sr)),
            int(round(left_mm / sc)),
            max(1, int(round(height_mm / sr))),
            max(1, int(round(width_mm / sc))),
        )

    def resample(
        self, fps: float | None = None, spacing_mm: float | tuple[float, float] | None = None
    ) -> SpeechMRISequence:
        """Resample to a target frame rate and/or pixel spacing (field of view is kept).

        Time and space are interpolated linearly by ``torch.nn.functional.interpolate``
        (labels with nearest neighbour). The output is float32 for images; duration and field
        of view are preserved up to one frame / pixel of rounding.
        """
        import torch
        import torch.nn.functional as F

        old_fps = self.require_fps("resampling")
        old_sp = self.require_spacing("resampling")
        new_fps = float(fps) if fps else old_fps
        if spacing_mm is None:
            new_sp = old_sp
        else:
            new_sp = tuple(np.broadcast_to(np.asarray(spacing_mm, dtype=float), (2,)).tolist())
        t = max(1, int(round(self.n_frames * new_fps / old_fps)))
        h = max(1, int(round(self.height * old_sp[0] / new_sp[0])))
        w = max(1, int(round(self.width * old_sp[1] / new_sp[1])))
        x = torch.from_numpy(np.ascontiguousarray(self.frames, dtype=np.float32))
        x = x[None, None] if x.ndim == 3 else x.permute(3, 0, 1, 2)[None]  # (1, C, T, H, W)
        y = F.interpolate(x, size=(t, h, w), mode="trilinear", align_corners=False)[0]
        y = (y[0] if self.frames.ndim == 3 else y.permute(1, 2, 3, 0)).numpy()
        labels = None
        if self.labels is not None:
            lab = torch.from_numpy(self.labels.astype(np.int64))[None, None].float()
            labels = (
                F.interpolate(lab, size=(t, h, w), mode="nearest-exact")[0, 0]
                .numpy()
                .astype(self.labels.dtype)
            )
        return self.replace(
            frames=y,
            labels=labels,
            fps=new_fps,
            spacing_mm=(
                float(old_sp[0] * self.height / h),
                float(old_sp[1] * self.width / w),
            ),
            provenance={
                **self.provenance,
                "resampled": {"fps": new_fps, "spacing_mm": list(new_sp)},
            },
        )

    def normalize(self, p_low: float = 1.0, p_high: float = 99.0) -> SpeechMRISequence:
        """Robust intensity normalisation to float32 [0, 1] by percentiles over the sequence."""
        try:
            y, (lo, hi) = percentile_scale(self.frames, p_low, p_high)
        except ValueError as e:
            raise SequenceError(str(e)) from e
        return self.replace(
            frames=y,
            provenance={**self.provenance, "normalized": [lo, hi]},
        )

    def to_uint8(self) -> np.ndarray:
        """Frames as uint8 ``(T, H, W[, 3])``: float in [0, 1] is scaled, integers by their range."""
        return to_uint8(self.frames)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save losslessly to a ``.npz`` (frames, labels, audio bit-exact; metadata as JSON)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        # a saved sequence is complete: unknown values stay in the describing read
        fps, spacing = self.require_fps("saving"), self.require_spacing("saving")
        meta = {
            "fps": fps,
            "spacing_mm": list(spacing),
            "sample_rate": self.sample_rate,
            "audio_offset_s": self.audio_offset_s,
            "speaker": self.speaker,
            "language": self.language,
            "utterance_id": self.utterance_id,
            "transcript": self.transcript,
            "provenance": self.provenance,
        }
        arrays = {"frames": self.frames, "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
        if self.audio is not None:
            arrays["audio"] = self.audio
        if self.labels is not None:
            arrays["labels"] = self.labels
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SpeechMRISequence:
        """Load a sequence written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                return cls(
                    frames=z["frames"],
                    audio=z["audio"] if "audio" in z else None,
                    labels=z["labels"] if "labels" in z else None,
                    **meta,
                )
        except (OSError, KeyError, ValueError) as e:
            if isinstance(e, SequenceError):
                raise
            raise SequenceError(f"{path.name}: not a readable mrisynth sequence file ({e})") from e
