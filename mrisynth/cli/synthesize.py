"""``mrisynth synthesize``: speech audio + a reference frame or clip + a model → rtMRI video.

Example (after ``make quickstart``)::

    mrisynth synthesize --audio speech.wav --reference frame.png --spacing 0.5 \\
        --model experiments/quickstart/models/finetune --out out.mp4 --nifti out.nii.gz

- audio: WAV, FLAC, MP3 or an MP4's audio track; other rates are resampled to the model's,
  stereo is mixed down; silence and audio shorter than one audio window are padded, with a
  warning;
- reference: any recording :func:`mrisynth.io.read_sequence` reads (DICOM, NIfTI, PNG folder,
  MP4...) or a single image file (PNG 8/16-bit, JPEG, TIFF); ``--spacing`` where the file has
  none;
- the ROI: ``--roi`` / ``--roi-mm``, a speaker folder's ``roi.json``, temporal variance for a
  clip, the face-profile rule for one frame (:mod:`mrisynth.synthesis.roi`);
- outputs: MP4 with the audio muxed in, optionally NIfTI and a de-identified DICOM series
  (new UIDs); all written beside their targets and renamed into place at the end.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_arguments", "run", "read_reference"]

logger = logging.getLogger(__name__)

#: Single-image reference files (read with Pillow; 16-bit PNG keeps its values).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--audio", required=True, help="speech: WAV, FLAC, MP3, or a video's audio track"
    )
    parser.add_argument(
        "--reference",
        required=True,
        help="rtMRI frame or clip of the speaker: an image file (PNG 8/16-bit...), a PNG "
        "folder, DICOM, NIfTI, MP4...",
    )
    parser.add_argument(
        "--model",
        help="generator file or a folder holding generator.pt (default: the quickstart's "
        "experiments/quickstart/models/finetune)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output video (.mp4, with audio)")
    parser.add_argument("--nifti", type=Path, help="also write the frames as NIfTI (.nii.gz)")
    parser.add_argument("--dicom", type=Path, help="also write a de-identified DICOM series here")
    box = parser.add_mutually_exclusive_group()
    box.add_argument(
        "--roi",
        type=int,
        nargs=4,
        metavar=("TOP", "LEFT", "H", "W"),
        help="the model's ROI in the reference, in pixels (default: found automatically)",
    )
    box.add_argument(
        "--roi-mm",
        type=float,
        nargs=4,
        metavar=("TOP", "LEFT", "H", "W"),
        help="the ROI in mm from the reference frame's top-left corner",
    )
    parser.add_argument(
        "--spacing",
        type=float,
        nargs="+",
        metavar="MM",
        help="the reference's pixel spacing in mm (one value or row col) where its file has none",
    )
    parser.add_argument(
        "--reference-fps", type=float, help="the reference clip's frame rate if its file has none"
    )
    parser.add_argument(
        "--orientation", help="reference orientation ops joined by '+', e.g. transpose+flipud"
    )
    parser.add_argument(
        "--fps",
        type=float,
        help="output frame rate (default: a reference clip's, else the model's)",
    )
    parser.add_argument(
        "--out-spacing",
        type=float,
        nargs="+",
        metavar="MM",
        help="output pixel spacing in mm (default: the reference's, or the ROI's with --roi-only)",
    )
    parser.add_argument(
        "--roi-only",
        action="store_true",
        help="write the model's ROI instead of pasting it back into the full frame",
    )
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="MP4 shows reference | synthesized | difference (a reference clip is cycled)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="generator batch (frames)")
    parser.add_argument(
        "--chunk-s", type=float, default=4.0, help="seconds synthesized per chunk (memory)"
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _spacing(values: list[float] | None, flag: str) -> tuple[float, float] | None:
    if values is None:
        return None
    if len(values) not in (1, 2) or min(values) <= 0:
        raise ValueError(f"{flag} takes one or two (row col) positive values in mm, got {values}")
    return (values[0], values[-1])


def read_reference(
    path: str | Path,
    *,
    spacing_mm: tuple[float, float] | None = None,
    fps: float | None = None,
    orientation: str | None = None,
) -> Any:
    """The reference as a :class:`~mrisynth.data.SpeechMRISequence` (no audio).

    A single image file becomes a one-frame sequence (its rate is never used: one frame is
    repeated at the output rate); anything else goes through :func:`mrisynth.io.read_sequence`.

    Raises:
        FileNotFoundError: missing file.
        ValueError: unreadable file, unknown spacing (asks for ``--spacing``).
    """
    from mrisynth.data.sequence import SequenceError, SpeechMRISequence
    from mrisynth.io import read_sequence

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"reference not found: {path}")
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        import imageio.v3 as iio

        from mrisynth.io.orientation import apply_orientation
        from mrisynth.io.png import to_gray

        try:
            image = to_gray(np.asarray(iio.imread(path, plugin="pillow")))
        except Exception as e:  # Pillow raises many types for truncated/corrupt files
            raise ValueError(f"{path.name}: unreadable image ({e})") from e
        if spacing_mm is None:
            raise ValueError(
                f"{path.name}: pixel spacing unknown (an image has none); pass --spacing"
            )
        frames, spacing = apply_orientation(image[None], orientation or "identity", spacing_mm)
        return SpeechMRISequence(
            frames=frames,
            fps=fps or 1.0,
            spacing_mm=spacing,
            provenance={"source": path.name, "format": "image", "orientation": orientation},
        )
    try:
        return read_sequence(
            path,
            audio=False,
            spacing_mm=spacing_mm,
            fps=fps,
            orientation=orientation,
            strict_av=False,
        )
    except SequenceError as e:  # name this command's flags
        msg = str(e).replace("pass fps= (CLI: --fps)", "pass --reference-fps")
        raise ValueError(msg.replace("pass spacing_mm= (CLI: --spacing)", "pass --spacing")) from e


def _output_dtype(dtype: np.dtype) -> np.dtype:
    """NIfTI/DICOM keep an integer reference's dtype; anything else is written as float32."""
    return np.dtype(dtype) if np.dtype(dtype).kind in "iu" else np.dtype(np.float32)


