"""MLflow tracking on an embedded SQLite store (one run, a few seconds)."""

from __future__ import annotations

import json
import re
from pathlib import Path

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


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An empty, migrated MLflow SQLite database (creating one takes ~10 s; a copy, none)."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def local_store(tmp_path, monkeypatch, empty_store):
    """An embedded store in ``tmp_path/store``, the working directory ``tmp_path``, no DVC or
    pipeline variables from the calling shell: ``MlflowClient`` of that store."""
    import shutil

    from mlflow.tracking import MlflowClient

    for var in ("MLFLOW_TRACKING_URI", "MRISYNTH_PIPELINE", "DVC_EXP_NAME", "DVC_STAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    monkeypatch.setenv("MRISYNTH_MLFLOW_DIR", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "store").mkdir()
    shutil.copy(empty_store, tmp_path / "store" / "mlflow.db")
    return MlflowClient(tracking_uri=Tracker().tracking_uri)


def test_sqlite_tracker_round_trip(tmp_path, local_store):
    # the working directory is tmp_path: nothing may land there but the store
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


# ------------------------------------------------------------------- pipelines: parent runs
def _stage(name: str, params, status: str = "FINISHED") -> str:
    tracker = Tracker().start_stage(name, params=params, tags={"model": "expert"})
    run_id = tracker.run_id
    tracker.log_metrics({"valid/loss": 1.0}, step=1)
    tracker.end(status)
    return run_id


def test_stages_of_one_pipeline_meet_under_one_parent_keyed_by_params(
    tmp_path, monkeypatch, local_store
):
    import hashlib

    client = local_store
    monkeypatch.setenv("MRISYNTH_PIPELINE", "ci")
    monkeypatch.setenv("DVC_STAGE", "experiments/ci/dvc.yaml:expert")
    params = tmp_path / "params.yaml"
    params.write_text("expert:\n  train: {max_steps: 5}\nmodel: {img_size: 32}\n")

    first = client.get_run(_stage("expert", params))
    second = client.get_run(_stage("evaluate", params, status="FAILED"))
    parent_id = first.data.tags["mlflow.parentRunId"]
    assert second.data.tags["mlflow.parentRunId"] == parent_id
    parent = client.get_run(parent_id)
    digest = hashlib.sha256(params.read_bytes()).hexdigest()
    tags = parent.data.tags
    assert tags["pipeline"] == "ci" and tags["params_hash"] == digest
    assert tags["mrisynth.role"] == "pipeline" and "dvc.stage" not in tags  # one stage's
    assert tags["git_commit"] == first.data.tags["git_commit"]
    assert first.data.tags["dvc.stage"] == "experiments/ci/dvc.yaml:expert"
    assert first.data.tags["stage"] == "expert" and first.data.tags["model"] == "expert"
    # params.yaml flat on the parent: pipelines compare in the UI
    assert parent.data.params == {"expert.train.max_steps": "5", "model.img_size": "32"}
    assert parent.info.status == "FAILED"  # its latest stage's

    # a rerun of a stage under the same key reopens the same parent and finishes it
    third = client.get_run(_stage("evaluate", params))
    assert third.data.tags["mlflow.parentRunId"] == parent_id
    assert client.get_run(parent_id).info.status == "FINISHED"

    params.write_text("expert:\n  train: {max_steps: 6}\nmodel: {img_size: 32}\n")
    changed = client.get_run(_stage("expert", params))
    new_parent = changed.data.tags["mlflow.parentRunId"]
    assert new_parent != parent_id
    assert client.get_run(new_parent).data.params["expert.train.max_steps"] == "6"

    # outside a pipeline a stage is a run of its own
    monkeypatch.delenv("MRISYNTH_PIPELINE")
    alone = client.get_run(_stage("expert", params))
    assert "mlflow.parentRunId" not in alone.data.tags
    assert alone.data.tags["params_hash"] != digest  # still tagged with what it ran with


def test_pipeline_key_changes_with_each_field():
    from mrisynth.engine.tracking import KEY_FIELDS, pipeline_key

    base = {"pipeline": "ci", "git_commit": "a" * 40, "params_hash": "b" * 64}
    keys = {pipeline_key(base)}
    for field in KEY_FIELDS:
        keys.add(pipeline_key({**base, field: "other"}))
    assert len(keys) == len(KEY_FIELDS) + 1
    assert pipeline_key({**base, "stage": "x", "dvc.exp_name": "y"}) == pipeline_key(base)


def test_versioned_data_hash_is_a_tag_and_part_of_the_key(tmp_path):
    from mrisynth.engine.tracking import PIPELINE_KEY_TAG, pipeline_context

    (tmp_path / "data.dvc").write_text("outs:\n- md5: abc.dir\n  path: data\n")
    (tmp_path / "exp").mkdir()
    _, tags = pipeline_context(tmp_path / "exp")
    assert tags["dvc.data_md5"] == "abc.dir"
    (tmp_path / "data.dvc").write_text("outs:\n- md5: def.dir\n  path: data\n")
    _, other = pipeline_context(tmp_path / "exp")
    assert other[PIPELINE_KEY_TAG] != tags[PIPELINE_KEY_TAG]
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        pipeline_context(params=tmp_path / "nope.yaml")


def test_racing_stages_keep_the_oldest_parent(tmp_path, monkeypatch, local_store):
    """Two stages that both missed the parent and create one: both end under the older."""
    import time

    client = local_store
    monkeypatch.setenv("MRISYNTH_PIPELINE", "ci")
    params = tmp_path / "params.yaml"
    params.write_text("a: 1\n")
    rival: list[str] = []

    class Racing(Tracker):
        def _create_run(self, exp_id, run_name, tags):
            if tags.get("mrisynth.role") == "pipeline" and not rival:
                # another stage creates the parent between our search and our create
                rival.append(Tracker()._create_run(exp_id, run_name, tags).info.run_id)
                time.sleep(0.01)  # start times in ms: ours is strictly newer
            return super()._create_run(exp_id, run_name, tags)

    tracker = Racing().start_stage("expert", params=params)
    child = client.get_run(tracker.run_id)
    tracker.end()
    assert child.data.tags["mlflow.parentRunId"] == rival[0]
    parents = client.search_runs(
        [child.info.experiment_id], filter_string="tags.`mrisynth.role` = 'pipeline'"
    )
    assert [r.info.run_id for r in parents] == rival  # ours was deleted


def test_dvc_exp_sweep_points_are_comparable_parents(tmp_path, monkeypatch, local_store):
    """``dvc exp run`` sets DVC_EXP_NAME per experiment: each sweep point is a parent run named
    and tagged with it, holding its params flat; its stages carry the tag too."""
    client = local_store
    monkeypatch.setenv("MRISYNTH_PIPELINE", "ci")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "c" * 40)
    params = tmp_path / "params.yaml"
    children = {}
    for name, steps in (("exp-a", 100), ("exp-b", 200)):
        monkeypatch.setenv("DVC_EXP_NAME", name)
        params.write_text(f"pretrain:\n  train: {{max_steps: {steps}}}\n")
        children[name] = client.get_run(_stage("pretrain", params))
    exp_id = children["exp-a"].info.experiment_id
    parents = client.search_runs(
        [exp_id],
        filter_string="tags.`mrisynth.role` = 'pipeline'",
        order_by=["params.`pretrain.train.max_steps`"],
    )
    got = [
        (r.info.run_name, r.data.tags["dvc.exp_name"], r.data.params["pretrain.train.max_steps"])
        for r in parents
    ]
    assert got == [("ci exp-a", "exp-a", "100"), ("ci exp-b", "exp-b", "200")]
    assert all(r.data.tags["dvc.exp_baseline_rev"] == "c" * 40 for r in parents)
    for name, child in children.items():
        assert child.data.tags["dvc.exp_name"] == name
    # one stage across the sweep: its points share the baseline commit
    query = f"tags.stage = 'pretrain' and tags.`dvc.exp_baseline_rev` = '{'c' * 40}'"
    stages = client.search_runs([exp_id], filter_string=query)
    assert sorted(r.data.tags["dvc.exp_name"] for r in stages) == ["exp-a", "exp-b"]


