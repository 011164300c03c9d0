"""Evaluation methods: the model and every baseline answer one ``predict(recording,
reference)``, on audio features computed once per recording; data are checked against the
generator's DataSpec. (That evaluation imports nothing from the engine: tests/test_layers.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.evaluation.methods import (
    AudioFeatures,
    BaselineMethod,
    Method,
    ModelMethod,
    Recording,
    fit_baselines,
)


def _recording(cfg, n_frames=12, seed=0, name="u0"):
    rng = np.random.default_rng(seed)
    sr = cfg.mel.sample_rate
    seq = SpeechMRISequence(
        frames=rng.integers(0, 256, (n_frames, 32, 32), dtype=np.uint8),
        fps=cfg.fps,
        spacing_mm=2.0,
        audio=(0.1 * rng.standard_normal(int(sr * n_frames / cfg.fps))).astype(np.float32),
        sample_rate=sr,
        utterance_id=name,
    )
    return Recording.of(seq, cfg)


def test_audio_features_are_the_generator_windows(tiny_model_cfg):
    from mrisynth.transforms.mel import frames_to_mel_windows, log_mel

    cfg = tiny_model_cfg
    rec = _recording(cfg)
    seq = rec.seq
    mel = log_mel(seq.audio, seq.sample_rate, cfg.mel)
    windows = frames_to_mel_windows(
        mel, seq.n_frames, cfg.fps, cfg.audio_window_ms, cfg.mel, center=cfg.audio_window_center
    )
    np.testing.assert_array_equal(rec.features.mel, mel)
    np.testing.assert_array_equal(rec.features.windows, windows)
    assert rec.features.flat.shape == (seq.n_frames, windows[0].size)
    assert isinstance(rec.features, AudioFeatures)


def test_model_and_baselines_share_the_method_protocol(tiny_model_cfg):
    import torch

    from mrisynth.models.builders import build_generator

    cfg = tiny_model_cfg
    torch.manual_seed(0)
    adapt = [_recording(cfg, 20, seed=1, name="a0"), _recording(cfg, 16, seed=2, name="a1")]
    test = _recording(cfg, 12, seed=3, name="t0")
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    methods = [ModelMethod(build_generator(cfg), cfg, mask), *fit_baselines(adapt, 8, 1.0)]
    assert [m.name for m in methods] == [
        "model",
        "baseline_static",
        "baseline_nearest_neighbour",
        "baseline_regression",
    ]
    video = np.random.default_rng(4).uniform(0, 1, (5, 32, 32)).astype(np.float32)
    for m in methods:
        assert isinstance(m, Method)
        for reference in (video[:1], video):
            pred = m.predict(test, reference)
            assert pred.shape == (12, 32, 32) and pred.dtype == np.float32, m.name
            assert 0 <= pred.min() and pred.max() <= 1, m.name
    static = methods[1]
    assert isinstance(static, BaselineMethod)
    # one frame: frozen; a video: played back, cycled
    np.testing.assert_array_equal(static.predict(test, video[:1]), np.repeat(video[:1], 12, 0))
    np.testing.assert_array_equal(static.predict(test, video), video[np.arange(12) % 5])
    # the model is driven by the reference it is given
    model = methods[0]
    assert not np.array_equal(model.predict(test, video[:1]), model.predict(test, video[1:2]))


def test_check_data_uses_the_data_spec_messages(tiny_model_cfg):
    import dataclasses

    from mrisynth.evaluation.evaluate import Models, _check_data

    cfg = tiny_model_cfg
    seq = _recording(cfg).seq
    mask = np.ones((32, 32), bool)
    plain = Models(None, cfg, mask, None, cfg)
    _check_data(seq, plain, "u0")
    at_50 = Models(None, dataclasses.replace(cfg, fps=50.0), mask, None, cfg)
    with pytest.raises(ValueError, match="u0: data fps 25 != model fps 50"):
        _check_data(seq, at_50, "u0")
    with pytest.raises(ValueError, match="u0: has no audio"):
        _check_data(seq.replace(audio=None, sample_rate=None), plain, "u0")
    # without labels, anatomy is scored against the segmenter's pseudo-labels (no error)
    _check_data(
        seq.replace(labels=None), Models(None, cfg, mask, None, cfg, segmenter=object()), "u0"
    )
