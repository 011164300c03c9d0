"""Multi-process training with ``torch.distributed`` (launched by ``torchrun``).

Launch with ``torchrun --nproc_per_node N -m mrisynth ...``; torchrun sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, which
:func:`setup_distributed` reads. A plain ``python`` launch is a world of size 1 and never
initialises a process group, so single-process code pays nothing. Backends: ``gloo`` on CPU,
``nccl`` on CUDA.

Several machines: one ``torchrun`` per node, all pointed at one rendezvous endpoint (a host and
a free port on the first node); ranks are assigned at the rendezvous. Under SLURM::

    #SBATCH --nodes=2
    #SBATCH --ntasks-per-node=1
    #SBATCH --gpus-per-node=4
    #SBATCH --requeue
    head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
    srun torchrun --nnodes "$SLURM_NNODES" --nproc-per-node 4 \\
        --rdzv-backend c10d --rdzv-endpoint "$head:29500" --rdzv-id "$SLURM_JOB_ID" \\
        -m mrisynth train generator --out /shared/runs/pretrain ...

``batch_size`` is per rank. Rank 0 alone writes checkpoints, ``metrics.jsonl``, the exported
model file and MLflow records; every rank reads the checkpoint it resumes from and the exported
model, so ``--out`` must be on a filesystem every node shares (the trainer stops with a
``CheckpointError`` when ranks find different checkpoints). A lost node fails the whole job;
the restarted job (``--requeue``, or submit it again) resumes from the last checkpoint and ends
bit-identical to an uninterrupted run on CPU (``tests/engine/test_multinode.py``: 2 nodes x 1
process on localhost, gloo).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

logger = logging.getLogger(__name__)

__all__ = [
    "DistInfo",
    "resolve_device",
    "setup_distributed",
    "cleanup_distributed",
    "all_reduce_mean",
    "all_reduce_max",
    "all_gather_object",
    "barrier",
    "wrap_ddp",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: global process index, ``0 <= rank < world_size``.
        world_size: number of processes.
        local_rank: process index on this machine (selects the GPU).
        device: the device this process trains on.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` → ``cuda:<local_rank>`` if CUDA is available, else CPU.

    Raises:
        ValueError: unknown name, or ``"cuda"`` requested without a CUDA device.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but torch.cuda.is_available() is False")
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from e


def setup_distributed(device: str = "auto", timeout_s: float = 600.0) -> DistInfo:
    """Read torchrun's environment, join the process group and pick this rank's device.

    Args:
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (see :func:`resolve_device`).
        timeout_s: collective timeout in seconds.

    Returns:
        :class:`DistInfo`. With ``WORLD_SIZE`` unset or 1 no process group is created.

    Raises:
        ValueError: inconsistent environment (rank outside the world, missing
            ``MASTER_ADDR``/``MASTER_PORT``).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} is outside WORLD_SIZE={world_size}")
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
        if missing:
            raise ValueError(
                f"WORLD_SIZE={world_size} but {', '.join(missing)} not set; launch with torchrun"
            )
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(
            backend=backend,
            init_method="env://",
            rank=rank,
            world_size=world_size,
            timeout=timedelta(seconds=timeout_s),
            device_id=dev if dev.type == "cuda" else None,
        )
        logger.info("rank %d/%d joined (%s, %s)", rank, world_size, backend, dev)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def cleanup_distributed() -> None:
    """Leave the process group (no-op when none was initialised)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of ``value`` over all ranks (a new tensor; a plain copy in a single process).

    Every rank must call this with a tensor of the same shape, in the same order.
    """
    out = value.detach().clone().float()
    if _active():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= dist.get_world_size()
    return out


def all_reduce_max(value: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum of ``value`` over all ranks (e.g. a "diverged" flag)."""
    out = value.detach().clone()
    if _active():
        dist.all_reduce(out, op=dist.ReduceOp.MAX)
    return out


def all_gather_object(obj: Any) -> list[Any]:
    """Pickle-based gather of ``obj`` from every rank, in rank order (``[obj]`` when alone)."""
    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait for all ranks (no-op in a single process)."""
    if _active():
        dist.barrier()


def wrap_ddp(module: nn.Module, info: DistInfo, find_unused_parameters: bool = False) -> nn.Module:
    """Wrap ``module`` in :class:`~torch.nn.parallel.DistributedDataParallel` when distributed.

    DDP broadcasts rank 0's parameters and buffers at construction, so all ranks start equal,
    and averages gradients during ``backward``. Modules without trainable parameters (e.g. a
    frozen expert) are returned unwrapped, since DDP refuses them.
    """
    if not info.is_distributed or not any(p.requires_grad for p in module.parameters()):
        return module
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        module, device_ids=device_ids, find_unused_parameters=find_unused_parameters
    )
