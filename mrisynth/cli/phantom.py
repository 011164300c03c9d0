"""``mrisynth phantom``: build a phantom speech-MRI corpus (MRI, labels, measures, audio, face)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from mrisynth.cli.common import add_config_arguments, resolve_section
from mrisynth.phantom.corpus import PhantomConfig, build_corpus, plan_corpus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder (gets manifest.csv)")
    parser.add_argument(
        "--preset", default="small", help="phantom preset in configs/phantom/ (default: small)"
    )
    add_config_arguments(parser, "phantom", "n_target_speakers=3 face=false")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def resolve_config(args: argparse.Namespace) -> PhantomConfig:
    """PhantomConfig from a preset (or an experiment's params.yaml) plus ``--set`` overrides."""
    return resolve_section(PhantomConfig, "phantom", args, preset=args.preset)


def run(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    plan = plan_corpus(cfg)
    if args.dry_run:
        for utt in plan:
            print(utt.id, utt.split)
        print(f"{len(plan)} utterances")
        return 0
    t0 = time.perf_counter()
    manifest = build_corpus(cfg, args.out, progress=not args.no_progress)
    elapsed = time.perf_counter() - t0
    summary = {"manifest": str(manifest), "utterances": len(plan), "seconds": round(elapsed, 2)}
    print(json.dumps(summary))
    # no timing in the file: the phantom's outputs are byte-identical across runs, so DVC's
    # hash of the stage output (and every stage downstream) does not change on a re-run
    info = {k: v for k, v in summary.items() if k != "seconds"}
    (Path(args.out) / "build_info.json").write_text(
        json.dumps({**info, "config": dataclasses.asdict(cfg)}, indent=2)
    )
    return 0
