"""mrisynth.engine: the shared trainer, checkpoints, distributed helpers and MLflow tracking."""

from mrisynth.engine.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    load_model_state,
    rotate_checkpoints,
    save_checkpoint,
)
from mrisynth.engine.distributed import (
    DistInfo,
    all_reduce_mean,
    cleanup_distributed,
    setup_distributed,
)
from mrisynth.engine.sampling import StepBatchSampler
from mrisynth.engine.schedule import get_lr
from mrisynth.engine.tracking import NullTracker, Tracker
from mrisynth.engine.trainer import Solver, TrainConfig, Trainer, TrainingDivergedError, freeze

__all__ = [
    "CheckpointError",
    "DistInfo",
    "NullTracker",
    "Solver",
    "StepBatchSampler",
    "TrainConfig",
    "Tracker",
    "Trainer",
    "TrainingDivergedError",
    "all_reduce_mean",
    "cleanup_distributed",
    "freeze",
    "get_lr",
    "latest_checkpoint",
    "load_checkpoint",
    "load_model_state",
    "rotate_checkpoints",
    "save_checkpoint",
    "setup_distributed",
]
