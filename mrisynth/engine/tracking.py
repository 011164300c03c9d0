"""Experiment tracking with MLflow: the only mrisynth module that imports ``mlflow``.

Default store: an embedded SQLite database ``<root>/mlflow.db`` with artifacts under
``<root>/mlartifacts``, where ``root`` is ``$MRISYNTH_MLFLOW_DIR`` or ``./mlruns``. When
``$MLFLOW_TRACKING_URI`` is set (a lab's ``mlflow server``, or another store) it is used instead,
and a server keeps the artifacts: clients upload them over HTTP. Browse with::

    mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db

Pipelines: the training and evaluation commands open their run with :meth:`Tracker.start_stage`.
Under a pipeline (``$MRISYNTH_PIPELINE`` set, as each experiment's ``dvc.yaml`` does) every stage
is a child run of one *pipeline run*, found or created by its key: the pipeline name, the git
commit of the code (``-dirty`` with uncommitted edits), the SHA-256 of the stage's ``--params``
file and, where a ``data.dvc`` is found, the hash of the versioned data (see
:func:`pipeline_key`). Stages are separate processes, so the key, not a shared id, groups them:
the stages of one ``dvc repro`` share a parent, and an edited ``params.yaml`` (a ``dvc exp run``
sweep point, too) starts a new one. The parent holds ``params.yaml`` as flat params and the tags
``pipeline``, ``git_commit``, ``params_hash``, ``dvc.data_md5`` and, under ``dvc exp run``,
``dvc.exp_name`` and ``dvc.exp_baseline_rev``; stages carry the same tags plus ``stage``.

Runs may also be nested by hand: give :meth:`Tracker.start` ``parent_run_id``. Use
:class:`NullTracker` in tests or when tracking is off. ``mlflow`` is imported lazily, so
importing :mod:`mrisynth.engine` stays fast; its usage telemetry is off unless
``$MLFLOW_DISABLE_TELEMETRY`` says otherwise (nothing leaves the machine but what is logged),
and run links go to the log, not to stdout.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mrisynth.utils.git import source_commit

logger = logging.getLogger(__name__)

__all__ = [
    "Tracker",
    "NullTracker",
    "flatten_params",
    "default_tracking_uri",
    "pipeline_context",
    "pipeline_key",
    "PIPELINE_KEY_TAG",
]

# MLflow limits (3.x): param values 6000 chars, keys 250 chars, 100 params / 1000 metrics per batch.
MAX_PARAM_VALUE = 6000
MAX_KEY = 250

#: The tag holding a pipeline run's key (:func:`pipeline_key`); stages search for it.
PIPELINE_KEY_TAG = "mrisynth.pipeline_key"
#: The environment variables ``dvc exp run`` sets for every stage, and the tags they become.
DVC_EXP_TAGS = {"DVC_EXP_NAME": "dvc.exp_name", "DVC_EXP_BASELINE_REV": "dvc.exp_baseline_rev"}
#: The fields of :func:`pipeline_key`, in the tags of :func:`pipeline_context`.
KEY_FIELDS = ("pipeline", "git_commit", "params_hash", "dvc.data_md5")


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


def _is_local_store(uri: str) -> bool:
    """True for a store this process writes itself (SQLite, a folder), False for a server."""
    scheme = uri.split("://", 1)[0] if "://" in uri else "file"
    return scheme in ("sqlite", "file")


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

    def start_stage(
        self,
        stage: str,
        params: str | Path | None = None,
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
        self.parent_run_id: str | None = None  # the pipeline run of start_stage, if any
        self._client = None

    @property
    def client(self):
        """The :class:`mlflow.tracking.MlflowClient` bound to this store."""
        if self._client is None:
            # MLflow 3 fetches a telemetry config from the internet and reports usage unless
            # told not to; mrisynth runs offline (a lab's server may be the only host reachable)
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
            # with a server MLflow prints run links to stdout, where commands write results
            # (``mrisynth train`` prints its metrics as JSON); start() logs the link instead
            os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
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

    def _experiment_id(self, experiment: str) -> str:
        """The id of ``experiment``, created if needed: under the local artifact root for a
        local store; a server puts artifacts where it was told (``--artifacts-destination``)."""
        exp = self.client.get_experiment_by_name(experiment)
        if exp is not None:
            return exp.experiment_id
        location = self.artifact_root.as_uri() if _is_local_store(self.tracking_uri) else None
        from mlflow.exceptions import MlflowException

        try:
            return self.client.create_experiment(experiment, artifact_location=location)
        except MlflowException:
            # another stage or process created it in the meantime
            exp = self.client.get_experiment_by_name(experiment)
            if exp is None:
                raise
            return exp.experiment_id

    def _create_run(self, exp_id: str, run_name: str, tags: Mapping[str, str]):
        all_tags = {str(k): str(v) for k, v in tags.items()}
        commit = source_commit()
        if commit:
            all_tags.setdefault("mlflow.source.git.commit", commit)
            all_tags.setdefault("git_commit", commit)
        return self.client.create_run(exp_id, run_name=run_name, tags=all_tags)

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
            experiment: experiment name (created if needed: its artifacts go under the local
                artifact root, or where a server keeps them).
            parent_run_id: make this a child run of that run (pipeline stages).
            tags: extra tags, e.g. DVC data hashes; the git commit is added automatically.

        Raises:
            RuntimeError: if a run is already open on this tracker.
        """
        if self.run_id is not None:
            raise RuntimeError(f"Tracker: run {self.run_id} is still open; call end() first")
        exp_id = self._experiment_id(experiment)
        all_tags = dict(tags or {})
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self._create_run(exp_id, run_name, all_tags)
        self.run_id = run.info.run_id
        where = self.tracking_uri
        if where.startswith(("http://", "https://")):
            where = f"{where.rstrip('/')}/#/experiments/{exp_id}/runs/{self.run_id}"
        logger.info("MLflow run %s (%s): %s", run_name, self.run_id, where)
        return self

    def start_stage(
        self,
        stage: str,
        params: str | Path | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Tracker:
        """Open the run of one pipeline stage; under a pipeline, as a child of its pipeline run.

        The experiment and tags come from :func:`pipeline_context`. When
        ``$MRISYNTH_PIPELINE`` is set, the pipeline run with the same :func:`pipeline_key` is
        found, or created with the tags and ``params`` (flat) as its params, reopened while the
        stage runs and given the stage's final status by :meth:`end`.

        Args:
            stage: the stage name (``expert``, ``pretrain``, ``evaluate``...): the run's name.
            params: the stage's ``--params`` file (its hash is part of the key).
            tags: extra tags of the stage's run (e.g. ``model``).
        """
        experiment, context = pipeline_context(params=params)
        parent = None
        if os.environ.get("MRISYNTH_PIPELINE"):
            parent = self._pipeline_run(experiment, context, params)
            self.client.update_run(parent, status="RUNNING")
        self.start(stage, experiment, parent, tags={**context, **(tags or {}), "stage": stage})
        self.parent_run_id = parent
        return self

    def _pipeline_run(
        self, experiment: str, context: Mapping[str, str], params: str | Path | None
    ) -> str:
        """Find or create the pipeline run keyed by ``context``; returns its id.

        Two stages racing to create it may both do so; both then keep the oldest and the
        newer one deletes its own, so the stages still meet under one parent.
        """
        exp_id = self._experiment_id(experiment)
        key = context[PIPELINE_KEY_TAG]

        # the stages carry the key too: only runs of the pipeline role are parents
        query = f"tags.`{PIPELINE_KEY_TAG}` = '{key}' and tags.`mrisynth.role` = 'pipeline'"

        def matching() -> list:
            runs = self.client.search_runs([exp_id], filter_string=query, max_results=100)
            return sorted(runs, key=lambda r: (r.info.start_time, r.info.run_id))

        found = matching()
        if found:
            return found[0].info.run_id
        exp_name = context.get("dvc.exp_name")
        short = f"{(context.get('git_commit') or 'nogit')[:8]} {context['params_hash'][:8]}"
        name = f"{context['pipeline']} {exp_name or short}"
        tags = {k: v for k, v in context.items() if k != "dvc.stage"}  # one stage's, not all
        run = self._create_run(exp_id, name, {**tags, "mrisynth.role": "pipeline"})
        if params is not None:
            import yaml
            from mlflow.entities import Param

            values = yaml.safe_load(Path(params).read_text(encoding="utf-8")) or {}
            flat = [Param(k, v) for k, v in flatten_params(values).items()]
            for i in range(0, len(flat), 100):
                self.client.log_batch(run.info.run_id, params=flat[i : i + 100])
        winner = matching()[0].info.run_id
        if winner != run.info.run_id:
            self.client.delete_run(run.info.run_id)
        logger.info("MLflow pipeline run %s (%s), key %s", name, winner, key)
        return winner

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
        """Close the run with ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``); a pipeline
        run of :meth:`start_stage` takes the same status (that of its latest stage)."""
        if self.run_id is None:
            return
        self.client.set_terminated(self.run_id, status=status)
        if self.parent_run_id is not None:
            self.client.set_terminated(self.parent_run_id, status=status)
        self.run_id = self.parent_run_id = None


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pipeline_key(context: Mapping[str, str]) -> str:
    """The key of a pipeline run: a hash of ``pipeline``, ``git_commit``, ``params_hash`` and
    ``dvc.data_md5`` in ``context`` (a missing field counts as empty).

    Returns:
        24 hex digits.
    """
    fields = {name: str(context.get(name, "")) for name in KEY_FIELDS}
    text = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def pipeline_context(
    cwd: str | Path | None = None, params: str | Path | None = None
) -> tuple[str, dict[str, str]]:
    """MLflow experiment name and tags that group the stages of one pipeline.

    The experiment is ``$MRISYNTH_PIPELINE`` (set by each experiment's ``dvc.yaml``; default
    ``"mrisynth"``). Tags: ``pipeline``; ``git_commit`` (of the code, see
    :func:`~mrisynth.utils.git.source_commit`) where known; ``params_hash`` (SHA-256 of
    ``params``, ``"none"`` without); ``dvc.data_md5`` (the hash of the versioned data folder)
    when a ``data.dvc`` is found in ``cwd`` or a parent folder; ``dvc.exp_name`` and
    ``dvc.exp_baseline_rev`` under ``dvc exp run``; ``dvc.stage`` under DVC; and
    :data:`PIPELINE_KEY_TAG`, the :func:`pipeline_key` of these.

    Raises:
        FileNotFoundError: ``params`` does not exist.
    """
    import yaml

    name = os.environ.get("MRISYNTH_PIPELINE", "mrisynth")
    tags = {"pipeline": name}
    commit = source_commit()
    if commit:
        tags["git_commit"] = commit
    if params is not None and not Path(params).is_file():
        raise FileNotFoundError(f"--params: {params} does not exist")
    tags["params_hash"] = _sha256(params) if params is not None else "none"
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
    for var, tag in DVC_EXP_TAGS.items():
        if os.environ.get(var):
            tags[tag] = os.environ[var]
    if os.environ.get("DVC_STAGE"):
        tags["dvc.stage"] = os.environ["DVC_STAGE"]
    tags[PIPELINE_KEY_TAG] = pipeline_key(tags)
    return name, tags
