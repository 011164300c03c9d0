"""``mrisynth evaluate``: score a generator, baselines and the real videos on the test split.

Example::

    mrisynth evaluate --prepared data/prepared/prepared.csv --generator runs/gen/generator.pt \\
        --eval-expert runs/eval_expert/expert.pt --segmenter runs/seg/segmenter.pt \\
        --out reports/eval --params params.yaml --set n_videos=2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mrisynth.cli.common import add_config_arguments, resolve_section
from mrisynth.evaluation.evaluate import EvalConfig, evaluate

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prepared", required=True, type=Path, help="prepared.csv (from `mrisynth prepare`)"
    )
    parser.add_argument("--generator", required=True, type=Path, help="generator.pt")
    parser.add_argument(
        "--eval-expert",
        required=True,
        type=Path,
        help="evaluation sync expert (trained separately from the generator's expert)",
    )
    parser.add_argument(
        "--segmenter",
        type=Path,
        help="articulator segmenter checkpoint (without it: no anatomical metrics, e.g. faces)",
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="report folder (metrics.json, report.html...)"
    )
    add_config_arguments(parser, "evaluate", "n_videos=2 warp_stride=8")
    parser.add_argument(
        "--metrics", type=Path, help="also write metrics.json here (e.g. a DVC metrics file)"
    )
    parser.add_argument(
        "--plots", type=Path, help="also copy the plot data CSVs (offset curve...) to this folder"
    )
    parser.add_argument("--mlflow", action="store_true", help="log metrics and report to MLflow")


def build_config(params: Path | None, overrides: list[str]) -> EvalConfig:
    """The :class:`EvalConfig` of a ``params.yaml`` 'evaluate' section plus ``--set`` overrides."""
    return resolve_section(
        EvalConfig, "evaluate", argparse.Namespace(params=params, overrides=overrides)
    )


def run(args: argparse.Namespace) -> int:
    for flag, path in (
        ("--prepared", args.prepared),
        ("--generator", args.generator),
        ("--eval-expert", args.eval_expert),
        ("--segmenter", args.segmenter),
    ):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{flag}: {path} does not exist")
    import json
    import shutil

    from mrisynth.engine.tracking import NullTracker, Tracker, pipeline_context

    cfg = build_config(args.params, args.overrides)
    tracker = Tracker() if args.mlflow else NullTracker()
    experiment, tags = pipeline_context()
    tracker.start("evaluate", experiment=experiment, tags={**tags, "stage": "evaluate"})
    try:
        metrics = evaluate(
            args.prepared,
            args.generator,
            args.eval_expert,
            args.segmenter,
            args.out,
            cfg,
            tracker=tracker,
        )
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end("FINISHED")
    if args.metrics:
        args.metrics.parent.mkdir(parents=True, exist_ok=True)
        args.metrics.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
        for name in ("offset_curve.csv", "trajectories.csv"):
            if (args.out / name).is_file():
                shutil.copy2(args.out / name, args.plots / name)
    print(f"{args.out / 'metrics.json'} ({len(metrics)} metrics)")
    return 0
