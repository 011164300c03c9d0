"""Baselines: fitted on frames driven by a known audio feature, they must use it."""

import numpy as np
import pytest

from mrisynth.evaluation.baselines import (
    NearestNeighbourBaseline,
    RegressionBaseline,
    StaticFrameBaseline,
)


def _data(n, rng):
    """A bar whose row follows a 1-D 'audio' feature; the features are functions of it."""
    a = rng.uniform(0, 1, n)
    frames = np.zeros((n, 16, 16), np.float32)
    rows = np.round(2 + a * 11).astype(int)
    frames[np.arange(n), rows, :] = 1.0
    feats = np.stack([a, a**2, np.sin(3 * a)], 1) + 0.001 * rng.normal(size=(n, 3))
    return feats, frames


def test_audio_driven_baselines_beat_static():
    rng = np.random.default_rng(0)
    f_train, x_train = _data(400, rng)
    f_test, x_test = _data(50, rng)
    ref = x_train[:1]  # one identity frame (Tr = 1)
    err = {}
    for b in (
        StaticFrameBaseline(),
        NearestNeighbourBaseline(),
        RegressionBaseline(n_components=16, alpha=1e-3),
    ):
        pred = b.fit(f_train, x_train).predict(f_test, ref)
        assert pred.shape == x_test.shape
        err[b.name] = np.abs(pred - x_test).mean()
    assert err["nearest_neighbour"] < 0.2 * err["static"]
    assert err["regression"] < err["static"]


def test_fit_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same N"):
        NearestNeighbourBaseline().fit(np.zeros((5, 2)), np.zeros((4, 3, 3)))