def _cast(frames: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(frames), info.min, info.max).astype(dtype)
    return frames.astype(dtype)


def _check_outputs(args: argparse.Namespace) -> None:
    if args.out.suffix.lower() != ".mp4":
        raise ValueError(f"--out {args.out}: the video must be an .mp4 file")
    if args.nifti is not None and not args.nifti.name.lower().endswith((".nii", ".nii.gz")):
        raise ValueError(f"--nifti {args.nifti}: must end in .nii or .nii.gz")
    if args.dicom is not None and args.dicom.exists():
        if not args.dicom.is_dir() or any(args.dicom.iterdir()):
            raise ValueError(f"--dicom {args.dicom}: exists and is not an empty folder")


def run(args: argparse.Namespace) -> int:
    from mrisynth.data.sequence import SpeechMRISequence
    from mrisynth.io import read_audio, write_sequence
    from mrisynth.synthesis import (
        Mp4Writer,
        StagedOutputs,
        SynthesisModel,
        display_uint8,
        roi_from_mm,
        side_by_side,
        synthesize,
    )

    _check_outputs(args)
    spacing = _spacing(args.spacing, "--spacing")
    out_spacing = _spacing(args.out_spacing, "--out-spacing")
    model = SynthesisModel.load(args.model, args.device)  # first: says how to get one
    audio, sr = read_audio(args.audio)
    reference = read_reference(
        args.reference, spacing_mm=spacing, fps=args.reference_fps, orientation=args.orientation
    )
    box = args.roi
    if args.roi_mm is not None:
        box = roi_from_mm(args.roi_mm, reference.spacing_mm)
    stream = synthesize(
        audio,
        sr,
        reference,
        model,
        fps=args.fps,
        spacing_mm=out_spacing,
        roi=None if box is None else tuple(box),
        roi_only=args.roi_only,
        chunk_s=args.chunk_s,
        batch_size=args.batch_size,
        device=args.device,
        progress=not args.no_progress,
        audio_name=Path(args.audio).name,
    )
    h, w = stream.frame_shape
    t, left, bh, bw = stream.reference.box
    logger.info(
        "ROI (top %d, left %d, %dx%d px) by %s; %d frames at %g fps, %dx%d px at %.3g x %.3g mm",
        t, left, bh, bw, stream.reference.roi_method, stream.n_frames, stream.fps, h, w,
        *stream.spacing_mm,
    )  # fmt: skip
    dtype = _output_dtype(stream.reference.dtype)
    panel = (h, 3 * w + 2) if args.side_by_side else (h, w)
    with StagedOutputs() as staged:
        mp4 = staged.stage(args.out)
        nifti = None if args.nifti is None else staged.stage(args.nifti)
        dicom = None if args.dicom is None else staged.stage(args.dicom)
        store = None
        if nifti is not None or dicom is not None:
            # disk-backed: the io writers take a whole sequence, memory stays flat meanwhile
            store = np.lib.format.open_memmap(
                staged.scratch() / "frames.npy",
                mode="w+",
                dtype=dtype,
                shape=(stream.n_frames, h, w),
            )
        with Mp4Writer(mp4, stream.fps, panel, stream.audio, stream.sample_rate) as video:
            k0 = 0
            for chunk in stream:
                k1 = k0 + len(chunk)
                shown = display_uint8(chunk, stream.display_range)
                if args.side_by_side:
                    ref = display_uint8(stream.reference_frames(k0, k1), stream.display_range)
                    shown = side_by_side(ref, shown)
                video.write(shown)
                if store is not None:
                    store[k0:k1] = _cast(chunk, dtype)
                k0 = k1
        if store is not None:
            store.flush()
            seq = SpeechMRISequence(
                frames=store,
                fps=stream.fps,
                spacing_mm=stream.spacing_mm,
                audio=stream.audio,
                sample_rate=stream.sample_rate,
                provenance={"reader": "mrisynth synthesize"},
            )
            if nifti is not None:
                write_sequence(seq, nifti)
            if dicom is not None:
                write_sequence(seq, dicom, format="dicom")
            del seq, store
    written = [str(p) for p in (args.out, args.nifti, args.dicom) if p is not None]
    print(
        f"wrote {', '.join(written)}: {stream.n_frames} frames at {stream.fps:g} fps "
        f"({stream.duration_s:.2f} s), {h}x{w} px at {stream.spacing_mm[0]:.3g} mm"
    )
    return 0
