"""``mrisynth info PATH``: describe a recording (any supported format) and its audio.

Prints frames, matrix, dtype, intensity range, fps, spacing, durations, the audio-video
mismatch and warnings; ``--json`` prints the same as one JSON object. Only allow-listed
technical header fields are ever shown (DICOM identifiers never are).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_arguments", "run", "describe"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="recording: file or folder (DICOM, NIfTI, HDF5, PNG, video)")
    parser.add_argument("--audio", help="audio file (default: sidecar / embedded / same stem)")
    parser.add_argument("--fps", type=float, help="frame rate override (frames per second)")
    parser.add_argument(
        "--spacing", type=float, nargs="+", metavar="MM", help="pixel spacing in mm: one or row col"
    )
    parser.add_argument(
        "--orientation", help="orientation ops joined by '+', e.g. transpose+flipud"
    )
    parser.add_argument(
        "--discard-frames", type=int, default=None, help="HDF5 (USC): drop the first N frames"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def describe(args: argparse.Namespace) -> dict[str, Any]:
    """Read the recording leniently (A/V mismatch as a warning) and summarise it."""
    from mrisynth.io import read_sequence

    if args.spacing is not None and len(args.spacing) not in (1, 2):
        raise ValueError("--spacing takes one value or two (row col) in mm")
    options: dict[str, Any] = {}
    if args.discard_frames is not None:
        options["discard_frames"] = args.discard_frames
    seq = read_sequence(
        args.path,
        audio=args.audio,
        fps=args.fps,
        spacing_mm=None if args.spacing is None else tuple(args.spacing),
        orientation=args.orientation,
        strict_av=False,
        **options,
    )
    info = seq.summary()
    prov = seq.provenance
    info.update(
        source=prov.get("source"),
        format=prov.get("format"),
        audio_source=prov.get("audio_source"),
        fps_source=prov.get("fps_source"),
        spacing_source=prov.get("spacing_source"),
        orientation=prov.get("orientation"),
        header=prov.get("header", {}),
        warnings=list(prov.get("warnings", [])),
    )
    info.setdefault("audio_video_mismatch_s", None)
    return info


def _text(info: dict[str, Any]) -> str:
    sp = info["spacing_mm"]
    lines = [
        f"source        {info['source']} ({info['format']})",
        f"frames        {info['frames']}",
        f"matrix        {info['height']} x {info['width']} (H x W)",
        f"dtype         {info['dtype']}",
        f"intensity     {info['intensity_min']:g} .. {info['intensity_max']:g}",
        f"fps           {info['fps']:.4f} ({info['fps_source']})",
        f"spacing       {sp[0]:.4f} x {sp[1]:.4f} mm ({info['spacing_source']})",
        f"field of view {sp[0] * info['height']:.1f} x {sp[1] * info['width']:.1f} mm",
        f"duration      {info['duration_s']:.3f} s",
        f"orientation   {info['orientation']}",
    ]
    if info["audio_sample_rate"]:
        lines += [
            f"audio         {info['audio_source']}: {info['audio_sample_rate']} Hz, "
            f"{info['audio_duration_s']:.3f} s, offset {info['audio_offset_s']:+.3f} s",
            f"A/V mismatch  {info['audio_video_mismatch_s']:+.3f} s (audio end - video end)",
        ]
    else:
        lines.append("audio         none")
    for key, value in info["header"].items():
        lines.append(f"header        {key} = {value}")
    for w in info["warnings"]:
        lines.append(f"warning       {w}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = describe(args)
    print(json.dumps(info, indent=2) if args.json else _text(info))
    return 0
