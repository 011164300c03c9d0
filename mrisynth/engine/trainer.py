"""The mrisynth training engine: one flat, resumable training loop shared by all models.

A model family writes a :class:`Solver` (its models, optimisers and ``run_step``); the
:class:`Trainer` owns everything else: device placement, mixed precision, learning-rate
schedule, gradient clipping, DDP, step-indexed data sampling, logging, evaluation, divergence
checks and checkpoints. The loop reads top to bottom in :meth:`Trainer.fit`::

    class ToySolver(Solver):
        def __init__(self):
            self.net = nn.Linear(4, 1)
            self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-3)
        def models(self):      return {"net": self.net}
        def optimizers(self):  return {"main": self.opt}
        def run_step(self, batch, train):
            loss = F.mse_loss(self.net(batch["x"]), batch["y"])  # (B, 1) vs (B, 1)
            if train:
                self.optimize(loss)
            return {"loss": loss}

    Trainer(TrainConfig(max_steps=100, out_dir="runs/toy"), ToySolver()).fit(train_set, valid_set)

Resuming: with ``resume=True`` (default) :meth:`Trainer.fit` continues from the newest
``<out_dir>/checkpoints/step_*.pt``, restoring models, optimisers, the fp16 grad scaler, the step
(hence the learning rate and the data position) and every RNG (Python, NumPy, torch CPU/CUDA,
per rank). With a map-style dataset, the batches are a pure function of ``(seed, step, rank)``
(:class:`~mrisynth.engine.sampling.StepBatchSampler`), so a killed and resumed run repeats the
uninterrupted one exactly on CPU. Datasets should derive any randomness from the sample index
(or a generator seeded by it), not from global RNGs, for that to hold with ``num_workers > 0``.
The first metrics record after a resume averages the steps since the checkpoint, so
``metrics.jsonl`` repeats the uninterrupted run's byte for byte when ``ckpt_interval`` is a
multiple of ``log_interval``. Every rank reads the checkpoint that rank 0 wrote: across nodes,
``out_dir`` must be on a filesystem they share (ranks that resume from different steps stop
with :class:`~mrisynth.engine.checkpoint.CheckpointError`).

Training data can also be an *indexed batch source*: an object with ``__len__`` and
``get_batch(indices, seed) -> batch`` (e.g. :class:`~mrisynth.data.dataset.DeviceClipBank`,
whose frames already live on the device as uint8, or the host-side
:class:`~mrisynth.data.dataset.AVClipDataset`, which builds the same batches). The indices still
come from :class:`~mrisynth.engine.sampling.StepBatchSampler` and the seed is derived from
``(seed, rank, step)``, so resumption stays exact. A source that is also a torch ``Dataset``
(host data) is served by a DataLoader whose sampler yields ``(indices, seed)`` per step, so
``num_workers`` processes build batches in parallel; any other source (device data) is called
in the training process. A ``Subset`` of a source is a source over the chosen indices.
Validation batches of a source use the seeds ``derive_seed(seed, _VALID_STREAM, i)``, the same
at every evaluation.

Output files in ``out_dir``: ``metrics.jsonl`` (one JSON record per log step and evaluation:
losses, metrics, learning rates; a function of the seed, the data and the code), ``timing.jsonl``
(``time/*`` keys such as ``time/step_s`` with the same ``step``, which vary from run to run and
are kept apart so that the metrics log of identical runs is identical), ``checkpoints/`` and
``best.pt``. The tracker and the progress bar get both metrics and timings.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset
from tqdm.auto import tqdm

from mrisynth.config.schema import to_dict
from mrisynth.engine.checkpoint import (
    CheckpointError,
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    load_model_state,
    rotate_checkpoints,
    save_checkpoint,
)
from mrisynth.engine.distributed import (
    DistInfo,
    all_gather_object,
    all_reduce_max,
    all_reduce_mean,
    barrier,
    setup_distributed,
    wrap_ddp,
)
from mrisynth.engine.sampling import SeededStepSampler, StepBatchSampler
from mrisynth.engine.schedule import get_lr
from mrisynth.engine.tracking import NullTracker
from mrisynth.utils.git import source_commit
from mrisynth.utils.seed import derive_seed, rng_state, seed_everything, set_rng_state

logger = logging.getLogger(__name__)

__all__ = ["TrainConfig", "Solver", "Trainer", "TrainingDivergedError", "freeze"]

CHECKPOINT_FORMAT = "mrisynth.trainer/1"
_VALID_STREAM = 2**31 - 1  # seed key of validation batch sources (apart from any rank)
# Config keys that may legitimately change between a run and its resumption.
_RESUMABLE_CHANGES = {
    "max_steps",
    "out_dir",
    "progress",
    "log_interval",
    "eval_interval",
    "ckpt_interval",
    "keep_last",
    "num_workers",
    "resume",
    "compile",
}


@dataclass
class TrainConfig:
    """Settings of one training run (the solver's model/optimiser settings live elsewhere)."""

    max_steps: int = 1000
    """Total number of optimisation steps."""
    batch_size: int = 8
    """Samples per step *per rank* when the training data is a map-style dataset."""
    num_workers: int = 0
    """DataLoader worker processes (0 = load in the training process)."""
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    """Learning-rate shape after warmup, see :func:`~mrisynth.engine.schedule.get_lr`."""
    warmup_steps: int = 0
    """Linear warmup length in steps."""
    lr_decay_steps: int | None = None
    """Step at which the cosine reaches its minimum; default ``max_steps``."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a fraction of each optimiser's configured ``lr``."""
    grad_clip: float = 1.0
    """Maximum global gradient L2 norm per optimiser; 0 disables clipping."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Autocast dtype; ``fp16`` adds a dynamic GradScaler. ``bf16`` also works on CPU."""
    channels_last: bool = False
    """Store 4-D (5-D) weights and batch tensors channels-last: faster convs on a GPU, and on a
    CPU too, where oneDNN then skips its layout conversions (``benchmarks/bench_layout.py``)."""
    compile: bool = False
    """Wrap each model in ``torch.compile``."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto`` = CUDA when available (``cuda:<LOCAL_RANK>`` under torchrun), else CPU."""
    log_interval: int = 10
    """Steps between metric logs (the only host syncs of the loop)."""
    eval_interval: int = 100
    """Steps between evaluations on the validation data."""
    eval_batches: int = 0
    """Validation batches per evaluation and rank; 0 = the whole validation set."""
    ckpt_interval: int = 1000
    """Steps between checkpoints (one is also written at the last step)."""
    keep_last: int = 3
    """Number of ``step_*.pt`` checkpoints kept in ``<out_dir>/checkpoints``."""
    out_dir: str = "runs/train"
    """Folder for checkpoints, ``best.pt``, ``metrics.jsonl`` and ``timing.jsonl``."""
    seed: int = 0
    """Seed of data order and of all RNGs at the start of a fresh run."""
    resume: bool = True
    """Continue from the newest checkpoint in ``out_dir`` if there is one."""
    progress: bool = True
    """Show a tqdm bar (only on rank 0 and when stderr is a terminal)."""
    freeze: list[str] = field(default_factory=list)
    """Parameter-name prefixes (``"<model>.<module path>"``) to freeze for fine-tuning."""
    init_from: str | None = None
    """Checkpoint whose model weights initialise a fresh run (ignored when resuming)."""
    init_strict: bool = True
    """Require ``init_from`` to hold exactly the model's parameter names."""
    best_metric: str | None = None
    """Metric (e.g. ``"valid/loss"``) whose best value is saved to ``<out_dir>/best.pt``."""
    best_mode: Literal["min", "max"] = "min"
    """Whether a lower or a higher ``best_metric`` is better."""
    find_unused_parameters: bool = False
    """Passed to DDP; needed when some parameters get no gradient in a step."""

    def __post_init__(self) -> None:
        positive = (
            "max_steps",
            "batch_size",
            "log_interval",
            "eval_interval",
            "ckpt_interval",
            "keep_last",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("num_workers", "warmup_steps", "eval_batches", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0 (0 disables), got {self.grad_clip}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.lr_decay_steps is not None and self.lr_decay_steps < self.warmup_steps:
            raise ValueError(
                f"lr_decay_steps ({self.lr_decay_steps}) must be >= warmup_steps "
                f"({self.warmup_steps})"
            )
        choices = {
            "lr_schedule": ("cosine", "constant"),
            "precision": ("fp32", "bf16", "fp16"),
            "device": ("auto", "cpu", "cuda"),
            "best_mode": ("min", "max"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not self.out_dir:
            raise ValueError("out_dir must not be empty")


class TrainingDivergedError(RuntimeError):
    """A loss/metric became NaN or Inf; no checkpoint was written from the diverged weights.

    Attributes:
        step: first step (1-based, as in ``metrics.jsonl``) with a non-finite value.
        metrics: names of the non-finite metrics.
        last_checkpoint: newest (good) checkpoint on disk, or ``None``.
    """

    def __init__(self, message: str, step: int, metrics: list[str], last_checkpoint: Path | None):
        super().__init__(message)
        self.step = step
        self.metrics = metrics
        self.last_checkpoint = last_checkpoint


class Solver(abc.ABC):
    """What a model family supplies to the :class:`Trainer`.

    ``models()`` keys must be the attribute names holding the modules (``{"net": self.net}``):
    under DDP or ``compile`` the trainer replaces ``self.net`` with the wrapped module, so
    ``run_step`` should always go through the attribute. Checkpoints store the unwrapped module.
    """

    trainer: Trainer | None = None

    @abc.abstractmethod
    def models(self) -> dict[str, nn.Module]:
        """Trainable (and frozen) modules by name; saved in checkpoints."""

    @abc.abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimisers by name; each group's configured ``lr`` is the schedule's peak."""

    @abc.abstractmethod
    def run_step(self, batch: Any, train: bool) -> dict[str, torch.Tensor]:
        """One training (``train=True``) or evaluation step on a device-resident batch.

        In training, call :meth:`optimize` for each loss/optimiser pair (e.g. discriminator then
        generator). Runs under the trainer's autocast; under ``no_grad`` when ``train=False``.

        Returns:
            Scalar tensors by name (e.g. ``{"loss": ..., "l1": ...}``), not ``.item()``-ed;
            the same keys on every rank. The trainer averages them over log intervals and
            ranks and stops on a NaN/Inf.
        """

    def state_dict(self) -> dict[str, Any]:
        """Extra state to checkpoint (tensors/primitives only), e.g. EMA weights."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the default stores nothing).

        Raises:
            ValueError: if ``state`` is non-empty but this method was not overridden.
        """
        if state:
            raise ValueError(
                f"{type(self).__name__}: checkpoint holds solver state {sorted(state)} but "
                "load_state_dict is not implemented"
            )

    def optimize(self, loss: torch.Tensor, optimizer: str | None = None) -> None:
        """Backward ``loss`` and step ``optimizer`` (the only one when ``None``); see
        :meth:`Trainer.optimizer_step`."""
        if self.trainer is None:
            raise RuntimeError(
                f"{type(self).__name__}.optimize: solver is not attached to a Trainer"
            )
        self.trainer.optimizer_step(loss, optimizer)


def freeze(
    models: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    prefixes: Iterable[str],
) -> list[str]:
    """Freeze parameters by name prefix and drop them from the optimisers.

    A parameter's full name is ``"<model key>.<name in the module>"``; a prefix matches whole
    name components (``"gen.enc"`` matches ``gen.enc.0.weight``, not ``gen.encoder.weight``).

    Returns:
        Full names of the frozen parameters.

    Raises:
        ValueError: a prefix that matches no parameter (names a few valid ones).
    """
    prefixes = [p.rstrip(".") for p in prefixes]
    used = dict.fromkeys(prefixes, False)
    frozen: list[str] = []
    frozen_ids: set[int] = set()
    all_names: list[str] = []
    for mname, module in models.items():
        for pname, param in module.named_parameters():
            full = f"{mname}.{pname}"
            all_names.append(full)
            hits = [p for p in prefixes if full == p or full.startswith(p + ".")]
            if hits:
                param.requires_grad_(False)
                frozen.append(full)
                frozen_ids.add(id(param))
                for h in hits:
                    used[h] = True
    unused = [p for p, ok in used.items() if not ok]
    if unused:
        raise ValueError(
            f"freeze: prefix {unused[0]!r} matches no parameter; names look like "
            f"{', '.join(all_names[:6])}"
        )
    for opt in optimizers.values():
        for group in opt.param_groups:
            group["params"] = [p for p in group["params"] if id(p) not in frozen_ids]
        for p in [p for p in opt.state if id(p) in frozen_ids]:
            del opt.state[p]
    return frozen


def _is_batch_source(data: Any) -> bool:
    # An indexed batch source (e.g. DeviceClipBank) builds a whole batch from a list of sample
    # indices and a seed, typically by indexing tensors already on the device.
    return callable(getattr(data, "get_batch", None)) and hasattr(data, "__len__")


def _as_batch_source(data: Any) -> Any | None:
    """``data`` as an indexed batch source (a ``Subset`` of one included), or None."""
    if _is_batch_source(data):
        return data
    if isinstance(data, Subset):
        inner = _as_batch_source(data.dataset)
        if inner is not None:
            return _SubsetSource(inner, data.indices)
    return None


class _SubsetSource:
    """The indexed batch source of ``Subset(source, indices)``: ``get_batch`` maps indices."""

    def __init__(self, source: Any, indices: Any) -> None:
        self.source = source
        self.indices = torch.as_tensor(list(indices), dtype=torch.long)

    def __len__(self) -> int:
        return int(self.indices.numel())

    def get_batch(self, indices: Any, seed: int) -> Any:
        return self.source.get_batch(self.indices[torch.as_tensor(indices, dtype=torch.long)], seed)


def _is_host_source(source: Any) -> bool:
    """True if a batch source builds batches on the host (a torch ``Dataset``, e.g.
    ``AVClipDataset``): then DataLoader workers can build them; device data (the bank) cannot."""
    while isinstance(source, _SubsetSource):
        source = source.source
    return isinstance(source, Dataset)


class _SeededBatches(Dataset):
    """A batch source as a DataLoader dataset: item ``(indices, seed)`` is ``get_batch(...)``
    (with ``batch_size=None``; the keys come from :class:`SeededStepSampler` or a list)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: tuple[Any, int]) -> Any:
        indices, seed = key
        return self.source.get_batch(indices, seed)


def _as_is(batch: Any) -> Any:
    # collate_fn of batch sources: get_batch already returns the finished batch
    return batch


def _is_map_dataset(data: Any) -> bool:
    return (
        isinstance(data, Dataset)
        and not isinstance(data, IterableDataset)
        and hasattr(data, "__len__")
    )


def _cycle_from(data: Iterable[Any], skip: int) -> Iterator[Any]:
    # Generic iterables carry no position: replay and drop the first `skip` batches.
    seen = 0
    while True:
        empty = True
        for batch in data:
            empty = False
            if seen >= skip:
                yield batch
            seen += 1
        if empty:
            raise ValueError("training data iterable yielded no batches")


class Trainer:
    """Runs a :class:`Solver` for ``config.max_steps`` steps (see module docstring).

    Args:
        config: run settings.
        solver: model family logic; ``solver.trainer`` is set to this trainer.
        tracker: metrics sink on rank 0 (an open :class:`~mrisynth.engine.tracking.Tracker`
            run, or :class:`~mrisynth.engine.tracking.NullTracker`, the default).
        dist_info: process placement; default :func:`setup_distributed` (reads torchrun env).
        collate_fn: DataLoader collate function for map-style datasets (not used for indexed
            batch sources, whose ``get_batch`` returns the finished batch).
    """

    def __init__(
        self,
        config: TrainConfig,
        solver: Solver,
        *,
        tracker: NullTracker | None = None,
        dist_info: DistInfo | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        self.cfg = config
        self.solver = solver
        self.tracker = tracker or NullTracker()
        self.dist = dist_info or setup_distributed(config.device)
        self.device = self.dist.device
        self.collate_fn = collate_fn
        self.out_dir = Path(config.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.metrics_file = self.out_dir / "metrics.jsonl"
        self.timing_file = self.out_dir / "timing.jsonl"
        self.step = 0
        self.best: float | None = None
        self.history: list[dict[str, Any]] = []
        # the source this run started from; kept out of the checkpoints (it changes with every
        # commit, and DVC hashes them): the exported model's ``.run.json`` records it
        self.git_commit = source_commit()
        self._prepared = False
        self._reset_accumulators()
        self._first_bad: dict[str, torch.Tensor] = {}

        self._models = dict(solver.models())
        self._optimizers = dict(solver.optimizers())
        if not self._models or not all(isinstance(m, nn.Module) for m in self._models.values()):
            raise TypeError(
                f"{type(solver).__name__}.models() must return a non-empty dict[str, nn.Module]"
            )
        if not all(isinstance(o, torch.optim.Optimizer) for o in self._optimizers.values()):
            raise TypeError(
                f"{type(solver).__name__}.optimizers() must return dict[str, torch.optim.Optimizer]"
            )
        solver.trainer = self
        for module in self._models.values():
            module.to(self.device)
            if config.channels_last:
                for p in module.parameters():  # .data keeps the Parameter (optimiser refs)
                    p.data = self._to_memory_format(p.data)
        for opt in self._optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])  # peak lr of the schedule
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.precision == "fp16")
        if config.freeze:
            self.freeze(config.freeze)
        if config.init_from:
            self.init_from(config.init_from, strict=config.init_strict)

    # ------------------------------------------------------------------ setup helpers
    def freeze(self, prefixes: Iterable[str]) -> list[str]:
        """Freeze parameters by prefix (see :func:`freeze`); call before :meth:`fit`."""
        if self._prepared:
            raise RuntimeError("Trainer.freeze must be called before fit() wraps the models")
        names = freeze(self._models, self._optimizers, prefixes)
        logger.info("froze %d parameter tensors", len(names))
        return names

    def init_from(
        self, path: str | Path, strict: bool = True, models: Iterable[str] | None = None
    ) -> None:
        """Load pretrained model weights (not optimiser state or step) from ``path``.

        ``path`` is a trainer checkpoint (weights under ``"models"``) or, for a single-model
        solver, a plain ``state_dict``. A later resume from ``out_dir`` overrides these weights.

        Args:
            path: checkpoint file.
            strict: every selected model must be present and match key-for-key.
            models: model names to load; default all.

        Raises:
            CheckpointError: unreadable file, or a model missing from it (``strict``).
            ValueError: a parameter whose shape differs (names it and both shapes).
        """
        state = load_checkpoint(path)
        if isinstance(state.get("models"), dict):
            sources = state["models"]
        elif all(isinstance(v, torch.Tensor) for v in state.values()):
            if len(self._models) != 1:
                raise CheckpointError(
                    f"checkpoint {path}: a plain state_dict but the solver has models "
                    f"{sorted(self._models)}; pass models=[...] with a trainer checkpoint"
                )
            sources = {next(iter(self._models)): state}
        else:
            raise CheckpointError(
                f"checkpoint {path}: neither a trainer checkpoint nor a state_dict"
            )
        for name in list(models) if models is not None else list(self._models):
            if name not in self._models:
                raise ValueError(f"init_from: unknown model {name!r}; have {sorted(self._models)}")
            if name not in sources:
                if strict:
                    raise CheckpointError(
                        f"checkpoint {path}: no weights for model {name!r} (has {sorted(sources)})"
                    )
                logger.warning("init_from %s: no weights for model %r, kept as is", path, name)
                continue
            load_model_state(
                self._models[name], sources[name], strict=strict, source=f"{path} [{name}]"
            )
        logger.info("initialised weights from %s", path)

    def _prepare(self) -> None:
        # Wrapping is deferred to fit() so freeze()/init_from() can still change the models.
        if self._prepared:
            return
        for name, raw in self._models.items():
            wrapped = torch.compile(raw) if self.cfg.compile else raw
            wrapped = wrap_ddp(wrapped, self.dist, self.cfg.find_unused_parameters)
            if wrapped is not raw:
                if getattr(self.solver, name, None) is not raw:
                    raise TypeError(
                        f"{type(self.solver).__name__}.models() key {name!r} must be the "
                        "attribute holding that module, so it can be replaced by its "
                        "DDP/compiled wrapper"
                    )
                setattr(self.solver, name, wrapped)
        self._prepared = True

    # ------------------------------------------------------------------ per-step helpers
    def _to_memory_format(self, t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 4:
            return t.contiguous(memory_format=torch.channels_last)
        if t.dim() == 5:
            return t.contiguous(memory_format=torch.channels_last_3d)
        return t

    def _to_device(self, batch: Any) -> Any:
        if isinstance(batch, torch.Tensor):
            batch = batch.to(self.device, non_blocking=True)
            if self.cfg.channels_last and batch.is_floating_point():
                batch = self._to_memory_format(batch)
            return batch
        if isinstance(batch, Mapping):
            return {k: self._to_device(v) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)):
            return type(batch)(self._to_device(v) for v in batch)
        return batch

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision context for forward passes (a no-op for ``fp32``)."""
        if self.cfg.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.cfg.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _set_lr(self, step: int) -> None:
        decay = self.cfg.lr_decay_steps or self.cfg.max_steps
        for opt in self._optimizers.values():
            for group in opt.param_groups:
                group["lr"] = get_lr(
                    step,
                    group["initial_lr"],
                    schedule=self.cfg.lr_schedule,
                    warmup_steps=self.cfg.warmup_steps,
                    decay_steps=decay,
                    min_lr_ratio=self.cfg.min_lr_ratio,
                )

    def optimizer_step(self, loss: torch.Tensor, optimizer: str | None = None) -> None:
        """Backward ``loss``, unscale (fp16), clip, step ``optimizer`` and zero its gradients.

        Call at most once per optimiser per training step. Records ``grad_norm`` (the
        pre-clipping norm) when clipping is on.

        Raises:
            KeyError: unknown optimiser name.
        """
        if optimizer is None:
            if len(self._optimizers) != 1:
                raise KeyError(
                    f"optimize(): several optimisers {sorted(self._optimizers)}; name one"
                )
            optimizer = next(iter(self._optimizers))
        if optimizer not in self._optimizers:
            raise KeyError(
                f"optimize(): unknown optimiser {optimizer!r}; have {sorted(self._optimizers)}"
            )
        opt = self._optimizers[optimizer]
        with torch.autocast(self.device.type, enabled=False):  # backward outside autocast
            self.scaler.scale(loss).backward()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(opt)
            params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            norm = nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
            key = "grad_norm" if len(self._optimizers) == 1 else f"grad_norm_{optimizer}"
            self._accumulate({key: norm}, check=False)
        self.scaler.step(opt)
        opt.zero_grad(set_to_none=True)
        self._stepped = True

    def _reset_accumulators(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._t_log = time.perf_counter()
        self._steps_since_log = 0

    def _accumulate(self, metrics: Mapping[str, torch.Tensor], check: bool = True) -> None:
        # Device-side sums: no host sync until the next log.
        for name, value in metrics.items():
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise TypeError(
                    f"run_step must return scalar tensors; {name!r} is "
                    f"{type(value).__name__} {getattr(value, 'shape', '')}"
                )
            v = value.detach().float().reshape(())
            self._sums[name] = self._sums[name] + v if name in self._sums else v
            self._counts[name] = self._counts.get(name, 0) + 1
            if check:
                fb = self._first_bad.get(name, torch.tensor(-1, device=v.device))
                self._first_bad[name] = torch.where(
                    (fb < 0) & ~torch.isfinite(v), torch.tensor(self.step + 1, device=v.device), fb
                )

    def _check_finite(self) -> None:
        """Raise :class:`TrainingDivergedError` if any rank saw a NaN/Inf (collective)."""
        names = sorted(self._first_bad)
        if not names:
            return
        fb = torch.stack([self._first_bad[n] for n in names])
        big = 1 << 40  # encode "first bad step" so that a MAX-reduce yields the earliest one
        enc = all_reduce_max(torch.where(fb >= 0, big - fb, torch.zeros_like(fb))).tolist()
        bad = [(n, big - e) for n, e in zip(names, enc) if e > 0]
        if not bad:
            return
        step = min(s for _, s in bad)
        last = latest_checkpoint(self.ckpt_dir)
        desc = ", ".join(f"'train/{n}' (first at step {s})" for n, s in bad)
        raise TrainingDivergedError(
            f"training diverged: non-finite {desc}. No checkpoint was written from these "
            f"weights; the last good checkpoint is {last or 'none'}. Lower the learning rate, "
            "enable grad_clip, use bf16 instead of fp16, or check the batch data.",
            step=step,
            metrics=[n for n, _ in bad],
            last_checkpoint=last,
        )

    def _write_record(self, record: dict[str, Any]) -> None:
        """Append ``record`` to ``metrics.jsonl``, its ``time/*`` keys to ``timing.jsonl``
        (same ``step``), and log all of it to the tracker."""
        if not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        timing = {k: v for k, v in record.items() if k.startswith("time/")}
        metrics = {k: v for k, v in record.items() if k not in timing}
        with self.metrics_file.open("a", encoding="utf-8") as f:
            f.write(json.dumps(metrics) + "\n")
        if timing:
            with self.timing_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": record["step"], **timing}) + "\n")
        self.tracker.log_metrics({k: v for k, v in record.items() if k != "step"}, record["step"])
        self.history.append(record)

    def _log_train(self, pbar: tqdm) -> dict[str, float]:
        self._check_finite()
        names = sorted(self._sums)
        means = torch.stack([self._sums[n] / self._counts[n] for n in names])
        values = all_reduce_mean(means).tolist()  # the one host sync per log interval
        record: dict[str, Any] = {"step": self.step}
        record.update({f"train/{n}": v for n, v in zip(names, values)})
        for oname, opt in self._optimizers.items():
            key = "lr" if len(self._optimizers) == 1 else f"lr/{oname}"
            record[key] = opt.param_groups[0]["lr"]
        if self.cfg.precision == "fp16":
            record["grad_scale"] = float(self.scaler.get_scale())
        elapsed = time.perf_counter() - self._t_log
        record["time/step_s"] = elapsed / max(self._steps_since_log, 1)
        self._write_record(record)
        if "train/loss" in record:
            pbar.set_postfix(loss=f"{record['train/loss']:.4g}")
        self._reset_accumulators()
        return record

    def _set_mode(self, train: bool) -> None:
        for m in self._models.values():
            m.train(train)

    # ------------------------------------------------------------------ data
    def _source_batches(self, source: Any, keys: Iterable[tuple[Any, int]]):
        """``source.get_batch(indices, seed)`` for each key: through DataLoader workers for
        host data (:func:`_is_host_source`), else in this process (device data)."""
        if not _is_host_source(source):
            return (source.get_batch(idx, seed) for idx, seed in keys)
        return DataLoader(
            _SeededBatches(source),
            batch_size=None,
            sampler=keys,
            num_workers=self.cfg.num_workers,
            collate_fn=_as_is,
            pin_memory=self.device.type == "cuda",
            # an explicit generator keeps the DataLoader from drawing on the global torch RNG
            generator=torch.Generator().manual_seed(derive_seed(self.cfg.seed, self.dist.rank)),
        )

    def _train_batches(self, data: Any, start: int, stop: int) -> Iterator[Any]:
        source = _as_batch_source(data)
        if source is not None or _is_map_dataset(data):
            sampler = StepBatchSampler(
                len(data),
                self.cfg.batch_size,
                seed=self.cfg.seed,
                start_step=start,
                stop_step=stop,
                rank=self.dist.rank,
                world_size=self.dist.world_size,
            )
        if source is not None:
            return iter(self._source_batches(source, SeededStepSampler(sampler)))
        if _is_map_dataset(data):
            # An explicit generator keeps the DataLoader from drawing on the global torch RNG.
            gen = torch.Generator().manual_seed(derive_seed(self.cfg.seed, self.dist.rank, start))
            loader = DataLoader(
                data,
                batch_sampler=sampler,
                num_workers=self.cfg.num_workers,
                collate_fn=self.collate_fn,
                pin_memory=self.device.type == "cuda",
                generator=gen,
            )
            return iter(loader)
        if isinstance(data, Iterable):
            if self.dist.is_distributed:
                logger.warning(
                    "training data is a plain iterable: each rank must shard it "
                    "itself (a map-style Dataset is sharded automatically)"
                )
            if start:
                logger.info("fast-forwarding the training iterable by %d batches", start)
            return _cycle_from(data, start)
        raise TypeError(
            f"training data must be a map-style Dataset or an iterable of batches, "
            f"got {type(data).__name__}"
        )

    def _valid_batches(self, data: Any) -> Iterable[Any]:
        n_batches = self.cfg.eval_batches or None
        source = _as_batch_source(data)
        if _is_map_dataset(data) or source is not None:
            per_rank = len(data) // self.dist.world_size  # equal work on every rank
            idx = list(range(self.dist.rank, per_rank * self.dist.world_size, self.dist.world_size))
            if n_batches:
                idx = idx[: n_batches * self.cfg.batch_size]
            if not idx:
                raise ValueError(
                    f"validation dataset of {len(data)} samples is empty for "
                    f"{self.dist.world_size} ranks"
                )
            if source is not None:  # the same batches at every evaluation
                b = self.cfg.batch_size
                keys = [
                    (idx[i : i + b], derive_seed(self.cfg.seed, _VALID_STREAM, i))
                    for i in range(0, len(idx), b)
                ]
                return self._source_batches(source, keys)
            return DataLoader(
                data,
                batch_size=self.cfg.batch_size,
                sampler=idx,
                num_workers=self.cfg.num_workers,
                collate_fn=self.collate_fn,
            )
        if isinstance(data, Iterable):
            return itertools.islice(data, n_batches)
        raise TypeError(
            f"validation data must be a Dataset or an iterable, got {type(data).__name__}"
        )

    # ------------------------------------------------------------------ stages
    @torch.no_grad()
    def evaluate(self, data: Any) -> dict[str, float]:
        """Average ``run_step(batch, train=False)`` over the validation data and all ranks.

        Global RNG states are saved and restored around it, so evaluating does not change the
        training trajectory. Logs ``valid/<name>`` and updates ``best.pt`` when configured.
        """
        saved_rng = rng_state()
        self._set_mode(False)
        sums: dict[str, torch.Tensor] = {}
        count = 0
        try:
            for batch in self._valid_batches(data):
                with self.autocast():
                    out = self.solver.run_step(self._to_device(batch), train=False)
                for k, v in out.items():
                    v = v.detach().float().reshape(())
                    sums[k] = sums[k] + v if k in sums else v
                count += 1
        finally:
            self._set_mode(True)
            set_rng_state(saved_rng)
        if count == 0:
            raise ValueError("validation data yielded no batches")
        names = sorted(sums)
        values = all_reduce_mean(torch.stack([sums[n] / count for n in names])).tolist()
        result = {f"valid/{n}": v for n, v in zip(names, values)}
        self._write_record({"step": self.step, **result})
        metric = self.cfg.best_metric
        if metric is not None:
            if metric not in result:
                raise KeyError(f"best_metric {metric!r} not among {sorted(result)}")
            value = result[metric]
            better = self.best is None or (
                value < self.best if self.cfg.best_mode == "min" else value > self.best
            )
            if better and value == value:  # NaN never becomes best
                self.best = value
                self.save(self.out_dir / "best.pt", rotate=False)
        return result

    def fit(
        self, train_data: Any, valid_data: Any = None, *, until_step: int | None = None
    ) -> dict[str, float]:
        """Train until ``config.max_steps`` (or ``until_step``, e.g. a job's time slice).

        Args:
            train_data: map-style ``Dataset`` (sampled per step, see module docstring), an
                indexed batch source (``get_batch(indices, seed)``) or an iterable of ready
                batches (cycled; fast-forwarded on resume).
            valid_data: optional ``Dataset``/iterable for :meth:`evaluate` every
                ``eval_interval`` steps and at ``max_steps``.
            until_step: stop after this step (a checkpoint is written there).

        Returns:
            The last logged train and validation metrics (``{"train/loss": ..., ...}``).

        Raises:
            TrainingDivergedError: a returned metric became NaN/Inf.
        """
        cfg = self.cfg
        stop = cfg.max_steps if until_step is None else min(until_step, cfg.max_steps)
        self._prepare()
        if self.step == 0:
            self._start_or_resume()
        if self.step >= stop:
            logger.info("already at step %d (stop %d): nothing to do", self.step, stop)
            return {}
        batches = self._train_batches(train_data, self.step, stop)
        show = cfg.progress and self.dist.is_main and sys.stderr.isatty()
        pbar = tqdm(total=stop, initial=self.step, disable=not show, desc="train", unit="step")
        last: dict[str, float] = {}
        self._set_mode(True)
        self._reset_accumulators()
        try:
            while self.step < stop:
                self._set_lr(self.step)
                batch = self._to_device(next(batches))
                self._stepped = False
                with self.autocast():
                    metrics = self.solver.run_step(batch, train=True)
                if self._stepped:
                    self.scaler.update()  # once per step, after every optimiser stepped
                self._accumulate(metrics)
                self.step += 1
                self._steps_since_log += 1
                pbar.update(1)
                if self.step % cfg.log_interval == 0 or self.step == stop:
                    last.update(self._log_train(pbar))
                if valid_data is not None and (
                    self.step % cfg.eval_interval == 0 or self.step == cfg.max_steps
                ):
                    last.update(self.evaluate(valid_data))
                if self.step % cfg.ckpt_interval == 0 or self.step == stop:
                    self.save()
        finally:
            pbar.close()
        return {k: v for k, v in last.items() if k != "step"}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self, rng: list[dict[str, Any]]) -> dict[str, Any]:
        """Everything needed to resume (``rng``: one RNG state per rank)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "models": {n: m.state_dict() for n, m in self._models.items()},
            "optimizers": {n: o.state_dict() for n, o in self._optimizers.items()},
            "scaler": self.scaler.state_dict(),
            "solver": self.solver.state_dict(),
            "rng": rng,
            "world_size": self.dist.world_size,
            "best": self.best,
            "config": to_dict(self.cfg),
        }

    def save(self, path: str | Path | None = None, rotate: bool = True) -> Path:
        """Write a checkpoint (collective: call on every rank; rank 0 writes).

        Refuses (raises :class:`TrainingDivergedError`) if a NaN/Inf was seen, so a good
        checkpoint is never replaced by diverged weights.
        """
        self._check_finite()
        rng = all_gather_object(rng_state())
        path = Path(path) if path is not None else checkpoint_path(self.ckpt_dir, self.step)
        if self.dist.is_main:
            save_checkpoint(path, self.state_dict(rng))
            if rotate:
                rotate_checkpoints(self.ckpt_dir, self.cfg.keep_last)
            logger.debug("saved %s", path)
        barrier()
        return path

    def load(self, path: str | Path) -> None:
        """Restore a full training state written by :meth:`save` (every rank reads it).

        Raises:
            CheckpointError: unreadable file, wrong format, or models/optimisers that do not
                match the solver (the message names the file and the entry).
        """
        state = load_checkpoint(path)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"checkpoint {path}: not a trainer checkpoint "
                f"(format {state.get('format')!r}, expected {CHECKPOINT_FORMAT})"
            )
        for kind, have, saved in (
            ("model", self._models, state["models"]),
            ("optimizer", self._optimizers, state["optimizers"]),
        ):
            if set(have) != set(saved):
                raise CheckpointError(
                    f"checkpoint {path}: has {kind}s {sorted(saved)}, the solver has {sorted(have)}"
                )
        for name, module in self._models.items():
            load_model_state(module, state["models"][name], strict=True, source=f"{path} [{name}]")
        for name, opt in self._optimizers.items():
            try:
                opt.load_state_dict(state["optimizers"][name])
            except (ValueError, KeyError) as e:
                raise CheckpointError(
                    f"checkpoint {path}: optimizer {name!r} does not match "
                    f"(different parameters or freeze list?): {e}"
                ) from e
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.solver.load_state_dict(state.get("solver") or {})
        self.step = int(state["step"])
        self.best = state.get("best")
        rng = state.get("rng") or []
        if len(rng) == self.dist.world_size:
            set_rng_state(rng[self.dist.rank])
        else:
            logger.warning(
                "checkpoint %s was written by %d ranks, now %d: RNG streams reseeded",
                path,
                len(rng),
                self.dist.world_size,
            )
            seed_everything(derive_seed(self.cfg.seed, self.dist.rank, self.step))
        saved_cfg = state.get("config") or {}
        changed = sorted(
            k
            for k, v in to_dict(self.cfg).items()
            if k in saved_cfg and saved_cfg[k] != v and k not in _RESUMABLE_CHANGES
        )
        if changed:
            logger.warning(
                "resuming %s with changed settings %s: the run will not repeat the "
                "original exactly",
                path,
                changed,
            )

    def _start_or_resume(self) -> None:
        last = latest_checkpoint(self.ckpt_dir) if self.cfg.resume else None
        if last is not None:
            self.load(last)
            logger.info("resumed from %s at step %d", last, self.step)
            for log in (self.metrics_file, self.timing_file):
                if self.dist.is_main and log.exists():
                    # Drop records logged after that checkpoint; the resumed run logs them again.
                    lines = log.read_text(encoding="utf-8").splitlines()
                    keep = [
                        ln for ln in lines if ln.strip() and json.loads(ln)["step"] <= self.step
                    ]
                    log.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")
        else:
            seed_everything(derive_seed(self.cfg.seed, self.dist.rank))
            self.step = 0
        if self.dist.is_distributed:
            # Every rank reads the checkpoint itself, and only rank 0 writes them: on node-local
            # disks the other nodes find none (or a stale one) and would train from another
            # state, then hang in a collective. Fail at once instead, on every rank.
            steps = all_gather_object(self.step)
            if len(set(steps)) > 1:
                raise CheckpointError(
                    f"{self.ckpt_dir}: the ranks resumed from different steps {steps} (by rank): "
                    "out_dir must be on a filesystem that every node shares"
                )
