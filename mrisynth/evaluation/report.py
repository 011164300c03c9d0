"""From per-clip evaluation rows to tables, DVC metrics, plots and an HTML report.

:func:`mrisynth.evaluation.evaluate.evaluate` scores every test clip and hands the rows to this
module, which only aggregates and writes (no models, no data loading), so it is tested on small
fake rows.

A **row** is one ``(utterance, method, condition)`` result: ``utterance``, ``speaker``,
``language``, ``method``, ``condition`` and numeric metric columns (NaN = not measured).
Methods are ``model`` and ``baseline_<name>`` (one row per condition), and three rows per test
utterance with ``condition = "real"``: ``real`` (the recorded video scored by the evaluation
expert), ``shuffled`` (the recorded video with another test utterance's audio) and
``segmenter`` (the segmenter on the recorded frames vs the ground-truth labels).

**Anatomy reference.** A row with anatomy columns says what they were scored against in
``anatomy_reference``: ``"ground_truth"`` (the recording's labels; the default of rows without
the column) or ``"pseudo_labels"`` (a recording without labels: segmenter(synthesized) vs
segmenter(real), agreement with the segmenter's reading of the real video, not anatomical
truth). The two are never averaged together (:func:`split_by_anatomy_reference`): the usual
keys (``model.image_audio.dice_mean``) hold anatomy against ground-truth labels only, and
anatomy against pseudo-labels gets its own keys ``pseudo_labels.<method>.<condition>.<metric>``,
tables and notes. A ``segmenter`` row against pseudo-labels (a perfect self-comparison) is
dropped; the segmenter's accuracy on real contour-labelled data (``segmenter_accuracy``) is
shown beside the pseudo-label anatomy instead.

Files written by :func:`write_report`:

- ``metrics.json``: flat ``{"model.image_audio.dice_mean": 0.83, "real.lse_d": 7.1, ...}``
  means (no NaN: unmeasured keys are dropped), usable as DVC metrics;
- ``summary.json``: the same cells with 95% CI and ``n`` clips;
- ``anatomy_reference.json`` (when anatomy is scored): which test utterances were scored
  against which reference, the ``metrics.json`` key form of each, and the segmenter accuracy;
- ``per_utterance.csv``, ``per_class.csv``, ``comparisons.csv`` (and
  ``comparisons_pseudo_labels.csv``), ``offset_curve.csv``, ``trajectories.csv`` (DVC plots
  data);
- ``tables.md`` and ``report.html`` (per method × condition, per language, per speaker, per
  phoneme class, the seed-study LSE table, the retroflex-vs-dental check and the comparisons);
- ``plots/*.png`` (matplotlib Agg).

Which metrics go in which table, which way is better, and what each one means come from
:mod:`mrisynth.evaluation.metrics_registry` (the report ends with their definitions).
"""

from __future__ import annotations

import csv
import html
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrisynth.evaluation.config import ANATOMY_REFERENCES, GROUND_TRUTH, PSEUDO_LABELS
from mrisynth.evaluation.metrics_registry import METRICS, directions, find_metric, metric_names
from mrisynth.metrics.stats import Summary, intervals_overlap, summarize

logger = logging.getLogger(__name__)

__all__ = [
    "REFERENCE_METHODS",
    "LANGUAGE_NAMES",
    "SEED_TABLE_LANGUAGES",
    "METRIC_DIRECTIONS",
    "COMPARED_METRICS",
    "RETROFLEX_PREFIX",
    "aggregate",
    "split_by_anatomy_reference",
    "flat_metrics",
    "retroflex_metrics",
    "parse_metrics_key",
    "metric_definitions",
    "compare_methods",
    "language_lse_table",
    "markdown_table",
    "html_table",
    "write_csv",
    "write_report",
]

