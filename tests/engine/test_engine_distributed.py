"""Two-process DDP (gloo, CPU): ranks agree, shard the data, resume, and match one process."""

from __future__ import annotations

import json
import os
import socket

import torch
import torch.multiprocessing as mp
from engine_toys import MLPSolver, RegressionSet, flat_params

from mrisynth.engine import (
    TrainConfig,
    Trainer,
    cleanup_distributed,
    latest_checkpoint,
    load_checkpoint,
    setup_distributed,
)

STEPS = 10


def _cfg(out_dir: str, batch_size: int) -> TrainConfig:
    return TrainConfig(
        max_steps=STEPS,
        batch_size=batch_size,
        out_dir=out_dir,
        device="cpu",
        seed=5,
        log_interval=2,
        ckpt_interval=5,
        warmup_steps=2,
        progress=False,
    )


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    info = setup_distributed("cpu")
    try:
        assert (info.rank, info.world_size, info.is_main) == (rank, world_size, rank == 0)
        data = RegressionSet(64)
        torch.manual_seed(0 if rank == 0 else 1000)  # rank 1 starts different: DDP syncs it
        first = MLPSolver(lr=0.05, dropout=0.0, noise=False)
        Trainer(_cfg(out_dir, 4), first, dist_info=info).fit(data, until_step=5)
        torch.manual_seed(77)
        second = MLPSolver(lr=0.05, dropout=0.0, noise=False)  # a "new job" that resumes
        Trainer(_cfg(out_dir, 4), second, dist_info=info).fit(data)
        torch.save(
            {"params": flat_params(second), "seen": first.seen + second.seen},
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
    finally:
        cleanup_distributed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_rank_gloo_training(tmp_path):
    out = str(tmp_path / "ddp")
    os.makedirs(out)
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    r0, r1 = (torch.load(os.path.join(out, f"rank{r}.pt"), weights_only=True) for r in range(2))

    assert torch.equal(r0["params"], r1["params"])  # identical replicas
    assert len(r0["seen"]) == len(r1["seen"]) == STEPS
    for a, b in zip(r0["seen"], r1["seen"]):
        assert len(a) == len(b) == 4 and not set(a) & set(b)  # each rank its own samples

    records = [json.loads(ln) for ln in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["step"] for r in records] == [2, 4, 5, 6, 8, 10]  # rank 0 only, resumed at 5
    assert records[-1]["train/loss"] < 0.5 * records[0]["train/loss"]
    state = load_checkpoint(latest_checkpoint(os.path.join(out, "checkpoints")))
    assert state["world_size"] == 2 and len(state["rng"]) == 2

    # DDP averages gradients, so 2 ranks x 4 samples == 1 process x 8 samples (same samples)
    torch.manual_seed(0)
    single = MLPSolver(lr=0.05, dropout=0.0, noise=False)
    Trainer(_cfg(str(tmp_path / "single"), 8), single).fit(RegressionSet(64))
    assert [sorted(a + b) for a, b in zip(r0["seen"], r1["seen"])] == [
        sorted(s) for s in single.seen
    ]
    diff = (flat_params(single) - r0["params"]).abs().max().item()
    print(f"DDP(2x4) vs single(8) max |diff| = {diff:.3g}")
    assert diff < 1e-5


def test_setup_distributed_single_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = setup_distributed("cpu")
    assert (info.rank, info.world_size, info.device.type, info.is_distributed) == (
        0,
        1,
        "cpu",
        False,
    )
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    import pytest

    with pytest.raises(ValueError, match="MASTER_ADDR, MASTER_PORT not set"):
        setup_distributed("cpu")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="RANK=2 is outside WORLD_SIZE=2"):
        setup_distributed("cpu")
