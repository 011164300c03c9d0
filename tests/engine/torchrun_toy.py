"""A toy training job for ``torchrun`` (see ``test_multinode.py``): engine_toys' MLP regression
under DDP (gloo, CPU), 10 steps, a log record every 2 and a checkpoint every 4 (checkpoints on
log steps: the first record after a resume averages the steps since the checkpoint, so only
then is a resumed run's ``metrics.jsonl`` the uninterrupted run's, byte for byte).

Each process writes ``<report>/rank<RANK>.pt`` (its final flat parameters) and
``<report>/rank<RANK>.json`` (where it ran, the step it started from, what its tracker got).
``--die-at STEP`` makes the node running rank 1 vanish during that step: the process SIGKILLs
its torchrun agent (its parent) and exits at once, with no cleanup, as when a machine is lost.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import torch
from engine_toys import MLPSolver, RegressionSet, flat_params

from mrisynth.engine import (
    NullTracker,
    TrainConfig,
    Trainer,
    cleanup_distributed,
    setup_distributed,
)


class RecordingTracker(NullTracker):
    """Counts the metric records it is given (every rank gets one; only rank 0's may fill)."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def log_metrics(self, metrics, step: int) -> None:
        self.steps.append(int(step))


class ToySolver(MLPSolver):
    """The engine tests' MLP with dropout and input noise (every RNG matters for an exact
    resume), recording the step it started at and optionally losing its node."""

    def __init__(self, rank: int, die_at: int | None) -> None:
        super().__init__(lr=0.05, dropout=0.1, noise=True)
        self.rank, self.die_at = rank, die_at
        self.first_step: int | None = None

    def run_step(self, batch, train):
        if train:
            step = self.trainer.step  # steps completed before this one
            if self.first_step is None:
                self.first_step = step
            if self.die_at is not None and self.rank == 1 and step + 1 == self.die_at:
                os.kill(os.getppid(), signal.SIGKILL)  # the torchrun agent of this node
                os._exit(1)
        return super().run_step(batch, train)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="the trainer's out_dir")
    parser.add_argument("--report", required=True)
    parser.add_argument("--die-at", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    info = setup_distributed("cpu", timeout_s=60.0)  # a lost peer fails fast, not in 10 min
    try:
        cfg = TrainConfig(
            max_steps=10,
            batch_size=4,
            out_dir=args.out,
            device="cpu",
            seed=5,
            log_interval=2,
            ckpt_interval=4,
            warmup_steps=2,
            progress=False,
        )
        torch.manual_seed(100 + info.rank)  # ranks start different: DDP broadcasts rank 0's
        solver = ToySolver(info.rank, args.die_at)
        tracker = RecordingTracker()
        Trainer(cfg, solver, tracker=tracker, dist_info=info).fit(RegressionSet(64))
        report = Path(args.report)
        report.mkdir(parents=True, exist_ok=True)
        torch.save(flat_params(solver), report / f"rank{info.rank}.pt")
        facts = {
            "rank": info.rank,
            "world_size": info.world_size,
            "node": os.environ["NODE_LABEL"],
            "group_rank": int(os.environ["GROUP_RANK"]),
            "first_step": solver.first_step,
            "tracked_steps": tracker.steps,
        }
        (report / f"rank{info.rank}.json").write_text(json.dumps(facts))
    finally:
        cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
