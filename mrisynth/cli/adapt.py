"""``mrisynth adapt``: a new speaker from their own rtMRI recordings → a speaker model folder.

Examples (after ``make quickstart``)::

    mrisynth adapt sub001_vcv1.mp4 sub001_vcv2.mp4 --dataset usc75 \\
        --pretrained experiments/quickstart/models --out speakers/sub001
    mrisynth adapt --manifest my_speaker.csv --speaker F1 \\
        --pretrained experiments/quickstart/models --out speakers/F1 --set generator_steps=400
    mrisynth synthesize --model speakers/sub001 --audio speech.wav --reference frame.png ...

Recordings are prepared on the pretrained generator's grid (automatic ROI), cut into pieces,
the last ones held out; both sync experts are adapted, the generator fine-tuned, and a report
on the held-out part written (:mod:`mrisynth.recipes.adapt`). ``--set`` overrides
:class:`~mrisynth.recipes.adapt.AdaptConfig` fields (``piece_s``, ``test_fraction``,
``expert_steps``, ``generator_steps``, ``device``...); ``--params`` takes them from an
experiment's ``adapt`` section.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from mrisynth.cli.common import add_config_arguments, resolve_section

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "recordings",
        nargs="*",
        type=Path,
        help="the speaker's rtMRI recordings with audio (MP4/AVI with audio, DICOM, NIfTI, "
        "PNG folders... with --audio where the audio is separate)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        help="instead of RECORDINGS: a manifest (CSV); rows with split 'test' are held out",
    )
    parser.add_argument("--speaker", help="speaker name (a manifest's speaker to adapt to)")
    parser.add_argument(
        "--audio", nargs="+", type=Path, help="one audio file per recording (default: embedded)"
    )
    parser.add_argument(
        "--pretrained",
        required=True,
        type=Path,
        help="pretrained models folder (the quickstart's experiments/quickstart/models, or "
        "another speaker folder)",
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="speaker folder to write (must not exist)"
    )
    parser.add_argument(
        "--dataset",
        help="dataset preset for values the files do not state (usc75, usc-timit, usc-span)",
    )
    parser.add_argument("--fps", type=float, help="frame rate of recordings that have none")
    parser.add_argument(
        "--spacing", type=float, nargs="+", metavar="MM", help="pixel spacing (mm) where unknown"
    )
    add_config_arguments(parser, "adapt", "generator_steps=400 piece_s=4 device=cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from mrisynth.recipes.adapt import AdaptConfig, adapt_speaker, recordings_manifest

    if bool(args.recordings) == bool(args.manifest):
        raise ValueError("give the speaker's recordings or --manifest (one of the two)")
    if args.manifest is not None and not args.manifest.is_file():
        raise FileNotFoundError(f"--manifest {args.manifest}: no such file")
    if args.manifest is not None and (args.fps or args.spacing or args.audio):
        raise ValueError("--fps, --spacing and --audio describe RECORDINGS; a manifest has columns")
    spacing = None
    if args.spacing:
        if len(args.spacing) not in (1, 2):
            raise ValueError("--spacing takes one value or two (row col), in mm")
        spacing = (args.spacing[0], args.spacing[-1])
    cfg = resolve_section(AdaptConfig, "adapt", args)
    if args.dataset:
        cfg.dataset = args.dataset
    if args.no_progress:
        cfg.progress = False
    with tempfile.TemporaryDirectory(prefix="mrisynth-adapt-") as tmp:
        manifest = args.manifest
        if manifest is None:
            manifest = recordings_manifest(
                args.recordings,
                Path(tmp) / "recordings.csv",
                speaker=args.speaker or args.out.name,
                fps=args.fps,
                spacing_mm=spacing,
                audio=args.audio,
            )
        info = adapt_speaker(manifest, args.pretrained, args.out, cfg, speaker=args.speaker)
    report = info["report"]
    summary = {k: report[k] for k in sorted(report) if k.endswith(".l1") or k.endswith(".ssim")}
    print(json.dumps({"speaker_folder": str(args.out), **summary}, indent=2))
    return 0
