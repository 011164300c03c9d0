"""``mrisynth`` command line: a small table of subcommands over the library.

Each subcommand lives in its own module under :mod:`mrisynth.cli` and exposes
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported lazily so that
``mrisynth --help`` stays fast and a missing optional dependency only affects its command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

__all__ = ["main", "COMMANDS"]

#: subcommand -> (module under mrisynth.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("info", "describe an rtMRI recording (any supported format) and its audio"),
    "phantom": ("phantom", "build a phantom corpus: MRI + labels + audio + face from one model"),
    "prepare": ("prepare", "find the vocal-tract ROI, crop, resize and normalise a manifest"),
    "train": (
        "train",
        "train the sync expert, the generator (pretrain/fine-tune) or the segmenter",
    ),
    "evaluate": ("evaluate", "score the generator, baselines and real videos; metrics + report"),
    "adapt": (
        "adapt",
        "a new speaker from their own recordings: adapt the experts, fine-tune the generator, "
        "report on a held-out part",
    ),
    "evaluate-languages": (
        "evaluate_languages",
        "evaluate, then the per-language table (LSE, SSIM, anatomy; image+audio, video+audio)",
    ),
    "synthesize": (
        "synthesize",
        "speech audio + a reference frame or clip + a model -> rtMRI video (MP4, NIfTI, DICOM)",
    ),
    "dub": ("dub", "a face image or video + speech audio + a face model -> talking-face MP4"),
    "fit-motion": (
        "fit_motion",
        "talking-face videos -> head-motion and blink statistics for `dub --motion`",
    ),
    "compare": (
        "compare",
        "a learner's articulation against a reference's, synthesized from their audio: "
        "flagged phones, side-by-side MP4, areagrams, report",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mrisynth", description="Audio-driven speech-MRI synthesis toolkit."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(f"mrisynth.cli.{module}").add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mrisynth`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    module = importlib.import_module(f"mrisynth.cli.{args._module}")
    try:
        return int(module.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as e:
        # User-facing errors (bad input, bad config) get one clear line, not a traceback.
        if args.verbose:
            raise
        print(f"mrisynth {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
