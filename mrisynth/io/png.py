"""Folders of PNG frames (8- or 16-bit grey, e.g. ATR-503 style 256x256 at ~27 fps).

PNG carries no timing or geometry: fps and spacing come from the ``sequence.json`` sidecar in
the folder (see :mod:`mrisynth.io.base`) or from explicit arguments; the caller raises an
error asking for them when neither is available. Frames are ordered by natural sort of the
file names (``f2.png`` before ``f10.png``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mrisynth.data.sequence import SequenceError, SpeechMRISequence
from mrisynth.io.base import RawImage, natural_key, write_sidecar

__all__ = ["read_png_sequence", "write_png_sequence", "to_gray", "png_files"]


def png_files(folder: Path) -> list[Path]:
    """PNG files of ``folder`` in natural order (hidden files skipped)."""
    files = [
        f
        for f in folder.iterdir()
        if f.is_file() and f.suffix.lower() == ".png" and not f.name.startswith(".")
    ]
    return sorted(files, key=natural_key)


def to_gray(img: np.ndarray) -> np.ndarray:
    """``(H, W)``, ``(H, W, 1|3|4)`` -> ``(H, W)`` grey, dtype kept.

    Colour images whose channels are equal keep their exact values; true colour is converted
    with ITU-R BT.601 luma weights (alpha ignored).
    """
    if img.ndim == 2:
        return img
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4):
        raise SequenceError(f"not an image array: shape {img.shape}")
    if img.shape[2] <= 2:
        return img[..., 0]
    rgb = img[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0]
    y = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.rint(y).astype(img.dtype) if img.dtype.kind in "iu" else y.astype(img.dtype)


def read_png_sequence(folder: str | Path) -> RawImage:
    """Read all PNG frames of ``folder`` into ``(T, H, W)`` (uint8 or uint16 as stored).

    Raises:
        FileNotFoundError: the folder does not exist.
        SequenceError: no PNG files, an unreadable file, or frames of different size/dtype
            (the offending file is named).
    """
    import imageio.v3 as iio

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"PNG folder not found: {folder}")
    files = png_files(folder)
    if not files:
        raise SequenceError(f"{folder.name}: folder contains no PNG files")
    frames = []
    for f in files:
        try:
            img = to_gray(np.asarray(iio.imread(f, plugin="pillow")))
        except SequenceError as e:
            raise SequenceError(f"{folder.name}/{f.name}: {e}") from e
        except Exception as e:  # Pillow raises many types for truncated/corrupt files
            raise SequenceError(f"{folder.name}/{f.name}: unreadable PNG ({e})") from e
        if frames and (img.shape != frames[0].shape or img.dtype != frames[0].dtype):
            raise SequenceError(
                f"{folder.name}/{f.name}: frame {img.shape} {img.dtype} differs from "
                f"{files[0].name} {frames[0].shape} {frames[0].dtype}"
            )
        frames.append(img)
    return RawImage(
        frames=np.stack(frames),
        reader="png-sequence",
        header={"files": len(files), "bit_depth": 8 * frames[0].dtype.itemsize},
    )


def _scaled(frames: np.ndarray, bit_depth: int) -> np.ndarray:
    target = np.uint8 if bit_depth == 8 else np.uint16
    if frames.dtype == target:
        return frames
    info = np.iinfo(target)
    if frames.dtype.kind in "iu" and frames.min() >= 0 and frames.max() <= info.max:
        return frames.astype(target)
    lo, hi = float(frames.min()), float(frames.max())
    scale = info.max / (hi - lo) if hi > lo else 0.0
    return np.rint((frames.astype(np.float64) - lo) * scale).astype(target)


def write_png_sequence(
    seq: SpeechMRISequence, folder: str | Path, bit_depth: int = 8
) -> list[Path]:
    """Write one grey PNG per frame (``frame_00000.png``...) plus ``sequence.json``.

    Integer frames that fit the bit depth are written exactly (uint8 -> 8-bit, uint16 ->
    16-bit); anything else is min-max scaled to the full range. The sidecar records fps,
    spacing and the descriptive metadata so :func:`mrisynth.io.read_sequence` needs no
    extra arguments.
    """
    import imageio.v3 as iio

    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    # PNG has no header: the sidecar must hold both, or the folder could never be read back
    fps, spacing = seq.require_fps("writing PNG"), seq.require_spacing("writing PNG")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames = _scaled(seq.frames, bit_depth)
    paths = []
    for k, img in enumerate(frames):
        out = folder / f"frame_{k:05d}.png"
        iio.imwrite(out, img, plugin="pillow")
        paths.append(out)
    write_sidecar(
        folder,
        {
            "fps": fps,
            "spacing_mm": list(spacing),
            "speaker": seq.speaker,
            "language": seq.language,
            "utterance_id": seq.utterance_id,
            "transcript": seq.transcript,
        },
    )
    return paths