def test_model_logged_with_its_config_downloads_and_loads(tmp_path, local_store):
    import dataclasses

    import numpy as np
    import torch

    from mrisynth.data.spec import DataSpec
    from mrisynth.engine.recipe import log_model
    from mrisynth.models.artifacts import Artifact, load_model, save_artifact
    from mrisynth.models.builders import ModelConfig, build_generator

    cfg = ModelConfig.preset("tiny")
    torch.manual_seed(0)
    mask = np.zeros((cfg.img_size,) * 2, bool)
    mask[8:24, 4:28] = True
    weights = {"generator": build_generator(cfg).state_dict()}
    spec = DataSpec.of_model(cfg, spacing_mm=(2.4, 2.4))
    art = Artifact("generator", weights, dataclasses.asdict(cfg), spec, mask=mask, step=7,
                   metrics={"valid/l1": 0.25}, run={"git_commit": "abc"})  # fmt: skip
    path = save_artifact(tmp_path / "run" / "generator.pt", art)

    log_model(NullTracker(), tmp_path / "missing.pt")  # nothing records: nothing is read
    with Tracker().start("pretrain", experiment="models") as tracker:
        log_model(tracker, path)
        run_id = tracker.run_id
    client = local_store
    listed = sorted(a.path for a in client.list_artifacts(run_id, "model"))
    assert listed == ["model/config.json", "model/generator.pt", "model/generator.run.json"]
    folder = Path(client.download_artifacts(run_id, "model", str(tmp_path / "down")))
    config = json.loads((folder / "config.json").read_text())
    assert config["kind"] == "generator" and config["step"] == 7
    assert config["model_config"]["img_size"] == cfg.img_size
    assert config["metrics"] == {"valid/l1": 0.25} and config["data_spec"]["spacing_mm"] == [
        2.4,
        2.4,
    ]
    model, loaded = load_model(folder / "generator.pt", "generator")
    assert np.array_equal(loaded.mask, mask) and loaded.run == {"git_commit": "abc"}
    for k, v in weights["generator"].items():
        assert torch.equal(model.state_dict()[k], v), k
