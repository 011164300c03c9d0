"""Step-indexed batch sampling: which samples a rank trains on at each step.

The batch of step ``s`` is a pure function of ``(seed, s, rank, world_size)``, so a resumed run
draws exactly the batches the uninterrupted run would have drawn, with nothing to store but the
step. Samples are visited in epochs: epoch ``e`` is a permutation of the dataset seeded by
``(seed, e)`` (the same on every rank); the global batch of step ``s`` is the next
``batch_size * world_size`` indices of it, and rank ``r`` takes the ``r``-th chunk. Ranks thus see
disjoint samples, and a ``world_size=2, batch_size=b`` run sees the same samples per step as a
single process with ``batch_size=2b``. The incomplete tail of each permutation is dropped.

An *indexed batch source* (``get_batch(indices, seed)``) also gets a seed per step,
``derive_seed(seed, rank, step)`` (:meth:`StepBatchSampler.step_seed`);
:class:`SeededStepSampler` yields both, as the keys a DataLoader hands to its workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from mrisynth.utils.seed import derive_seed

__all__ = ["StepBatchSampler", "SeededStepSampler"]


class StepBatchSampler(Sampler[list[int]]):
    """Yields the index lists of steps ``start_step, ..., stop_step - 1`` for one rank.

    Args:
        num_samples: dataset length.
        batch_size: samples per step *per rank*.
        seed: run seed.
        start_step: first step to yield (the resume point).
        stop_step: one past the last step.
        rank: this process's rank.
        world_size: number of processes.

    Raises:
        ValueError: if the dataset is smaller than one global batch, or the ranges are invalid.

    Example:
        >>> list(StepBatchSampler(10, 2, seed=0, start_step=0, stop_step=2))  # doctest: +SKIP
        [[3, 7], [0, 9]]
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        seed: int,
        start_step: int,
        stop_step: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")
        if not 0 <= start_step <= stop_step:
            raise ValueError(f"need 0 <= start_step <= stop_step, got {start_step}, {stop_step}")
        global_batch = batch_size * world_size
        if num_samples < global_batch:
            raise ValueError(
                f"dataset has {num_samples} samples, fewer than one global batch of "
                f"{global_batch} (batch_size={batch_size} x world_size={world_size})"
            )
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.stop_step = stop_step
        self.rank = rank
        self.world_size = world_size
        self.steps_per_epoch = num_samples // global_batch
        self._perm_epoch = -1
        self._perm = torch.empty(0, dtype=torch.int64)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:  # one randperm per epoch, not per step
            g = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
            self._perm = torch.randperm(self.num_samples, generator=g)
            self._perm_epoch = epoch
        return self._perm

    def indices(self, step: int) -> list[int]:
        """Dataset indices this rank uses at ``step`` (length ``batch_size``)."""
        epoch, pos = divmod(step, self.steps_per_epoch)
        start = (pos * self.world_size + self.rank) * self.batch_size
        return self._permutation(epoch)[start : start + self.batch_size].tolist()

    def step_seed(self, step: int) -> int:
        """The batch seed of ``step`` on this rank: ``derive_seed(seed, rank, step)``."""
        return derive_seed(self.seed, self.rank, step)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.stop_step):
            yield self.indices(step)

    def __len__(self) -> int:
        return self.stop_step - self.start_step


class SeededStepSampler(Sampler[tuple[list[int], int]]):
    """Yields ``(indices, seed)`` per step of a :class:`StepBatchSampler`: the arguments of an
    indexed batch source's ``get_batch`` (a DataLoader with ``batch_size=None`` passes each
    pair to ``dataset[pair]``, in a worker process when it has workers)."""

    def __init__(self, steps: StepBatchSampler) -> None:
        self.steps = steps

    def __iter__(self) -> Iterator[tuple[list[int], int]]:
        for step in range(self.steps.start_step, self.steps.stop_step):
            yield self.steps.indices(step), self.steps.step_seed(step)

    def __len__(self) -> int:
        return len(self.steps)
