"""Multi-node training through torchrun's c10d rendezvous, two "nodes" on localhost (gloo, CPU).

Every job is the toy run of ``torchrun_toy.py`` (world size 2, 10 steps, checkpoints at 4, 8
and 10), launched as real ``torchrun`` processes:

- 2 nodes x 1 process ends with the same bits as 1 node x 2 processes: the ranks compute the
  same things either way, and gloo's all-reduce of two values is a single addition, which is
  commutative, so nothing depends on where a rank runs;
- only rank 0 writes (checkpoints, ``metrics.jsonl``) and logs to the tracker: each node gets
  its own out_dir, as on node-local disks, and the other node's stays empty; restarting that
  job stops with a clear error (the ranks would resume from different steps);
- a node lost mid-run fails the whole job (the survivor's collectives see the dead peer); the
  job restarted on both nodes resumes from the last checkpoint and ends bit-identical to the
  uninterrupted run, its ``metrics.jsonl`` byte-identical.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = HERE / "torchrun_toy.py"
TIMEOUT_S = 180  # per job; a job that hangs is killed and fails the test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_marked(marker: str) -> None:
    """SIGKILL this user's processes whose environment holds ``marker`` (torchrun starts each
    worker in its own session, out of reach of its agent's process group)."""
    needle = f"MRISYNTH_TEST_JOB={marker}\0".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):  # gone, or not ours
            pass


