"""``mrisynth prepare``: vocal-tract ROI, crop, resize and normalise every recording of a manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from mrisynth.config.presets import load_section
from mrisynth.config.schema import from_dict, parse_overrides
from mrisynth.data.prepare import PrepareConfig, prepare_manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--manifest", required=True, type=Path, help="manifest.csv of the recordings"
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (gets prepared.csv)")
    parser.add_argument(
        "--params", type=Path, help="experiment params.yaml; its 'prepare' section is used"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override a PrepareConfig field, e.g. --set img_size=96 (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    data = load_section("prepare", None, params=args.params)
    data.update(parse_overrides(args.overrides))
    cfg = from_dict(PrepareConfig, data, where="prepare")
    path = prepare_manifest(args.manifest, args.out, cfg)
    print(path)
    return 0
