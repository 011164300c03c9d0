"""One entry point to read any supported recording, and one to write any supported format.

Formats (detected from the path):

========================== ========================================= =====================
path                       format                                    reader
========================== ========================================= =====================
folder of ``*.dcm``/DICM   single-frame DICOM series                 :mod:`.dicom`
``*.dcm`` / DICM file      (multi-frame) DICOM                       :mod:`.dicom`
folder of ``*.png``        PNG frames (8/16-bit)                     :mod:`.png`
``*.nii``, ``*.nii.gz``    NIfTI 2D+t                                :mod:`.nifti`
``*.h5``, ``*.hdf5``       HDF5, USC 75-speaker layout               :mod:`.hdf5`
``*.mp4``, ``*.avi``...    video (+ embedded audio)                  :mod:`.video`
``*.npz``                  :meth:`SpeechMRISequence.save` file        (lossless native)
========================== ========================================= =====================

Values are taken, in order of precedence, from explicit arguments, the sidecar JSON
(``folder/sequence.json`` or ``<stem>.json``, see :mod:`.base`), the file header, a named
dataset preset (``dataset_preset=``, :mod:`.datasets`), and the format's default preset
(USC HDF5: ``usc75``). A preset never overrides what the file states: a disagreement, or a matrix other
than the preset's, becomes a warning naming both values. ``require_fps=False`` /
``require_spacing=False`` (``mrisynth info`` only) read a recording whose fps / spacing
nobody states, leaving them None. Audio is the ``audio`` argument, else the sidecar's
``audio``, else audio embedded in the file (MP4), else a sibling
``<stem>.wav``/``.flac``/``.mp3``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from mrisynth.data.sequence import UNKNOWN, SequenceError, SpeechMRISequence
from mrisynth.io import dicom as _dicom
from mrisynth.io.audio import read_audio, write_audio
from mrisynth.io.base import (
    RawImage,
    find_sibling_audio,
    read_sidecar,
    relative_path,
    sidecar_path,
    write_sidecar,
)
from mrisynth.io.checks import AV_TOLERANCE_FRAC, AV_TOLERANCE_S, check_audio_video
from mrisynth.io.checks import sequence_warnings as _sequence_warnings
from mrisynth.io.datasets import AGREE_REL, DatasetPreset, get_dataset
from mrisynth.io.orientation import apply_orientation

__all__ = ["detect_format", "read_sequence", "write_sequence", "VIDEO_SUFFIXES"]

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def detect_format(path: str | Path) -> str:
    """``"dicom"``, ``"png"``, ``"nifti"``, ``"hdf5"``, ``"video"`` or ``"npz"``.

    Raises:
        FileNotFoundError: the path does not exist.
        SequenceError: the type cannot be recognised.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    name = path.name.lower()
    if path.is_dir():
        files = [f for f in path.iterdir() if f.is_file() and not f.name.startswith(".")]
        if any(f.suffix.lower() == ".png" for f in files):
            return "png"
        if any(
            f.suffix.lower() in (".dcm", ".dicom", ".ima") or _dicom.is_dicom_file(f) for f in files
        ):
            return "dicom"
        raise SequenceError(f"{path.name}: folder holds neither PNG frames nor DICOM files")
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith(_HDF5_SUFFIXES):
        return "hdf5"
    if name.endswith(VIDEO_SUFFIXES):
        return "video"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith((".dcm", ".dicom", ".ima")) or _dicom.is_dicom_file(path):
        return "dicom"
    raise SequenceError(f"{path.name}: unrecognised recording format (suffix {path.suffix!r})")


def _read_raw(fmt: str, path: Path, options: dict[str, Any]) -> RawImage:
    from mrisynth.io import hdf5, nifti, png, video

    readers = {
        "dicom": _dicom.read_dicom,
        "png": png.read_png_sequence,
        "nifti": nifti.read_nifti,
        "hdf5": hdf5.read_hdf5_usc,
        "video": video.read_video,
    }
    try:
        return readers[fmt](path, **options)
    except TypeError as e:
        if options and "argument" in str(e):
            raise ValueError(
                f"{path.name}: option(s) {sorted(options)} not understood by the {fmt} reader"
            ) from e
        raise


def _spacing_tuple(value: Any, what: str) -> tuple[float, float]:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (2,))
    return float(arr[0]), float(arr[1])


