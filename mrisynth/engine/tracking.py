"""Experiment tracking with MLflow: the only mrisynth module that imports ``mlflow``.

Default store: an embedded SQLite database ``<root>/mlflow.db`` with artifacts under
``<root>/mlartifacts``, where ``root`` is ``$MRISYNTH_MLFLOW_DIR`` or ``./mlruns``. When
``$MLFLOW_TRACKING_URI`` is set (a server or another store) it is used instead. Browse with::

    mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db

Runs may be nested: give a stage's run ``parent_run_id=<pipeline run id>`` and the MLflow UI
groups it under the pipeline run. Use :class:`NullTracker` in tests or when tracking is off.
``mlflow`` is imported lazily, so importing :mod:`mrisynth.engine` stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mrisynth.utils.git import source_commit

logger = logging.getLogger(__name__)

__all__ = ["Tracker", "NullTracker", "flatten_params", "default_tracking_uri"]

# MLflow limits (3.x): param values 6000 chars, keys 250 chars, 100 params / 1000 metrics per batch.
MAX_PARAM_VALUE = 6000
MAX_KEY = 250


def flatten_params(
    config: Mapping[str, Any], prefix: str = "", max_len: int = MAX_PARAM_VALUE
) -> dict[str, str]:
    """Nested config → ``{"train.lr": "0.001", ...}`` with values stringified and truncated.

    Lists are JSON-encoded (``"[1, 2]"``); dataclasses should be converted with
    :func:`mrisynth.config.schema.to_dict` first. Over-long values end in ``"..."``.
    """
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten_params(value, f"{name}.", max_len))
            continue
        if isinstance(value, (list, tuple, Mapping)):
            text = json.dumps(value, default=str)
        else:
            text = str(value)
        if len(text) > max_len:
            text = text[: max_len - 3] + "..."
        out[name[:MAX_KEY]] = text
    return out


def default_tracking_uri(root: str | Path | None = None) -> tuple[str, Path]:
    """Tracking URI and artifact root: ``$MLFLOW_TRACKING_URI`` or ``sqlite:///<root>/mlflow.db``.

    Args:
        root: store folder; default ``$MRISYNTH_MLFLOW_DIR`` or ``./mlruns``.

    Returns:
        ``(tracking_uri, artifact_root)``; the artifact root is ``<root>/mlartifacts``.
    """
    root = Path(root or os.environ.get("MRISYNTH_MLFLOW_DIR") or "mlruns").absolute()
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"
    return uri, root / "mlartifacts"


class NullTracker:
    """A tracker that records nothing; same API as :class:`Tracker`."""

    run_id: str | None = None

    def start(
        self,
        run_name: str,
        experiment: str = "mrisynth",
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> NullTracker:
        return self

    def log_params(self, config: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        pass

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> None:
        pass

    def end(self, status: str = "FINISHED") -> None:
        pass

    def __enter__(self) -> NullTracker:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.end("FAILED" if exc_type is not None else "FINISHED")


class Tracker(NullTracker):
    """MLflow run: params, metrics, artifacts, tags, nesting.

    Args:
        root: local store folder (see :func:`default_tracking_uri`); ignored when
            ``$MLFLOW_TRACKING_URI`` is set.

    Example:
        >>> with Tracker().start("train-sync", experiment="sync", tags={"data": "md5:.."}) as t:
        ...     t.log_params({"train": {"lr": 1e-3}})
        ...     t.log_metrics({"train/loss": 0.5}, step=10)
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.tracking_uri, self.artifact_root = default_tracking_uri(root)
        self.run_id = None
        self._client = None

    @property
    def client(self):
        """The :class:`mlflow.tracking.MlflowClient` bound to this store."""
        if self._client is None:
            from mlflow.tracking import MlflowClient

            if self.tracking_uri.startswith("sqlite:///"):
                Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                    parents=True, exist_ok=True
                )
            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def _require_run(self) -> str:
        if self.run_id is None:
            raise RuntimeError("Tracker: call start() before logging")
        return self.run_id

    def start(
        self,
        run_name: str,
        experiment: str = "mrisynth",
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Tracker:
        """Create the experiment if needed and open a run; returns ``self``.

        Args:
            run_name: display name of the run.
            experiment: experiment name (created with its artifacts under the artifact root).
            parent_run_id: make this a child run of that run (pipeline stages).
            tags: extra tags, e.g. DVC data hashes; the git commit is added automatically.

        Raises:
            RuntimeError: if a run is already open on this tracker.
        """
        if self.run_id is not None:
            raise RuntimeError(f"Tracker: run {self.run_id} is still open; call end() first")
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            exp_id = self.client.create_experiment(
                experiment, artifact_location=self.artifact_root.as_uri()
            )
        else:
            exp_id = exp.experiment_id
        all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        commit = source_commit()
        if commit:
            all_tags.setdefault("mlflow.source.git.commit", commit)
            all_tags.setdefault("git_commit", commit)
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(exp_id, run_name=run_name, tags=all_tags)
        self.run_id = run.info.run_id
        logger.info("MLflow run %s (%s) in %s", run_name, self.run_id, self.tracking_uri)
        return self

    def log_params(self, config: Mapping[str, Any]) -> None:
        """Log a (nested) config as flat, stringified, length-limited params."""
        from mlflow.entities import Param

        run_id = self._require_run()
        params = [Param(k, v) for k, v in flatten_params(config).items()]
        for i in range(0, len(params), 100):
            self.client.log_batch(run_id, params=params[i : i + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Log scalar metrics (``{"train/loss": 0.1}``) at ``step``."""
        from mlflow.entities import Metric

        run_id = self._require_run()
        now = int(time.time() * 1000)
        batch = [Metric(k[:MAX_KEY], float(v), now, int(step)) for k, v in metrics.items()]
        for i in range(0, len(batch), 1000):
            self.client.log_batch(run_id, metrics=batch[i : i + 1000])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Copy a file or folder into the run's artifacts.

        Raises:
            FileNotFoundError: if ``path`` does not exist.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"log_artifact: {path} does not exist")
        run_id = self._require_run()
        if path.is_dir():
            self.client.log_artifacts(run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(run_id, str(path), artifact_path)

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> None:
        """Store ``data`` as a JSON/YAML artifact (format from the ``artifact_file`` suffix)."""
        self.client.log_dict(self._require_run(), dict(data), artifact_file)

    def end(self, status: str = "FINISHED") -> None:
        """Close the run with ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``)."""
        if self.run_id is None:
            return
        self.client.set_terminated(self.run_id, status=status)
        self.run_id = None


def pipeline_context(cwd: str | Path | None = None) -> tuple[str, dict[str, str]]:
    """MLflow experiment name and tags that group the stages of one pipeline.

    The experiment is ``$MRISYNTH_PIPELINE`` (set by each experiment's ``dvc.yaml``; default
    ``"mrisynth"``). Tags: ``pipeline`` and, when a ``data.dvc`` is found in ``cwd`` or a
    parent folder, ``dvc.data_md5`` (the hash of the versioned data folder).
    """
    import os

    import yaml

    name = os.environ.get("MRISYNTH_PIPELINE", "mrisynth")
    tags = {"pipeline": name}
    here = Path(cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        dvc_file = folder / "data.dvc"
        if dvc_file.is_file():
            try:
                outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
                tags["dvc.data_md5"] = str(outs[0].get("md5", ""))
            except yaml.YAMLError:
                pass
            break
    return name, tags
