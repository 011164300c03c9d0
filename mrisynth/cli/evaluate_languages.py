"""``mrisynth evaluate-languages``: the per-language table of the seed study.

A thin wrapper over ``mrisynth evaluate`` (same arguments): it evaluates the test utterances,
then writes ``languages.md`` / ``.csv`` / ``.json`` / ``.png`` in ``--out``
(:mod:`mrisynth.evaluation.languages`): LSE-D, LSE-C, SSIM and the anatomical metrics per
language for the image+audio and video+audio conditions, with 95% CIs.

Example (after ``make quickstart``)::

    mrisynth evaluate-languages --prepared experiments/quickstart/data/prepared/prepared.csv \\
        --generator experiments/quickstart/models/finetune/generator.pt \\
        --eval-expert experiments/quickstart/models/eval_expert/expert.pt \\
        --segmenter experiments/quickstart/models/segmenter/segmenter.pt --out reports/languages
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mrisynth.cli import evaluate as evaluate_cli
from mrisynth.evaluation.report import SEED_TABLE_LANGUAGES

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    evaluate_cli.add_arguments(parser)
    parser.add_argument(
        "--languages",
        default=",".join(SEED_TABLE_LANGUAGES),
        help="language codes in table order, comma-separated (default: the phantom's six)",
    )


def _check_languages(prepared_csv: Path, languages: list[str]) -> None:
    """At least one of ``languages`` has test utterances in ``prepared_csv``."""
    from mrisynth.data.manifest import read_manifest

    if not Path(prepared_csv).is_file():
        return  # evaluate names the missing file
    have = sorted({e.language for e in read_manifest(prepared_csv) if e.split == "test"} - {None})
    if not set(languages) & set(have):
        raise ValueError(
            f"{prepared_csv}: no test utterances in {', '.join(languages)} "
            f"(it has {', '.join(have) or 'no languages'})"
        )


def run(args: argparse.Namespace) -> int:
    from mrisynth.evaluation.languages import language_report

    languages = [code.strip() for code in args.languages.split(",") if code.strip()]
    if not languages:
        raise ValueError("--languages: give at least one language code, e.g. te,ta,en")
    _check_languages(args.prepared, languages)  # before the evaluation's minutes, not after
    evaluate_cli.run(args)
    flat = language_report(args.out, languages=languages)
    print(f"{args.out / 'languages.md'} ({len(languages)} languages, {len(flat)} numbers)")
    return 0
