"""Checks and shared choices for the data a model trains on.

- :func:`check_sequences`: every sequence fits the model's :class:`~mrisynth.data.spec.DataSpec`
  (the messages come from there);
- :func:`warn_shared_speakers`: validation that shares speakers with training is warned about;
- :func:`training_mask`: the region a generator paints, fixed at training and stored in its
  model file, so inference paints exactly what training did.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from mrisynth.data.dataset import lower_half_mask, vocal_tract_mask
from mrisynth.data.spec import DataSpec, sequence_name

logger = logging.getLogger(__name__)

__all__ = ["check_sequences", "warn_shared_speakers", "training_mask"]


def check_sequences(sequences: Sequence[Any], model_cfg: Any, what: str) -> None:
    """Check that sequences fit a model config (size, channels, fps, audio, sample rate).

    Args:
        sequences: :class:`~mrisynth.data.sequence.SpeechMRISequence` (``(T, H, W)`` frames)
            or objects with the same attributes and ``(T, H, W, C)`` frames.
        model_cfg: the :class:`~mrisynth.models.builders.ModelConfig` they are for (audio at
            another rate is accepted when its ``mel.resample`` is on).
        what: ``"training"`` / ``"validation"`` for messages.

    Raises:
        ValueError: no sequences, or the first mismatch, naming the sequence and both values.
    """
    if len(sequences) == 0:
        raise ValueError(f"no {what} sequences given")
    spec = DataSpec.of_model(model_cfg)
    for i, seq in enumerate(sequences):
        spec.check_sequence(seq, sequence_name(seq, i, what), audio_resample=model_cfg.mel.resample)


def warn_shared_speakers(train: Sequence[Any], val: Sequence[Any]) -> None:
    """Log a warning when a speaker is in both the training and the validation data."""
    shared = {getattr(s, "speaker", None) for s in train} & {
        getattr(s, "speaker", None) for s in val
    }
    shared.discard(None)
    if shared:
        logger.warning(
            "speakers %s are in both the training and the validation data: validation then "
            "does not measure generalisation to new speakers",
            sorted(shared),
        )


def training_mask(
    sequences: Sequence[Any], kind: Literal["vocal_tract", "lower_half"], dilation_px: int = 2
) -> np.ndarray:
    """The ``(H, W)`` bool region the generator paints, shared by training and inference.

    ``vocal_tract``: union over sequences of :func:`vocal_tract_mask` (temporal-variance region;
    static sequences are skipped). ``lower_half``: rows ``H//2:`` (faces).

    Raises:
        ValueError: unknown kind, or no sequence with a moving region.
    """
    frames0 = np.asarray(sequences[0].frames)
    h, w = frames0.shape[1:3]
    if kind == "lower_half":
        return lower_half_mask(h, w)
    if kind != "vocal_tract":
        raise ValueError(f"training_mask: kind must be 'vocal_tract' or 'lower_half', got {kind!r}")
    mask = np.zeros((h, w), dtype=bool)
    used = 0
    for i, seq in enumerate(sequences):
        f = np.asarray(seq.frames, dtype=np.float32)
        f = f.mean(axis=-1) if f.ndim == 4 else f
        try:
            mask |= vocal_tract_mask(f, dilation_px=dilation_px)
            used += 1
        except ValueError as e:
            logger.warning("%s: no vocal-tract mask (%s)", sequence_name(seq, i, "training"), e)
    if not used:
        raise ValueError("training_mask: no training sequence has a moving region")
    logger.info("vocal-tract mask covers %.1f%% of the frame", 100 * mask.mean())
    return mask
