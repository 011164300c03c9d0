"""``mrisynth compare``: a learner's articulation against a reference's, from their audio.

Example (after ``make quickstart``)::

    mrisynth compare --learner learner.wav --reference native.wav \\
        --model experiments/quickstart/models/finetune \\
        --frame experiments/quickstart/data/phantom/spk06/spk06_te_00.nii.gz \\
        --phones native_phones.txt --out out/compare

Both recordings (same text, same sample rate) are synthesized with the same model and frame,
segmented, aligned by DTW and compared phone by phone (:mod:`mrisynth.evaluation.compare`);
the folder gets ``side_by_side.mp4``, two areagrams, ``report.md``/``.html`` and
``metrics.json`` (:mod:`mrisynth.evaluation.compare_outputs`), all at once or not at all.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = ["add_arguments", "run"]

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--learner", required=True, type=Path, help="the learner's speech (WAV...)")
    parser.add_argument(
        "--reference", required=True, type=Path, help="the reference speaker's speech, same text"
    )
    parser.add_argument(
        "--model",
        help="generator file or folder (default: the quickstart's "
        "experiments/quickstart/models/finetune)",
    )
    parser.add_argument(
        "--frame",
        required=True,
        help="a frame of the model's speaker (image, NIfTI, DICOM, MP4...; a clip's "
        "--frame-index is used): both recordings are synthesized on it",
    )
    parser.add_argument("--frame-index", type=int, default=0, help="which frame of a clip")
    parser.add_argument(
        "--spacing", type=float, nargs="+", metavar="MM", help="the frame's pixel spacing (mm)"
    )
    parser.add_argument(
        "--segmenter",
        type=Path,
        help="articulator segmenter file (default: segmenter.pt in the model folder, or the "
        "quickstart layout's ../segmenter/segmenter.pt)",
    )
    names = parser.add_mutually_exclusive_group()
    names.add_argument(
        "--phones",
        type=Path,
        help="the reference's phones: lines 'start end phone' (s), a start_s,end_s,phone CSV "
        "or an HTS .lab",
    )
    names.add_argument(
        "--text", help="the text (espeak-ng g2p, spread evenly over the reference's speech)"
    )
    parser.add_argument("--language", default="en", help="language of --text (en, te, ta...)")
    parser.add_argument(
        "--threshold-mm", type=float, default=None, help="flag differences beyond this (mm; 4)"
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (new or empty)")
    parser.add_argument("--no-video", action="store_true", help="skip side_by_side.mp4")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _segmenter_path(args: argparse.Namespace) -> Path:
    if args.segmenter is not None:
        if not args.segmenter.is_file():
            raise FileNotFoundError(f"--segmenter {args.segmenter}: no such file")
        return args.segmenter
    from mrisynth.synthesis.stream import DEFAULT_MODEL_DIR

    folder = Path(args.model) if args.model is not None else DEFAULT_MODEL_DIR
    if folder.is_file():
        folder = folder.parent
    for candidate in (folder / "segmenter.pt", folder.parent / "segmenter" / "segmenter.pt"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no segmenter beside the model ({folder}/segmenter.pt or "
        f"{folder.parent}/segmenter/segmenter.pt); pass --segmenter"
    )


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from mrisynth.cli.synthesize import _spacing, read_reference
    from mrisynth.evaluation.compare import (
        CompareConfig,
        articulate,
        check_recordings,
        compare_articulations,
        phones_from_text,
        read_phone_spans,
    )
    from mrisynth.evaluation.compare_outputs import write_outputs
    from mrisynth.models.artifacts import load_model
    from mrisynth.synthesis import SynthesisModel

    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise FileExistsError(f"--out {args.out}: exists and is not an empty folder")
    cfg = CompareConfig()
    if args.threshold_mm is not None:
        cfg = dataclasses.replace(cfg, threshold_mm=args.threshold_mm)
    (la, lsr), (ra, rsr) = check_recordings(args.learner, args.reference)
    spans = None
    if args.phones is not None:
        spans = read_phone_spans(args.phones)
        end = max(s.end_s for s in spans)
        if end > len(ra) / rsr + 0.5:
            raise ValueError(
                f"{args.phones.name}: phones run to {end:.2f} s, the reference "
                f"{args.reference.name} lasts {len(ra) / rsr:.2f} s"
            )
    elif args.text is not None:
        spans = phones_from_text(args.text, args.language, ra, rsr)
    model = SynthesisModel.load(args.model, args.device)
    seg_path = _segmenter_path(args)
    segmenter, _ = load_model(seg_path, "segmenter", map_location=args.device)
    clip = read_reference(args.frame, spacing_mm=_spacing(args.spacing, "--spacing"))
    if not 0 <= args.frame_index < clip.n_frames:
        raise ValueError(f"--frame-index {args.frame_index}: {args.frame} has {clip.n_frames}")
    i = args.frame_index
    frame = clip.replace(frames=clip.frames[i : i + 1], labels=None, audio=None, sample_rate=None)
    progress = not args.no_progress
    arts = [
        articulate(audio, sr, frame, model, segmenter, progress=progress, name=path.name,
                   device=args.device)
        for audio, sr, path in ((la, lsr, args.learner), (ra, rsr, args.reference))
    ]  # fmt: skip
    comparison = compare_articulations(arts[0], arts[1], spans, cfg)
    meta = {
        "learner": args.learner.name,
        "reference": args.reference.name,
        "model": str(model.path),
        "segmenter": str(seg_path),
        "frame": f"{Path(args.frame).name}[{i}]",
        "phones_from": (
            str(args.phones.name) if args.phones else "text" if args.text else "time segments"
        ),
        "sample_rate": rsr,
        "fps": arts[1].fps,
        "warnings": [],
    }
    if args.text is not None:
        meta["warnings"].append(
            "phones from --text are spread evenly over the speech, good to a phone or so"
        )
    metrics = write_outputs(args.out, arts[0], arts[1], comparison, meta, video=not args.no_video)
    flagged = comparison.flagged
    what = "; ".join(f"{p.span.label}: {p.notes[0]}" if p.notes else p.span.label for p in flagged)
    print(
        f"wrote {args.out}: {metrics['n_flagged']} of {metrics['n_phones']} "
        f"{'phones' if comparison.named_by == 'phones' else 'time segments'} flagged"
        + (f" ({what})" if flagged else "")
    )
    return 0