def _disagree(a: Any, b: Any) -> bool:
    a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
    return bool((np.abs(a - b) > AGREE_REL * np.maximum(np.abs(a), np.abs(b))).any())


def _fmt_spacing(sp: tuple[float, float]) -> str:
    return f"{sp[0]:.4g} mm" if sp[0] == sp[1] else f"{sp[0]:.4g} x {sp[1]:.4g} mm"


def _resolve(
    what: str,
    arg: Any,
    stated: tuple[Any, str | None],
    preset: DatasetPreset | None,
    preset_value: Any,
    explicit_preset: bool,
    show: Any,
    warnings: list[str],
    fmt: str,
) -> tuple[Any, str | None]:
    """Value and source of fps or spacing: argument > stated (sidecar/file) > preset.

    ``stated`` is ``(value, source)`` from the sidecar or the file (value None: not stated).
    A preset named by the caller that disagrees with a stated value leaves a warning; the
    format's default preset fills silently but says so (it is a protocol value, not a fact
    of the file).
    """
    value, source = stated
    if arg is not None:
        return arg, "argument"
    if value is not None:
        if preset is not None and explicit_preset and _disagree(value, preset_value):
            warnings.append(
                f"{what}: the recording states {show(value)} ({source}), the {preset.name} "
                f"preset {show(preset_value)}; using the recording's value"
            )
        return value, source
    if preset is not None:
        if not explicit_preset:
            warnings.append(
                f"{what} not stored in the file: using the {preset.name} dataset preset's "
                f"{show(preset_value)} (the {fmt} format's default)"
            )
        return preset_value, f"dataset preset {preset.name}"
    return None, None


