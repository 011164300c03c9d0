"""State files (checkpoints and model artifacts): atomic save, safe (``weights_only``) load.

Below every layer that writes or reads torch state: the training engine's step checkpoints
(:mod:`mrisynth.engine.checkpoint`) and the model files (:mod:`mrisynth.models.artifacts`).

A checkpoint is a plain nested ``dict`` whose leaves are tensors, ``str``, ``int``, ``float``,
``bool`` or ``None`` (lists/tuples/dicts of those are fine). Anything else (NumPy arrays or
scalars, dataclasses, ``Path``) is rejected *at save time* with the offending key path, because
:func:`load_checkpoint` always uses ``torch.load(weights_only=True)``, which would otherwise only
fail much later, at resume time.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "load_model_state"]

_PRIMITIVES = (str, int, float, bool, type(None))


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, or its state is not safely serialisable."""


def _check_serialisable(obj: Any, where: str) -> None:
    # Exact type checks on purpose: numpy.float64 subclasses float but does not load with
    # weights_only=True.
    if isinstance(obj, torch.Tensor) or type(obj) in _PRIMITIVES:
        return
    if isinstance(obj, (torch.dtype, torch.Size)):
        return
    if type(obj) in (dict, OrderedDict):
        for key, value in obj.items():
            if type(key) not in (str, int):
                raise CheckpointError(
                    f"checkpoint state key {where}[{key!r}] has type {type(key).__name__}; "
                    "only str/int keys are allowed"
                )
            _check_serialisable(value, f"{where}[{key!r}]")
        return
    if type(obj) in (list, tuple):
        for i, value in enumerate(obj):
            _check_serialisable(value, f"{where}[{i}]")
        return
    raise CheckpointError(
        f"checkpoint state {where} has type {type(obj).__module__}.{type(obj).__name__}, which "
        "torch.load(weights_only=True) cannot read; store tensors, dicts, lists or primitives"
    )


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically.

    The data go to a temporary file in the same folder, are flushed and ``fsync``-ed, then
    ``os.replace`` renames it, so a crash leaves either the old file or the complete new one,
    never a truncated checkpoint.

    Args:
        path: destination file; parent folders are created.
        state: nested dict of tensors/primitives (see module docstring).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        CheckpointError: if ``state`` holds a type that ``weights_only`` loading rejects.
    """
    path = Path(path)
    _check_serialisable(dict(state), "state")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(dict(state), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # fsync the folder so the rename itself survives a power loss (POSIX only).
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)`` (no arbitrary code execution).

    Args:
        path: checkpoint file.
        map_location: device for the loaded tensors (default CPU).

    Raises:
        CheckpointError: if the file does not exist, is corrupt/truncated, holds non-allowed
            objects, or is not a dict; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle/zip errors come in many types
        raise CheckpointError(f"checkpoint {path}: cannot be read ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict, got {type(state).__name__}")
    return state


_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DDP and torch.compile wrappers


def load_model_state(
    module: nn.Module, state: Mapping[str, torch.Tensor], *, strict: bool = True, source: str = ""
) -> None:
    """Copy ``state`` into ``module`` with errors that name the parameter.

    DDP (``module.``) and ``torch.compile`` (``_orig_mod.``) key prefixes are stripped first.

    Args:
        module: the (unwrapped) model.
        state: a ``state_dict``.
        strict: require the same key set; otherwise missing/unexpected keys are logged and
            skipped. Shape mismatches always raise: silently keeping random weights hides bugs.
        source: where ``state`` came from, for messages (e.g. the checkpoint path).

    Raises:
        ValueError: a shape mismatch (``'<name>': checkpoint (a, b) vs model (c, d)``) or, with
            ``strict``, missing/unexpected keys.
    """
    clean = {}
    for key, value in state.items():
        for prefix in _WRAPPER_PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix) :]
        clean[key] = value
    own = module.state_dict()
    where = f"{source}: " if source else ""
    mismatched = [
        f"'{k}': checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in clean.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if mismatched:
        raise ValueError(f"{where}shape mismatch for parameter " + "; ".join(mismatched))
    missing = sorted(set(own) - set(clean))
    unexpected = sorted(set(clean) - set(own))
    if strict and (missing or unexpected):
        raise ValueError(
            f"{where}state does not match the model: missing {missing[:10]}, unexpected "
            f"{unexpected[:10]} (use strict=False to load the overlap)"
        )
    if missing or unexpected:
        logger.warning("%sskipped missing %s, unexpected %s", where, missing[:10], unexpected[:10])
    module.load_state_dict({k: v for k, v in clean.items() if k in own}, strict=False)
