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
    # PNG states neither fps nor spacing: info shows what it can, other commands refuse
    assert main(["info", str(tmp_path / "png")]) == 0
    text = capsys.readouterr().out
    assert "fps           unknown (pass --fps or --dataset NAME)" in text
    assert "spacing       unknown" in text and "duration      unknown" in text
    args = ["info", str(tmp_path / "png"), "--fps", "27", "--spacing", "1", "1.2"]
    assert main([*args, "--orientation", "transpose", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["height"], info["width"], info["fps"]) == (6, 8, 27.0)
    assert info["spacing_mm"] == [1.0, 1.2]  # given for the canonical frame: not swapped
    assert main(["info", str(tmp_path / "missing.nii")]) == 2


def test_info_shows_unknown_spacing_of_a_real_avi(shared_data, capsys):
    avi = str(shared_data("data/real-rtmri-unlabelled/F2_400.avi"))
    assert main(["info", avi]) == 0
    text = capsys.readouterr().out
    assert "frames        69" in text and "fps           23.1800 (container)" in text
    assert "spacing       unknown (pass --spacing MM or --dataset NAME)" in text
    assert "field of view unknown" in text and "duration      2.977 s" in text
    assert main(["info", avi, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["spacing_mm"] is None and info["spacing_source"] == "unknown"
    assert info["field_of_view_mm"] is None and info["steady_state_frame"] == 0
    assert main(["info", avi, "--json", "--dataset", "usc-timit"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["spacing_source"] == "dataset preset usc-timit"
    assert info["field_of_view_mm"] == pytest.approx([200.0, 200.0])
    assert info["warnings"] == []
    assert main(["info", avi, "--dataset", "usc75"]) == 0  # wrong preset: warned, file wins
    text = capsys.readouterr().out
    assert "fps           23.1800 (container)" in text
    assert "the usc75 preset 83.2778 fps; using the recording's value" in text
    assert "matrix 68 x 68 differs from the usc75 preset's 84 x 84" in text
    assert main(["info", avi, "--dataset", "timit"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "mrisynth info: error: unknown dataset preset 'timit'; known: usc-span, usc-timit, usc75"
    ]


def test_info_reports_a_non_steady_state_start(tmp_path, capsys):
    t = np.arange(200)
    level = 55.0 + 45.0 * np.exp(-t / 10.0)  # 20 fps: settles within ~1.5 s
    frames = (np.ones((200, 8, 8)) * level[:, None, None]).astype(np.uint8)
    write_nifti(SpeechMRISequence(frames, fps=20.0, spacing_mm=2.0), tmp_path / "r.nii")
    assert main(["info", str(tmp_path / "r.nii"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    n = info["steady_state_frame"]
    assert 25 <= n <= 40 and info["steady_state_s"] == pytest.approx(n / 20.0)
    assert any(f"steady state from frame {n} ({n / 20:.2f} s)" in w for w in info["warnings"])