def read_sequence(
    path: str | Path,
    *,
    audio: str | Path | bool | None = None,
    fps: float | None = None,
    spacing_mm: float | tuple[float, float] | None = None,
    orientation: str | None = None,
    data_root: str | Path | None = None,
    audio_offset_s: float | None = None,
    target_sr: int | None = None,
    av_tolerance_s: float = AV_TOLERANCE_S,
    av_tolerance_frac: float = AV_TOLERANCE_FRAC,
    strict_av: bool = True,
    dataset_preset: str | DatasetPreset | None = None,
    require_fps: bool = True,
    require_spacing: bool = True,
    **reader_options: Any,
) -> SpeechMRISequence:
    """Read a recording of any supported format into a :class:`SpeechMRISequence`.

    Args:
        path: file or folder (see the module table).
        audio: audio file; ``False`` for no audio; None = sidecar / embedded / sibling audio.
        fps: frame rate (fps); overrides header and sidecar values.
        spacing_mm: pixel spacing in mm, one value or ``(row, col)`` of the canonical frame.
        orientation: spec of :mod:`mrisynth.io.orientation` taking the stored frames to face
            left / superior up; default: the format's (identity, USC ``transpose``, DICOM
            from ImageOrientationPatient).
        data_root: provenance paths are made relative to it (default: parent of ``path``).
        audio_offset_s: start of audio relative to the first stored frame (s).
        target_sr: resample the audio to this rate (Hz).
        av_tolerance_s, av_tolerance_frac: allowed audio/video span mismatch,
            ``max(av_tolerance_s, av_tolerance_frac * video_duration)``.
        strict_av: raise on a mismatch beyond the tolerance (False: record a warning).
        dataset_preset: a preset of :mod:`mrisynth.io.datasets` (``"usc75"``,
            ``"usc-timit"``...) filling the fps / spacing the file does not state (named
            ``dataset_preset``, as the HDF5 reader's ``dataset`` option names the image
            dataset); ignored for ``.npz``.
        require_fps, require_spacing: False lets a recording whose fps / spacing nobody
            states be read for description (``mrisynth info``): the value is None and its
            provenance source :data:`~mrisynth.data.sequence.UNKNOWN`; anything that needs
            it then raises (see :mod:`mrisynth.data.sequence`).
        **reader_options: format-specific (``discard_frames`` for HDF5,
            ``third_axis_is_time`` for 3-D NIfTI, ...).

    Returns:
        The validated sequence. ``provenance`` holds ``source``/``audio_source`` (relative
        paths), ``reader``, ``format``, where fps/spacing came from, the orientation applied,
        the allow-listed ``header`` and a ``warnings`` list.

    Raises:
        FileNotFoundError: missing image or audio file.
        SequenceError (ValueError): corrupt or inconsistent input, unknown fps/spacing
            (when required), audio/video mismatch; the message names the file and the reason.
        ValueError: unknown dataset preset (the message lists the known ones).
    """
    path = Path(path)
    preset = None if dataset_preset is None else get_dataset(dataset_preset)
    fmt = detect_format(path)
    root = Path(data_root) if data_root is not None else path.resolve().parent
    source = relative_path(path, root)
    if fmt == "npz":
        seq = SpeechMRISequence.load(path)
        return seq.replace(provenance={**seq.provenance, "source": source, "format": "npz"})
    side = read_sidecar(path)
    if side.get("third_axis_is_time") is not None:
        if fmt != "nifti":
            raise SequenceError(
                f"{sidecar_path(path).name}: 'third_axis_is_time' applies to NIfTI only, "
                f"not to {fmt}"
            )
        reader_options.setdefault("third_axis_is_time", bool(side["third_axis_is_time"]))
    raw = _read_raw(fmt, path, reader_options)
    warnings = list(raw.warnings)
    explicit_preset = preset is not None
    if preset is None and raw.default_dataset is not None:
        preset = get_dataset(raw.default_dataset)

    fps_val, fps_src = _resolve(
        "fps",
        None if fps is None else float(fps),
        (float(side["fps"]), "sidecar")
        if side.get("fps") is not None
        else (raw.fps, raw.fps_source),
        preset,
        None if preset is None else preset.fps,
        explicit_preset,
        lambda v: f"{v:.4f} fps",
        warnings,
        fmt,
    )
    if fps_val is None:
        if require_fps:
            raise SequenceError(
                f"{source}: frame rate unknown (no timing in the {fmt} file and no "
                f"{sidecar_path(path).name} sidecar); pass fps= (CLI: --fps) or a dataset "
                "preset (--dataset)"
            )
        fps_src = UNKNOWN

    orient = orientation or side.get("orientation") or raw.default_orientation
    frames, stored_spacing = apply_orientation(raw.frames, orient, raw.spacing_mm)
    sp_val, sp_src = _resolve(
        "spacing",
        None if spacing_mm is None else _spacing_tuple(spacing_mm, "spacing_mm"),
        (_spacing_tuple(side["spacing_mm"], "sidecar"), "sidecar")
        if side.get("spacing_mm") is not None
        else (stored_spacing, raw.spacing_source),
        preset,
        None if preset is None else preset.spacing_mm,
        explicit_preset,
        _fmt_spacing,
        warnings,
        fmt,
    )
    if sp_val is None:
        if require_spacing:
            raise SequenceError(
                f"{source}: pixel spacing unknown (not in the {fmt} file and no "
                f"{sidecar_path(path).name} sidecar); pass spacing_mm= (CLI: --spacing) or a "
                "dataset preset (--dataset)"
            )
        sp_src = UNKNOWN
    if explicit_preset and tuple(frames.shape[1:3]) != tuple(preset.matrix):
        warnings.append(
            f"matrix {frames.shape[1]} x {frames.shape[2]} differs from the {preset.name} "
            f"preset's {preset.matrix[0]} x {preset.matrix[1]}: is this recording from "
            f"{preset.name}?"
        )

    # ---- audio
    samples, sr, audio_source = None, None, None
    audio_path: Path | None = None
    if audio is not False:
        if audio not in (None, True):
            audio_path = Path(audio)
        elif side.get("audio"):
            base = path if path.is_dir() else path.parent
            audio_path = base / side["audio"]
        elif raw.audio is not None:
            samples, sr, audio_source = raw.audio, raw.sample_rate, source + "#audio"
        else:
            audio_path = find_sibling_audio(path)
    if audio_path is not None:
        samples, sr = read_audio(audio_path, target_sr=target_sr)
        audio_source = relative_path(audio_path, root)
    elif samples is not None and target_sr is not None:
        from mrisynth.io.audio import resample_audio

        samples, sr = resample_audio(samples, sr, int(target_sr)), int(target_sr)
    offset = float(side.get("audio_offset_s") or 0.0)
    if audio_offset_s is not None:
        offset = float(audio_offset_s)
    if raw.discarded_frames:  # audio stays; the video now starts later
        if fps_val is None:
            raise SequenceError(f"{source}: discarding frames needs the frame rate; pass fps=")
        offset -= raw.discarded_frames / fps_val

    provenance = {
        "source": source,
        "format": fmt,
        "reader": raw.reader,
        "fps_source": fps_src,
        "spacing_source": sp_src,
        "orientation": orient,
        "header": raw.header,
        "audio_source": audio_source,
    }
    if raw.discarded_frames:
        provenance["discarded_frames"] = raw.discarded_frames
    try:
        seq = SpeechMRISequence(
            frames=frames,
            fps=fps_val,
            spacing_mm=sp_val,
            audio=samples,
            sample_rate=sr if samples is not None else None,
            audio_offset_s=offset if samples is not None else 0.0,
            speaker=side.get("speaker"),
            language=side.get("language"),
            utterance_id=side.get("utterance_id"),
            transcript=side.get("transcript"),
            provenance=provenance,
        )
    except SequenceError as e:
        msg = str(e)
        raise SequenceError(msg if msg.startswith(source) else f"{source}: {msg}") from e
    if seq.fps is None:
        if seq.audio is not None:
            warnings.append("audio/video durations not compared: frame rate unknown")
    else:
        warnings += check_audio_video(
            seq,
            image_name=source,
            audio_name=audio_source,
            tolerance_s=av_tolerance_s,
            tolerance_frac=av_tolerance_frac,
            strict=strict_av,
        )
    warnings += _sequence_warnings(seq)
    seq.provenance["warnings"] = warnings
    for w in warnings:
        logger.debug("%s: %s", source, w)
    return seq


