"""Factories for the I/O tests: small synthetic sequences and identifying DICOM series."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mrisynth.data.sequence import SpeechMRISequence

#: Values planted in test DICOMs; none of them may ever come out of the readers/writers.
IDENTIFYING = {
    "PatientName": "Doe^Johnathan",
    "PatientID": "PID-998877",
    "PatientBirthDate": "19710203",
    "PatientAddress": "12 Secret Lane",
    "InstitutionName": "St Elsewhere Hospital",
    "InstitutionAddress": "99 Clinic Road",
    "ReferringPhysicianName": "House^Gregory",
    "OperatorsName": "Tech^Tina",
    "StudyDate": "20200102",
    "AccessionNumber": "ACC123456",
    "SeriesDescription": "Johnathan speech run",
    "StudyInstanceUID": "1.2.826.0.1.3680043.2.1143.555666777",
    "SeriesInstanceUID": "1.2.826.0.1.3680043.2.1143.555666778",
    "FrameOfReferenceUID": "1.2.826.0.1.3680043.2.1143.555666779",
}
PRIVATE_VALUE = "SECRET-PRIVATE-VALUE"


def make_sequence(
    t: int = 12, h: int = 20, w: int = 18, dtype=np.uint16, fps: float = 25.0, sr: int = 16000
) -> SpeechMRISequence:
    """Deterministic moving-pattern frames ``(t, h, w)`` with exactly matching audio."""
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "f":
        frames = rng.random((t, h, w)).astype(dtype)
    else:
        hi = min(np.iinfo(dtype).max, 4000)
        frames = rng.integers(0, hi, (t, h, w)).astype(dtype)
    n = int(round(t / fps * sr))
    audio = (0.2 * np.sin(2 * np.pi * 220 * np.arange(n) / sr)).astype(np.float32)
    return SpeechMRISequence(
        frames=frames, fps=fps, spacing_mm=(1.5, 1.6), audio=audio, sample_rate=sr, speaker="s1"
    )


def identifying_dataset(k: int, frame: np.ndarray, *, series_uid: str | None = None, **over):
    """A single-frame MR dataset full of identifiers and a private tag (for frame ``k``)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

    sop = f"1.2.826.0.1.3680043.2.1143.7777{k:04d}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = sop
    for key, value in IDENTIFYING.items():
        setattr(ds, key, value)
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    ds.Modality = "MR"
    ds.ManufacturerModelName = "Prisma"
    ds.MagneticFieldStrength = 1.5
    ds.RepetitionTime = 2.0
    ds.EchoTime = 1.2
    ds.FlipAngle = 5
    ds.InstanceNumber = k + 1
    ds.AcquisitionTime = f"1200{k // 10:02d}.{(k % 10) * 100000:06d}"  # 10 fps
    ds.PixelSpacing = [2.0, 2.5]
    ds.Rows, ds.Columns = frame.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = frame.astype(np.uint16).tobytes()
    block = ds.private_block(0x0029, "ACME SECRET", create=True)
    block.add_new(0x10, "LO", PRIVATE_VALUE)
    for key, value in over.items():
        setattr(ds, key, value)
    return ds


def write_identifying_series(folder: Path, frames: np.ndarray, shuffle: bool = True) -> Path:
    """Write ``frames`` ``(T, H, W)`` as identifying single-frame files with scrambled names."""
    folder.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(1).permutation(len(frames)) if shuffle else range(len(frames))
    for name_idx, k in enumerate(order):
        ds = identifying_dataset(int(k), frames[k])
        ds.save_as(str(folder / f"IM{name_idx:04d}.dcm"), enforce_file_format=True)
    return folder
