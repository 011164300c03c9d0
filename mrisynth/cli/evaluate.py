"""``mrisynth evaluate``: score a generator, baselines and the real videos on the test split.

Example::

    mrisynth evaluate --prepared data/prepared/prepared.csv --generator runs/gen/generator.pt \\
        --eval-expert runs/eval_expert/expert.pt --segmenter runs/seg/segmenter.pt \\
        --out reports/eval --params params.yaml --set n_videos=2

Test recordings without labels (real rtMRI) are scored against the segmenter's own labels of
their frames (pseudo-labels), kept apart from anatomy against ground-truth labels in the
report. ``--segmenter-accuracy seg_accuracy.json`` adds the segmenter's accuracy on real
contour-labelled data beside them: a JSON object with ``symmetric_mm`` and ``hd95_mm``
(required, mm) and optional ``source`` (text), ``pred_to_ref_mm``, ``ref_to_pred_mm``,
``pred_scored`` and ``n_clips`` (schema: :mod:`mrisynth.evaluation.evaluate`)::

    {"symmetric_mm": 1.85, "hd95_mm": 7.36, "n_clips": 27,
     "source": "experiments/real_contours/metrics/loso.md, phantom + all real"}
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
        help="articulator segmenter checkpoint (without it: no anatomical metrics, e.g. faces); "
        "test recordings without labels are scored against its labels of the real frames "
        "(pseudo-labels), reported apart",
    )
    parser.add_argument(
        "--segmenter-accuracy",
        type=Path,
        metavar="FILE.json",
        help="the segmenter's own accuracy on real contour-labelled data, shown beside the "
        'pseudo-label anatomy: {"symmetric_mm": <mm>, "hd95_mm": <mm>} plus optional "source" '
        '(text), "pred_to_ref_mm", "ref_to_pred_mm", "pred_scored" (0-1), "n_clips"; '
        "e.g. a row of experiments/real_contours/metrics/loso.md",
    )
    parser.add_argument(
        "--landmarks",
        type=Path,
        metavar="landmarks.pt",
        help="face landmark regressor (RGB face video): adds LMD, mouth CPBD, blink and "
        "head-motion metrics (mrisynth.evaluation.face)",
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
        ("--segmenter-accuracy", args.segmenter_accuracy),
        ("--landmarks", args.landmarks),
    ):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{flag}: {path} does not exist")
    import json
    import shutil

    from mrisynth.engine.tracking import NullTracker, Tracker
    from mrisynth.evaluation.evaluate import read_segmenter_accuracy

    accuracy = None
    if args.segmenter_accuracy is not None:
        if args.segmenter is None:
            raise ValueError("--segmenter-accuracy needs --segmenter (it describes that segmenter)")
        # a bad file is reported before any model is loaded
        accuracy = read_segmenter_accuracy(args.segmenter_accuracy)
    cfg = build_config(args.params, args.overrides)
    tracker = Tracker() if args.mlflow else NullTracker()
    tracker.start_stage("evaluate", params=args.params)
    try:
        metrics = evaluate(
            args.prepared,
            args.generator,
            args.eval_expert,
            args.segmenter,
            args.out,
            cfg,
            tracker=tracker,
            segmenter_accuracy=accuracy,
            landmarks_ckpt=args.landmarks,
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
