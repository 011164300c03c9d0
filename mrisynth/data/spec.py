"""The data contract between recordings and models: :class:`DataSpec`.

A model is trained on frames of one size, channel count and frame rate, with audio at one
sample rate; a model file carries that contract, and every place that hands data to a model
(training, synthesis, evaluation, fine-tuning from a file) checks it through this class. It is
the only place the mismatch messages are written, so they read the same everywhere::

    spec = DataSpec(fps=83.28, sample_rate=16000, img_size=48, channels=1)
    spec.check_sequence(seq, "training sequence 0 (utt1)")   # ValueError naming both values
    spec.check_matches(artifact_spec, "sync expert runs/expert.pt")

Spacing (mm per pixel) is part of the spec where it is known; it is compared only where both
sides know it, and never by :meth:`check_sequence` (a new speaker's ROI may have other mm).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["DataSpec", "frame_channels", "sequence_name"]

#: What :meth:`DataSpec.check_matches` compares by default.
SPEC_FIELDS = ("fps", "sample_rate", "img_size", "channels")


def frame_channels(shape: tuple[int, ...]) -> int | None:
    """Channels of ``(T, H, W)`` (1) or ``(T, H, W, C)`` (C) frames; None for other shapes."""
    return 1 if len(shape) == 3 else int(shape[-1]) if len(shape) == 4 else None


def sequence_name(seq: Any, i: int | None = None, what: str = "") -> str:
    """``"<what> sequence <i> (<utterance_id>)"`` for messages (parts left out when unknown)."""
    uid = getattr(seq, "utterance_id", None)
    head = " ".join(p for p in (what, "sequence", None if i is None else str(i)) if p)
    return head + (f" ({uid})" if uid else "")


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a model's data must be.

    Attributes:
        fps: video frame rate (frames/s); None for image-only models (the segmenter).
        sample_rate: audio sample rate the audio front end expects (Hz); None without audio.
        img_size: square frame size (px).
        channels: 1 (MRI) or 3 (RGB faces).
        spacing_mm: ``(row, col)`` pixel spacing of the training data (mm), where known.
    """

    fps: float | None
    sample_rate: int | None
    img_size: int
    channels: int
    spacing_mm: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        bad = [
            f"{k}={v}"
            for k, v in (("fps", self.fps), ("sample_rate", self.sample_rate))
            if v is not None and not v > 0
        ]
        if bad or not self.img_size > 0:
            raise ValueError(
                f"DataSpec: fps, sample_rate and img_size must be > 0, got "
                f"{', '.join(bad) or f'img_size={self.img_size}'}"
            )
        if self.channels not in (1, 3):
            raise ValueError(f"DataSpec: channels must be 1 or 3, got {self.channels}")
        if self.fps is not None:
            object.__setattr__(self, "fps", float(self.fps))
        if self.sample_rate is not None:
            object.__setattr__(self, "sample_rate", int(self.sample_rate))
        object.__setattr__(self, "img_size", int(self.img_size))
        object.__setattr__(self, "channels", int(self.channels))
        if self.spacing_mm is not None:
            object.__setattr__(self, "spacing_mm", tuple(float(s) for s in self.spacing_mm))

    # ------------------------------------------------------------------ construction
    @classmethod
    def of_model(cls, model_cfg: Any, spacing_mm: tuple[float, float] | None = None) -> DataSpec:
        """The spec of a :class:`~mrisynth.models.builders.ModelConfig` (or any config with
        ``fps``, ``img_size``, ``channels`` and ``mel.sample_rate``)."""
        return cls(
            fps=model_cfg.fps,
            sample_rate=model_cfg.mel.sample_rate,
            img_size=model_cfg.img_size,
            channels=model_cfg.channels,
            spacing_mm=spacing_mm,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, floats, ints) for files."""
        d = dataclasses.asdict(self)
        d["spacing_mm"] = None if self.spacing_mm is None else list(self.spacing_mm)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"DataSpec: unknown fields {sorted(unknown)}")
        spacing = d.get("spacing_mm")
        return cls(**{**d, "spacing_mm": None if spacing is None else tuple(spacing)})

    # ------------------------------------------------------------------ checks
    def check_matches(
        self,
        other: DataSpec,
        source: str,
        *,
        mine: str = "checkpoint",
        theirs: str = "model config",
        fields: Iterable[str] = SPEC_FIELDS,
    ) -> None:
        """Raise ``ValueError`` at the first field where two specs differ.

        Args:
            other: the spec this one must agree with.
            source: what ``self`` came from, e.g. a file path (starts the message).
            mine, theirs: names of the two sides (``"checkpoint fps 25.0 != model config fps
                50.0"``).
            fields: which fields to compare; a field one side leaves ``None`` is not compared.
        """
        self.check_values(
            source, mine=mine, theirs=theirs, **{f: getattr(other, f) for f in fields}
        )

    def check_values(
        self, source: str, *, mine: str = "checkpoint", theirs: str = "expected", **values: Any
    ) -> None:
        """:meth:`check_matches` against loose values (``fps=25.0, channels=3``; None = any).

        Raises:
            TypeError: a name that is not a DataSpec field.
        """
        unknown = set(values) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"DataSpec has no field(s) {sorted(unknown)}")
        for f, b in values.items():
            a = getattr(self, f)
            if a is None or b is None:
                continue
            if f == "spacing_mm":
                same = bool(np.allclose(a, b, rtol=1e-6))
            else:
                same = math.isclose(a, float(b), rel_tol=1e-6) if f == "fps" else a == b
            if not same:
                raise ValueError(f"{source}: {mine} {f} {a} != {theirs} {f} {b}")

    def check_frames(self, frames_shape: tuple[int, ...], name: str, *, hint: str = "") -> None:
        """Raise ``ValueError`` unless frames of ``frames_shape`` have this size and channels.

        Args:
            frames_shape: ``(T, H, W)`` or ``(T, H, W, C)``.
            name: what the frames are, for the message.
            hint: appended to a size mismatch (how to fix it).
        """
        shape = tuple(frames_shape)
        channels = frame_channels(shape)
        if channels is None:
            raise ValueError(f"{name}: frames must be (T, H, W) or (T, H, W, C), got {shape}")
        if channels != self.channels:
            raise ValueError(
                f"{name}: frames have {channels} channel(s) but the model expects "
                f"{self.channels} (channels)"
            )
        if tuple(shape[1:3]) != (self.img_size, self.img_size):
            raise ValueError(
                f"{name}: frames are {shape[1]}x{shape[2]} px but the model expects "
                f"{self.img_size}x{self.img_size} px (img_size)" + (f"; {hint}" if hint else "")
            )

    def check_sequence(
        self, seq: Any, name: str, *, audio: bool = True, audio_resample: bool = False
    ) -> None:
        """Raise ``ValueError`` unless a sequence fits this spec.

        Args:
            seq: a :class:`~mrisynth.data.sequence.SpeechMRISequence` (or any object with
                ``frames``, ``fps``, ``audio``, ``sample_rate``).
            name: the sequence's name for messages (see :func:`sequence_name`).
            audio: require audio.
            audio_resample: audio at another rate is accepted (the front end resamples it).
        """
        self.check_frames(
            np.shape(seq.frames),
            name,
            hint=f"crop the ROI and prepare the data at img_size={self.img_size}",
        )
        if self.fps is not None and not math.isclose(float(seq.fps), self.fps, rel_tol=1e-6):
            raise ValueError(
                f"{name}: data fps {float(seq.fps):g} != model fps {self.fps:g}; prepare or "
                f"resample the data at {self.fps:g} fps"
            )
        if not audio or self.sample_rate is None:
            return
        if getattr(seq, "audio", None) is None:
            raise ValueError(f"{name}: has no audio")
        if int(seq.sample_rate) != self.sample_rate and not audio_resample:
            raise ValueError(
                f"{name}: data sample rate {seq.sample_rate} Hz != model sample rate "
                f"{self.sample_rate} Hz (and the audio front end's resampling is off)"
            )
