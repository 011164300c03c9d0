"""NIfTI-1 2D+t recordings (nibabel).

Voxel-axis convention (used by both reader and writer, so write -> read is exact):

- data are ``(X, Y, 1, T)`` (``dim[0] = 4``, time on NIfTI's time axis) or, when the caller
  says so, ``(X, Y, T)``; ``i`` (X) runs along the image **columns**
  (anterior -> posterior) and ``j`` (Y) runs **upwards** (inferior -> superior), as the usual
  NIfTI display convention (``j`` increasing up the screen).
- so canonical frame ``t`` is ``data[:, ::-1, 0, t].T`` (``H = Y`` rows, ``W = X`` columns):
  ``frame[r, c] = data[c, Y - 1 - r, 0, t]``.
- ``pixdim[1]`` is the column spacing and ``pixdim[2]`` the row spacing; the frame time is
  ``pixdim[4]`` (``pixdim[3]`` for 3D ``(X, Y, T)`` data) in the time unit of ``xyzt_units``
  (s, ms or us). Spatial units m/mm/um are converted to mm.
- a 3-D file ``(X, Y, Z)`` with ``Z > 1`` is refused: in NIfTI-1 the first three axes are
  space and the fourth is time (``xyzt_units`` gives a time unit for ``pixdim[4]`` only), so
  a 3-D header cannot say that its third axis is time, and a volume (an anatomical scan)
  would otherwise be read as ``Z`` frames at ``1 / pixdim[3]`` fps. A 2D+t file stored as
  ``(X, Y, T)`` is read with ``third_axis_is_time=True`` (reader option, e.g.
  ``read_sequence(path, third_axis_is_time=True)``) or ``"third_axis_is_time": true`` in its
  sidecar ``<stem>.json``; its frame time is then ``pixdim[3]`` in the time unit of
  ``xyzt_units`` (the legacy layout), else pass ``fps=``.
- the writer stores an affine describing this layout for a sagittal slice in RAS+ space
  (``i`` -> posterior, ``j`` -> superior, ``k`` -> right), so viewers show the anatomy right.

Further reorientation for files that use another layout is the ``orientation`` option.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mrisynth.data.sequence import SequenceError, SpeechMRISequence
from mrisynth.io.base import RawImage, sidecar_path

__all__ = [
    "read_nifti",
    "write_nifti",
    "write_labels_nifti",
    "read_labels_nifti",
    "frames_to_nifti_array",
    "nifti_array_to_frames",
]

_SPACE_TO_MM = {"mm": 1.0, "meter": 1000.0, "micron": 1e-3}
_TIME_TO_S = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


def nifti_array_to_frames(data: np.ndarray) -> np.ndarray:
    """``(X, Y[, 1], T)`` NIfTI data -> canonical ``(T, H=Y, W=X)`` (see module docstring)."""
    if data.ndim == 4:
        if data.shape[2] != 1:
            raise SequenceError(f"expected a single slice (X, Y, 1, T), got shape {data.shape}")
        data = data[:, :, 0, :]
    if data.ndim == 2:  # a single frame
        data = data[:, :, None]
    if data.ndim != 3:
        raise SequenceError(f"expected 2D+t data (X, Y, T) or (X, Y, 1, T), got {data.shape}")
    return np.ascontiguousarray(np.transpose(data[:, ::-1, :], (2, 1, 0)))


def frames_to_nifti_array(frames: np.ndarray) -> np.ndarray:
    """Inverse of :func:`nifti_array_to_frames`: ``(T, H, W)`` -> ``(X=W, Y=H, 1, T)``."""
    return np.ascontiguousarray(np.transpose(frames, (2, 1, 0))[:, ::-1, None, :])


def _load(path: Path):
    import nibabel as nib

    if not path.is_file():
        raise FileNotFoundError(f"NIfTI file not found: {path}")
    try:
        return nib.load(str(path))
    except Exception as e:  # nibabel raises ImageFileError, OSError, EOFError, zlib errors...
        raise SequenceError(f"{path.name}: not a readable NIfTI file ({e})") from e


def _data(img, path: Path) -> np.ndarray:
    try:
        # asanyarray(dataobj) keeps the stored dtype unless scl_slope/inter are set.
        return np.asanyarray(img.dataobj)
    except Exception as e:
        raise SequenceError(f"{path.name}: cannot read NIfTI voxel data ({e})") from e


def read_nifti(path: str | Path, *, third_axis_is_time: bool = False) -> RawImage:
    """Read a 2D+t NIfTI file (``.nii`` / ``.nii.gz``) into canonical-layout frames.

    fps is ``1 / frame_time`` from pixdim (unit from ``xyzt_units``); when the time unit is
    not set the file gives no fps and the caller must pass ``fps=``.

    Args:
        path: the file.
        third_axis_is_time: read 3-D ``(X, Y, T)`` data as frames (see the module docstring);
            without it a 3-D volume with more than one slice is refused.

    Raises:
        FileNotFoundError, SequenceError: missing, corrupt or non-2D+t file, or a 3-D volume
            not declared as ``(X, Y, T)``.
    """
    path = Path(path)
    img = _load(path)
    data = _data(img, path)
    if data.ndim == 3 and data.shape[2] > 1 and not third_axis_is_time:
        raise SequenceError(
            f"{path.name}: 3-D volume {tuple(map(int, data.shape))} (dim[0] = 3): NIfTI's third "
            "axis is space, not time, so this is not a 2D+t recording; store 2D+t as "
            "(X, Y, 1, T), or if the third axis is time say so: read option "
            f"third_axis_is_time=True or '\"third_axis_is_time\": true' in "
            f"{sidecar_path(path).name}"
        )
    try:
        frames = nifti_array_to_frames(data)
    except SequenceError as e:
        raise SequenceError(f"{path.name}: {e}") from e
    hdr = img.header
    space_u, time_u = hdr.get_xyzt_units()
    # Shortest decimal that round-trips the float32 header value (0.04, not 0.03999999910).
    pixdim = [float(str(np.float32(v))) for v in hdr["pixdim"]]
    warnings: list[str] = []
    spacing = None
    if space_u in _SPACE_TO_MM and pixdim[1] > 0 and pixdim[2] > 0:
        k = _SPACE_TO_MM[space_u]
        spacing = (pixdim[2] * k, pixdim[1] * k)
    t_axis = 4 if data.ndim == 4 else 3
    fps = None
    if time_u in _TIME_TO_S and pixdim[t_axis] > 0:
        fps = 1.0 / (pixdim[t_axis] * _TIME_TO_S[time_u])
    elif data.ndim >= 3 and frames.shape[0] > 1:
        warnings.append("NIfTI time unit not set: frame rate not taken from pixdim")
    return RawImage(
        frames=frames,
        reader="nifti",
        fps=fps,
        fps_source=f"pixdim[{t_axis}] ({time_u})" if fps else None,
        spacing_mm=spacing,
        spacing_source=f"pixdim[1:3] ({space_u})" if spacing else None,
        header={
            "datatype": str(img.get_data_dtype()),
            "shape": list(map(int, data.shape)),
            "xyzt_units": [str(space_u), str(time_u)],
        },
        warnings=warnings,
    )


def _to_image(array: np.ndarray, spacing_mm: tuple[float, float], fps: float):
    import nibabel as nib

    data = frames_to_nifti_array(array)
    sr, sc = spacing_mm
    # Sagittal slice in RAS+: i -> posterior (-A), j -> superior (+S), k -> right (+R).
    affine = np.array(
        [[0, 0, 1.0, 0], [-sc, 0, 0, 0], [0, sr, 0, 0], [0, 0, 0, 1]], dtype=np.float64
    )
    img = nib.Nifti1Image(data, affine)
    img.set_data_dtype(data.dtype)
    hdr = img.header
    hdr.set_xyzt_units("mm", "sec")
    hdr["pixdim"][1:5] = [sc, sr, 1.0, 1.0 / fps]
    hdr.set_qform(affine, code=1)
    hdr.set_sform(affine, code=1)
    return img


def write_nifti(seq: SpeechMRISequence, path: str | Path) -> Path:
    """Write ``seq.frames`` as ``(X, Y, 1, T)`` NIfTI with spacing (mm) and frame time (s).

    The stored dtype equals the frames' dtype, without scaling, so reading back is bit-exact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sp, fps = seq.require_spacing("writing NIfTI"), seq.require_fps("writing NIfTI")
    _to_image(seq.frames, sp, fps).to_filename(str(path))
    return path


def write_labels_nifti(seq: SpeechMRISequence, path: str | Path) -> Path:
    """Write ``seq.labels`` (``(T, H, W)`` integers) as a NIfTI label map (same layout)."""
    if seq.labels is None:
        raise SequenceError("sequence has no labels to write")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sp, fps = seq.require_spacing("writing NIfTI"), seq.require_fps("writing NIfTI")
    _to_image(seq.labels, sp, fps).to_filename(str(path))
    return path


def read_labels_nifti(
    path: str | Path, expected_shape: tuple[int, int, int] | None = None
) -> np.ndarray:
    """Read an integer label NIfTI into ``(T, H, W)`` (canonical layout, dtype kept).

    Raises:
        SequenceError: non-integer data or a shape different from ``expected_shape``.
    """
    path = Path(path)
    img = _load(path)
    data = _data(img, path)
    if data.dtype.kind not in "iu":
        raise SequenceError(f"{path.name}: label maps must be integers, got {data.dtype}")
    labels = nifti_array_to_frames(data)
    if expected_shape is not None and tuple(labels.shape) != tuple(expected_shape):
        raise SequenceError(
            f"{path.name}: label shape {labels.shape} does not match frames {expected_shape}"
        )
    return labels
