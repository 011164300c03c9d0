"""Shared pieces of the format readers: the raw read result, sidecars and path helpers."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "RawImage",
    "SIDECAR_NAME",
    "SIDECAR_KEYS",
    "sidecar_path",
    "read_sidecar",
    "write_sidecar",
    "relative_path",
    "natural_key",
    "AUDIO_SUFFIXES",
    "find_sibling_audio",
]

#: Name of the sidecar JSON inside a folder recording (PNG or DICOM series).
SIDECAR_NAME = "sequence.json"
#: Keys a sidecar may hold; all optional. ``audio`` is a path relative to the sidecar.
#: ``third_axis_is_time`` (NIfTI only): a 3-D ``(X, Y, T)`` file holds frames, not a volume.
SIDECAR_KEYS = (
    "fps",
    "spacing_mm",
    "orientation",
    "audio",
    "audio_offset_s",
    "speaker",
    "language",
    "utterance_id",
    "transcript",
    "third_axis_is_time",
)
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a")


@dataclasses.dataclass
class RawImage:
    """What a format reader found, before overrides, orientation and audio are applied.

    Args:
        frames: ``(T, H, W)`` as stored in the file (before ``orientation``).
        reader: short reader name recorded in provenance (``"dicom-series"``, ``"nifti"``...).
        fps: frame rate from the file header (None when the file has none).
        fps_source: where ``fps`` came from (``"FrameTime"``, ``"pixdim"``, ...).
        spacing_mm: ``(row, col)`` spacing in mm in the stored layout, or None.
        spacing_source: where ``spacing_mm`` came from.
        default_orientation: spec used when the caller gives no ``orientation``.
        header: allow-listed technical header fields (never identifiers).
        warnings: mild problems found while reading.
        audio, sample_rate: audio embedded in the file (MP4), if any.
        discarded_frames: frames dropped at the start; the audio offset is shifted by
            ``-discarded_frames / fps`` so audio and frames stay aligned.
        default_dataset: preset (:mod:`mrisynth.io.datasets`) filling the fps / spacing the
            file does not state when the caller names none (USC HDF5: ``"usc75"``).
    """

    frames: np.ndarray
    reader: str
    fps: float | None = None
    fps_source: str | None = None
    spacing_mm: tuple[float, float] | None = None
    spacing_source: str | None = None
    default_orientation: str = "identity"
    header: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    discarded_frames: int = 0
    default_dataset: str | None = None


def sidecar_path(path: Path) -> Path:
    """``folder/sequence.json`` for a folder, ``<stem>.json`` next to a file."""
    if path.is_dir():
        return path / SIDECAR_NAME
    return path.with_name(_stem(path) + ".json")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".tar.gz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_sidecar(path: Path) -> dict[str, Any]:
    """The sidecar of ``path`` as a dict (empty when there is none).

    Raises:
        ValueError: the sidecar is not valid JSON or holds unknown keys.
    """
    side = sidecar_path(path)
    if not side.is_file():
        return {}
    try:
        meta = json.loads(side.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{side.name}: invalid JSON sidecar ({e})") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{side.name}: sidecar must be a JSON object")
    unknown = sorted(set(meta) - set(SIDECAR_KEYS))
    if unknown:
        raise ValueError(f"{side.name}: unknown sidecar keys {unknown}; allowed: {SIDECAR_KEYS}")
    return meta


def write_sidecar(path: Path, meta: dict[str, Any]) -> Path | None:
    """Write the non-empty entries of ``meta`` as the sidecar of ``path``."""
    meta = {k: v for k, v in meta.items() if k in SIDECAR_KEYS and v is not None}
    if not meta:
        return None
    side = sidecar_path(path)
    side.write_text(json.dumps(meta, indent=2) + "\n")
    return side


def find_sibling_audio(path: Path) -> Path | None:
    """An audio file with the same stem next to ``path`` (``x.nii.gz`` -> ``x.wav``)."""
    for suffix in AUDIO_SUFFIXES:
        cand = path.with_name(_stem(path) + suffix)
        if cand.is_file() and cand != path:
            return cand
    return None


def relative_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string (never absolute; may use ``..``)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(root).resolve())).as_posix()


def natural_key(path: Path) -> list[Any]:
    """Sort key that orders ``frame2.png`` before ``frame10.png``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]
