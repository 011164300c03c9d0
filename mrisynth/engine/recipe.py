"""What the training recipes share (``train_sync_expert``, ``train_generator``,
``train_segmenter`` in :mod:`mrisynth.engine.solvers`): evenly spread validation subsets (a
``torch.utils.data.Subset`` of any batch source is one to the trainer), the solver ``meta``
that a resumed run must agree with, exporting the best weights as a model artifact, and
logging the run to MLflow: its config, training log, samples and the model file itself
(``model/``: the file, its ``.run.json`` and ``config.json``), so a model found in the MLflow UI
downloads as a folder that ``mrisynth synthesize --model`` takes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrisynth.config.schema import to_dict
from mrisynth.data.spec import DataSpec
from mrisynth.engine.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from mrisynth.engine.distributed import barrier
from mrisynth.engine.tracking import NullTracker
from mrisynth.engine.trainer import Trainer
from mrisynth.models.artifacts import Artifact, read_artifact, run_info_path, save_artifact

logger = logging.getLogger(__name__)

__all__ = [
    "evenly_spaced",
    "solver_meta",
    "common_spacing",
    "export_artifact",
    "log_run_params",
    "log_run_outputs",
    "log_model",
    "MODEL_ARTIFACT_DIR",
]

#: The folder of a run's artifacts that holds its model file (and nothing else).
MODEL_ARTIFACT_DIR = "model"


def evenly_spaced(n_groups: int, max_groups: int) -> np.ndarray:
    """Evenly spaced group indices ``0..n_groups-1`` (all when ``max_groups`` is 0 or enough)."""
    if max_groups <= 0 or max_groups >= n_groups:
        return np.arange(n_groups)
    return np.unique(np.linspace(0, n_groups - 1, max_groups).round().astype(np.int64))


def common_spacing(sequences: Sequence[Any]) -> list[float] | None:
    """The ``(row, col)`` pixel spacing (mm) all sequences share, or None if they differ."""
    spacings = [getattr(s, "spacing_mm", None) for s in sequences]
    if not spacings or any(s is None for s in spacings):
        return None
    first = np.asarray(spacings[0], dtype=np.float64)
    if all(np.allclose(np.asarray(s, dtype=np.float64), first, rtol=1e-6) for s in spacings):
        return [float(x) for x in first]
    return None


def solver_meta(kind: str, model_cfg: Any, **extra: Any) -> dict[str, Any]:
    """The ``meta`` a solver stores in every training checkpoint and a resume must match:
    kind, model config, the data spec's fields and recipe facts (mask, clip length...)."""
    spec = DataSpec.of_model(model_cfg)
    return {
        "kind": kind,
        "model_config": dataclasses.asdict(model_cfg),
        "fps": spec.fps,
        "sample_rate": spec.sample_rate,
        "img_size": spec.img_size,
        "channels": spec.channels,
        **extra,
    }


def _select_record(metrics_file: Path, metric: str, mode: str) -> dict[str, Any]:
    if not metrics_file.is_file():
        return {}
    records = [json.loads(ln) for ln in metrics_file.read_text().splitlines() if ln.strip()]
    valid = [r for r in records if metric in r and r[metric] == r[metric]]  # skip NaN
    if not valid:
        return {}
    pick = min if mode == "min" else max
    return pick(valid, key=lambda r: r[metric])  # first occurrence = the step of best.pt


def export_artifact(
    trainer: Trainer, filename: str, meta: Mapping[str, Any], spacing_mm: Any = None
) -> dict[str, Any]:
    """Write ``<out_dir>/<filename>`` from ``best.pt`` (or the newest checkpoint).

    The artifact carries the weights of every model of the solver, the data spec (with the
    training data's common ``spacing_mm``), the validation metrics of those weights (the
    ``best_metric`` record of ``metrics.jsonl``), the step and the training config; the git
    commit and the files the run started from go to its ``.run.json``.

    Returns:
        The exported weights' validation metrics and ``step``.
    """
    out = trainer.out_dir / filename
    if trainer.dist.is_main:
        best = trainer.out_dir / "best.pt"
        src = best if best.is_file() else latest_checkpoint(trainer.ckpt_dir)
        if src is None:
            raise CheckpointError(f"{trainer.out_dir}: training wrote no checkpoint to export")
        state = load_checkpoint(src)
        record = {}
        if trainer.cfg.best_metric and src == best:
            record = _select_record(
                trainer.metrics_file, trainer.cfg.best_metric, trainer.cfg.best_mode
            )
        spec = DataSpec(
            fps=meta["fps"],
            sample_rate=meta["sample_rate"],
            img_size=meta["img_size"],
            channels=meta["channels"],
            spacing_mm=None if spacing_mm is None else tuple(spacing_mm),
        )
        data_keys = {"kind", "model_config", "fps", "sample_rate", "img_size", "channels"}
        info = {k: v for k, v in meta.items() if k not in data_keys | {"mask", "sources"}}
        mask = meta.get("mask")
        artifact = Artifact(
            kind=meta["kind"],
            weights=state["models"],
            model_config=dict(meta["model_config"]),
            data_spec=spec,
            mask=None if mask is None else np.asarray(mask.cpu().numpy(), dtype=bool),
            info=info,
            train_config=state.get("config"),
            metrics={k: float(v) for k, v in record.items() if k.startswith("valid/")},
            step=int(state["step"]),
            run={
                "git_commit": trainer.git_commit,
                "sources": meta.get("sources"),
                "exported_from": src.name,
            },
        )
        save_artifact(out, artifact)
        logger.info("exported %s (step %d) to %s", src.name, state["step"], out)
    barrier()
    exported = read_artifact(out)
    return {**exported.metrics, "step": exported.step}


