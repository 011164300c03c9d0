"""The seed study's per-language table from an evaluation's per-clip rows.

:func:`mrisynth.evaluation.evaluate.evaluate` writes every scored clip to
``per_utterance.csv``; :func:`language_report` groups those rows by language × condition and
writes, for the model (and the real recording, scored by the same evaluation expert):

- ``languages.md`` / ``languages.csv``: LSE-D, LSE-C, SSIM and the anatomical metrics
  (mean Dice, mean HD95 in mm, constriction-degree error in mm) per language for the
  ``image_audio`` ("image+audio") and ``video_audio`` ("video+audio") conditions, each as
  mean [95% CI] over the language's test clips, with the number of clips;
- ``languages.png``: the same means with their CIs as error bars, one panel per metric;
- flat ``{"<lang>.<method>.<condition>.<metric>": mean}`` numbers (returned, and
  ``languages.json``) for DVC.

Languages come in the seed study's order (Telugu, Tamil, Kannada, Malayalam, Hindi, English);
a requested language without test clips is shown as ``n/a``, never left out silently.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mrisynth.evaluation.config import PSEUDO_LABELS
from mrisynth.evaluation.report import (
    LANGUAGE_NAMES,
    SEED_TABLE_LANGUAGES,
    aggregate,
    markdown_table,
    split_by_anatomy_reference,
)
from mrisynth.metrics.stats import Summary

__all__ = ["LANGUAGE_METRICS", "read_rows", "language_rows", "language_report"]

#: ``(column of per_utterance.csv, label)`` in the table's order: sync, image, face (with a
#: landmark regressor, :mod:`mrisynth.evaluation.face`), anatomy.
LANGUAGE_METRICS: tuple[tuple[str, str], ...] = (
    ("lse_d", "LSE-D ↓"),
    ("lse_c", "LSE-C ↑"),
    ("ssim", "SSIM ↑"),
    ("lmd_mouth", "mouth LMD ↓"),
    ("mouth_cpbd", "mouth CPBD ↑"),
    ("dice_mean", "Dice ↑"),
    ("hd95_mean_mm", "HD95 mm ↓"),
    ("degree_err_mean_mm", "degree err. mm ↓"),
)
_KEYS = ("utterance", "speaker", "language", "method", "condition")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_rows(per_utterance_csv: str | Path) -> list[dict[str, Any]]:
    """The per-clip rows of an evaluation (numbers as floats, empty cells as NaN).

    Raises:
        FileNotFoundError: no such file (not an evaluation folder).
        ValueError: a file without the key columns.
    """
    path = Path(per_utterance_csv)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no per-clip rows (run `mrisynth evaluate` first)")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [
            k for k in ("language", "method", "condition") if k not in (reader.fieldnames or [])
        ]
        if missing:
            raise ValueError(f"{path}: lacks the column(s) {missing}")
        raw_rows = list(reader)
    # a column is numeric only when every non-empty cell is a number (``reference_utterance``
    # is empty on the ``real`` rows: it must not turn into a column of NaN and names)
    numeric = {
        k
        for k in (reader.fieldnames or [])
        if k not in _KEYS and all(_is_number(r[k]) for r in raw_rows if r[k] not in ("", None))
    }
    rows = [
        {k: (float(v) if v not in ("", None) else math.nan) if k in numeric else v
         for k, v in raw.items()}
        for raw in raw_rows
    ]  # fmt: skip
    return rows


def _fmt(s: Summary | None) -> str:
    return "n/a" if s is None or s.n == 0 or not math.isfinite(s.mean) else s.format(3)


def language_rows(
    rows: Sequence[dict[str, Any]],
    languages: Sequence[str] = SEED_TABLE_LANGUAGES,
    conditions: Sequence[str] = ("image_audio", "video_audio"),
    method: str = "model",
    *,
    metrics: Sequence[str] | None = None,
    pseudo_labels: bool = False,
) -> tuple[list[str], list[list[str]], dict[str, float]]:
    """The per-language table: one line per language × source (``method`` per condition,
    then the real recording).

    Args:
        rows: per-clip rows (:func:`read_rows`).
        languages, conditions, method: what the table shows, in order.
        metrics: the columns (default: those of :data:`LANGUAGE_METRICS` the rows have).
        pseudo_labels: ``rows`` hold anatomy against segmenter pseudo-labels
            (:func:`~mrisynth.evaluation.report.split_by_anatomy_reference`): the lines say
            so, the flat keys start with ``pseudo_labels.`` and the recording has no line.

    Returns:
        ``(headers, lines, flat)``: strings for the table, and the flat means.
    """
    cells = aggregate(rows, ("language", "method", "condition"))
    present = (
        list(metrics)
        if metrics is not None
        else [m for m, _ in LANGUAGE_METRICS if any(m in r for r in rows)]
    )
    labels = dict(LANGUAGE_METRICS)
    headers = [
        "language",
        "condition",
        *[labels[m] for m in present],
        "n clips",
    ]
    lines: list[list[str]] = []
    flat: dict[str, float] = {}
    for lang in languages:
        name = LANGUAGE_NAMES.get(lang, lang)
        tag = " vs pseudo-labels" if pseudo_labels else ""
        sources = [(method, c, c.replace("_", "+") + tag) for c in conditions]
        if not pseudo_labels:
            sources.append(("real", "real", "recording"))
        prefix = f"{PSEUDO_LABELS}." if pseudo_labels else ""
        for src, cond, label in sources:
            cell = cells.get((lang, src, cond), {})
            n = cell["n_clips"].n if "n_clips" in cell else 0
            line = [name, label]
            for m in present:
                s = cell.get(m)
                line.append(_fmt(s))
                if s is not None and s.n and math.isfinite(s.mean):
                    key = f"{lang}.{src}.{cond}.{m}" if src != "real" else f"{lang}.real.{m}"
                    flat[prefix + key] = s.mean
            line.append(str(n))
            lines.append(line)
    return headers, lines, flat


def _plot(rows: Sequence[dict[str, Any]], languages: Sequence[str], conditions, method, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cells = aggregate(rows, ("language", "method", "condition"))
    metrics = [(m, lbl) for m, lbl in LANGUAGE_METRICS if any(m in r for r in rows)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    x = np.arange(len(languages))
    sources = [(method, c) for c in conditions] + [("real", "real")]
    width = 0.8 / len(sources)
    for ax, (m, label) in zip(axes[0], metrics):
        for i, (src, cond) in enumerate(sources):
            means, lo, hi = [], [], []
            for lang in languages:
                s = cells.get((lang, src, cond), {}).get(m)
                ok = s is not None and s.n > 0 and math.isfinite(s.mean)
                means.append(s.mean if ok else np.nan)
                lo.append(s.mean - s.low if ok else 0.0)
                hi.append(s.high - s.mean if ok else 0.0)
            if np.isfinite(means).any():
                ax.bar(x + (i - (len(sources) - 1) / 2) * width, means, width, yerr=[lo, hi],
                       capsize=2, label=cond.replace("_", "+") if src != "real" else "recording")  # fmt: skip
        ax.set_title(label)
        ax.set_xticks(x, [LANGUAGE_NAMES.get(g, g)[:3] for g in languages])
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def language_report(
    eval_dir: str | Path,
    out_dir: str | Path | None = None,
    languages: Sequence[str] = SEED_TABLE_LANGUAGES,
    conditions: Sequence[str] = ("image_audio", "video_audio"),
    method: str = "model",
) -> dict[str, float]:
    """Write the per-language table of an evaluation folder (``per_utterance.csv``).

    Args:
        eval_dir: the ``--out`` folder of ``mrisynth evaluate``.
        out_dir: where to write ``languages.{md,csv,json,png}`` (default: ``eval_dir``).
        languages: language codes, in table order.
        conditions: the method's conditions to show.
        method: the method whose rows are shown beside the recording (``model``).

    Returns:
        The flat means.

    Raises:
        ValueError: none of ``languages`` has a test clip (names those present).
    """
    eval_dir = Path(eval_dir)
    out = Path(out_dir) if out_dir is not None else eval_dir
    rows = read_rows(eval_dir / "per_utterance.csv")
    have = sorted({r["language"] for r in rows if r.get("language")})
    if not set(languages) & set(have):
        raise ValueError(
            f"{eval_dir}: no test clips in {', '.join(languages)} (the evaluation has "
            f"{', '.join(have) or 'no language column values'})"
        )
    # anatomy against ground truth and against pseudo-labels is never averaged together
    rows, pseudo = split_by_anatomy_reference(rows)
    columns = [m for m, _ in LANGUAGE_METRICS if any(m in r for r in (*rows, *pseudo))]
    headers, lines, flat = language_rows(rows, languages, conditions, method, metrics=columns)
    if pseudo:
        _, more, more_flat = language_rows(
            pseudo, languages, conditions, method, metrics=columns, pseudo_labels=True
        )
        lines += more
        flat.update(more_flat)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "languages.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(headers)
        writer.writerows(lines)
    plot = _plot(rows, languages, conditions, method, out / "languages.png")
    (out / "languages.md").write_text(
        "# Per language: the model in the image+audio and video+audio conditions, and the "
        "recording\n\nMean [95% CI] over each language's test clips. LSE-D/LSE-C come from "
        "the evaluation expert (compare with the recording's own row, not with public SyncNet "
        "numbers); anatomy is the segmenter's reading of each video against the recording's "
        "labels, or, on lines marked 'vs pseudo-labels' (recordings without labels), against "
        "the segmenter's reading of the real frames: agreement, not anatomical truth, and "
        "never averaged with the former.\n\n"
        + markdown_table(headers, lines)
        + f"\n![per language]({plot.name})\n",
        encoding="utf-8",
    )
    (out / "languages.json").write_text(json.dumps(flat, indent=2, sort_keys=True) + "\n")
    return flat
