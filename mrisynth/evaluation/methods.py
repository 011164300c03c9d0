"""What an evaluation compares: methods that turn a recording's audio into frames.

Every method — the fine-tuned generator and every baseline — answers one call,
``predict(recording, reference) -> frames`` (:class:`Method`):

- ``recording``: a test :class:`Recording`, i.e. the recording's
  :class:`~mrisynth.data.sequence.SpeechMRISequence` and its audio features, analysed once
  (:class:`AudioFeatures`). A method uses the audio and the timing of the recording (``T``,
  fps, audio offset), **never its frames or labels**: those are what it is scored against;
- ``reference``: the identity frames of the condition, ``(Tr, H, W[, C])`` float32 in
  [0, 1] from another utterance of the same speaker (``Tr = 1`` for ``image_audio``, a whole
  video, cycled, for ``video_audio``);
- returns ``(T, H, W[, C])`` float32 frames in [0, 1] on the recording's grid.

:class:`ModelMethod` wraps :func:`mrisynth.synthesis.synthesize_frames`;
:class:`BaselineMethod` wraps a fitted baseline of :mod:`mrisynth.evaluation.baselines`
(:func:`fit_baselines` fits all of them on a speaker's adapt recordings). Adding a baseline
means a class in :mod:`~mrisynth.evaluation.baselines` and one line in :func:`fit_baselines`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from mrisynth.data.intensity import to_unit
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.evaluation.baselines import (
    Baseline,
    NearestNeighbourBaseline,
    RegressionBaseline,
    StaticFrameBaseline,
)

__all__ = [
    "AudioFeatures",
    "Recording",
    "Method",
    "ModelMethod",
    "BaselineMethod",
    "fit_baselines",
]


@dataclasses.dataclass(frozen=True)
class AudioFeatures:
    """A recording's audio analysed once by the generator's front end.

    Attributes:
        mel: ``(n_mels, n_steps)`` log-mel spectrogram (:func:`mrisynth.transforms.mel.log_mel`).
        windows: ``(T, 1, n_mels, n_win)`` the mel window of every frame, exactly as the
            generator sees it (:func:`mrisynth.transforms.mel.frames_to_mel_windows`).
        mel_cfg: the :class:`~mrisynth.transforms.mel.MelConfig` ``mel`` was computed with.
    """

    mel: np.ndarray
    windows: np.ndarray
    mel_cfg: Any = None

    @classmethod
    def of(cls, seq: SpeechMRISequence, model_cfg: Any) -> AudioFeatures:
        """Analyse the audio of ``seq`` for a :class:`~mrisynth.models.builders.ModelConfig`."""
        from mrisynth.transforms.mel import frames_to_mel_windows, log_mel

        mel = log_mel(seq.audio, seq.sample_rate, model_cfg.mel)
        windows = frames_to_mel_windows(
            mel,
            seq.n_frames,
            model_cfg.fps,
            model_cfg.audio_window_ms,
            model_cfg.mel,
            center=model_cfg.audio_window_center,
            audio_offset_s=seq.audio_offset_s,
        )
        return cls(mel=mel, windows=windows, mel_cfg=model_cfg.mel)

    @property
    def flat(self) -> np.ndarray:
        """``(T, n_mels * n_win)`` per-frame windows, flattened: the baselines' features."""
        return self.windows.reshape(len(self.windows), -1)


@dataclasses.dataclass(frozen=True)
class Recording:
    """A recording and its audio features (computed once, shared by every method).

    Attributes:
        seq: the recording (frames ``(T, H, W[, C])``, audio, fps, audio offset...).
        features: its audio analysed by the generator's front end.
    """

    seq: SpeechMRISequence
    features: AudioFeatures

    @classmethod
    def of(cls, seq: SpeechMRISequence, model_cfg: Any) -> Recording:
        """``seq`` with its audio analysed for ``model_cfg``."""
        return cls(seq=seq, features=AudioFeatures.of(seq, model_cfg))

    @property
    def name(self) -> str:
        """The utterance id (for rows and messages)."""
        return self.seq.utterance_id or "recording"


@runtime_checkable
class Method(Protocol):
    """Audio of a recording + identity frames → synthesized frames (module docstring)."""

    @property
    def name(self) -> str:
        """The ``method`` column of the evaluation rows (``model``, ``baseline_<name>``)."""
        ...

    def predict(self, recording: Recording, reference: np.ndarray) -> np.ndarray:
        """``(T, H, W[, C])`` float32 frames in [0, 1] for ``reference (Tr, H, W[, C])``."""
        ...


@dataclasses.dataclass
class ModelMethod:
    """The trained generator as a :class:`Method`.

    Attributes:
        generator: the :class:`~mrisynth.models.generator.Generator` (eval mode).
        model_cfg: its :class:`~mrisynth.models.builders.ModelConfig`.
        mask: ``(H, W)`` bool region it paints (from its model file).
        batch_size: frames per forward pass.
        device: torch device.
    """

    generator: torch.nn.Module
    model_cfg: Any
    mask: np.ndarray
    batch_size: int = 64
    device: str = "cpu"
    name: str = "model"

    def predict(self, recording: Recording, reference: np.ndarray) -> np.ndarray:
        """Synthesize the recording's ``T`` frames from its audio (see :class:`Method`)."""
        from mrisynth.synthesis import synthesize_frames

        seq = recording.seq
        # synthesize_frames analyses the audio itself (it takes no precomputed mel yet)
        return synthesize_frames(
            self.generator,
            self.model_cfg,
            reference=reference,
            audio=seq.audio,
            sample_rate=seq.sample_rate,
            n_frames=seq.n_frames,
            mask=self.mask,
            audio_offset_s=seq.audio_offset_s,
            batch_size=self.batch_size,
            device=self.device,
            mel=recording.features.mel,
        )


@dataclasses.dataclass
class BaselineMethod:
    """A fitted :class:`~mrisynth.evaluation.baselines.Baseline` as a :class:`Method`
    (named ``baseline_<name>``); it sees the recording's per-frame audio features."""

    baseline: Baseline

    @property
    def name(self) -> str:
        """``baseline_<name>``."""
        return f"baseline_{self.baseline.name}"

    def predict(self, recording: Recording, reference: np.ndarray) -> np.ndarray:
        """Frames for the recording's audio features (see :class:`Method`)."""
        return np.asarray(self.baseline.predict(recording.features.flat, reference), np.float32)


def fit_baselines(
    adapt: Sequence[Recording], n_components: int = 32, alpha: float = 10.0
) -> list[BaselineMethod]:
    """Every baseline, fitted on a speaker's adapt recordings (their frames and features).

    Args:
        adapt: the speaker's adapt recordings.
        n_components, alpha: PCA components and ridge penalty of the regression baseline.

    Returns:
        Static frame, nearest neighbour and regression, in that order.
    """
    features = np.concatenate([r.features.flat for r in adapt])
    frames = np.concatenate([to_unit(r.seq.frames) for r in adapt])
    baselines: tuple[Baseline, ...] = (
        StaticFrameBaseline(),
        NearestNeighbourBaseline(),
        RegressionBaseline(n_components, alpha),
    )
    return [BaselineMethod(b.fit(features, frames)) for b in baselines]
