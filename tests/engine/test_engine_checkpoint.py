"""Checkpoint files, RNG state, seeds, LR schedule, step sampler and git helper."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mrisynth.engine import (
    CheckpointError,
    StepBatchSampler,
    get_lr,
    latest_checkpoint,
    load_checkpoint,
    load_model_state,
    rotate_checkpoints,
    save_checkpoint,
)
from mrisynth.engine.checkpoint import checkpoint_path, list_checkpoints
from mrisynth.utils import derive_seed, git_commit, rng_state, seed_everything, set_rng_state


def test_save_load_round_trip_is_atomic(tmp_path):
    state = {
        "w": torch.arange(6.0).reshape(2, 3),
        "nested": {
            "step": 3,
            "lr": 1e-3,
            "names": ["a", "b"],
            "betas": (0.9, 0.99),
            "none": None,
            "ok": True,
        },
    }
    path = save_checkpoint(tmp_path / "sub" / "c.pt", state)
    save_checkpoint(path, {**state, "w": torch.zeros(2)})  # overwrite in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.pt"]  # no temp files left
    back = load_checkpoint(path)
    assert torch.equal(back["w"], torch.zeros(2)) and back["nested"] == state["nested"]


@pytest.mark.parametrize(
    ("value", "where"),
    [
        (np.float64(1.0), "state['x']"),
        (np.zeros(2), "state['x']"),
        (Path("a"), "state['x']"),
        ([1, {"y": object()}], "state['x'][1]['y']"),
    ],
)
def test_save_rejects_what_weights_only_cannot_load(tmp_path, value, where):
    with pytest.raises(CheckpointError, match=re.escape(where)):
        save_checkpoint(tmp_path / "c.pt", {"x": value})
    assert not (tmp_path / "c.pt").exists()


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: file not found"):
        load_checkpoint(tmp_path / "nope.pt")
    good = save_checkpoint(tmp_path / "good.pt", {"w": torch.randn(100)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"truncated\.pt: cannot be read"):
        load_checkpoint(truncated)
    evil = tmp_path / "evil.pt"
    torch.save({"obj": Path("x")}, evil)  # a pickled class: refused by weights_only
    with pytest.raises(CheckpointError, match=r"evil\.pt: cannot be read"):
        load_checkpoint(evil)


def test_latest_and_rotation(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    for step in (5, 20, 10, 100):
        save_checkpoint(checkpoint_path(tmp_path, step), {"step": step})
    (tmp_path / ".step_00000200.pt.x.tmp").write_bytes(b"partial")
    (tmp_path / "best.pt").write_bytes(b"")
    assert latest_checkpoint(tmp_path).name == "step_00000100.pt"
    removed = rotate_checkpoints(tmp_path, keep_last=2)
    assert [p.name for p in removed] == ["step_00000005.pt", "step_00000010.pt"]
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 100]
    assert (tmp_path / "best.pt").exists()
    with pytest.raises(ValueError, match="keep_last"):
        rotate_checkpoints(tmp_path, 0)


def test_load_model_state_messages_and_prefixes():
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    src = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    ddp_style = {f"module._orig_mod.{k}": v for k, v in src.state_dict().items()}
    load_model_state(net, ddp_style, source="x.pt")
    assert torch.equal(net[1].weight, src[1].weight)
    bad = {**src.state_dict(), "1.weight": torch.zeros(5, 4)}
    with pytest.raises(
        ValueError, match=r"x\.pt: .*'1\.weight': checkpoint \(5, 4\) vs model \(2, 4\)"
    ):
        load_model_state(net, bad, source="x.pt")
    partial = {k: v for k, v in src.state_dict().items() if k.startswith("0.")}
    with pytest.raises(ValueError, match=r"missing \['1\.bias', '1\.weight'\]"):
        load_model_state(net, partial)
    load_model_state(net, partial, strict=False)  # overlap only


def test_rng_state_round_trip_through_checkpoint(tmp_path):
    seed_everything(7)
    random.random(), np.random.randn(), torch.randn(3), np.random.standard_normal()
    save_checkpoint(tmp_path / "rng.pt", {"rng": rng_state()})

    def draw():
        return (
            random.random(),
            random.gauss(0, 1),
            np.random.randn(3).tolist(),
            torch.randn(3).tolist(),
        )

    first = draw()
    seed_everything(99)
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert draw() == first


def test_derive_seed():
    assert derive_seed(1, 2, 3) == derive_seed(1, 2, 3)
    seeds = {derive_seed(0, step, rank) for step in range(50) for rank in range(4)}
    assert len(seeds) == 200 and all(0 <= s < 2**63 for s in seeds)
    with pytest.raises(ValueError, match=">= 0"):
        derive_seed(-1)


def test_get_lr_warmup_cosine_constant():
    kw = dict(warmup_steps=10, decay_steps=110, min_lr_ratio=0.1)
    assert get_lr(0, 1.0, **kw) == pytest.approx(0.1)
    assert get_lr(9, 1.0, **kw) == pytest.approx(1.0)
    assert get_lr(10, 1.0, **kw) == pytest.approx(1.0)
    assert get_lr(60, 1.0, **kw) == pytest.approx(0.55)  # half way: (1 + 0.1) / 2
    assert get_lr(110, 1.0, **kw) == pytest.approx(0.1)
    assert get_lr(500, 1.0, **kw) == pytest.approx(0.1)
    assert get_lr(50, 2.0, schedule="constant", warmup_steps=10) == 2.0
    with pytest.raises(ValueError, match="schedule"):
        get_lr(0, 1.0, schedule="step")


def test_step_sampler_shards_and_resumes():
    n, b = 23, 3
    ranks = [
        StepBatchSampler(n, b, seed=1, start_step=0, stop_step=6, rank=r, world_size=2)
        for r in range(2)
    ]
    assert ranks[0].steps_per_epoch == 3  # 23 // 6, tail of 5 dropped
    for step in range(6):
        a, c = ranks[0].indices(step), ranks[1].indices(step)
        assert len(a) == len(c) == b and not set(a) & set(c)  # ranks disjoint
    epoch0 = sum((ranks[r].indices(s) for s in range(3) for r in range(2)), [])
    assert len(set(epoch0)) == 18  # no repeats within an epoch
    assert epoch0 != sum((ranks[r].indices(s) for s in range(3, 6) for r in range(2)), [])
    resumed = StepBatchSampler(n, b, seed=1, start_step=4, stop_step=6, rank=1, world_size=2)
    assert list(resumed) == list(ranks[1])[4:] and len(resumed) == 2
    single = StepBatchSampler(n, 2 * b, seed=1, start_step=0, stop_step=6)
    assert all(
        sorted(single.indices(s)) == sorted(ranks[0].indices(s) + ranks[1].indices(s))
        for s in range(6)
    )
    with pytest.raises(ValueError, match="fewer than one global batch"):
        StepBatchSampler(5, 3, seed=0, start_step=0, stop_step=1, world_size=2)


def test_git_commit(tmp_path):
    commit = git_commit(Path(__file__).parent)
    assert commit is not None and re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit)
    assert git_commit(tmp_path) is None
