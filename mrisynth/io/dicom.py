"""DICOM rtMRI series: single-frame series folders and multi-frame (enhanced) files.

Reading is **de-identifying**: only an allow-list of technical header fields (see
:data:`HEADER_ALLOW_LIST`) is ever copied out of a dataset, so patient names/IDs, dates,
institutions, physicians, free-text descriptions and UIDs never reach metadata, logs or
outputs. Error messages name files, never header values.

Writing goes through :func:`deidentify_dataset` (DICOM PS3.15 Basic Application Level
Confidentiality Profile: listed attributes removed or emptied, all dates/times and person
names dropped, private tags removed, instance UIDs replaced by new ones) and produces an MR
Image Storage series of uint16/int16 single-frame files with synthetic UIDs.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path
from typing import Any

import numpy as np

from mrisynth.data.sequence import SequenceError, SpeechMRISequence
from mrisynth.io.base import RawImage

__all__ = [
    "HEADER_ALLOW_LIST",
    "BASIC_PROFILE_REMOVE",
    "BASIC_PROFILE_EMPTY",
    "read_dicom",
    "header_summary",
    "deidentify_dataset",
    "write_dicom_series",
    "is_dicom_file",
]

logger = logging.getLogger(__name__)

#: Technical fields copied into provenance. Anything not listed here is never read out.
HEADER_ALLOW_LIST = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "MagneticFieldStrength",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "PixelSpacing",
    "SliceThickness",
    "RepetitionTime",
    "EchoTime",
    "FlipAngle",
    "FrameTime",
    "BitsStored",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "MRAcquisitionType",
    "ImageOrientationPatient",
)

#: PS3.15 basic profile attributes (action Z: kept but emptied, they are Type 2 in MR).
BASIC_PROFILE_EMPTY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)

#: PS3.15 basic profile attributes removed (X, X/Z, X/D... actions collapsed to removal).
BASIC_PROFILE_REMOVE = (
    "AcquisitionComments", "AcquisitionDate", "AcquisitionDateTime", "AcquisitionTime",
    "AcquisitionDeviceProcessingDescription", "ActualHumanPerformersSequence",
    "AdditionalPatientHistory", "AdmissionID", "AdmittingDate", "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription", "AdmittingTime", "Allergies", "AuthorObserverSequence",
    "BranchOfService", "CommentsOnThePerformedProcedureStep", "ContentCreatorName",
    "ContentCreatorIdentificationCodeSequence", "ContentDate", "ContentTime",
    "ContributionDescription", "CountryOfResidence", "CurrentPatientLocation",
    "CustodialOrganizationSequence", "DataSetTrailingPadding", "DateOfLastCalibration",
    "DerivationDescription", "DeviceSerialNumber", "DigitalSignaturesSequence",
    "DischargeDiagnosisDescription", "DistributionAddress", "DistributionName", "EthnicGroup",
    "FrameComments", "GantryID", "GeneratorID", "GraphicAnnotationSequence",
    "HumanPerformerName", "HumanPerformerOrganization", "IconImageSequence",
    "IdentifyingComments", "ImageComments", "ImagePresentationComments",
    "ImagingServiceRequestComments", "Impressions", "InstanceCreationDate",
    "InstanceCreationTime", "InstitutionAddress", "InstitutionCodeSequence", "InstitutionName",
    "InstitutionalDepartmentName", "InsurancePlanIdentification",
    "IntendedRecipientsOfResultsIdentificationSequence", "InterpretationApproverSequence",
    "InterpretationAuthor", "InterpretationDiagnosisDescription", "InterpretationIDIssuer",
    "InterpretationRecorder", "InterpretationText", "InterpretationTranscriber",
    "IssuerOfAdmissionID", "IssuerOfPatientID", "IssuerOfServiceEpisodeID", "MedicalAlerts",
    "MedicalRecordLocator", "MilitaryRank", "ModifiedAttributesSequence", "ModifyingDeviceID",
    "NameOfPhysiciansReadingStudy", "NamesOfIntendedRecipientsOfResults", "Occupation",
    "OperatorIdentificationSequence", "OperatorsName", "OriginalAttributesSequence",
    "OrderCallbackPhoneNumber", "OrderEnteredBy", "OrderEntererLocation", "OtherPatientIDs",
    "OtherPatientIDsSequence", "OtherPatientNames", "ParticipantSequence", "PatientAddress",
    "PatientAge", "PatientBirthName", "PatientBirthTime", "PatientComments",
    "PatientInstitutionResidence", "PatientInsurancePlanCodeSequence", "PatientMotherBirthName",
    "PatientPrimaryLanguageCodeSequence", "PatientReligiousPreference", "PatientSexNeutered",
    "PatientSize", "PatientState", "PatientTelephoneNumbers", "PatientTransportArrangements",
    "PatientWeight", "PerformedLocation", "PerformedProcedureStepDescription",
    "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime", "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
    "PerformedStationAETitle", "PerformedStationGeographicLocationCodeSequence",
    "PerformedStationName", "PerformedStationNameCodeSequence",
    "PerformingPhysicianIdentificationSequence", "PerformingPhysicianName", "PersonAddress",
    "PersonIdentificationCodeSequence", "PersonName", "PersonTelephoneNumbers",
    "PhysicianApprovingInterpretation", "PhysiciansReadingStudyIdentificationSequence",
    "PhysiciansOfRecord", "PhysiciansOfRecordIdentificationSequence", "PreMedication",
    "PregnancyStatus", "ProtocolName", "ReasonForTheImagingServiceRequest", "ReasonForStudy",
    "ReferencedDigitalSignatureSequence", "ReferencedPatientAliasSequence",
    "ReferencedPatientSequence", "ReferencedPerformedProcedureStepSequence",
    "ReferencedStudySequence", "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence", "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence", "RequestAttributesSequence", "RequestedContrastAgent",
    "RequestedProcedureComments", "RequestedProcedureDescription", "RequestedProcedureID",
    "RequestedProcedureLocation", "RequestingPhysician", "RequestingService",
    "ResponsibleOrganization", "ResponsiblePerson", "ResultsComments",
    "ResultsDistributionListSequence", "ResultsIDIssuer", "ScheduledHumanPerformersSequence",
    "ScheduledPatientInstitutionResidence", "ScheduledPerformingPhysicianIdentificationSequence",
    "ScheduledPerformingPhysicianName", "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepEndDate", "ScheduledProcedureStepLocation",
    "ScheduledProcedureStepStartDate", "ScheduledStationAETitle",
    "ScheduledStationGeographicLocationCodeSequence", "ScheduledStationName",
    "ScheduledStationNameCodeSequence", "ScheduledStudyLocation",
    "ScheduledStudyLocationAETitle", "SeriesDate", "SeriesDescription", "SeriesTime",
    "ServiceEpisodeDescription", "ServiceEpisodeID", "SmokingStatus", "SpecialNeeds",
    "StationName", "StudyComments", "StudyDescription", "StudyIDIssuer", "TextComments",
    "TextString", "TimezoneOffsetFromUTC", "TopicAuthor", "TopicKeywords", "TopicSubject",
    "TopicTitle", "VerifyingObserverIdentificationCodeSequence", "VerifyingObserverName",
    "VerifyingObserverSequence", "VerifyingOrganization", "VisitComments",
)  # fmt: skip

_DICOM_SUFFIXES = ("", ".dcm", ".dicom", ".ima")


# ---------------------------------------------------------------------------- de-identification
def _is_standard_uid(value: str) -> bool:
    """True for UIDs defined by the standard (SOP classes, transfer syntaxes): kept as is."""
    from pydicom.uid import UID_dictionary

    return str(value) in UID_dictionary


def deidentify_dataset(ds: Any, uid_map: dict[str, str] | None = None) -> Any:
    """De-identify a pydicom ``Dataset`` in place (and return it).

    Follows the PS3.15 Basic Application Level Confidentiality Profile: attributes in
    :data:`BASIC_PROFILE_REMOVE` are removed, those in :data:`BASIC_PROFILE_EMPTY` emptied,
    every other date/time (DA/DT/TM) and person name (PN) element is removed, overlay and
    curve groups (50xx, 60xx) and all private tags are removed, and every non-standard UID
    (study/series/instance/frame-of-reference...) is replaced by a new pydicom-generated UID.
    ``PatientIdentityRemoved`` is set to ``YES``. Nested sequences are handled.

    Args:
        ds: a ``pydicom.Dataset`` (its ``file_meta`` is updated too).
        uid_map: old -> new UID mapping shared across the files of one series, so that files
            that shared a Series/Study UID still share the (new) one. Filled in place.
    """
    from pydicom.datadict import tag_for_keyword
    from pydicom.uid import generate_uid

    uid_map = {} if uid_map is None else uid_map
    remove_tags = {tag_for_keyword(k) for k in BASIC_PROFILE_REMOVE} - {None}
    empty_tags = {tag_for_keyword(k) for k in BASIC_PROFILE_EMPTY} - {None}

    def new_uid(old: str) -> str:
        if old not in uid_map:
            uid_map[old] = generate_uid()
        return uid_map[old]

    def visit(dataset: Any, elem: Any) -> None:
        tag = int(elem.tag)
        group = tag >> 16
        if elem.tag.is_private or (group & 0xFF00) in (0x5000, 0x6000):
            del dataset[elem.tag]
        elif tag in empty_tags:
            elem.value = None
        elif tag in remove_tags or elem.VR in ("DA", "DT", "TM", "PN"):
            del dataset[elem.tag]
        elif elem.VR == "UI" and elem.value:
            values = elem.value if elem.VM > 1 else [elem.value]
            mapped = [v if _is_standard_uid(v) else new_uid(str(v)) for v in values]
            elem.value = mapped if elem.VM > 1 else mapped[0]

    ds.remove_private_tags()
    ds.walk(visit)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = new_uid(str(meta.MediaStorageSOPInstanceUID))
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "DICOM PS3.15 Basic Application Level Confidentiality Profile"
    return ds


def _json_value(value: Any) -> Any:
    from pydicom.multival import MultiValue

    if isinstance(value, MultiValue | list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, int):  # also pydicom IS
        return int(value)
    if isinstance(value, float):  # also pydicom DSfloat
        return float(value)
    return str(value)


def header_summary(ds: Any) -> dict[str, Any]:
    """Allow-listed technical fields of ``ds`` as JSON-ready values (no identifiers)."""
    out: dict[str, Any] = {}
    for key in HEADER_ALLOW_LIST:
        value = ds.get(key)
        if value is not None and value != "":
            out[key] = _json_value(value)
    return out


# ---------------------------------------------------------------------------- reading
def is_dicom_file(path: Path) -> bool:
    """True when ``path`` starts with the DICM preamble (cheap check, no parsing)."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _dcmread(path: Path, name: str) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(str(path))
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError) as e:
        raise SequenceError(f"{name}: not a readable DICOM file ({type(e).__name__})") from e


