"""``mrisynth info PATH``: describe a recording (any supported format) and its audio.

Prints frames, matrix, dtype, intensity range, fps, spacing, durations, the audio-video
mismatch, where the first frames are still brighter than the steady state, and warnings;
``--json`` prints the same as one JSON object. Only allow-listed technical header fields are
ever shown (DICOM identifiers never are).

Unlike the other commands, ``info`` reads a recording whose frame rate or pixel spacing
nobody states (an AVI has no spacing): it shows ``unknown`` (JSON ``null``, with
``fps_source`` / ``spacing_source`` ``"unknown"``) and what depends on it (field of view,
duration). ``--dataset NAME`` fills what the file does not state from a preset
(:mod:`mrisynth.io.datasets`).
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
        "--dataset",
        metavar="NAME",
        help="dataset preset filling fps/spacing the file does not state "
        "(usc75, usc-timit, usc-span)",
    )
    parser.add_argument(
        "--discard-frames", type=int, default=None, help="HDF5 (USC): drop the first N frames"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def describe(args: argparse.Namespace) -> dict[str, Any]:
    """Read the recording leniently (A/V mismatch as a warning, fps / spacing may be unknown)
    and summarise it; ``steady_state_frame`` is :func:`~mrisynth.data.quality.
    steady_state_start` (frames before steady state; a warning when > 0)."""
    from mrisynth.data.quality import steady_state_start
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
        dataset_preset=getattr(args, "dataset", None),
        require_fps=False,
        require_spacing=False,
        **options,
    )
    info = seq.summary()
    prov = seq.provenance
    sp = seq.spacing_mm
    steady = steady_state_start(seq.frames, seq.fps)
    warnings = list(prov.get("warnings", []))
    if steady:
        at = f"{steady / seq.fps:.2f} s" if seq.fps else "time unknown"
        warnings.append(
            f"non-steady-state start: steady state from frame {steady} ({at}); the first "
            "frames are brighter (prepare drops them with --set trim_transient=true)"
        )
    info.update(
        source=prov.get("source"),
        format=prov.get("format"),
        audio_source=prov.get("audio_source"),
        fps_source=prov.get("fps_source"),
        spacing_source=prov.get("spacing_source"),
        orientation=prov.get("orientation"),
        header=prov.get("header", {}),
        field_of_view_mm=None if sp is None else [sp[0] * seq.height, sp[1] * seq.width],
        steady_state_frame=steady,
        steady_state_s=steady / seq.fps if seq.fps else None,
        warnings=warnings,
    )
    info.setdefault("audio_video_mismatch_s", None)
    return info


def _text(info: dict[str, Any]) -> str:
    sp, fov = info["spacing_mm"], info["field_of_view_mm"]
    unknown = "unknown (pass --spacing MM or --dataset NAME)"
    lines = [
        f"source        {info['source']} ({info['format']})",
        f"frames        {info['frames']}",
        f"matrix        {info['height']} x {info['width']} (H x W)",
        f"dtype         {info['dtype']}",
        f"intensity     {info['intensity_min']:g} .. {info['intensity_max']:g}",
        "fps           "
        + (
            f"{info['fps']:.4f} ({info['fps_source']})"
            if info["fps"] is not None
            else "unknown (pass --fps or --dataset NAME)"
        ),
        "spacing       "
        + (f"{sp[0]:.4f} x {sp[1]:.4f} mm ({info['spacing_source']})" if sp else unknown),
        "field of view " + (f"{fov[0]:.1f} x {fov[1]:.1f} mm" if fov else "unknown"),
        "duration      "
        + (f"{info['duration_s']:.3f} s" if info["duration_s"] is not None else "unknown"),
        f"orientation   {info['orientation']}",
    ]
    if info["audio_sample_rate"]:
        mismatch = info["audio_video_mismatch_s"]
        lines += [
            f"audio         {info['audio_source']}: {info['audio_sample_rate']} Hz, "
            f"{info['audio_duration_s']:.3f} s, offset {info['audio_offset_s']:+.3f} s",
            "A/V mismatch  "
            + (
                f"{mismatch:+.3f} s (audio end - video end)"
                if mismatch is not None
                else "unknown (frame rate unknown)"
            ),
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
