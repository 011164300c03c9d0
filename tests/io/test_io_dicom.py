"""DICOM reading/writing and de-identification (PS3.15 basic profile)."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from io_factories import (
    IDENTIFYING,
    PRIVATE_VALUE,
    identifying_dataset,
    make_sequence,
    write_identifying_series,
)

from mrisynth.data.sequence import SequenceError
from mrisynth.io import deidentify_dataset, read_sequence, write_dicom_series, write_sequence


def _frames(t=6, h=8, w=10):
    return np.random.default_rng(3).integers(0, 3000, (t, h, w)).astype(np.uint16)


def _assert_no_identifiers(text: str | bytes):
    for value in [*IDENTIFYING.values(), PRIVATE_VALUE, "Johnathan"]:
        needle = value.encode() if isinstance(text, bytes) else value
        assert needle not in text, f"identifier {value!r} leaked"


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8])
def test_series_round_trip_is_bit_exact(tmp_path, dtype):
    seq = make_sequence(dtype=dtype)
    if dtype == np.int16:
        seq = seq.replace(frames=(seq.frames.astype(np.int32) - 2000).astype(np.int16))
    write_sequence(seq, tmp_path / "series", format="dicom")
    back = read_sequence(tmp_path / "series")
    np.testing.assert_array_equal(back.frames, seq.frames)  # values exact (stored as 16-bit)
    assert back.frames.dtype == (np.int16 if dtype == np.int16 else np.uint16)
    assert back.fps == pytest.approx(seq.fps, rel=1e-9)
    assert back.spacing_mm == pytest.approx(seq.spacing_mm)
    np.testing.assert_array_equal(back.audio, seq.audio)
    assert back.provenance["fps_source"] == "FrameTime"
    assert back.provenance["orientation"] == "identity"  # writer's IOP is already canonical


def test_float_frames_use_rescale(tmp_path):
    seq = make_sequence(dtype=np.float32)
    write_dicom_series(seq, tmp_path / "s")
    back = read_sequence(tmp_path / "s", audio=False)
    assert back.frames.dtype == np.float32
    step = float(np.ptp(seq.frames)) / 65535
    assert np.abs(back.frames - seq.frames).max() <= step  # within one quantisation step


def test_identifying_series_is_sorted_and_deidentified(tmp_path, capsys):
    frames = _frames(t=7)
    folder = write_identifying_series(tmp_path / "raw", frames, shuffle=True)
    seq = read_sequence(folder)
    np.testing.assert_array_equal(seq.frames, frames)  # InstanceNumber order, not file names
    assert seq.fps == pytest.approx(10.0)  # from AcquisitionTime differences
    assert seq.provenance["fps_source"] == "AcquisitionTime"
    assert seq.spacing_mm == (2.0, 2.5)
    header = seq.provenance["header"]
    assert header["ManufacturerModelName"] == "Prisma"
    assert header["MagneticFieldStrength"] == 1.5
    assert "SeriesDescription" not in header
    _assert_no_identifiers(repr(seq.provenance))
    _assert_no_identifiers(json.dumps(seq.summary()))
    _assert_no_identifiers(repr(seq))
    # Writing it back yields files without any identifier anywhere in the bytes.
    out = write_dicom_series(seq, tmp_path / "clean")
    assert len(out) == 7
    for f in out:
        _assert_no_identifiers(f.read_bytes())
    clean = [pydicom.dcmread(f) for f in out]
    assert len({ds.SeriesInstanceUID for ds in clean}) == 1
    assert len({ds.SOPInstanceUID for ds in clean}) == 7
    assert all(ds.PatientIdentityRemoved == "YES" for ds in clean)
    _assert_no_identifiers(capsys.readouterr().err)


def test_deidentify_dataset_removes_profile_tags_and_replaces_uids(tmp_path):
    ds = identifying_dataset(0, _frames(t=1)[0])
    uid_map: dict[str, str] = {}
    deidentify_dataset(ds, uid_map)
    path = tmp_path / "deid.dcm"
    ds.save_as(str(path), enforce_file_format=True)
    _assert_no_identifiers(path.read_bytes())
    _assert_no_identifiers(b"".join(v.encode() for v in uid_map.values()))
    again = pydicom.dcmread(path)
    assert again.SOPClassUID == pydicom.uid.MRImageStorage  # standard UIDs are kept
    assert again.file_meta.MediaStorageSOPInstanceUID == again.SOPInstanceUID  # mapped alike
    assert again.PatientName == "" and "InstitutionName" not in again
    assert not any(e.tag.is_private for e in again.iterall())
    assert again.Rows == 8 and "PixelData" in again


def test_fps_from_trigger_time(tmp_path):
    frames = _frames(t=5)
    folder = tmp_path / "trig"
    folder.mkdir()
    for k in range(5):
        ds = identifying_dataset(k, frames[k], TriggerTime=k * 40.0)
        del ds.AcquisitionTime
        ds.save_as(str(folder / f"{k}.dcm"), enforce_file_format=True)
    seq = read_sequence(folder, audio=False)
    assert seq.fps == pytest.approx(25.0)
    assert seq.provenance["fps_source"] == "TriggerTime"


def _multiframe(frames, tmp_path, per_frame_times=False):
    from pydicom.dataset import Dataset

    ds = identifying_dataset(0, frames[0])
    ds.NumberOfFrames = len(frames)
    ds.PixelData = frames.astype(np.uint16).tobytes()
    del ds.PixelSpacing
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = [1.25, 1.5]
    shared.PixelMeasuresSequence = [pm]
    ds.SharedFunctionalGroupsSequence = [shared]
    if per_frame_times:
        items = []
        for k in range(len(frames)):
            fc, item = Dataset(), Dataset()
            fc.FrameAcquisitionDateTime = f"20200102120000.{k * 20000:06d}"  # 50 fps
            item.FrameContentSequence = [fc]
            items.append(item)
        ds.PerFrameFunctionalGroupsSequence = items
    else:
        ds.FrameTime = 12.008
    path = tmp_path / "multi.dcm"
    ds.save_as(str(path), enforce_file_format=True)
    return path


@pytest.mark.parametrize("per_frame", [False, True])
def test_multiframe(tmp_path, per_frame):
    frames = _frames(t=6)
    path = _multiframe(frames, tmp_path, per_frame_times=per_frame)
    seq = read_sequence(path)
    np.testing.assert_array_equal(seq.frames, frames)
    assert seq.fps == pytest.approx(50.0 if per_frame else 1000 / 12.008)
    assert seq.spacing_mm == (1.25, 1.5)
    _assert_no_identifiers(repr(seq.provenance))


def test_sagittal_orientation_from_iop(tmp_path):
    frames = _frames(t=3)
    folder = tmp_path / "iop"
    folder.mkdir()
    for k in range(3):
        # columns run anterior (-Y), rows run inferior: mirror image of canonical
        ds = identifying_dataset(k, frames[k], ImageOrientationPatient=[0, -1, 0, 0, 0, -1])
        ds.save_as(str(folder / f"{k}.dcm"), enforce_file_format=True)
    seq = read_sequence(folder)
    assert seq.provenance["orientation"] == "fliplr"
    np.testing.assert_array_equal(seq.frames, frames[:, :, ::-1])


def test_bad_dicom_inputs(tmp_path):
    frames = _frames(t=3)
    # no pixel data
    folder = write_identifying_series(tmp_path / "nopix", frames, shuffle=False)
    ds = pydicom.dcmread(folder / "IM0001.dcm")
    del ds.PixelData
    ds.save_as(str(folder / "IM0001.dcm"))
    with pytest.raises(SequenceError, match=r"IM0001\.dcm.*no PixelData"):
        read_sequence(folder)
    # mixed series (UID not shown in the message)
    folder = write_identifying_series(tmp_path / "mixed", frames, shuffle=False)
    ds = pydicom.dcmread(folder / "IM0002.dcm")
    ds.SeriesInstanceUID = "1.2.3.4.5"
    ds.save_as(str(folder / "IM0002.dcm"))
    with pytest.raises(SequenceError, match=r"IM0002\.dcm: mixed series") as e:
        read_sequence(folder)
    assert "1.2.3.4.5" not in str(e.value)
    # mixed matrix size
    folder = write_identifying_series(tmp_path / "size", frames, shuffle=False)
    small = identifying_dataset(2, np.zeros((4, 4), np.uint16))
    small.save_as(str(folder / "IM0002.dcm"), enforce_file_format=True)
    with pytest.raises(SequenceError, match=r"IM0002\.dcm: mixed series: matrix 4x4"):
        read_sequence(folder)
    # corrupt file
    folder = write_identifying_series(tmp_path / "corrupt", frames, shuffle=False)
    (folder / "IM0001.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"garbage")
    with pytest.raises(SequenceError, match=r"IM0001\.dcm"):
        read_sequence(folder)
    with pytest.raises(FileNotFoundError):
        read_sequence(tmp_path / "missing.dcm")