#: Methods scored once per test utterance on the recorded video (condition ``"real"``).
REFERENCE_METHODS = ("real", "shuffled", "segmenter")
LANGUAGE_NAMES = {
    "te": "Telugu",
    "ta": "Tamil",
    "kn": "Kannada",
    "ml": "Malayalam",
    "hi": "Hindi",
    "en": "English",
}
#: Row order of the per-language LSE table (as in the seed study).
SEED_TABLE_LANGUAGES = ("te", "ta", "kn", "ml", "hi", "en")
#: ``"max"``: higher is better; ``"min"``: lower is better (from the metric registry; metrics
#: not listed have no direction).
METRIC_DIRECTIONS: dict[str, str] = directions()
#: Anatomical and sync metrics of the model-vs-baseline comparison list.
COMPARED_METRICS = metric_names("compare")
_KEY_COLUMNS = ("utterance", "speaker", "language", "method", "condition")
#: Prefix of the retroflex-check keys of ``metrics.json``.
RETROFLEX_PREFIX = "retroflex_check"
_SYNC_NOTE = (
    "Absolute LSE-D/LSE-C values come from mrisynth's own evaluation expert (trained on this "
    "data, separately from the generator's sync expert). They are **not comparable** with "
    "numbers computed with the public SyncNet weights; read them beside the real video's "
    "scores from the same expert (row `real`) and the shuffled-audio control (row `shuffled`)."
)
#: Row columns scored against an anatomy reference (the registry's ``anatomy`` group).
_ANATOMY_COLUMNS = frozenset(m.name for m in METRICS if m.group == "anatomy")
_GROUND_TRUTH_NOTE = (
    "Anatomy against **ground-truth labels**: the segmenter's labels of each video vs the "
    "recording's label maps (metrics.json keys `<method>.<condition>.<metric>`); row "
    "`segmenter` is the segmenter on the recorded frames vs the same labels."
)
_PSEUDO_NOTE = (
    "Anatomy against **segmenter(real) pseudo-labels** (test recordings without labels): "
    "without labels, anatomy is segmenter(synthesized) vs segmenter(real), so it measures "
    "agreement with the segmenter's reading of the real video, **not anatomical truth**; the "
    "segmenter's own errors are on both sides. These numbers have their own metrics.json keys "
    "(`pseudo_labels.<method>.<condition>.<metric>`) and tables and are never averaged with "
    "anatomy against ground-truth labels. There is no `segmenter` row for these recordings "
    "(it would be a perfect self-comparison): read the segmenter's own accuracy on real, "
    "labelled data beside them (section 'Segmenter accuracy on real data')."
)
_ACCURACY_NOTE = (
    "How well the segmenter reads real frames bounds what the pseudo-label anatomy can tell. "
    "Boundary distances: the segmenter's air-tissue boundary vs manual contours of real rtMRI "
    "(mrisynth.evaluation.boundary), from the file named in 'source'."
)
#: Report names of the segmenter-accuracy fields (``mrisynth.evaluation.evaluate``).
_ACCURACY_FIELDS = {
    "symmetric_mm": "symmetric mean boundary distance (mm, lower better)",
    "hd95_mm": "boundary HD95 (mm, lower better)",
    "pred_to_ref_mm": "predicted -> manual mean distance (mm)",
    "ref_to_pred_mm": "manual -> predicted mean distance (mm)",
    "pred_scored": "fraction of the predicted boundary scored",
}


# ---------------------------------------------------------------------------------- helpers
def _finite(x: Any) -> bool:
    return isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(float(x))


def _metric_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        cols += [k for k, v in r.items() if k not in _KEY_COLUMNS and k not in cols and _num(v)]
    return cols


def _num(v: Any) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)


def _cell_name(method: str, condition: str) -> str:
    """``"model.image_audio"``; reference methods carry no condition (``"real"``)."""
    return method if method in REFERENCE_METHODS else f"{method}.{condition}"


def _fmt(s: Summary | None, digits: int = 3) -> str:
    return "n/a" if s is None or s.n == 0 else s.format(digits)


# ---------------------------------------------------------------------------------- aggregation
def aggregate(
    rows: Sequence[Mapping[str, Any]], by: Sequence[str] = ("method", "condition")
) -> dict[tuple, dict[str, Summary]]:
    """Mean with 95% CI of every numeric column per group.

    Args:
        rows: per-clip rows (see module docstring); NaN entries are skipped.
        by: grouping columns, e.g. ``("method", "condition")`` or
            ``("language", "method", "condition")``.

    Returns:
        ``{group tuple: {metric: Summary}}``; a metric's ``Summary.n`` is the number of clips
        of the group where it was measured.
    """
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        missing = [k for k in by if k not in r]
        if missing:
            raise ValueError(f"aggregate: row {dict(r)} lacks grouping column(s) {missing}")
        groups.setdefault(tuple(r[k] for k in by), []).append(r)
    cols = _metric_columns(rows)
    out: dict[tuple, dict[str, Summary]] = {}
    for key, group in groups.items():
        out[key] = {c: summarize([g.get(c, np.nan) for g in group]) for c in cols}
        out[key]["n_clips"] = Summary(float(len(group)), len(group), len(group), len(group))
    return out


