"""``mrisynth prepare``: vocal-tract ROI, crop, resize and normalise every recording of a manifest."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from mrisynth.cli.common import add_config_arguments, resolve_section
from mrisynth.data.prepare import PrepareConfig, prepare_manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest", required=True, type=Path, help="manifest.csv of the recordings"
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (gets prepared.csv)")
    parser.add_argument(
        "--dataset",
        metavar="NAME",
        help="dataset preset filling fps/spacing the files do not state (usc75, usc-timit, "
        "usc-span); a manifest 'dataset' column overrides it per row",
    )
    add_config_arguments(parser, "prepare", "img_size=96 roi_size_mm=110 trim_transient=true")


def run(args: argparse.Namespace) -> int:
    cfg = resolve_section(PrepareConfig, "prepare", args)
    if args.dataset is not None:  # over --params / --set: the command line's own option
        cfg = dataclasses.replace(cfg, dataset=args.dataset)
    path = prepare_manifest(args.manifest, args.out, cfg)
    print(path)
    return 0