def _torchrun(
    tmp: Path, name: str, nodes: list[dict], nproc: int = 1, cwd: Path | None = None
) -> list[tuple[int | None, str]]:
    """Run one job: a ``torchrun`` process per entry of ``nodes`` (``argv``: what follows
    torchrun's options; ``env``: extra variables), all on one c10d rendezvous endpoint.
    Returns (exit code, None on timeout; log) per node. Every process the job started is
    killed on the way out, whatever happened."""
    port = _free_port()
    marker = str(tmp / name)
    env = {
        **os.environ,
        "MRISYNTH_TEST_JOB": marker,  # inherited by the workers: how cleanup finds them
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    procs, logs = [], []
    try:
        for i, node in enumerate(nodes):
            cmd = [sys.executable, "-m", "torch.distributed.run",
                   "--nnodes", str(len(nodes)), "--nproc-per-node", str(nproc),
                   "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                   "--rdzv-id", name, "--max-restarts", "0", *node["argv"]]  # fmt: skip
            logs.append(tmp / f"{name}.node{i}.log")
            with logs[-1].open("w") as log:
                procs.append(
                    subprocess.Popen(
                        cmd,
                        cwd=cwd,
                        env={**env, "NODE_LABEL": f"node{i}", **node.get("env", {})},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own process group, killed below
                    )
                )
        codes: list[int | None] = []
        for p in procs:
            try:
                codes.append(p.wait(timeout=TIMEOUT_S))
            except subprocess.TimeoutExpired:
                codes.append(None)
    finally:
        for p in procs:  # the agents (and anything left in their groups)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        _kill_marked(marker)
    return [(c, log.read_text()) for c, log in zip(codes, logs)]


def _job(
    tmp: Path, name: str, outs: list[Path], nproc: int = 1, die_at: int | None = None
) -> list[tuple[int | None, str]]:
    """The toy job with one node per entry of ``outs`` (that node's out_dir)."""
    report = ["--report", str(tmp / name)] + ([] if die_at is None else ["--die-at", str(die_at)])
    nodes = [{"argv": [str(SCRIPT), "--out", str(out), *report]} for out in outs]
    return _torchrun(tmp, name, nodes, nproc)


def _ok(results: list[tuple[int, str]]) -> None:
    for code, log in results:
        assert code == 0, f"torchrun exited {code}:\n{log[-3000:]}"


def _report(tmp: Path, name: str) -> tuple[torch.Tensor, list[dict]]:
    """Rank 0's final parameters (after checking rank 1 holds the same) and both ranks' facts."""
    folder = tmp / name
    params = [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert torch.equal(params[0], params[1])  # the replicas agree
    facts = [json.loads((folder / f"rank{r}.json").read_text()) for r in range(2)]
    return params[0], facts


@pytest.fixture(scope="module")
def single_node(tmp_path_factory) -> tuple[Path, torch.Tensor]:
    """The reference: 1 node x 2 processes, uninterrupted. Returns (out_dir, final params)."""
    tmp = tmp_path_factory.mktemp("single")
    _ok(_job(tmp, "single", [tmp / "run"], nproc=2))
    params, facts = _report(tmp, "single")
    assert [f["world_size"] for f in facts] == [2, 2]
    return tmp / "run", params


@pytest.mark.slow  # 33 s + 15 s for the 1-node reference, on 2 busy cores
def test_two_nodes_match_one_node_and_only_rank0_writes(tmp_path, single_node):
    ref_dir, ref_params = single_node
    nodes = [tmp_path / "disk0", tmp_path / "disk1"]  # node-local disks
    _ok(_job(tmp_path, "multi", nodes))
    params, facts = _report(tmp_path, "multi")
    assert sorted(f["node"] for f in facts) == ["node0", "node1"]  # one rank per node
    assert {f["group_rank"] for f in facts} == {0, 1}
    assert torch.equal(params, ref_params), (params - ref_params).abs().max()

    main = next(f for f in facts if f["rank"] == 0)
    other = next(f for f in facts if f["rank"] == 1)
    main_disk = tmp_path / f"disk{main['node'][-1]}"
    other_disk = tmp_path / f"disk{other['node'][-1]}"
    assert not other_disk.exists() or not any(other_disk.iterdir())  # rank 1 wrote nothing
    names = sorted(p.name for p in (main_disk / "checkpoints").iterdir())
    assert names == ["step_00000004.pt", "step_00000008.pt", "step_00000010.pt"]
    assert (main_disk / "metrics.jsonl").read_bytes() == (ref_dir / "metrics.jsonl").read_bytes()
    assert main["tracked_steps"] == [2, 4, 6, 8, 10] and other["tracked_steps"] == []

    # the job restarted on node-local disks: rank 0 finds its step-10 checkpoint, rank 1 none;
    # both stop with one clear message instead of training from different states
    again = _job(tmp_path, "again", nodes)
    assert all(code not in (0, None) for code, _ in again), again
    assert any("out_dir must be on a filesystem that every node shares" in log for _, log in again)
    assert not (tmp_path / "again").exists()


@pytest.mark.slow  # 32 s on 2 busy cores
def test_lost_node_then_restart_resumes_bit_identical(tmp_path, single_node):
    ref_dir, ref_params = single_node
    shared = tmp_path / "shared"  # out_dir on a filesystem both nodes see (resume reads it)
    nodes = [shared, shared]
    crashed = _job(tmp_path, "crashed", nodes, die_at=7)
    assert all(code not in (0, None) for code, _ in crashed), crashed  # failed, did not hang
    assert not (tmp_path / "crashed").exists()  # no rank finished
    ckpts = sorted(p.name for p in (shared / "checkpoints").iterdir())
    assert ckpts == ["step_00000004.pt"]  # died in step 7: steps 5-6 are lost

    _ok(_job(tmp_path, "restarted", nodes))
    params, facts = _report(tmp_path, "restarted")
    assert [f["first_step"] for f in facts] == [4, 4]  # resumed, not started over
    assert torch.equal(params, ref_params), (params - ref_params).abs().max()
    assert (shared / "metrics.jsonl").read_bytes() == (ref_dir / "metrics.jsonl").read_bytes()


@pytest.mark.slow  # 52 s on 2 busy cores: two processes import the whole stack
def test_cli_two_nodes_one_mlflow_run_one_model(tmp_path):
    """``mrisynth train expert`` as 2 nodes x 1 process: each node has its own MLflow store
    (``MRISYNTH_MLFLOW_DIR``), the run folder is shared; only rank 0's store gets a run, with
    its params, metrics and artifacts, and one model file is exported."""
    from mlflow.tracking import MlflowClient
    from test_solvers import bar_sequence

    from mrisynth.data.manifest import ManifestEntry, write_manifest

    entries = []
    for seed, split in ((1, "pretrain"), (2, "pretrain"), (3, "adapt")):
        bar_sequence(seed).save(tmp_path / f"utt{seed}.npz")
        entries.append(ManifestEntry(id=f"utt{seed}", image_path=f"utt{seed}.npz", split=split))
    manifest = write_manifest(entries, tmp_path / "manifest.csv")
    argv = ["-m", "mrisynth", "train", "expert", "--manifest", str(manifest),
            "--split-val", "adapt", "--model-preset", "tiny", "--out", "run", "--mlflow",
            "--set", "train.max_steps=4", "train.batch_size=4", "train.eval_interval=4",
            "train.log_interval=2", "train.device=cpu", "opt.max_val_pairs=16"]  # fmt: skip
    env = {"MLFLOW_TRACKING_URI": "", "MRISYNTH_PIPELINE": "multinode"}
    nodes = [{"argv": argv, "env": {**env, "MRISYNTH_MLFLOW_DIR": str(tmp_path / f"mlflow{i}")}}
             for i in range(2)]  # fmt: skip
    results = _torchrun(tmp_path, "cli", nodes, cwd=tmp_path)
    _ok(results)

    stores = [tmp_path / f"mlflow{i}" for i in range(2) if (tmp_path / f"mlflow{i}").exists()]
    assert len(stores) == 1, stores  # the other node's rank never opened a store
    client = MlflowClient(tracking_uri=f"sqlite:///{stores[0] / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("multinode").experiment_id])
    # under MRISYNTH_PIPELINE: the stage's run and its pipeline (parent) run
    parents = [r for r in runs if r.data.tags.get("mrisynth.role") == "pipeline"]
    stages = [r for r in runs if r not in parents]
    assert len(parents) == 1 and len(stages) == 1, [r.info.run_name for r in runs]
    run = stages[0]
    assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
    assert run.info.status == "FINISHED" and run.data.tags["stage"] == "expert"
    assert run.data.params["train.max_steps"] == "4"
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in history] == [2, 4]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "config.json" in artifacts and "model" in artifacts

    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert "expert.pt" in names and "metrics.json" in names
    printed = [json.loads(log.strip().splitlines()[-1]) for _, log in results]
    assert printed[0] == printed[1] and printed[0]["step"] == 4  # every rank: the exported metrics
