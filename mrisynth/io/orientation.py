"""Named in-plane orientation operations that bring frames to the canonical view.

The canonical view of :class:`~mrisynth.data.sequence.SpeechMRISequence` is a midsagittal
frame with the face (anterior) to the **left** and superior **up**. Files store frames in many
layouts (MATLAB column-major HDF5, scanner-native DICOM, rotated videos), so every reader takes
an ``orientation`` string made of named operations joined by ``+`` and applied left to right,
e.g. ``"transpose+flipud"``.

Operations act on the last two axes of a ``(T, H, W)`` stack:

================ ==========================================================
``identity``     nothing
``transpose``    swap rows and columns (``H`` and ``W`` swap)
``rot90``        rotate 90 degrees counter-clockwise (``np.rot90``, k=1)
``rot180``       rotate 180 degrees
``rot270``       rotate 90 degrees clockwise
``flipud``       reverse the rows (superior <-> inferior)
``fliplr``       reverse the columns (anterior <-> posterior)
================ ==========================================================
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ORIENTATION_OPS",
    "parse_orientation",
    "apply_orientation",
    "invert_orientation",
    "orientation_from_dicom",
]

ORIENTATION_OPS = ("identity", "transpose", "rot90", "rot180", "rot270", "flipud", "fliplr")
_INVERSE = {"rot90": "rot270", "rot270": "rot90"}
# Ops that exchange the row and column axes (so the (row, col) pixel spacing swaps too).
_SWAPS_AXES = {"transpose", "rot90", "rot270"}


def parse_orientation(spec: str | None) -> list[str]:
    """Split ``"op1+op2"`` into validated op names (``None``/empty means identity).

    Raises:
        ValueError: an op name is not one of :data:`ORIENTATION_OPS`.
    """
    if spec is None or not str(spec).strip():
        return []
    ops = [op.strip().lower() for op in str(spec).split("+")]
    bad = [op for op in ops if op not in ORIENTATION_OPS]
    if bad:
        raise ValueError(
            f"orientation {spec!r}: unknown operation(s) {bad}; "
            f"use {', '.join(ORIENTATION_OPS)} joined by '+'"
        )
    return [op for op in ops if op != "identity"]


def _apply_one(x: np.ndarray, op: str) -> np.ndarray:
    if op == "transpose":
        return np.swapaxes(x, -1, -2)
    if op == "rot90":
        return np.rot90(x, 1, axes=(-2, -1))
    if op == "rot180":
        return np.rot90(x, 2, axes=(-2, -1))
    if op == "rot270":
        return np.rot90(x, 3, axes=(-2, -1))
    if op == "flipud":
        return x[..., ::-1, :]
    if op == "fliplr":
        return x[..., :, ::-1]
    raise AssertionError(op)


def apply_orientation(
    frames: np.ndarray,
    spec: str | None,
    spacing_mm: tuple[float, float] | None = None,
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Apply ``spec`` to ``frames`` ``(..., H, W)`` and permute the ``(row, col)`` spacing.

    Returns:
        ``(frames, spacing_mm)``: a contiguous array (same dtype) and the spacing in the new
        row/column order (``None`` stays ``None``).
    """
    x = frames
    sp = None if spacing_mm is None else (float(spacing_mm[0]), float(spacing_mm[1]))
    for op in parse_orientation(spec):
        x = _apply_one(x, op)
        if sp is not None and op in _SWAPS_AXES:
            sp = (sp[1], sp[0])
    return np.ascontiguousarray(x), sp


def invert_orientation(spec: str | None) -> str:
    """The spec that undoes ``spec`` (used by writers so write -> read is exact)."""
    ops = [_INVERSE.get(op, op) for op in reversed(parse_orientation(spec))]
    return "+".join(ops) or "identity"


def orientation_from_dicom(iop: list[float] | None) -> str:
    """Orientation spec that maps a sagittal DICOM frame to face-left / superior-up.

    Args:
        iop: ImageOrientationPatient (0020,0037): direction cosines (LPS) of increasing column
            index (first three) and of increasing row index (last three).

    Returns:
        A spec for :func:`apply_orientation`; ``"identity"`` when ``iop`` is missing or the
        plane is not sagittal (then the caller keeps the stored layout).
    """
    if iop is None or len(iop) != 6:
        return "identity"
    row_dir = np.asarray(iop[:3], dtype=float)  # moving along a row: column index increases
    col_dir = np.asarray(iop[3:], dtype=float)  # moving down a column: row index increases
    ax_c, ax_r = int(np.argmax(abs(row_dir))), int(np.argmax(abs(col_dir)))
    if {ax_c, ax_r} != {1, 2}:
        return "identity"
    ops: list[str] = []
    if ax_c == 2:  # columns run along S/I: swap so columns run A/P
        ops.append("transpose")
        row_dir, col_dir = col_dir, row_dir
    # Canonical: columns run towards posterior (+Y in LPS), rows towards inferior (-Z).
    if row_dir[1] < 0:
        ops.append("fliplr")
    if col_dir[2] > 0:
        ops.append("flipud")
    return "+".join(ops) or "identity"
