"""Honest baselines for audio → frame synthesis, fitted on a target speaker's adaptation data.

All baselines share one interface: ``fit(features (N, F), frames (N, H, W))`` on the adaptation
frames and their per-frame audio features (the same mel windows the model sees, flattened),
then ``predict(features (M, F), reference (Tr, H, W)) -> (M, H, W)``, where ``reference`` is
the identity input of the model (one frame, ``Tr = 1``, or a reference video); colour frames
carry a trailing RGB axis throughout. :class:`mrisynth.evaluation.methods.BaselineMethod`
makes each of them an evaluation method.

- :class:`StaticFrameBaseline`: plays the reference back (one frame: frozen; a video:
  cycled), ignoring the audio — perfect image statistics, no audio-driven motion at all.
- :class:`NearestNeighbourBaseline`: for each test frame, the adaptation frame whose
  (standardised) audio feature is nearest — real anatomy, audio-driven, no generalisation.
- :class:`RegressionBaseline`: PCA of the adaptation frames + ridge regression from audio
  features to PCA coefficients — a linear audio-to-image model.
"""

from __future__ import annotations

import abc

import numpy as np

__all__ = [
    "Baseline",
    "StaticFrameBaseline",
    "NearestNeighbourBaseline",
    "RegressionBaseline",
    "BASELINES",
]


class Baseline(abc.ABC):
    """Common interface; subclasses implement ``predict`` (and ``fit`` when they learn)."""

    name = "baseline"

    def fit(self, features: np.ndarray, frames: np.ndarray) -> Baseline:
        _check_fit(features, frames)
        return self

    @abc.abstractmethod
    def predict(self, features: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """``(M, H, W)`` float32 frames in [0, 1] for ``features (M, F)``.

        Args:
            features: per-frame audio features of the frames to predict.
            reference: ``(Tr, H, W)`` identity frames of the speaker (float in [0, 1]).
        """


def _check_fit(features: np.ndarray, frames: np.ndarray) -> None:
    if features.ndim != 2 or frames.ndim not in (3, 4) or len(features) != len(frames):
        raise ValueError(
            f"fit needs features (N, F) and frames (N, H, W) or (N, H, W, 3) with the same N, "
            f"got {features.shape} and {frames.shape}"
        )


class StaticFrameBaseline(Baseline):
    name = "static"

    def predict(self, features: np.ndarray, reference: np.ndarray) -> np.ndarray:
        ref = np.asarray(reference, np.float32)
        return ref[np.arange(len(features)) % len(ref)]


class NearestNeighbourBaseline(Baseline):
    name = "nearest_neighbour"

    def fit(self, features: np.ndarray, frames: np.ndarray) -> NearestNeighbourBaseline:
        from sklearn.neighbors import NearestNeighbors
        from sklearn.preprocessing import StandardScaler

        _check_fit(features, frames)
        self.scaler_ = StandardScaler().fit(features)
        self.index_ = NearestNeighbors(n_neighbors=1).fit(self.scaler_.transform(features))
        self.frames_ = np.asarray(frames, np.float32)
        return self

    def predict(self, features: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        _, idx = self.index_.kneighbors(self.scaler_.transform(features))
        return self.frames_[idx[:, 0]]


class RegressionBaseline(Baseline):
    name = "regression"

    def __init__(self, n_components: int = 32, alpha: float = 10.0):
        self.n_components = n_components
        self.alpha = alpha

    def fit(self, features: np.ndarray, frames: np.ndarray) -> RegressionBaseline:
        from sklearn.decomposition import PCA
        from sklearn.linear_model import Ridge
        from sklearn.preprocessing import StandardScaler

        _check_fit(features, frames)
        self.shape_ = frames.shape[1:]
        flat = np.asarray(frames, np.float32).reshape(len(frames), -1)
        k = min(self.n_components, len(frames) - 1, flat.shape[1])
        self.pca_ = PCA(n_components=k, random_state=0).fit(flat)
        self.scaler_ = StandardScaler().fit(features)
        self.ridge_ = Ridge(alpha=self.alpha).fit(
            self.scaler_.transform(features), self.pca_.transform(flat)
        )
        return self

    def predict(self, features: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        coef = self.ridge_.predict(self.scaler_.transform(features))
        out = self.pca_.inverse_transform(coef).reshape(len(features), *self.shape_)
        return np.clip(out, 0.0, 1.0).astype(np.float32)


BASELINES = {b.name: b for b in (StaticFrameBaseline, NearestNeighbourBaseline, RegressionBaseline)}
