"""Landmark regressor training: phantom data, geometry-consistent augmentation, a short run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mrisynth.engine.solvers.landmarks import (
    augment_batch,
    landmark_errors,
    render_landmark_data,
    train_landmark_regressor,
)
from mrisynth.engine.trainer import TrainConfig
from mrisynth.models.artifacts import load_landmark_regressor
from mrisynth.models.landmarks import LandmarkConfig, build_landmark_regressor
from mrisynth.phantom.face import LANDMARK_NAMES, sample_face_identity


def test_rendered_data_has_the_corpus_identities():
    data = render_landmark_data([3, 7], 4, size=32, seed=5, progress=False)
    assert data.frames.shape == (8, 32, 32, 3) and data.frames.dtype == np.uint8
    assert data.landmarks.shape == (8, len(LANDMARK_NAMES), 2)
    assert data.speaker.tolist() == [3] * 4 + [7] * 4
    # phantom.corpus draws speaker s's identity from [seed, 3000 + s]
    skin = np.array(sample_face_identity(np.random.default_rng([5, 3007])).skin_rgb)
    corner = data.frames[4:, 16, 16].astype(float) / 255  # the face centre: skin (shaded)
    assert np.all(np.abs(corner.mean(0) / corner.mean() - skin / skin.mean()) < 0.15)
    assert not np.array_equal(data.frames[:4], data.frames[4:])


def test_augmentation_moves_landmarks_with_the_image():
    torch.manual_seed(0)
    cfg = LandmarkConfig(aug_rotate_deg=15, aug_zoom=0.15, aug_shift_px=5, aug_color=0.0)
    b, s = 6, 64
    target = torch.tensor([[10.0, 20.0], [40.0, 50.0], [33.0, 8.0]]).repeat(b, 1, 1)  # px
    image = torch.zeros(b, 3, s, s)
    for x, y in target[0].int().tolist():
        image[:, :, y, x] = 1.0  # a bright dot on each landmark
    moved, moved_target = augment_batch(image, target / s, cfg)
    for k in range(b):
        for x, y in (moved_target[k] * s).tolist():
            r, c = int(round(y)), int(round(x))
            window = moved[k, 0, r - 2 : r + 3, c - 2 : c + 3]
            rr, cc = np.unravel_index(int(window.argmax()), window.shape)
            # the dot's brightest pixel is within one pixel of where the landmark went
            assert abs(rr - 2) <= 1 and abs(cc - 2) <= 1 and window.max() > 0.2


def test_short_training_beats_the_untrained_model(tmp_path):
    tr = render_landmark_data(range(3), 16, size=32, progress=False)
    va = render_landmark_data([50], 16, size=32, progress=False)
    cfg = LandmarkConfig(img_size=32, features=(8, 8, 16, 16), hidden=32, lr=3e-3)
    torch.manual_seed(0)
    before = landmark_errors(build_landmark_regressor(cfg), va.frames, va.landmarks)
    model, val = train_landmark_regressor(
        tr.frames,
        tr.landmarks,
        va.frames,
        va.landmarks,
        cfg=cfg,
        train_cfg=TrainConfig(
            max_steps=40, batch_size=8, eval_interval=40, out_dir=str(tmp_path), device="cpu",
            progress=False,
        ),
    )  # fmt: skip
    after = landmark_errors(model, va.frames, va.landmarks)
    assert after["face_px"] < 0.6 * before["face_px"]
    assert set(val) >= {"valid/loss", "valid/err_px", "valid/nme"}
    assert val["valid/err_px"] == pytest.approx(after["face_px"], rel=1e-3)
    loaded, _ = load_landmark_regressor(tmp_path / "landmarks.pt")
    assert landmark_errors(loaded, va.frames, va.landmarks) == pytest.approx(after)


def test_crop_shifts_the_landmarks_with_the_frame():
    full = render_landmark_data([2], 3, size=48, seed=1, progress=False)
    box = render_landmark_data([2], 3, size=48, seed=1, crop=(10, 6, 32), progress=False)
    assert box.frames.shape == (3, 32, 32, 3) and box.speaker.tolist() == [2, 2, 2]
    assert np.array_equal(box.frames, full.frames[:, 10:42, 6:38])
    assert np.allclose(box.landmarks, full.landmarks - np.array([6.0, 10.0]))
    with pytest.raises(ValueError, match="leaves the 48-px frame"):
        render_landmark_data([2], 1, size=48, crop=(20, 0, 32), progress=False)


def test_phantom_recipe_writes_the_model_and_its_heldout_error(tmp_path):
    import json

    from mrisynth.engine.solvers.landmarks import train_phantom_landmark_regressor

    cfg = LandmarkConfig(img_size=32, features=(4, 4, 8, 8), hidden=8)
    errors = train_phantom_landmark_regressor(
        tmp_path, train_speakers=2, val_speakers=1, frames_per_speaker=16, size=48,
        crop=(8, 8, 32), steps=4, cfg=cfg,
    )  # fmt: skip
    assert json.loads((tmp_path / "heldout.json").read_text()) == errors
    assert errors["frames"] == 16 and errors["face_px"] > 0
    model, loaded_cfg = load_landmark_regressor(tmp_path / "landmarks.pt")
    assert loaded_cfg == cfg


def test_eyelid_weight_scales_the_lids_share_of_the_loss():
    from mrisynth.engine.solvers.landmarks import LandmarkSolver

    cfg = LandmarkConfig(img_size=32, features=(4, 4, 8, 8), hidden=8, augment=False)
    k = len(LANDMARK_NAMES)
    lid = LANDMARK_NAMES.index("eye_r_upper")
    batch = {"image": torch.zeros(2, 3, 32, 32, dtype=torch.uint8)}
    losses = []
    for w in (1.0, 5.0):
        solver = LandmarkSolver(dataclasses.replace(cfg, eyelid_weight=w))
        torch.manual_seed(0)
        solver.net = build_landmark_regressor(cfg).eval()
        with torch.no_grad():
            pred = solver.net(batch["image"].float())
        # targets equal to the prediction but one lid coordinate 0.1 off: only its error counts
        base = {**batch, "target": pred.clone()}
        off = {**batch, "target": pred.clone()}
        off["target"][:, lid, 1] += 0.1
        with torch.no_grad():
            losses.append(
                float(solver.run_step(off, False)["loss"] - solver.run_step(base, False)["loss"])
            )
    # lid error 0.1 on 1 of 2K coordinates; with weight w the lids' weight is w / mean weight
    mean5 = (k - 4 + 4 * 5.0) / k
    assert losses[0] == pytest.approx(0.1 / (2 * k), rel=1e-3)
    assert losses[1] == pytest.approx(0.1 * 5.0 / mean5 / (2 * k), rel=1e-3)