def _pixels(ds: Any, name: str) -> np.ndarray:
    if "PixelData" not in ds:
        raise SequenceError(f"{name}: DICOM file has no PixelData (not an image)")
    try:
        arr = ds.pixel_array
    except Exception as e:  # compressed syntax without a decoder plugin, truncated data...
        raise SequenceError(f"{name}: cannot decode DICOM pixel data ({e})") from e
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    if slope != 1 or intercept != 0:
        # Real-valued images stored as scaled integers: return the real values.
        arr = arr.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    return arr


def _tm_seconds(value: Any) -> float | None:
    """DICOM TM ``HHMMSS.ffffff`` to seconds since midnight."""
    s = str(value or "").strip()
    if len(s) < 2:
        return None
    try:
        hh, mm, ss = int(s[0:2]), int(s[2:4] or 0), float(s[4:] or 0)
    except ValueError:
        return None
    return hh * 3600 + mm * 60 + ss


def _dt_seconds(value: Any) -> float | None:
    """DICOM DT ``YYYYMMDDHHMMSS.ffffff`` to POSIX-like seconds (only differences are used)."""
    s = str(value or "").strip().split("+")[0].split("-")[0]
    if len(s) < 14:
        return None
    try:
        base = _dt.datetime.strptime(s[:14], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return base.timestamp() + (float("0" + s[14:]) if len(s) > 14 else 0.0)


def _fps_from_times(times_s: list[float | None], what: str, warnings: list[str]):
    """fps from per-frame time stamps (s): median interval, warn when irregular."""
    t = np.asarray([x for x in times_s if x is not None], dtype=np.float64)
    if len(t) < 2 or len(t) != len(times_s):
        return None
    d = np.diff(t)
    if np.any(d <= 0):
        return None
    med = float(np.median(d))
    if np.max(np.abs(d - med)) > 0.05 * med:
        warnings.append(f"irregular frame intervals in {what} (median {med * 1000:.3f} ms)")
    return 1.0 / med


def _frame_time_fps(ds: Any) -> float | None:
    ft = ds.get("FrameTime")
    try:
        return 1000.0 / float(ft) if ft not in (None, "") and float(ft) > 0 else None
    except (TypeError, ValueError):
        return None


def _spacing(ds: Any) -> tuple[float, float] | None:
    ps = ds.get("PixelSpacing")
    if ps is None:
        for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            seq = ds.get(group)
            if seq and "PixelMeasuresSequence" in seq[0]:
                ps = seq[0].PixelMeasuresSequence[0].get("PixelSpacing")
                if ps is not None:
                    break
    if ps is None or len(ps) != 2:
        return None
    return float(ps[0]), float(ps[1])


def _iop(ds: Any) -> list[float] | None:
    iop = ds.get("ImageOrientationPatient")
    if iop is None:
        shared = ds.get("SharedFunctionalGroupsSequence")
        if shared and "PlaneOrientationSequence" in shared[0]:
            iop = shared[0].PlaneOrientationSequence[0].get("ImageOrientationPatient")
    return None if iop is None else [float(v) for v in iop]


def _read_multiframe(ds: Any, name: str) -> RawImage:
    frames = _pixels(ds, name)
    if frames.ndim != 3:
        raise SequenceError(f"{name}: expected grey-level frames, got pixel array {frames.shape}")
    warnings: list[str] = []
    fps, src = _frame_time_fps(ds), "FrameTime"
    if fps is None and ds.get("FrameTimeVector"):
        ftv = [float(v) for v in ds.FrameTimeVector][1:]  # first entry is 0 by definition
        if ftv and min(ftv) > 0:
            fps, src = 1000.0 / float(np.median(ftv)), "FrameTimeVector"
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if fps is None and per_frame:
        stamps = []
        for item in per_frame:
            fc = item.get("FrameContentSequence")
            stamps.append(_dt_seconds(fc[0].get("FrameAcquisitionDateTime")) if fc else None)
        fps, src = _fps_from_times(stamps, "FrameAcquisitionDateTime", warnings), "FrameContent"
        if fps is None:
            delays = []
            for item in per_frame:
                cs = item.get("CardiacSynchronizationSequence")
                d = cs[0].get("NominalCardiacTriggerDelayTime") if cs else None
                delays.append(None if d is None else float(d) / 1000.0)
            fps = _fps_from_times(delays, "trigger delay times", warnings)
            src = "TriggerDelayTime"
    spacing = _spacing(ds)
    return RawImage(
        frames=frames,
        reader="dicom-multiframe",
        fps=fps,
        fps_source=src if fps else None,
        spacing_mm=spacing,
        spacing_source="PixelSpacing" if spacing else None,
        default_orientation=_default_orientation(_iop(ds)),
        header=header_summary(ds),
        warnings=warnings,
    )


def _default_orientation(iop: list[float] | None) -> str:
    from mrisynth.io.orientation import orientation_from_dicom

    return orientation_from_dicom(iop)


def _read_series(files: list[Path], folder_name: str) -> RawImage:
    datasets = [(f, _dcmread(f, f"{folder_name}/{f.name}")) for f in files]

    def order(item):
        _, ds = item
        inst = ds.get("InstanceNumber")
        acq = _tm_seconds(ds.get("AcquisitionTime"))
        return (int(inst) if inst not in (None, "") else 1 << 30, acq if acq is not None else 0.0)

    datasets.sort(key=order)
    first_file, first = datasets[0]
    ref_series = first.get("SeriesInstanceUID")
    ref_shape = (first.get("Rows"), first.get("Columns"))
    frames = []
    for f, ds in datasets:
        name = f"{folder_name}/{f.name}"
        if ds.get("SeriesInstanceUID") != ref_series:
            # Never print the UIDs themselves: they are identifiers.
            raise SequenceError(
                f"{name}: mixed series: its SeriesInstanceUID differs from {first_file.name}"
            )
        if (ds.get("Rows"), ds.get("Columns")) != ref_shape:
            raise SequenceError(
                f"{name}: mixed series: matrix {ds.get('Rows')}x{ds.get('Columns')} differs "
                f"from {ref_shape[0]}x{ref_shape[1]} in {first_file.name}"
            )
        px = _pixels(ds, name)
        if px.ndim != 2:
            raise SequenceError(f"{name}: expected one grey-level frame, got pixels {px.shape}")
        frames.append(px)
    dtypes = {a.dtype for a in frames}
    stack = np.stack(frames) if len(dtypes) == 1 else np.stack(frames).astype(np.float32)
    warnings: list[str] = []
    fps, src = _frame_time_fps(first), "FrameTime"
    if fps is None:
        trig = [ds.get("TriggerTime") for _, ds in datasets]
        trig_s = [None if t in (None, "") else float(t) / 1000.0 for t in trig]
        fps, src = _fps_from_times(trig_s, "TriggerTime", warnings), "TriggerTime"
    if fps is None:
        acq = [_tm_seconds(ds.get("AcquisitionTime")) for _, ds in datasets]
        fps, src = _fps_from_times(acq, "AcquisitionTime", warnings), "AcquisitionTime"
    spacing = _spacing(first)
    header = header_summary(first)
    header["NumberOfFiles"] = len(datasets)
    return RawImage(
        frames=stack,
        reader="dicom-series",
        fps=fps,
        fps_source=src if fps else None,
        spacing_mm=spacing,
        spacing_source="PixelSpacing" if spacing else None,
        default_orientation=_default_orientation(_iop(first)),
        header=header,
        warnings=warnings,
    )


def read_dicom(path: str | Path) -> RawImage:
    """Read a DICOM series folder or a single (multi-frame) DICOM file.

    A folder is read as one series of single-frame files, sorted by InstanceNumber then
    AcquisitionTime. fps comes from FrameTime (0018,1063), else TriggerTime differences, else
    AcquisitionTime differences; multi-frame files use FrameTime, FrameTimeVector, per-frame
    FrameAcquisitionDateTime or trigger delays. Spacing comes from PixelSpacing (row, col).
    The default orientation is derived from ImageOrientationPatient for sagittal planes.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        SequenceError: a corrupt file, a file without PixelData or a mixed series (the file is
            named), an empty folder.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"DICOM path not found: {path}")
    if path.is_dir():
        files = sorted(
            f
            for f in path.iterdir()
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in _DICOM_SUFFIXES
        )
        if not files:
            raise SequenceError(f"{path.name}: folder contains no DICOM files")
        if len(files) == 1:
            return read_dicom(files[0])
        return _read_series(files, path.name)
    ds = _dcmread(path, path.name)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        return _read_multiframe(ds, path.name)
    raw = _read_series([path], path.parent.name)
    return raw


# ---------------------------------------------------------------------------- writing
def write_dicom_series(seq: SpeechMRISequence, folder: str | Path) -> list[Path]:
    """Write ``seq`` as a de-identified single-frame MR DICOM series (one file per frame).

    Pixels are stored as uint16 (int16 for signed data). Integer frames that fit are stored
    exactly; float frames are mapped to 0..65535 with RescaleSlope/Intercept, which the reader
    applies again (float32 values within half a quantisation step). Each file carries
    FrameTime and TriggerTime (ms), PixelSpacing (mm), a sagittal ImageOrientationPatient
    matching the canonical orientation, and synthetic UIDs.

    Returns:
        The written file paths, ``frame_00000.dcm`` ... in frame order.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    f = seq.frames
    slope, intercept = 1.0, 0.0
    if f.dtype.kind in "iu" and f.min() >= 0 and f.max() <= 65535:
        pixels, signed = f.astype(np.uint16), False
    elif f.dtype.kind in "iu" and f.min() >= -32768 and f.max() <= 32767:
        pixels, signed = f.astype(np.int16), True
    else:
        lo, hi = float(f.min()), float(f.max())
        slope = (hi - lo) / 65535.0 if hi > lo else 1.0
        intercept = lo
        pixels = np.rint((f.astype(np.float64) - lo) / slope).astype(np.uint16)
        signed = False
    uid_map: dict[str, str] = {}
    study, series, frame_ref = generate_uid(), generate_uid(), generate_uid()
    frame_ms = 1000.0 / seq.require_fps("writing DICOM")
    spacing = seq.require_spacing("writing DICOM")
    paths = []
    for k, img in enumerate(pixels):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        sop = generate_uid()
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.FrameOfReferenceUID = frame_ref
        ds.Modality = "MR"
        ds.Manufacturer = "mrisynth"
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.FrameTime = f"{frame_ms:.6f}"
        ds.TriggerTime = f"{k * frame_ms:.6f}"
        ds.PixelSpacing = [f"{spacing[0]:.8g}", f"{spacing[1]:.8g}"]
        ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]  # columns -> posterior, rows -> inferior
        ds.ImagePositionPatient = [0, 0, 0]
        ds.Rows, ds.Columns = int(img.shape[0]), int(img.shape[1])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if signed else 0
        if slope != 1.0 or intercept != 0.0:
            ds.RescaleSlope = f"{slope:.10g}"
            ds.RescaleIntercept = f"{intercept:.10g}"
        ds.PixelData = np.ascontiguousarray(img).tobytes()
        deidentify_dataset(ds, uid_map)
        out = folder / f"frame_{k:05d}.dcm"
        ds.save_as(str(out), enforce_file_format=True)
        paths.append(out)
    logger.debug("wrote %d DICOM files to %s", len(paths), folder.name)
    return paths
