"""Learning-rate schedule: linear warmup then cosine decay (one pure function of the step)."""

from __future__ import annotations

import math

__all__ = ["get_lr"]


def get_lr(
    step: int,
    base_lr: float,
    *,
    schedule: str = "cosine",
    warmup_steps: int = 0,
    decay_steps: int = 1,
    min_lr_ratio: float = 0.1,
) -> float:
    """Learning rate for the update that takes the model from ``step`` to ``step + 1``.

    * ``step < warmup_steps``: linear ramp ``base_lr * (step + 1) / warmup_steps``;
    * ``schedule == "constant"``: ``base_lr`` afterwards;
    * ``schedule == "cosine"``: half a cosine from ``base_lr`` down to
      ``min_lr_ratio * base_lr`` at ``decay_steps``, then flat at that minimum.

    Being a pure function of ``step``, the schedule needs no state of its own in a checkpoint.

    Args:
        step: 0-based index of the update.
        base_lr: peak learning rate (the optimiser's configured ``lr``).
        schedule: ``"cosine"`` or ``"constant"``.
        warmup_steps: number of warmup updates (0 = none).
        decay_steps: step at which the cosine reaches its minimum (usually ``max_steps``).
        min_lr_ratio: final learning rate as a fraction of ``base_lr``, in ``[0, 1]``.

    Raises:
        ValueError: unknown schedule or out-of-range arguments.
    """
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    if step < 0 or warmup_steps < 0:
        raise ValueError(f"step and warmup_steps must be >= 0, got {step}, {warmup_steps}")
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return base_lr
    span = max(decay_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 → 0
    min_lr = min_lr_ratio * base_lr
    return min_lr + coeff * (base_lr - min_lr)
