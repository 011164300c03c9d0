"""Time to a good sync expert: wall time until held-out accuracy first reaches a target (90 %).

A logged run, not a quick script: on 2 CPU cores the README's 93 % run took about 32 min.

Run: ``python benchmarks/bench_expert.py --work /tmp/expert_bench`` builds a phantom corpus
(``--speakers`` pretraining speakers + 2 held-out target speakers, MRI only), prepares it and
trains the expert from scratch through the CLI::

    mrisynth train expert --manifest <work>/prepared/prepared.csv --split-train pretrain \\
        --split-val adapt,test --out <work>/expert \\
        --set opt.lr=1e-3 opt.augment=true train.max_steps=<N> train.eval_interval=<E> ...

(``--device cuda`` adds the GPU settings of ``configs/expert/gpu.yaml``: bf16 and channels-last.)
While it trains, ``metrics.jsonl`` is polled and each evaluation is stamped with the wall time
since the training command started (evaluation time included) and the training process's CPU
time (user + system, from ``/proc``; on a shared machine it says how much of the wall time the
run got); the run is stopped at the first evaluation at or above ``--target`` unless
``--no-stop``. Prints one line per evaluation, the load average at the start and the end, and
the time to target (or that it was not reached).

``--run-dir DIR`` instead reads a finished run's ``metrics.jsonl`` and ``timing.jsonl``: the time
to target is then the sum of the logged step times up to that evaluation (evaluations and
checkpoints excluded, so it is a lower bound).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line still being written
            break
    return out


def from_run_dir(run: Path, target: float) -> None:
    """Time to ``target`` from a finished run's logs (step times only)."""
    metrics = [r for r in _records(run / "metrics.jsonl") if "valid/accuracy" in r]
    timing = _records(run / "timing.jsonl")
    if not metrics:
        raise SystemExit(f"{run / 'metrics.jsonl'}: no valid/accuracy records")
    # time/step_s is the mean over the steps since the previous log record
    elapsed, prev, at_step = 0.0, 0, {}
    for r in timing:
        if "time/step_s" in r:
            elapsed += r["time/step_s"] * (r["step"] - prev)
            prev = r["step"]
            at_step[r["step"]] = elapsed
    hit = None
    print(f"{'step':>6} {'valid/accuracy':>15} {'train s (logged steps)':>23}")
    for r in metrics:
        t = max((v for s, v in at_step.items() if s <= r["step"]), default=0.0)
        print(f"{r['step']:>6} {r['valid/accuracy']:>15.3f} {t:>23.0f}")
        if hit is None and r["valid/accuracy"] >= target:
            hit = (r["step"], t)
    if hit:
        print(f"reached {100 * target:.0f} % at step {hit[0]} after >= {hit[1] / 60:.1f} min")
    else:
        print(f"{100 * target:.0f} % not reached in {metrics[-1]['step']} steps")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` and its waited-for children (``/proc``), or
    None where ``/proc`` cannot tell (not Linux, or the process has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is the state (field 3 of proc(5)); utime, stime, cutime, cstime are 14-17
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def _run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="working folder (phantom, prepared, run)")
    parser.add_argument("--run-dir", type=Path, help="analyse a finished run instead")
    parser.add_argument("--target", type=float, default=0.9, help="held-out accuracy target")
    parser.add_argument("--speakers", type=int, default=14, help="pretraining speakers")
    # a schedule long enough to get there: from scratch, 6000 cosine steps level off near 0.82
    parser.add_argument("--max-steps", type=int, default=20000)
    parser.add_argument("--eval-interval", type=int, default=200)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--no-stop", dest="stop", action="store_false")
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="train.channels_last=true on a CPU too (configs/expert/cpu.yaml leaves it off)",
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="train.precision on a CPU: bf16 autocast, or fp32 as configs/expert/cpu.yaml",
    )
    args = parser.parse_args(argv)
    if args.run_dir is not None:
        from_run_dir(args.run_dir, args.target)
        return
    if args.work is None:
        parser.error("give --work (a new run) or --run-dir (a finished one)")
    mrisynth = [sys.executable, "-m", "mrisynth"]
    phantom, prepared, run = args.work / "phantom", args.work / "prepared", args.work / "expert"
    if run.exists():
        raise SystemExit(f"{run}: exists; pick a new --work folder (a resumed run mixes times)")
    t_phantom = t_prepare = 0.0
    if not (phantom / "manifest.csv").exists():
        t_phantom = _run(
            [*mrisynth, "phantom", "--out", str(phantom), "--no-progress", "--set"]
            + [f"n_pretrain_speakers={args.speakers}", "n_target_speakers=2", "face=false"]
        )
    if not (prepared / "prepared.csv").exists():
        t_prepare = _run(
            [*mrisynth, "prepare", "--manifest", str(phantom / "manifest.csv")]
            + ["--out", str(prepared)]
        )
    cmd = [*mrisynth, "train", "expert", "--manifest", str(prepared / "prepared.csv")]
    cmd += ["--split-train", "pretrain", "--split-val", "adapt,test", "--out", str(run)]
    cmd += ["--set", *train_settings(args)]
    print(f"phantom {t_phantom:.0f} s, prepare {t_prepare:.0f} s; training: {' '.join(cmd)}")
    print(f"load average (1/5/15 min) at the start: {_load()}")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    seen, hit, cpu, last = 0, None, None, None
    print(f"{'step':>6} {'valid/accuracy':>15} {'wall s':>8} {'cpu s':>8}", flush=True)
    try:
        while True:
            cpu = cpu_seconds(proc.pid) if proc.poll() is None else cpu  # before it is reaped
            done = proc.poll() is not None
            evals = [r for r in _records(run / "metrics.jsonl") if "valid/accuracy" in r]
            for r in evals[seen:]:
                t = time.perf_counter() - t0
                c = "?" if cpu is None else f"{cpu:.0f}"
                print(f"{r['step']:>6} {r['valid/accuracy']:>15.3f} {t:>8.0f} {c:>8}", flush=True)
                last = r
                if hit is None and r["valid/accuracy"] >= args.target:
                    hit = (r["step"], t, c)
            seen = len(evals)
            if done or (hit and args.stop):
                break
            time.sleep(2.0)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
    print(f"load average (1/5/15 min) at the end: {_load()}")
    if hit:
        print(
            f"reached {100 * args.target:.0f} % at step {hit[0]} after {hit[1] / 60:.1f} min "
            f"wall, {hit[2]} s CPU time of the training process"
        )
    else:
        print(not_reached(args.target, last, proc.returncode))


def train_settings(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides of the timed run: the from-scratch schedule, and on a GPU the
    settings of ``configs/expert/gpu.yaml`` (bf16, channels-last); on a CPU the asked-for
    precision and layout."""
    sets = [
        "opt.lr=1e-3",
        "opt.augment=true",
        f"train.max_steps={args.max_steps}",
        f"train.eval_interval={args.eval_interval}",
        f"train.ckpt_interval={args.eval_interval}",
        "train.progress=false",
        f"train.device={args.device}",
    ]
    if args.device == "cuda":
        return sets + ["train.precision=bf16", "train.channels_last=true"]
    sets += [f"train.precision={args.precision}"]
    return sets + (["train.channels_last=true"] if args.channels_last else [])


def not_reached(target: float, last: dict[str, Any] | None, returncode: int | None) -> str:
    """The closing line of a run that did not reach ``target``: its last evaluation, and how
    the training command ended (a run stopped from outside says so)."""
    where = (
        "no evaluation was logged"
        if last is None
        else f"last evaluation at step {last['step']}: {last['valid/accuracy']:.3f}"
    )
    end = "finished" if returncode == 0 else f"stopped (exit code {returncode})"
    return f"{100 * target:.0f} % not reached; {where}; training {end}"


if __name__ == "__main__":
    main()