def save_last_weights(
    trainer: Trainer,
    last: Mapping[str, Any],
    val_data: Any,
    save: Callable[..., Path],
    name: str,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Save a model's final weights (not the best checkpoint) with their validation metrics.

    For the image-only models (segmenter, landmark regressor), whose last weights are the
    result. ``last`` is what :meth:`Trainer.fit` returned; a resumed run that had nothing left
    to train returns no ``valid/`` entries, so the metrics are then computed anew on
    ``val_data``. Rank 0 writes ``<out_dir>/<name>`` through ``save(path, metrics=, step=,
    train_config=, run=)`` (e.g. :func:`~mrisynth.models.artifacts.save_segmenter` with its
    model and config bound), the run info holding the trainer's git commit and ``run``.

    Returns:
        the ``valid/`` metrics of the final weights.
    """
    val = {k: v for k, v in last.items() if k.startswith("valid/")}
    if not val:  # resumed a finished run: fit() had nothing to do
        val = trainer.evaluate(val_data)
    if trainer.dist.is_main:
        save(
            trainer.out_dir / name,
            metrics={k: float(v) for k, v in val.items()},
            step=trainer.step,
            train_config=to_dict(trainer.cfg),
            run={"git_commit": trainer.git_commit, **(run or {})},
        )
    return val


def log_run_params(trainer: Trainer, tracker: Any, params: Mapping[str, Any]) -> None:
    """The run's resolved config: MLflow params and a ``config.json`` artifact."""
    if tracker is not None and trainer.dist.is_main:
        tracker.log_params(params)
        tracker.log_dict(json.loads(json.dumps(params, default=str)), "config.json")


def log_run_outputs(
    trainer: Trainer, tracker: Any, samples: Path | None = None, model: Path | None = None
) -> None:
    """The training log (``metrics.jsonl``: the loss curves), sample videos and the exported
    model file (:func:`log_model`) as artifacts."""
    if tracker is None or not trainer.dist.is_main:
        return
    if trainer.metrics_file.is_file():
        tracker.log_artifact(trainer.metrics_file, "train")
    if samples is not None:
        tracker.log_artifact(samples, "samples")
    if model is not None:
        log_model(tracker, model)


def log_model(tracker: Any, path: str | Path) -> None:
    """Log a model file into the run's ``model/`` artifacts, ready to download and use.

    ``model/`` receives the file itself (``generator.pt``, ``expert.pt`` or ``segmenter.pt``),
    its run metadata (``<stem>.run.json``, where there is one) and ``config.json``: what the
    file holds besides weights (kind, model config, data spec, info, training config,
    validation metrics, step, package version), readable in the MLflow UI without loading it.

    Raises:
        CheckpointError: ``path`` is not a model file (named).
    """
    if isinstance(tracker, NullTracker) and tracker.run_id is None:
        return  # nothing records: do not read the file for nothing
    path = Path(path)
    art = read_artifact(path)
    tracker.log_artifact(path, MODEL_ARTIFACT_DIR)
    sidecar = run_info_path(path)
    if sidecar.is_file():
        tracker.log_artifact(sidecar, MODEL_ARTIFACT_DIR)
    config = {
        "file": path.name,
        "kind": art.kind,
        "model_config": art.model_config,
        "data_spec": art.data_spec.to_dict(),
        "info": art.info,
        "train_config": art.train_config,
        "metrics": art.metrics,
        "step": art.step,
        "package_version": art.package_version,
    }
    plain = json.loads(json.dumps(config, default=str))
    tracker.log_dict(plain, f"{MODEL_ARTIFACT_DIR}/config.json")
