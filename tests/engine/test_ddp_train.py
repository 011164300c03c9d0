"""Expert and generator training under two-process DDP (gloo, CPU): replicas stay identical.

The generator step runs the adversarial term through the unwrapped discriminators and each
discriminator's own step through its DDP wrapper on ``cat([real, fake])``; if that broke
gradient synchronisation, the ranks' discriminators (or generators) would drift apart.
"""

from __future__ import annotations

import dataclasses
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from test_solvers import TRAIN, VAL, run_cfg, tiny_cfg

import mrisynth.engine.solvers.generator as generator_recipe
import mrisynth.engine.solvers.sync_expert as expert_recipe
from mrisynth.engine import cleanup_distributed, setup_distributed
from mrisynth.engine.solvers.generator import GeneratorOptions, train_generator
from mrisynth.engine.solvers.sync_expert import ExpertOptions, train_sync_expert
from mrisynth.losses import GeneratorLossWeights


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    setup_distributed("cpu")
    trainers = []

    class RecordingTrainer(expert_recipe.Trainer):
        def fit(self, *args, **kwargs):
            trainers.append(self)
            return super().fit(*args, **kwargs)

    # this spawned process only
    expert_recipe.Trainer = generator_recipe.Trainer = RecordingTrainer
    try:
        expert_dir = os.path.join(out, "expert")
        r = train_sync_expert(
            TRAIN[:4],
            VAL[:1],
            tiny_cfg(),
            run_cfg(expert_dir, max_steps=4, eval_interval=4, log_interval=2),
            options=ExpertOptions(max_val_pairs=16),
        )
        weights = dataclasses.replace(GeneratorLossWeights.mri(), sync_enable_below=None)
        gen_dir = os.path.join(out, "generator")
        g = train_generator(
            TRAIN[:4],
            VAL[:1],
            tiny_cfg(),
            run_cfg(gen_dir, max_steps=4, eval_interval=2, log_interval=2),
            os.path.join(expert_dir, "expert.pt"),
            loss_weights=weights,
            options=GeneratorOptions(lr=3e-3, max_val_clips=8),
        )
        replicas = {
            f"{i}.{name}": {k: v.detach().clone() for k, v in m.state_dict().items()}
            for i, t in enumerate(trainers)
            for name, m in t._models.items()  # the unwrapped modules, in this rank's memory
        }
        torch.save(
            {
                "expert": r,
                "generator": g,
                "replicas": replicas,
                "sync_on": trainers[1].solver.sync_enabled,
            },
            os.path.join(out, f"rank{rank}.pt"),
        )
    finally:
        cleanup_distributed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # ~25 s: two processes each import the stack and compute mels
def test_two_rank_expert_and_generator_training(tmp_path):
    out = str(tmp_path)
    mp.spawn(_worker, args=(_free_port(), out), nprocs=2, join=True)
    r0, r1 = (torch.load(os.path.join(out, f"rank{r}.pt"), weights_only=True) for r in range(2))
    assert r0["expert"] == r1["expert"] and r0["expert"]["step"] == 4
    assert r0["generator"] == r1["generator"]  # every rank returns the exported metrics
    assert set(r0["replicas"]) == {
        "0.expert",
        "1.generator",
        "1.quality_disc",
        "1.temporal_disc",
    }
    for name, state in r0["replicas"].items():
        for key, value in state.items():
            other = r1["replicas"][name][key]
            assert torch.isfinite(value.float()).all(), f"{name}.{key}"
            assert torch.allclose(value.float(), other.float(), atol=1e-6), f"{name}.{key} differs"
    # Equal replicas after steps on different samples per rank = gradients were all-reduced.
    assert r0["sync_on"] and r1["sync_on"]
