"""MLflow tracking on an embedded SQLite store (one run, a few seconds)."""

from __future__ import annotations

import json
import re

import pytest

from mrisynth.engine import NullTracker, Tracker
from mrisynth.engine.tracking import flatten_params


def test_flatten_params_stringifies_and_truncates():
    flat = flatten_params(
        {
            "train": {"lr": 1e-3, "freeze": ["a", "b"], "init": None},
            "model": {"width": 32, "blocks": {"n": 2}},
            "note": "x" * 7000,
        }
    )
    assert flat["train.lr"] == "0.001" and flat["train.freeze"] == '["a", "b"]'
    assert flat["train.init"] == "None" and flat["model.blocks.n"] == "2"
    assert len(flat["note"]) == 6000 and flat["note"].endswith("...")


def test_null_tracker_accepts_everything():
    with NullTracker().start("x") as t:
        t.log_params({"a": 1})
        t.log_metrics({"loss": 1.0}, step=1)
        t.log_artifact("does-not-matter")
    assert t.run_id is None


def test_sqlite_tracker_round_trip(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MRISYNTH_MLFLOW_DIR", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"psnr": 30.0}))

    tracker = Tracker()
    assert tracker.tracking_uri == f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    with tracker.start(
        "pipeline", experiment="engine-test", tags={"dvc.data": "md5:abc"}
    ) as parent:
        parent_id = parent.run_id
        with Tracker().start("train", experiment="engine-test", parent_run_id=parent_id) as child:
            child.log_params({"train": {"lr": 1e-3, "freeze": ["gen.enc"]}})
            child.log_metrics({"train/loss": 0.5, "lr": 1e-3}, step=10)
            child.log_metrics({"train/loss": 0.25}, step=20)
            child.log_artifact(report)
            child.log_dict({"a": 1}, "config.json")
            child_id = child.run_id
        with pytest.raises(FileNotFoundError, match="missing.txt"):
            parent.log_artifact(tmp_path / "missing.txt")

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracker.tracking_uri)
    run = client.get_run(child_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "train"
    assert run.data.params == {"train.lr": "0.001", "train.freeze": '["gen.enc"]'}
    assert run.data.tags["mlflow.parentRunId"] == parent_id
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", run.data.tags["git_commit"])  # source repo
    history = client.get_metric_history(child_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [(10, 0.5), (20, 0.25)]
    assert sorted(a.path for a in client.list_artifacts(child_id)) == ["config.json", "report.json"]
    assert run.info.artifact_uri.startswith((tmp_path / "store" / "mlartifacts").as_uri())
    assert client.get_run(parent_id).data.tags["dvc.data"] == "md5:abc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "store"]
