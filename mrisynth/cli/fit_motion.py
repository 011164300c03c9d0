"""``mrisynth fit-motion``: talking-face videos → the head-motion and blink statistics file that
``mrisynth dub --motion`` animates a face image with.

Example::

    mrisynth fit-motion --videos my_talking_faces/ --landmarks runs/landmarks96/landmarks.pt \\
        --out motion.json
    mrisynth dub --face portrait.png --audio speech.wav --motion motion.json --out dubbed.mp4

The videos (a folder's ``*.mp4``, or files) are tracked with a landmark regressor trained here
on the phantom (README, "The landmark regressor": no offline landmark detector ships); blinks, head roll and translation are fitted with their link to the speech's energy
(:mod:`mrisynth.synthesis.motion`). Videos with audio give the speech link; silent ones count
for the overall statistics only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mrisynth.cli.face_crop import add_face_crop_arguments

__all__ = ["add_arguments", "run"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--videos", required=True, nargs="+", help="talking-face videos, or folders of them"
    )
    parser.add_argument("--landmarks", required=True, help="face landmark regressor (landmarks.pt)")
    parser.add_argument("--out", required=True, type=Path, help="statistics file (.json)")
    add_face_crop_arguments(
        parser, "the landmark regressor's training framing, the phantom's face box, as `dub` crops"
    )
    parser.add_argument(
        "--box",
        type=int,
        nargs=3,
        metavar=("TOP", "LEFT", "SIDE"),
        help="this crop (px) in every frame instead of detecting the face (videos framed "
        "alike, e.g. the phantom's 20 16 64)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _videos(items: list[str]) -> list[Path]:
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise ValueError(f"{p}: no videos ({', '.join(VIDEO_SUFFIXES)}) in this folder")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"video not found: {p}")
    return out


def run(args: argparse.Namespace) -> int:
    from mrisynth.synthesis.motion import fit_motion_stats_from_videos

    if args.out.suffix.lower() != ".json":
        raise ValueError(f"--out {args.out}: the statistics file must be .json")
    stats = fit_motion_stats_from_videos(
        _videos(args.videos),
        args.landmarks,
        scale=args.crop_scale,
        shift=args.crop_shift,
        box=tuple(args.box) if args.box else None,
        progress=not args.no_progress,
    )
    stats.save(args.out)
    print(
        f"wrote {args.out}: blinks {stats.blink_rate_speech_per_min:.1f}/min in speech, "
        f"{stats.blink_rate_pause_per_min:.1f}/min in pauses, {stats.blink_half_s * 1000:.0f} ms "
        f"below half closure; roll std {stats.roll_std_deg:.2f} deg, translation std "
        f"{stats.translation_std_iod[0]:.3f}/{stats.translation_std_iod[1]:.3f} IOD; "
        f"energy gain {stats.energy_gain:.2f}"
    )
    return 0