_WRITE_BY_SUFFIX = {
    ".nii": "nifti",
    ".gz": "nifti",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".mp4": "mp4",
    ".gif": "gif",
    ".npz": "npz",
}


def write_sequence(
    seq: SpeechMRISequence, path: str | Path, *, format: str | None = None, **options: Any
) -> Path:
    """Write ``seq`` in the format chosen by ``format`` or the suffix of ``path``.

    ``.nii``/``.nii.gz`` NIfTI, ``.h5``/``.hdf5`` USC HDF5, ``.mp4`` video with muxed audio,
    ``.gif`` preview, ``.npz`` lossless native; folders need ``format="dicom"`` or ``"png"``.
    For NIfTI, HDF5, DICOM and PNG the audio (if any) goes to ``<stem>.wav`` next to the file
    (for folders: ``audio.wav`` inside, named in ``sequence.json``), with a sidecar holding
    the audio offset and descriptive metadata, so :func:`read_sequence` restores everything.

    Returns:
        The path written (file or folder).
    """
    from mrisynth.io import hdf5, nifti, png, video

    path = Path(path)
    # every format stores both (a GIF preview only needs the rate): refuse before writing
    seq.require_fps(f"writing {path.name}")
    if format != "gif" and not path.name.lower().endswith(".gif"):
        seq.require_spacing(f"writing {path.name}")
    fmt = format or _WRITE_BY_SUFFIX.get(path.suffix.lower())
    if fmt == "nifti" and not path.name.lower().endswith((".nii", ".nii.gz")):
        fmt = None
    if fmt is None:
        raise ValueError(
            f"{path.name}: cannot choose a format from the suffix; pass format='dicom'|'png'|"
            "'nifti'|'hdf5'|'mp4'|'gif'|'npz'"
        )
    if fmt == "npz":
        return seq.save(path)
    if fmt == "mp4":
        return video.write_mp4(seq, path, **options)
    if fmt == "gif":
        return video.write_gif(seq, path, fps=seq.fps)
    writers = {
        "nifti": nifti.write_nifti,
        "hdf5": hdf5.write_hdf5_usc,
        "dicom": _dicom.write_dicom_series,
        "png": png.write_png_sequence,
    }
    if fmt not in writers:
        raise ValueError(f"unknown output format {fmt!r}")
    writers[fmt](seq, path, **options)
    meta: dict[str, Any] = {
        "speaker": seq.speaker,
        "language": seq.language,
        "utterance_id": seq.utterance_id,
        "transcript": seq.transcript,
    }
    if fmt == "png":  # PNG has no header: timing and geometry live in the sidecar
        meta.update(fps=seq.fps, spacing_mm=list(seq.spacing_mm))  # both known: checked above
    if seq.audio is not None:
        if path.is_dir():
            audio_file = path / "audio.wav"
            meta["audio"] = audio_file.name
        else:
            audio_file = path.with_name(sidecar_path(path).stem + ".wav")
        write_audio(audio_file, seq.audio, seq.sample_rate)
        meta["audio_offset_s"] = seq.audio_offset_s
    write_sidecar(path, meta)
    return path
