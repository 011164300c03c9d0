"""A real ``mlflow server`` as a lab runs it (slow): SQLite backend, artifacts served over HTTP.

The server runs on 127.0.0.1 in its own process group and is stopped by that group whatever
the test does. Tiny ``mrisynth train`` and ``mrisynth evaluate`` stages run with
``MLFLOW_TRACKING_URI`` and ``MRISYNTH_PIPELINE`` set, as ``dvc repro`` runs them (in this
process: a fresh interpreter per stage would cost ~10-25 s of imports each; every stage opens
its own tracker, so they meet under one parent through the key alone, as separate processes
do); the runs, params, metrics and artifacts are read back through ``MlflowClient``; the
generator is downloaded with the ``mlflow artifacts download`` command and drives
``mrisynth synthesize``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
_STEPS = {"eval_interval": 4, "log_interval": 2, "ckpt_interval": 4, "warmup_steps": 0}
PARAMS = {  # the quickstart's schema at test size (configs/phantom/tiny, configs/model/tiny)
    "presets": {
        "phantom": "tiny",
        "model": "tiny",
        "expert": "expert/cpu",
        "pretrain": "generator/pretrain_cpu",
        "evaluate": "cpu",
    },
    "phantom": {"n_pretrain_speakers": 1, "workers": 1},
    "prepare": {"img_size": 32, "fps": 25.0},
    "model": {"n_frames": 2},
    "expert": {
        "train": {"max_steps": 4, "batch_size": 8, **_STEPS},
        "opt": {"max_val_pairs": 16},
    },
    "pretrain": {
        "train": {"max_steps": 4, "batch_size": 4, **_STEPS},
        "opt": {"max_val_clips": 2},
    },
    "evaluate": {
        "n_videos": 1,
        "warp_stride": 16,
        "hd95_stride": 50,
        "offset_test_frames": [-2, 2],
    },
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """An ``mlflow server`` in its own process group; :meth:`wait` until it answers."""

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.artifacts = root / "artifacts"
        self.log = root / "server.log"
        cmd = [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", "1",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination", str(self.artifacts),
        ]  # fmt: skip
        # no usage telemetry (offline); no GenAI job runner (7 worker processes, not used here)
        env = {
            **os.environ,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"mlflow server exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"mlflow server not up after {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to the whole group (uvicorn's worker too), SIGKILL if it lingers."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
            except ProcessLookupError:
                pass


@pytest.fixture
def mlflow_server(tmp_path):
    """A server started now (it takes ~10-60 s to answer: call ``wait()`` when needed)."""
    root = tmp_path / "server"
    root.mkdir()
    server = Server(root)
    try:
        yield server
    finally:
        server.stop()


def _mrisynth(capsys, *args: str) -> None:
    """``mrisynth <args>`` in this process; fails with its error line."""
    from mrisynth.cli.main import main

    rc = main(list(args))
    assert rc == 0, f"mrisynth {' '.join(args[:2])} failed: {capsys.readouterr().err[-2000:]}"


@pytest.mark.slow
def test_stages_log_to_a_real_server_and_its_model_synthesizes(
    tmp_path, monkeypatch, capsys, mlflow_server
):
    t0 = time.perf_counter()
    exp = tmp_path / "exp"
    exp.mkdir()
    params = exp / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    monkeypatch.chdir(exp)
    for var in ("MRISYNTH_MLFLOW_DIR", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "DVC_STAGE"):
        monkeypatch.delenv(var, raising=False)
    # the untracked stages run while the server starts
    _mrisynth(
        capsys, "phantom", "--params", "params.yaml", "--out", "data/phantom", "--no-progress"
    )
    manifest, prepared = "data/phantom/manifest.csv", "data/prepared/prepared.csv"
    _mrisynth(capsys, "prepare", "--params", "params.yaml", "--manifest", manifest, "--out", "data/prepared")  # fmt: skip
    mlflow_server.wait()
    t_server = time.perf_counter() - t0

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("MRISYNTH_PIPELINE", "ci")
    common = ["--params", "params.yaml", "--manifest", prepared, "--mlflow"]
    split = ["--split-train", "pretrain", "--split-val", "adapt"]
    capsys.readouterr()
    _mrisynth(capsys, "train", "expert", "--stage", "expert", *common, *split, "--out", "models/expert")  # fmt: skip
    # stdout holds the result alone (MLflow would print run links there)
    assert json.loads(capsys.readouterr().out)["step"] == 4
    _mrisynth(capsys, "train", "generator", "--stage", "pretrain", *common, *split, "--out", "models/pretrain")  # fmt: skip
    _mrisynth(
        capsys, "evaluate", "--params", "params.yaml", "--prepared", prepared,
        "--generator", "models/pretrain/generator.pt", "--eval-expert", "models/expert/expert.pt",
        "--out", "reports", "--mlflow",
    )  # fmt: skip
    t_stages = time.perf_counter() - t0
    assert not (exp / "mlruns").exists()  # all of it went to the server

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.url)
    experiment = client.get_experiment_by_name("ci")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("mrisynth.role") == "pipeline"]
    assert len(parents) == 1, [r.info.run_name for r in runs]
    parent = parents[0]
    stages = {r.info.run_name: r for r in runs if r is not parent}
    assert set(stages) == {"expert", "pretrain", "evaluate"}
    for run in stages.values():
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED"
        # served artifacts: uploaded over HTTP into the server's destination
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    tags = parent.data.tags
    assert tags["pipeline"] == "ci"
    assert tags["params_hash"] == hashlib.sha256(params.read_bytes()).hexdigest()
    assert tags["git_commit"] == stages["expert"].data.tags["git_commit"]
    assert parent.data.params["expert.train.max_steps"] == "4"
    assert parent.info.status == "FINISHED"

    expert = stages["expert"]
    assert expert.data.params["train.max_steps"] == "4"
    assert expert.data.params["model.img_size"] == "32"
    assert expert.data.tags["model"] == "expert" and expert.data.tags["stage"] == "expert"
    history = client.get_metric_history(expert.info.run_id, "valid/accuracy")
    assert [m.step for m in history] == [4] and 0.0 <= history[0].value <= 1.0
    listed = {a.path for a in client.list_artifacts(expert.info.run_id, "model")}
    assert listed == {"model/expert.pt", "model/expert.run.json", "model/config.json"}
    stored = mlflow_server.artifacts / experiment.experiment_id / expert.info.run_id / "artifacts"
    local = (exp / "models/expert/expert.pt").read_bytes()
    assert (stored / "model" / "expert.pt").read_bytes() == local

    evaluate = stages["evaluate"]
    written = json.loads((exp / "reports" / "metrics.json").read_text())
    logged = evaluate.data.metrics
    assert logged == pytest.approx({f"eval/{k}": v for k, v in written.items()})
    assert "evaluation/metrics.json" in {
        a.path for a in client.list_artifacts(evaluate.info.run_id, "evaluation")
    }

    # a model found in the UI (or by README's search): download its folder with the MLflow
    # CLI and synthesize with it
    found = client.search_runs(
        [experiment.experiment_id], "tags.stage = 'pretrain' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=1,
    )  # fmt: skip
    pretrain = stages["pretrain"].info.run_id
    assert [r.info.run_id for r in found] == [pretrain]
    down = tmp_path / "downloaded"
    subprocess.run(
        [str(Path(sys.executable).parent / "mlflow"), "artifacts", "download",
         "--run-id", pretrain, "--artifact-path", "model", "--dst-path", str(down)],
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}, check=True, capture_output=True,
    )  # fmt: skip
    model_dir = down / "model"
    gen = (exp / "models/pretrain/generator.pt").read_bytes()
    assert (model_dir / "generator.pt").read_bytes() == gen
    config = json.loads((model_dir / "config.json").read_text())
    assert config["kind"] == "generator" and config["model_config"]["img_size"] == 32
    from mrisynth.data.manifest import read_manifest

    test = next(e for e in read_manifest(exp / manifest) if e.split == "test")
    out = tmp_path / "synth.mp4"
    _mrisynth(
        capsys, "synthesize", "--no-progress", "--audio", str(exp / "data/phantom" / test.audio_path),
        "--reference", str(exp / "data/phantom" / test.image_path), "--model", str(model_dir),
        "--out", str(out),
    )  # fmt: skip
    from mrisynth.io import read_audio
    from mrisynth.io.video import read_video

    video = read_video(out)
    speech, sr = read_audio(exp / "data/phantom" / test.audio_path)
    assert abs(len(video.frames) / video.fps - len(speech) / sr) < 0.1
    print(
        f"server up after {t_server:.0f} s, stages done at {t_stages:.0f} s, "
        f"all {time.perf_counter() - t0:.0f} s"
    )
