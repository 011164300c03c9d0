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
    # (X, Y, T), declared as such: frame[r, c] = data[c, Y - 1 - r, t]; time in ms
    data = np.arange(4 * 3 * 2, dtype=np.int16).reshape(4, 3, 2)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_xyzt_units("mm", "msec")
    img.header["pixdim"][1:4] = [0.5, 0.75, 12.0]
    img.to_filename(tmp_path / "v.nii")
    seq = read_sequence(tmp_path / "v.nii", third_axis_is_time=True)
    assert seq.frames.shape == (2, 3, 4)
    t, r, c = 1, 0, 2
    assert seq.frames[t, r, c] == data[c, 3 - 1 - r, t]
    assert seq.fps == pytest.approx(1000 / 12)
    assert seq.spacing_mm == (0.75, 0.5)
    assert seq.provenance["fps_source"].startswith("pixdim[3]")


def _volume(path, shape=(33, 41, 25)):
    """A 3-D anatomical-like volume as nibabel's ``anatomical.nii``: mm/sec units, 2 mm voxels."""
    data = np.random.default_rng(0).integers(0, 200, shape).astype(np.int16)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))
    img.header.set_xyzt_units("mm", "sec")  # a time unit is set, yet there is no time axis
    img.to_filename(path)
    return path


def test_3d_volume_is_not_read_as_frames(tmp_path):
    # dim[0] = 3: the third axis is z. Read as time it gave 25 frames at 1 / 2 mm = 0.5 fps.
    path = _volume(tmp_path / "anat.nii")
    with pytest.raises(SequenceError) as e:
        read_sequence(path)
    msg = str(e.value)
    assert msg.startswith("anat.nii: 3-D volume (33, 41, 25)")
    assert "third_axis_is_time=True" in msg and "anat.json" in msg and "\n" not in msg
    # stated as 2D+t: by the reader option, or by the sidecar (a CLI user's way)
    seq = read_sequence(path, third_axis_is_time=True)
    assert seq.frames.shape == (25, 41, 33) and seq.provenance["fps_source"].startswith("pixdim[3]")
    (tmp_path / "anat.json").write_text('{"third_axis_is_time": true, "fps": 20}')
    seq = read_sequence(path)
    assert seq.n_frames == 25 and seq.fps == 20
    # a sidecar cannot declare it for another format
    png = tmp_path / "png"
    png.mkdir()
    (png / "0.png").write_bytes(b"")
    (png / "sequence.json").write_text('{"third_axis_is_time": true}')
    with pytest.raises(SequenceError, match="NIfTI only"):
        read_sequence(png)


def test_2d_plus_time_as_4d_and_single_slices_still_read(tmp_path):
    img = nib.Nifti1Image(np.ones((6, 5, 1, 4), np.uint8), np.eye(4))  # (X, Y, 1, T)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][1:5] = [1.0, 1.0, 1.0, 0.1]
    img.to_filename(tmp_path / "t.nii")
    seq = read_sequence(tmp_path / "t.nii")
    assert seq.frames.shape == (4, 5, 6) and seq.fps == pytest.approx(10.0)
    _volume(tmp_path / "one.nii", (6, 5, 1))  # one slice: one frame, nothing to mistake
    assert read_sequence(tmp_path / "one.nii", fps=1).n_frames == 1


def test_nibabels_own_anatomical_volume_is_refused():
    from pathlib import Path

    path = Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"
    if not path.is_file():
        pytest.skip(f"nibabel's test file not installed: {path}")
    with pytest.raises(SequenceError, match=r"anatomical\.nii: 3-D volume \(33, 41, 25\)"):
        read_sequence(path)


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