def _reference(row: Mapping[str, Any]) -> str:
    return row.get("anatomy_reference") or GROUND_TRUTH


def split_by_anatomy_reference(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep anatomy against ground-truth labels and against pseudo-labels apart.

    Args:
        rows: per-clip (or per-class) rows; ``anatomy_reference`` absent = ground truth.

    Returns:
        ``(rows, pseudo_rows)``: every row, with the anatomy columns of pseudo-labelled rows
        removed (their image, sync and temporal metrics do not depend on labels and stay);
        and the pseudo-labelled rows with only their key columns and anatomy columns. A
        ``segmenter`` row against pseudo-labels compares the segmenter with itself and is
        dropped from both.
    """
    kept: list[dict[str, Any]] = []
    pseudo: list[dict[str, Any]] = []
    for r in rows:
        if _reference(r) != PSEUDO_LABELS:
            kept.append(dict(r))
            continue
        if r.get("method") == "segmenter":
            logger.warning(
                "%s: segmenter row against its own pseudo-labels dropped", r.get("utterance")
            )
            continue
        kept.append({k: v for k, v in r.items() if k not in _ANATOMY_COLUMNS})
        pseudo.append({k: v for k, v in r.items() if k in _ANATOMY_COLUMNS or not _num(v)})
    return kept, pseudo


def flat_metrics(cells: Mapping[tuple, Mapping[str, Summary]]) -> dict[str, float]:
    """``{"model.image_audio.dice_mean": mean, "real.lse_d": mean, ...}`` without NaN.

    Args:
        cells: :func:`aggregate` output grouped by ``("method", "condition")``.
    """
    out: dict[str, float] = {}
    for (method, condition), metrics in cells.items():
        prefix = _cell_name(method, condition)
        for name, s in metrics.items():
            if s.n > 0 and math.isfinite(s.mean):
                out[f"{prefix}.{name}"] = float(s.mean)
    return dict(sorted(out.items()))


def retroflex_metrics(retroflex: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Flat ``metrics.json`` entries of the retroflex check rows
    (``retroflex_check.<source>.<metric>``; an undecided verdict is left out)."""
    out: dict[str, float] = {}
    for r in retroflex:
        prefix = f"{RETROFLEX_PREFIX}.{r['source']}"
        for k in ("retroflex_x_mm", "dental_x_mm"):
            out[f"{prefix}.{k}"] = r[k]
        if r["retroflex_behind_dental"] is not None:
            out[f"{prefix}.retroflex_behind_dental"] = float(r["retroflex_behind_dental"])
    return out


def parse_metrics_key(key: str) -> tuple[str, str | None, str]:
    """Split a ``metrics.json`` key into ``(method or check source, condition, metric)``.

    ``"model.image_audio.dice_mean"`` → ``("model", "image_audio", "dice_mean")``;
    ``"real.lse_d"`` → ``("real", None, "lse_d")``; ``"retroflex_check.model.image_audio.
    dental_x_mm"`` → ``("model.image_audio", None, "dental_x_mm")`` (the inverse of
    :func:`flat_metrics` and :func:`retroflex_metrics`); anatomy against pseudo-labels keeps
    its prefix on the method: ``"pseudo_labels.model.image_audio.dice_mean"`` →
    ``("pseudo_labels.model", "image_audio", "dice_mean")``.

    Raises:
        ValueError: a key of neither form.
    """
    parts = key.split(".")
    if parts[0] == RETROFLEX_PREFIX and len(parts) >= 3:
        return ".".join(parts[1:-1]), None, parts[-1]
    if parts[0] == PSEUDO_LABELS and len(parts) == 4 and parts[1] not in REFERENCE_METHODS:
        return f"{PSEUDO_LABELS}.{parts[1]}", parts[2], parts[3]
    if len(parts) == 2 and parts[0] in REFERENCE_METHODS:
        return parts[0], None, parts[1]
    if len(parts) == 3 and parts[0] not in REFERENCE_METHODS:
        return parts[0], parts[1], parts[2]
    raise ValueError(
        f"metrics key {key!r} is neither <method>.<condition>.<metric>, "
        f"<{'|'.join(REFERENCE_METHODS)}>.<metric>, {PSEUDO_LABELS}.<method>.<condition>."
        f"<metric> nor {RETROFLEX_PREFIX}.<source>.<metric>"
    )


def metric_definitions(columns: Iterable[str]) -> tuple[list[str], list[list[str]]]:
    """The registry's definition of each metric among ``columns``, in registry order.

    Returns:
        ``(headers, rows)``: metric, better, unit, definition, source; columns the registry
        does not know are listed last as undefined.
    """
    columns = list(dict.fromkeys(columns))
    known = {c: find_metric(c) for c in columns}
    entries = sorted({m for m in known.values() if m is not None}, key=METRICS.index)
    rows = [[m.name, m.better, m.unit, m.description, m.source] for m in entries]
    rows += [[c, "", "", "(not in the metric registry)", ""] for c, m in known.items() if m is None]
    return ["metric", "better", "unit", "definition", "source"], rows


def compare_methods(
    cells: Mapping[tuple, Mapping[str, Summary]],
    metrics: Iterable[str] = COMPARED_METRICS,
    model: str = "model",
) -> list[dict[str, Any]]:
    """Model vs every baseline per condition and metric: who is better, do the CIs overlap.

    Returns:
        Rows ``{condition, metric, baseline, model, baseline_value, model_better,
        ci_overlap, verdict}``; ``model_better`` follows :data:`METRIC_DIRECTIONS`, and
        ``verdict`` says in words whether the difference is clear (non-overlapping 95% CIs).
        Cells without data on either side are skipped.
    """
    out = []
    conditions = sorted({c for m, c in cells if m == model})
    baselines = sorted({m for m, _ in cells if m.startswith("baseline_")})
    for cond in conditions:
        mine = cells.get((model, cond), {})
        for metric in metrics:
            direction = METRIC_DIRECTIONS.get(metric)
            a = mine.get(metric)
            if direction is None or a is None or a.n == 0:
                continue
            for base in baselines:
                b = cells.get((base, cond), {}).get(metric)
                if b is None or b.n == 0:
                    continue
                better = a.mean > b.mean if direction == "max" else a.mean < b.mean
                overlap = intervals_overlap(a, b)
                word = "better" if better else "not better"
                verdict = f"model {word} than {base} on {metric} ({cond}); 95% CIs " + (
                    "overlap: not a clear difference" if overlap else "do not overlap"
                )
                out.append(
                    {
                        "condition": cond,
                        "metric": metric,
                        "baseline": base,
                        "model": a.format(),
                        "baseline_value": b.format(),
                        "model_better": bool(better),
                        "ci_overlap": bool(overlap),
                        "verdict": verdict,
                    }
                )
    return out


def language_lse_table(
    rows: Sequence[Mapping[str, Any]],
    conditions: Sequence[str],
    model: str = "model",
    languages: Sequence[str] = SEED_TABLE_LANGUAGES,
) -> tuple[list[str], list[list[str]]]:
    """Per-language LSE table in the spirit of the seed study.

    Rows: Telugu, Tamil, Kannada, Malayalam, Hindi, English (``n/a`` where a language has no
    test clip); columns: LSE-D and LSE-C of the model per condition, then the real video's
    LSE-D and LSE-C scored by the same expert.

    Returns:
        ``(headers, rows)`` of strings.
    """
    cells = aggregate(rows, ("language", "method", "condition"))
    headers = ["language"]
    for cond in conditions:
        headers += [f"{cond} LSE-D", f"{cond} LSE-C"]
    headers += ["real LSE-D", "real LSE-C", "n clips"]
    table = []
    for lang in languages:
        line = [LANGUAGE_NAMES.get(lang, lang)]
        for cond in conditions:
            c = cells.get((lang, model, cond), {})
            line += [_fmt(c.get("lse_d")), _fmt(c.get("lse_c"))]
        real = cells.get((lang, "real", "real"), {})
        line += [_fmt(real.get("lse_d")), _fmt(real.get("lse_c"))]
        line.append(str(real["n_clips"].n) if "n_clips" in real else "0")
        table.append(line)
    return headers, table


# ---------------------------------------------------------------------------------- tables
def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (``|`` in cells escaped)."""

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML ``<table>`` with escaped cells."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write dict rows as CSV (union of keys, first-seen order; NaN/None as empty cells)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, restval="")
        w.writeheader()
        for r in rows:
            w.writerow(
                {
                    k: ""
                    if v is None or (isinstance(v, float) and not math.isfinite(v))
                    else (f"{v:.6g}" if isinstance(v, float) else v)
                    for k, v in r.items()
                }
            )
    return path


def _summary_table(
    cells: Mapping[tuple, Mapping[str, Summary]], metrics: Sequence[str], label: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    metrics = [m for m in metrics if any(m in c and c[m].n for c in cells.values())]
    headers = [*label, "n clips", *metrics]
    rows = []
    for key in sorted(cells):
        c = cells[key]
        rows.append([*key, str(c["n_clips"].n), *(_fmt(c.get(m)) for m in metrics)])
    return headers, rows


def _dict_table(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    headers: list[str] = []
    for r in rows:
        headers += [k for k in r if k not in headers]
    return headers, [[_show(r.get(h, "")) for h in headers] for r in rows]


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if math.isfinite(v) else "n/a"
    return str(v)


# ---------------------------------------------------------------------------------- plots
def _plot_distributions(rows: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = metric_names("plot")
    groups = sorted({_cell_name(r["method"], r["condition"]) for r in rows})
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 4), squeeze=False)
    drawn = False
    for ax, m in zip(axes[0], metrics):
        data, names = [], []
        for g in groups:
            v = [
                float(r[m])
                for r in rows
                if _cell_name(r["method"], r["condition"]) == g and _finite(r.get(m))
            ]
            if v:
                data.append(v)
                names.append(g)
        if data:
            ax.boxplot(data)
            ax.set_xticks(range(1, len(names) + 1), names, rotation=70, fontsize=7)
            drawn = True
        ax.set_title(f"{m} ({find_metric(m).better})")
    if not drawn:
        plt.close(fig)
        return None
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_offset_curve(curve: Mapping[str, Sequence[float]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ("real", "model", "shuffled"):
        if name in curve:
            ax.plot(curve["offset_ms"], curve[name], label=name)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("audio offset (ms)")
    ax.set_ylabel("mean embedding distance")
    ax.set_title("sync offset curves (evaluation expert)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_trajectories(traj: Mapping[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    places = list(traj["places"])
    fig, axes = plt.subplots(len(places), 1, figsize=(8, 1.8 * len(places)), sharex=True)
    axes = np.atleast_1d(axes)
    t = np.asarray(traj["time_s"])
    reference = ANATOMY_REFERENCES[traj.get("anatomy_reference") or GROUND_TRUTH]
    for ax, place in zip(axes, places):
        ax.plot(t, traj["reference"][place], label=f"reference ({reference})", color="k")
        ax.plot(t, traj["synthesized"][place], label="synthesized (segmented)", color="C1")
        ax.set_ylabel(f"{place}\n(mm)", fontsize=8)
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"constriction degrees, {traj['utterance']} ({traj['condition']})")
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------- writer
def write_report(
    out_dir: str | Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    conditions: Sequence[str],
    class_rows: Sequence[Mapping[str, Any]] = (),
    retroflex: Sequence[Mapping[str, Any]] = (),
    offset_curve: Mapping[str, Sequence[float]] | None = None,
    trajectories: Mapping[str, Any] | None = None,
    extra_metrics: Mapping[str, float] | None = None,
    videos: Sequence[str] = (),
    config: Mapping[str, Any] | None = None,
    segmenter_accuracy: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Aggregate per-clip rows and write every report file into ``out_dir``.

    Args:
        out_dir: output folder (created).
        rows: per-clip rows (module docstring).
        conditions: evaluated conditions, in display order.
        class_rows: per-clip, per-phoneme-class rows ``{utterance, method, condition,
            phoneme_class, n_frames, l1_mask, tongue_tip_degree_err_mm, ...}`` (with
            ``anatomy_reference`` like ``rows``).
        retroflex: rows of the retroflex-vs-dental check ``{source, retroflex_x_mm,
            dental_x_mm, n_retroflex_frames, n_dental_frames, retroflex_behind_dental}``.
        offset_curve: ``{"offset_ms": [...], "real": [...], "model": [...], "shuffled": [...]}``.
        trajectories: constriction trajectories of one clip (see :func:`_plot_trajectories`).
        extra_metrics: further flat metrics to merge into ``metrics.json`` (NaN dropped).
        videos: paths (relative to ``out_dir``) of the side-by-side MP4s, linked in the report.
        config: the evaluation config, shown in the report.
        segmenter_accuracy: the segmenter's accuracy on real contour-labelled data
            ``{"file", "symmetric_mm", "hd95_mm"[, "source", "pred_to_ref_mm",
            "ref_to_pred_mm", "pred_scored", "n_clips"]}``
            (:class:`mrisynth.evaluation.evaluate.SegmenterAccuracy`), shown beside the
            pseudo-label anatomy; None: not known.

    Returns:
        The flat metrics written to ``metrics.json``.
    """
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    if not rows:
        raise ValueError("write_report: no evaluation rows (no test clips were scored)")
    anatomy = _anatomy_references(rows)
    scored, pseudo_rows = split_by_anatomy_reference(rows)
    class_scored, pseudo_class_rows = split_by_anatomy_reference(class_rows)
    cells = aggregate(scored)
    pseudo_cells = aggregate(pseudo_rows) if pseudo_rows else {}
    metrics = flat_metrics(cells)
    metrics.update({f"{PSEUDO_LABELS}.{k}": v for k, v in flat_metrics(pseudo_cells).items()})
    for k, v in (extra_metrics or {}).items():
        if _finite(v) or isinstance(v, bool):
            metrics[k] = float(v)
    metrics = dict(sorted(metrics.items()))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    summary = {
        **{
            _cell_name(m, c): {k: vars(s) for k, s in v.items() if s.n}
            for (m, c), v in cells.items()
        },
        **{
            f"{PSEUDO_LABELS}.{_cell_name(m, c)}": {k: vars(s) for k, s in v.items() if s.n}
            for (m, c), v in pseudo_cells.items()
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default))
    if anatomy or segmenter_accuracy:
        (out / "anatomy_reference.json").write_text(
            json.dumps(
                _anatomy_reference_json(anatomy, segmenter_accuracy),
                indent=1,
                default=_json_default,
            )
        )

    write_csv(rows, out / "per_utterance.csv")
    comparisons = compare_methods(cells)
    write_csv(comparisons, out / "comparisons.csv")
    pseudo_comparisons = _pseudo_comparisons(pseudo_cells)
    if pseudo_comparisons:
        write_csv(pseudo_comparisons, out / f"comparisons_{PSEUDO_LABELS}.csv")
    if class_rows:
        write_csv(class_rows, out / "per_class.csv")
    if offset_curve is not None:
        keys = [k for k in ("offset_ms", "real", "model", "shuffled") if k in offset_curve]
        write_csv(
            [
                {k: float(offset_curve[k][i]) for k in keys}
                for i in range(len(offset_curve[keys[0]]))
            ],
            out / "offset_curve.csv",
        )
    if trajectories is not None:
        t = trajectories["time_s"]
        write_csv(
            [
                {
                    "time_s": float(t[i]),
                    **{
                        f"ref_{p}": float(trajectories["reference"][p][i])
                        for p in trajectories["places"]
                    },
                    **{
                        f"synth_{p}": float(trajectories["synthesized"][p][i])
                        for p in trajectories["places"]
                    },
                }
                for i in range(len(t))
            ],
            out / "trajectories.csv",
        )

    plots = []
    for name, fn, arg in (
        ("metric_distributions.png", _plot_distributions, scored),
        ("offset_curve.png", _plot_offset_curve, offset_curve),
        ("trajectories.png", _plot_trajectories, trajectories),
    ):
        if arg is not None:
            try:
                if fn(arg, out / "plots" / name) is not None:
                    plots.append(f"plots/{name}")
            except (ValueError, KeyError) as e:  # a plot must not lose the numbers
                logger.warning("plot %s failed: %s", name, e)

    # the definitions cover the pseudo-label anatomy too (an unlabelled corpus has no other)
    pseudo_columns = [*_metric_columns(pseudo_rows), *_metric_columns(pseudo_class_rows)]
    sections = _sections(
        scored, cells, conditions, class_scored, retroflex, comparisons, pseudo_columns
    )
    if anatomy or segmenter_accuracy:
        # right after the method × condition table, which holds the ground-truth anatomy
        sections[1:1] = _anatomy_sections(
            anatomy, cells, pseudo_cells, pseudo_class_rows, pseudo_comparisons, segmenter_accuracy
        )
    md = ["# mrisynth evaluation", "", _SYNC_NOTE, ""]
    for title, (headers, table), note in sections:
        md += [f"## {title}", ""]
        md += [note, ""] if note else []
        md += [markdown_table(headers, table), ""]
    (out / "tables.md").write_text("\n".join(md))
    _write_html(out / "report.html", sections, plots, videos, metrics, config)
    return metrics


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return None if isinstance(o, float) and not math.isfinite(o) else str(o)


# ---------------------------------------------------------------------------------- anatomy
def _anatomy_references(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``{reference: [utterance, ...]}`` of the rows with anatomy columns (none: ``{}``)."""
    out: dict[str, list[str]] = {}
    for r in rows:
        if r.get("method") in REFERENCE_METHODS and r.get("method") != "segmenter":
            continue
        if not any(k in _ANATOMY_COLUMNS for k in r) and "anatomy_reference" not in r:
            continue
        utts = out.setdefault(_reference(r), [])
        if str(r.get("utterance")) not in utts:
            utts.append(str(r.get("utterance")))
    return {k: out[k] for k in ANATOMY_REFERENCES if k in out}


def _key_form(reference: str) -> str:
    key = "<method>.<condition>.<metric>"
    return key if reference == GROUND_TRUTH else f"{reference}.{key}"


def _anatomy_reference_json(
    anatomy: Mapping[str, list[str]], accuracy: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {
        "references": {
            ref: {
                "name": ANATOMY_REFERENCES[ref],
                "utterances": utts,
                "metrics_keys": _key_form(ref),
            }
            for ref, utts in anatomy.items()
        },
        "note": (_PSEUDO_NOTE if PSEUDO_LABELS in anatomy else _GROUND_TRUTH_NOTE).replace(
            "**", ""
        ),
        "segmenter_accuracy": dict(accuracy) if accuracy else None,
    }


def _pseudo_comparisons(
    pseudo_cells: Mapping[tuple, Mapping[str, Summary]],
) -> list[dict[str, Any]]:
    """Model vs baselines on the anatomy against pseudo-labels, said so in every verdict."""
    name = ANATOMY_REFERENCES[PSEUDO_LABELS]
    out = compare_methods(pseudo_cells, metric_names("compare", "anatomy"))
    for c in out:
        c["anatomy_reference"] = PSEUDO_LABELS
        c["verdict"] += f" [anatomy vs {name}]"
    return out


def _accuracy_table(
    cells: Mapping[tuple, Mapping[str, Summary]], accuracy: Mapping[str, Any] | None
) -> tuple[list[str], list[list[str]]]:
    """The segmenter's own accuracy: from the accuracy file and from this evaluation's
    recordings with ground-truth labels (row ``segmenter``)."""
    table: list[list[str]] = []
    if accuracy:
        source = str(accuracy["file"])
        if accuracy.get("source"):
            source += f" ({accuracy['source']})"
        data = "real rtMRI with manual contours"
        if accuracy.get("n_clips") is not None:
            data += f", {accuracy['n_clips']} clips"
        table += [
            [source, data, label, _show(float(accuracy[k]))]
            for k, label in _ACCURACY_FIELDS.items()
            if accuracy.get(k) is not None
        ]
    seg = cells.get(("segmenter", "real"), {})
    for m in ("dice_mean", "hd95_mean_mm", "degree_err_mean_mm"):
        if m in seg and seg[m].n:
            n = seg["n_clips"].n
            table.append(
                [
                    "this evaluation, row `segmenter`",
                    f"{n} test clip(s) with ground-truth labels",
                    f"{m} ({find_metric(m).better})",
                    _fmt(seg[m]),
                ]
            )
    if not table:
        table.append(
            ["not given", "", "", "pass --segmenter-accuracy FILE.json (mrisynth evaluate --help)"]
        )
    return ["source", "data", "metric", "value"], table


def _anatomy_sections(anatomy, cells, pseudo_cells, pseudo_class_rows, comparisons, accuracy):
    """The anatomy-reference sections: which reference each recording's anatomy used, and
    the anatomy against pseudo-labels with the segmenter's own accuracy beside it."""
    pseudo = PSEUDO_LABELS in anatomy
    name = ANATOMY_REFERENCES[PSEUDO_LABELS]
    table = [[ANATOMY_REFERENCES[r], str(len(u)), _key_form(r)] for r, u in anatomy.items()]
    note = _PSEUDO_NOTE if pseudo else _GROUND_TRUTH_NOTE
    if pseudo and GROUND_TRUTH in anatomy:
        note = f"{_GROUND_TRUTH_NOTE}\n\n{_PSEUDO_NOTE}"
    out = [
        (
            "Anatomy reference",
            (["anatomy reference", "test utterances", "metrics.json keys"], table),
            note,
        )
    ]
    if pseudo:
        out.append(
            (
                f"Anatomy vs {name} (method × condition, mean [95% CI])",
                _summary_table(
                    pseudo_cells, metric_names("table", "anatomy"), ("method", "condition")
                ),
                f"Segmenter(synthesized) vs segmenter(real): agreement with the segmenter's reading "
                f"of the real video, not anatomical truth (metrics.json keys {_key_form(PSEUDO_LABELS)}).",
            )
        )
    if pseudo or accuracy:
        out.append(
            ("Segmenter accuracy on real data", _accuracy_table(cells, accuracy), _ACCURACY_NOTE)
        )
    if pseudo_class_rows:
        sub = aggregate(pseudo_class_rows, ("phoneme_class", "method", "condition"))
        metrics = [k for k in _metric_columns(pseudo_class_rows) if k != "n_frames"]
        if metrics:
            out.append(
                (
                    f"Per phoneme class, anatomy vs {name} (frame errors, mean over clips)",
                    _summary_table(sub, metrics, ("class", "method", "condition")),
                    "",
                )
            )
    if comparisons:
        out.append((f"Model vs baselines, anatomy vs {name}", _dict_table(comparisons), ""))
    return out


def _sections(rows, cells, conditions, class_rows, retroflex, comparisons, more_columns=()):
    sections = [
        (
            "Method × condition (mean [95% CI])",
            _summary_table(cells, metric_names("table"), ("method", "condition")),
            "",
        )
    ]
    headers, table = language_lse_table(rows, conditions)
    sections.append(("LSE per language (evaluation expert)", (headers, table), ""))
    for by, title in (("language", "Per language"), ("speaker", "Per speaker")):
        sub = aggregate(rows, (by, "method", "condition"))
        sections.append(
            (
                title,
                _summary_table(
                    sub,
                    metric_names("breakdown"),
                    (by, "method", "condition"),
                ),
                "",
            )
        )
    if class_rows:
        sub = aggregate(class_rows, ("phoneme_class", "method", "condition"))
        metrics = [k for k in _metric_columns(class_rows) if k != "n_frames"]
        sections.append(
            (
                "Per phoneme class (frame errors, mean over clips)",
                _summary_table(sub, metrics, ("class", "method", "condition")),
                "",
            )
        )
    if retroflex:
        sections.append(
            (
                "Retroflex vs dental: tongue-tip constriction location x (mm, grows posteriorly)",
                _dict_table(retroflex),
                "",
            )
        )
    if comparisons:
        sections.append(("Model vs baselines", _dict_table(comparisons), ""))
    columns = [*_metric_columns(rows), *_metric_columns(class_rows), *more_columns]
    columns += [k for r in retroflex for k in r if k != "source"]
    sections.append(("Metric definitions", metric_definitions(columns), ""))
    return sections


def _html_note(note: str) -> str:
    """A markdown note as HTML paragraphs (``**bold**`` marks dropped)."""
    paras = [html.escape(p.replace("**", "")) for p in note.split("\n\n")]
    return "".join(f"<p class='note'>{p}</p>" for p in paras)


def _write_html(path, sections, plots, videos, metrics, config) -> None:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>mrisynth evaluation</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:12px;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:2px 6px}"
        "th{background:#eee}.note{background:#fff6d5;padding:8px}</style></head><body>",
        "<h1>mrisynth evaluation</h1>",
        _html_note(_SYNC_NOTE),
    ]
    for title, (headers, table), note in sections:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts += [_html_note(note)] if note else []
        parts.append(html_table(headers, table))
    if plots:
        parts.append("<h2>Plots</h2>")
        parts += [f"<p><img src='{html.escape(p)}' style='max-width:100%'></p>" for p in plots]
    if videos:
        parts.append("<h2>Videos (reference | synthesized | |difference|)</h2>")
        parts += [
            f"<p>{html.escape(v)}<br><video controls src='{html.escape(v)}'></video></p>"
            for v in videos
        ]
    parts.append("<h2>All metrics</h2>")
    parts.append(html_table(["key", "value"], [[k, f"{v:.4g}"] for k, v in metrics.items()]))
    if config:
        parts += [
            "<h2>Config</h2>",
            f"<pre>{html.escape(json.dumps(config, indent=1, default=str))}</pre>",
        ]
    parts.append("</body></html>")
    Path(path).write_text("\n".join(parts), encoding="utf-8")
