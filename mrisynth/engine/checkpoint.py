"""Training checkpoints: ``step_<8 digits>.pt`` naming, latest lookup and rotation.

The file primitives (atomic save, ``weights_only`` load, parameter-naming state loading) live
in :mod:`mrisynth.utils.state_files`, shared with the model artifacts; they are re-exported
here for the engine's callers.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mrisynth.utils.state_files import (
    CheckpointError,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_path",
    "list_checkpoints",
    "latest_checkpoint",
    "rotate_checkpoints",
    "load_model_state",
]

_STEP_RE = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_path(directory: str | Path, step: int) -> Path:
    """The file name used for the training checkpoint at ``step``: ``<dir>/step_00000042.pt``."""
    return Path(directory) / f"step_{int(step):08d}.pt"


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``step_*.pt`` in ``directory``, oldest first (temp files ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = _STEP_RE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(directory: str | Path) -> Path | None:
    """Path of the highest-step checkpoint in ``directory``, or ``None`` if there is none."""
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def rotate_checkpoints(directory: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the ``keep_last`` newest ``step_*.pt`` files; returns the deleted paths.

    Raises:
        ValueError: if ``keep_last < 1`` (the newest checkpoint is never deleted).
    """
    if keep_last < 1:
        raise ValueError(f"rotate_checkpoints: keep_last must be >= 1, got {keep_last}")
    old = [p for _, p in list_checkpoints(directory)[:-keep_last]]
    for p in old:
        p.unlink(missing_ok=True)
        logger.debug("removed old checkpoint %s", p)
    return old
