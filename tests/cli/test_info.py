"""`mrisynth info`: text and JSON output, lenient A/V reporting, no DICOM identifiers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mrisynth.cli.main import main
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.io import write_audio, write_nifti

SECRETS = ("Doe^Johnathan", "PID-998877", "19710203", "St Elsewhere", "House^Gregory",
           "1.2.826.0.1.3680043.2.1143.555", "SECRET-PRIVATE")  # fmt: skip


def _identifying_series(folder, frames):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

    folder.mkdir()
    for k, img in enumerate(frames):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.2.1143.555{k}"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.2.1143.5551"
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.2.1143.5552"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = SECRETS[:3]
        ds.InstitutionName = "St Elsewhere Hospital"
        ds.ReferringPhysicianName = "House^Gregory"
        ds.SeriesDescription = "Doe^Johnathan run 1"
        ds.private_block(0x0029, "ACME", create=True).add_new(0x10, "LO", "SECRET-PRIVATE")
        ds.Modality, ds.InstanceNumber, ds.FrameTime = "MR", k + 1, 50.0
        ds.PixelSpacing = [2.0, 2.0]
        ds.Rows, ds.Columns = img.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit, ds.PixelRepresentation = 15, 0
        ds.PixelData = img.astype(np.uint16).tobytes()
        ds.save_as(str(folder / f"{k}.dcm"), enforce_file_format=True)


def test_info_json_never_shows_identifiers(tmp_path, capsys):
    frames = np.arange(4 * 5 * 6).reshape(4, 5, 6)
    _identifying_series(tmp_path / "dcm", frames)
    assert main(["info", str(tmp_path / "dcm"), "--json"]) == 0
    out = capsys.readouterr()
    info = json.loads(out.out)
    for key in ("frames", "height", "width", "fps", "spacing_mm", "duration_s",
                "audio_sample_rate", "audio_duration_s", "warnings"):  # fmt: skip
        assert key in info
    assert (info["frames"], info["height"], info["width"]) == (4, 5, 6)
    assert info["fps"] == pytest.approx(20.0) and info["spacing_mm"] == [2.0, 2.0]
    assert info["intensity_max"] == 119 and info["audio_sample_rate"] is None
    for secret in SECRETS:
        assert secret not in out.out and secret not in out.err
    assert main(["info", str(tmp_path / "dcm")]) == 0
    text = capsys.readouterr().out
    assert "matrix        5 x 6" in text
    for secret in SECRETS:
        assert secret not in text


def test_info_reports_av_mismatch_as_warning(tmp_path, capsys):
    seq = SpeechMRISequence(frames=np.ones((20, 4, 4), np.uint8), fps=10.0, spacing_mm=1.0)
    write_nifti(seq, tmp_path / "v.nii")
    write_audio(tmp_path / "a.wav", np.full(8000 * 4, 0.1, np.float32), 8000)  # 4 s vs 2 s
    assert (
        main(["info", str(tmp_path / "v.nii"), "--audio", str(tmp_path / "a.wav"), "--json"]) == 0
    )
    info = json.loads(capsys.readouterr().out)
    assert info["audio_duration_s"] == pytest.approx(4.0)
    assert info["audio_video_mismatch_s"] == pytest.approx(2.0)
    assert any("longer" in w for w in info["warnings"])
    assert any("same intensity" in w for w in info["warnings"])


def test_info_overrides_and_errors(tmp_path, capsys):
    import imageio.v3 as iio

    (tmp_path / "png").mkdir()
    for k in range(3):
        iio.imwrite(tmp_path / "png" / f"{k}.png", np.full((8, 6), k * 40, np.uint8))
    assert main(["info", str(tmp_path / "png")]) == 2
    assert "frame rate unknown" in capsys.readouterr().err
    args = ["info", str(tmp_path / "png"), "--fps", "27", "--spacing", "1", "1.2"]
    assert main([*args, "--orientation", "transpose", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["height"], info["width"], info["fps"]) == (6, 8, 27.0)
    assert info["spacing_mm"] == [1.0, 1.2]  # given for the canonical frame: not swapped
    assert main(["info", str(tmp_path / "missing.nii")]) == 2
