"""NIfTI 2D+t: round trip, voxel-axis convention, pixdim units and bad input."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from mrisynth.data.sequence import SequenceError
from mrisynth.io import read_labels_nifti, read_sequence, write_labels_nifti, write_nifti


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32])
def test_round_trip_bit_exact(tmp_path, seq, dtype):
    s = seq.replace(frames=(seq.frames % 200).astype(dtype))
    write_nifti(s, tmp_path / "x.nii.gz")
    back = read_sequence(tmp_path / "x.nii.gz", audio=False)
    assert back.frames.dtype == dtype
    np.testing.assert_array_equal(back.frames, s.frames)
    assert back.fps == pytest.approx(s.fps, rel=1e-7)
    assert back.spacing_mm == pytest.approx(s.spacing_mm, rel=1e-7)


def test_voxel_axis_convention(tmp_path):
    # (X, Y, T): frame[r, c] = data[c, Y - 1 - r, t]; time in ms
    data = np.arange(4 * 3 * 2, dtype=np.int16).reshape(4, 3, 2)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_xyzt_units("mm", "msec")
    img.header["pixdim"][1:4] = [0.5, 0.75, 12.0]
    img.to_filename(tmp_path / "v.nii")
    seq = read_sequence(tmp_path / "v.nii")
    assert seq.frames.shape == (2, 3, 4)
    t, r, c = 1, 0, 2
    assert seq.frames[t, r, c] == data[c, 3 - 1 - r, t]
    assert seq.fps == pytest.approx(1000 / 12)
    assert seq.spacing_mm == (0.75, 0.5)
    assert seq.provenance["fps_source"].startswith("pixdim[3]")


def test_unknown_time_unit_needs_fps(tmp_path):
    img = nib.Nifti1Image(np.zeros((4, 4, 1, 3), np.uint8) + 1, np.eye(4))
    img.header.set_xyzt_units("mm", "unknown")
    img.to_filename(tmp_path / "u.nii")
    with pytest.raises(SequenceError, match=r"u\.nii: frame rate unknown.*pass fps="):
        read_sequence(tmp_path / "u.nii")
    assert read_sequence(tmp_path / "u.nii", fps=10).fps == 10


def test_labels_round_trip(tmp_path, seq):
    labels = (seq.frames % 7).astype(np.uint8)
    write_labels_nifti(seq.replace(labels=labels), tmp_path / "lab.nii.gz")
    np.testing.assert_array_equal(read_labels_nifti(tmp_path / "lab.nii.gz", labels.shape), labels)
    with pytest.raises(SequenceError, match="does not match"):
        read_labels_nifti(tmp_path / "lab.nii.gz", (1, 2, 3))


def test_bad_nifti(tmp_path):
    (tmp_path / "c.nii.gz").write_bytes(b"not gzip")
    with pytest.raises(SequenceError, match=r"c\.nii\.gz: not a readable NIfTI"):
        read_sequence(tmp_path / "c.nii.gz")
    img = nib.Nifti1Image(np.zeros((4, 4, 1, 3), np.complex64), np.eye(4))
    img.header.set_xyzt_units("mm", "sec")
    img.to_filename(tmp_path / "cplx.nii")
    with pytest.raises(SequenceError, match=r"cplx\.nii: unsupported pixel dtype complex64"):
        read_sequence(tmp_path / "cplx.nii")
    data = np.ones((4, 4, 1, 3), np.float32)
    data[1, 1, 0, 2] = np.nan
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_xyzt_units("mm", "sec")
    img.to_filename(tmp_path / "nan.nii")
    with pytest.raises(SequenceError, match=r"nan\.nii: frames contain NaN"):
        read_sequence(tmp_path / "nan.nii")
    img = nib.Nifti1Image(np.zeros((4, 4, 2, 3), np.uint8), np.eye(4))
    img.to_filename(tmp_path / "multi.nii")
    with pytest.raises(SequenceError, match=r"multi\.nii.*single slice"):
        read_sequence(tmp_path / "multi.nii", fps=1)
