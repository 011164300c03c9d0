"""HDF5 recordings in the layout of the USC 75-speaker speech MRI database.

Each ``.h5`` file holds a dataset ``/recon`` of shape ``(T, 84, 84)``; the audio is a
separate WAV with the same stem. The images were written from MATLAB (column-major), so
h5py sees every frame transposed: the default ``orientation`` is :data:`USC_ORIENTATION`
(``"transpose"``); compose more ops (``"transpose+flipud"``...) if a site's files differ.

The files carry no timing or geometry, so :func:`mrisynth.io.read_sequence` fills them from
the ``usc75`` dataset preset (:mod:`mrisynth.io.datasets`) unless another preset or explicit
values are given: :data:`USC_FPS` (``1000 / (2 * 6.004)`` = 83.28 fps: two TRs of 6.004 ms per
frame) and :data:`USC_SPACING_MM` (200 mm field of view over 84 pixels). A file written by
:func:`write_hdf5_usc` also stores ``fps`` / ``spacing_mm`` attributes, which take precedence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mrisynth.data.sequence import SequenceError, SpeechMRISequence
from mrisynth.io.base import RawImage
from mrisynth.io.datasets import DATASETS
from mrisynth.io.orientation import apply_orientation, invert_orientation

__all__ = [
    "USC_FPS",
    "USC_SPACING_MM",
    "USC_ORIENTATION",
    "USC_DATASET",
    "read_hdf5_usc",
    "write_hdf5_usc",
]

USC_FPS = DATASETS["usc75"].fps
USC_SPACING_MM = DATASETS["usc75"].spacing_mm[0]
USC_ORIENTATION = "transpose"
USC_DATASET = "recon"


def read_hdf5_usc(path: str | Path, *, discard_frames: int = 0, dataset: str = USC_DATASET):
    """Read ``/recon`` of a USC-layout HDF5 file.

    Args:
        path: the ``.h5`` file.
        discard_frames: drop this many frames at the start (often transient frames before
            steady state). Audio stays untouched; the sequence's ``audio_offset_s`` is shifted
            by ``-discard_frames / fps`` so that audio and frames stay aligned.
        dataset: name of the image dataset.

    Returns:
        A :class:`~mrisynth.io.base.RawImage` (frames as stored, default orientation USC);
        fps / spacing are None unless the file has ``fps`` / ``spacing_mm`` attributes (the
        ``usc75`` preset then fills them, see :mod:`mrisynth.io.datasets`).

    Raises:
        FileNotFoundError, SequenceError: missing/corrupt file, missing dataset, bad shape,
            or ``discard_frames`` out of range.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HDF5 file not found: {path}")
    try:
        f = h5py.File(str(path), "r")
    except OSError as e:
        raise SequenceError(f"{path.name}: not a readable HDF5 file ({e})") from e
    with f:
        if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
            raise SequenceError(f"{path.name}: no dataset '/{dataset}' (found: {sorted(f.keys())})")
        dset = f[dataset]
        if dset.ndim != 3:
            raise SequenceError(f"{path.name}: '/{dataset}' must be (T, H, W), got {dset.shape}")
        n = int(dset.shape[0])
        if not 0 <= int(discard_frames) < n:
            raise SequenceError(
                f"{path.name}: discard_frames={discard_frames} must be in [0, {n}) frames"
            )
        frames = dset[int(discard_frames) :]
        fps_attr = dset.attrs.get("fps")
        sp_attr = dset.attrs.get("spacing_mm")
    spacing = None if sp_attr is None else tuple(float(v) for v in np.broadcast_to(sp_attr, (2,)))
    return RawImage(
        frames=frames,
        reader="hdf5-usc",
        fps=float(fps_attr) if fps_attr is not None else None,
        fps_source="attribute" if fps_attr is not None else None,
        spacing_mm=spacing,
        spacing_source="attribute" if sp_attr is not None else None,
        default_orientation=USC_ORIENTATION,
        header={"dataset": dataset, "stored_shape": [n, *map(int, frames.shape[1:])]},
        discarded_frames=int(discard_frames),
        default_dataset="usc75",  # the real USC files state neither: the protocol values
    )


def write_hdf5_usc(
    seq: SpeechMRISequence,
    path: str | Path,
    *,
    orientation: str = USC_ORIENTATION,
    store_metadata: bool = True,
) -> Path:
    """Write ``seq`` in the USC layout (``/recon``, frames stored as MATLAB would see them).

    Args:
        seq: the sequence (canonical orientation).
        path: the ``.h5`` file. Audio, if any, is written by the caller (see
            :func:`mrisynth.io.write_sequence`), as ``<stem>.wav`` next to it.
        orientation: the reading orientation to invert (default USC).
        store_metadata: add ``fps`` and ``spacing_mm`` attributes (real USC files have none).
    """
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sp = seq.require_spacing("writing HDF5")
    stored, spacing = apply_orientation(seq.frames, invert_orientation(orientation), sp)
    with h5py.File(str(path), "w") as f:
        dset = f.create_dataset(USC_DATASET, data=stored)
        if store_metadata:
            dset.attrs["fps"] = float(seq.require_fps("writing HDF5"))
            dset.attrs["spacing_mm"] = np.asarray(spacing, dtype=np.float64)
    return path
