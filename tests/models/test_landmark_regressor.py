"""Face landmark regressor: shapes, pixel units, input checks and its artifact round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrisynth.models.artifacts import (
    load_landmark_regressor,
    read_artifact,
    save_landmark_regressor,
)
from mrisynth.models.landmarks import (
    LandmarkConfig,
    build_landmark_regressor,
    check_face_frames,
    predict_landmarks,
)
from mrisynth.phantom.face import LANDMARK_NAMES
from mrisynth.utils.state_files import CheckpointError


def _frames(n=3, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_output_shape_and_pixel_units():
    cfg = LandmarkConfig(img_size=32, features=(4, 4, 8, 8), hidden=8)
    torch.manual_seed(0)
    model = build_landmark_regressor(cfg).eval()
    frames = _frames()
    lm = predict_landmarks(model, frames, batch_size=2)
    assert lm.shape == (3, len(LANDMARK_NAMES), 2) and lm.dtype == np.float32
    with torch.no_grad():
        units = model(torch.from_numpy(frames / 255.0).float().permute(0, 3, 1, 2))
    assert np.allclose(lm, units.numpy() * 32, atol=1e-4)  # frame units -> pixels
    # the same frames as floats in [0, 1] give the same landmarks
    assert np.allclose(predict_landmarks(model, frames / 255.0), lm, atol=1e-4)
    assert not model.training


def test_bad_frames_are_named():
    with pytest.raises(ValueError, match="40x40 px; the landmark regressor reads 32x32"):
        check_face_frames(_frames(size=40), 32)
    with pytest.raises(ValueError, match=r"RGB \(T, H, W, 3\)"):
        check_face_frames(np.zeros((2, 32, 32)), 32)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        check_face_frames(np.full((1, 32, 32, 3), 2.0), 32)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="multiple of 8"):
        LandmarkConfig(img_size=36)
    with pytest.raises(ValueError, match="features"):
        LandmarkConfig(features=(8, 8))
    with pytest.raises(ValueError, match="aug_zoom"):
        LandmarkConfig(aug_zoom=-0.1)
    with pytest.raises(ValueError, match="eyelid_weight"):
        LandmarkConfig(eyelid_weight=0.0)


def test_artifact_round_trip(tmp_path):
    cfg = LandmarkConfig(img_size=32, features=(4, 4, 8, 8), hidden=8)
    torch.manual_seed(1)
    model = build_landmark_regressor(cfg).eval()
    path = save_landmark_regressor(
        tmp_path / "landmarks.pt", model, cfg, metrics={"valid/nme": 0.5}
    )
    loaded, loaded_cfg = load_landmark_regressor(path)
    assert loaded_cfg == cfg
    frames = _frames(seed=2)
    assert np.array_equal(predict_landmarks(loaded, frames), predict_landmarks(model, frames))
    art = read_artifact(path)
    assert (
        art.kind == "landmarks" and art.data_spec.channels == 3 and art.metrics["valid/nme"] == 0.5
    )
    with pytest.raises(CheckpointError, match="expected 'segmenter'"):
        read_artifact(path, "segmenter")
