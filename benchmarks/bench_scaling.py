"""Training throughput of mrisynth's generator step against batch size and number of processes.

Run: ``python benchmarks/bench_scaling.py`` (CPU: ``face_small``, batches 4…32, DDP with gloo
on 1 and 2 processes) or ``python benchmarks/bench_scaling.py --full --device cuda`` (``face96``,
batches 16…256, bf16 + channels-last + fused Adam, nccl on every visible GPU).

The step is the one ``bench_train.py`` times for mrisynth: the trainer with the generator, the
quality discriminator and a frozen expert (Wav2Lip's 0.9 L1 + 0.03 sync + 0.07 GAN), batches from
the device bank. Step time is the median wall time between batch requests (CUDA synchronised)
after one warm-up step.

- batch: samples/s at each batch size, one process;
- processes: DDP through the trainer (``torch.multiprocessing`` sets torchrun's variables), each
  process with the same per-process batch and ``cores / processes`` torch threads; samples/s
  counts all processes' samples. On a 2-core CPU two processes share the same two cores: this
  shows the mechanism (gradient all-reduce over gloo works and costs little), not a speed-up.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train as bt  # noqa: E402  (a sibling script, not a package)


def _corpus(cfg: Any, args: argparse.Namespace) -> list[Any]:
    return bt.make_corpus(args.utterances, args.seconds, cfg.img_size, cfg.channels, cfg.fps)


def trainer_at(
    cfg: Any, corpus: list[Any], batch: int, steps: int, args: argparse.Namespace, out: Path
) -> tuple[Any, Any]:
    """A timed generator trainer (and its bank) at ``batch`` with room for ``steps`` steps."""
    device = torch.device(args.device)
    tc = bt.train_config(out, batch, 0, device, args.gpu_opts, args.compile, steps, seed=0)
    return bt.generator_trainer(
        cfg, corpus, tc, n_frames=cfg.n_frames, weights=bt.wav2lip_weights(), gpu_opts=args.gpu_opts
    )


def time_steps(
    cfg: Any, corpus: list[Any], batch: int, args: argparse.Namespace, out: Path
) -> tuple[list[float], list[float]]:
    """(step times, data waits) in s of ``args.ddp_steps`` timed generator steps at ``batch``
    in this process (one rank of a DDP run)."""
    trainer, bank = trainer_at(cfg, corpus, batch, args.ddp_steps + 2, args, out)
    return bt.OursLoop.block(trainer, bank, args.ddp_steps)


def _ddp_worker(
    rank: int, world: int, port: int, args: argparse.Namespace, out: str, q: Any
) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    if args.device == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    from mrisynth.engine.distributed import cleanup_distributed
    from mrisynth.models.builders import ModelConfig

    cfg = ModelConfig.preset(args.preset)
    try:
        steps = time_steps(cfg, _corpus(cfg, args), args.ddp_batch, args, Path(out) / f"r{rank}")[0]
        if rank == 0:
            q.put(steps)
    finally:
        cleanup_distributed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ddp_steps(world: int, args: argparse.Namespace, out: Path) -> list[float]:
    """Rank 0's step times with ``world`` DDP processes."""
    ctx = mp.get_context("spawn")
    q = ctx.SimpleQueue()
    mp.start_processes(
        _ddp_worker,
        args=(world, _free_port(), args, str(out), q),
        nprocs=world,
        start_method="spawn",
    )
    return q.get()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--full", action="store_true", help="face96, GPU batch sizes and options")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--batches", type=int, nargs="+", default=None)
    parser.add_argument("--processes", type=int, nargs="+", default=None)
    parser.add_argument("--ddp-batch", type=int, default=None, help="per-process batch")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per block")
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds of the batch sweep"
    )
    parser.add_argument("--ddp-steps", type=int, default=4, help="timed steps per DDP run")
    parser.add_argument("--utterances", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--no-compile", dest="no_compile", action="store_true")
    parser.add_argument("--ddp-only", action="store_true", help="skip the batch-size sweep")
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    args.preset = args.preset or ("face96" if args.full else "face_small")
    args.batches = args.batches or ([16, 32, 64, 128, 256] if args.full else [4, 8, 16, 32])
    n_gpu = torch.cuda.device_count() if cuda else 0
    args.processes = args.processes or (
        [1, n_gpu] if cuda and n_gpu > 1 else [1] if cuda else [1, 2]
    )
    args.ddp_batch = args.ddp_batch or 16
    args.gpu_opts = args.full and cuda
    args.compile = args.gpu_opts and not args.no_compile

    from mrisynth.models.builders import ModelConfig

    cfg = ModelConfig.preset(args.preset)
    corpus = _corpus(cfg, args)
    print(f"generator training step, preset {cfg.name}, device {args.device}; {bt.machine()}")
    if not args.ddp_only:
        print(
            f"{'batch':>6} {'step s':>8} {'samples/s':>10} {'x batch ' + str(args.batches[0]):>12}"
        )
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        # every batch size in each round, so that load from other jobs hits them all alike
        total = args.rounds * (args.steps + 2)
        args.batches = [] if args.ddp_only else args.batches
        runs = {
            b: trainer_at(cfg, corpus, b, total, args, Path(tmp) / f"b{b}") for b in args.batches
        }
        times: dict[int, list[float]] = {b: [] for b in args.batches}
        for _ in range(args.rounds):
            for b, (trainer, bank) in runs.items():
                times[b] += bt.OursLoop.block(trainer, bank, args.steps)[0]
        del runs
        for b in args.batches:
            step = statistics.median(times[b])
            rate = b / step
            base = base or rate
            print(f"{b:>6} {step:>8.3f} {rate:>10.1f} {rate / base:>12.2f}", flush=True)
        backend = "nccl" if cuda else "gloo"
        print(f"\nDDP ({backend}), per-process batch {args.ddp_batch}")
        print(f"{'processes':>12} {'step s':>8} {'samples/s':>10} {'x 1 proc':>9}")
        base = None
        threads = torch.get_num_threads()
        points = [(w, None) for w in args.processes]
        if not cuda and max(args.processes) > 1 and threads > 1:
            # control: one process with the thread count each DDP process gets, so that a
            # change from fewer threads per process (e.g. less OpenMP contention on a busy
            # machine) is not read as a DDP gain
            points.insert(1, (1, max(1, (os.cpu_count() or 1) // max(args.processes))))
        for world, n_threads in points:
            out = Path(tmp) / f"ddp{world}_{n_threads}"
            if world == 1:
                if n_threads is not None:
                    torch.set_num_threads(n_threads)
                steps = time_steps(cfg, corpus, args.ddp_batch, args, out)[0]
                torch.set_num_threads(threads)
            else:
                steps = ddp_steps(world, args, out)
            step = statistics.median(steps)
            rate = world * args.ddp_batch / step
            base = base or rate
            label = f"{world}" + (f" ({n_threads} thr)" if n_threads else "")
            print(f"{label:>12} {step:>8.3f} {rate:>10.1f} {rate / base:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
