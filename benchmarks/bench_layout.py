"""Channels-last against the contiguous layout: mrisynth's generator + discriminator step, A/B.

Run: ``python benchmarks/bench_layout.py`` (CPU, ``face_small``, about 2 min on 2 cores).

Two trainers of ``bench_train.py``'s mrisynth row (the same weights, clips and Wav2Lip loss:
0.9 L1 + 0.03 sync + 0.07 GAN, then the discriminator's step, device bank) differ only in
``TrainConfig.channels_last``. Their blocks alternate round by round, so load from other jobs
hits both. Per step it reports the wall time and the process's CPU time (user + system, every
thread), whose medians are less sensitive to other jobs than wall time on a shared machine.
The numbers are the same up to float rounding (``tests/engine/test_solvers.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train  # noqa: E402  (the sibling script: same corpus, trainer and loss)


class CpuClock:
    """Wraps a batch iterator: wall and process CPU time at each batch request."""

    def __init__(self, batches: Iterator[Any]) -> None:
        self.batches = batches
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __iter__(self) -> CpuClock:
        return self

    def __next__(self) -> Any:
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())
        return next(self.batches)

    def steps(self) -> tuple[list[float], list[float]]:
        """(wall, CPU) seconds of the steps between the second and the last request (the
        first step warms up; the last request only ends the step before it)."""
        wall = [b - a for a, b in zip(self.wall[1:], self.wall[2:])]
        cpu = [b - a for a, b in zip(self.cpu[1:], self.cpu[2:])]
        return wall, cpu


def layout_trainer(cfg: Any, corpus: list[Any], out: Path, args: argparse.Namespace, cl: bool):
    """``bench_train``'s generator trainer with ``channels_last=cl``; its batches timed."""
    from mrisynth.engine.trainer import Trainer

    class ClockedTrainer(Trainer):
        clock: CpuClock

        def _train_batches(self, data: Any, start: int, stop: int) -> Iterator[Any]:
            self.clock = CpuClock(super()._train_batches(data, start, stop))
            return self.clock

    total = args.rounds * (args.steps + 2)
    tc = bench_train.train_config(out, args.batch, 0, torch.device("cpu"), False, False, total)
    tc = dataclasses.replace(tc, channels_last=cl)
    timed, bank = bench_train.generator_trainer(
        cfg, corpus, tc, n_frames=cfg.n_frames, weights=bench_train.wav2lip_weights()
    )
    return ClockedTrainer(tc, timed.solver), bank


def run(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Alternate the two layouts' blocks; return their step times by layout."""
    from mrisynth.models.builders import ModelConfig

    cfg = ModelConfig.preset(args.preset)
    corpus = bench_train.make_corpus(args.utterances, 4.0, cfg.img_size, cfg.channels, cfg.fps)
    out: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        loops = {}
        for name, cl in (("contiguous", False), ("channels-last", True)):
            loops[name] = layout_trainer(cfg, corpus, Path(tmp) / name, args, cl)
            out[name] = {"wall": [], "cpu": []}
        for r in range(args.rounds):
            for name, (trainer, bank) in loops.items():
                trainer.fit(bank, until_step=trainer.step + args.steps + 2)
                wall, cpu = trainer.clock.steps()
                out[name]["wall"] += wall
                out[name]["cpu"] += cpu
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    return out


def report(times: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    """Median wall and CPU seconds per step of each layout, and contiguous ÷ channels-last."""
    base = times["contiguous"]
    lines = [
        f"generator + discriminator step, preset {args.preset}, batch {args.batch}, "
        f"{torch.get_num_threads()} torch threads, {args.rounds} rounds x {args.steps} steps",
        f"machine: {bench_train.machine()}",
        "",
        f"{'layout':<14} {'wall s':>8} {'cpu s':>8} {'x wall':>7} {'x cpu':>7}",
    ]
    for name, t in times.items():
        wall, cpu = statistics.median(t["wall"]), statistics.median(t["cpu"])
        lines.append(
            f"{name:<14} {wall:>8.3f} {cpu:>8.3f} "
            f"{statistics.median(base['wall']) / wall:>7.2f} "
            f"{statistics.median(base['cpu']) / cpu:>7.2f}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="face_small")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per block")
    parser.add_argument("--utterances", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)
    if min(args.batch, args.rounds, args.steps, args.utterances) < 1:
        parser.error("batch, rounds, steps and utterances must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(report(run(args), args), flush=True)


if __name__ == "__main__":
    main()
