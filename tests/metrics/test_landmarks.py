"""Landmark distance (LMD): hand-computed cases, pose alignment, NaN and shape rules."""

import numpy as np
import pytest

from mrisynth.metrics.landmarks import (
    FACE_LANDMARKS,
    MOUTH_LANDMARKS,
    UPPER_FACE_LANDMARKS,
    inter_ocular_distance,
    landmark_distance,
    similarity_fit,
)
from mrisynth.phantom.face import LANDMARK_INDEX, LANDMARK_NAMES

K = len(LANDMARK_NAMES)


def _face(t=3, seed=0):
    """(T, K, 2) random landmarks with the outer eye corners 50 px apart."""
    lm = np.random.default_rng(seed).uniform(10, 90, (t, K, 2))
    lm[:, LANDMARK_INDEX["eye_l_outer"]] = (25.0, 40.0)
    lm[:, LANDMARK_INDEX["eye_r_outer"]] = (75.0, 40.0)
    return lm


def test_subsets_are_the_named_landmarks():
    names = {LANDMARK_NAMES[i] for i in MOUTH_LANDMARKS}
    assert len(MOUTH_LANDMARKS) == 12 and "lip_lower_inner" in names and "mouth_l" in names
    assert not any(n.startswith(("eye", "jaw", "nose")) for n in names)
    assert len(FACE_LANDMARKS) == K
    assert not set(UPPER_FACE_LANDMARKS) & set(MOUTH_LANDMARKS)


def test_identical_is_zero_and_a_shift_is_its_length():
    ref = _face()
    assert np.all(landmark_distance(ref, ref) == 0)
    shifted = ref + np.array([3.0, 4.0])
    assert np.allclose(landmark_distance(ref, shifted), 5.0)
    assert np.allclose(landmark_distance(ref, shifted, FACE_LANDMARKS), 5.0)
    # inter-ocular distance 50 px -> 5 / 50
    assert np.allclose(inter_ocular_distance(ref), 50.0)
    assert np.allclose(landmark_distance(ref, shifted, normalize=True), 0.1)
    # pose alignment removes a rigid shift entirely
    assert np.allclose(landmark_distance(ref, shifted, align=True), 0.0, atol=1e-9)


def test_one_mouth_point_moved_counts_one_twelfth():
    ref = _face(t=1)
    pred = ref.copy()
    pred[0, LANDMARK_INDEX["lip_lower_inner"], 1] += 6.0
    assert landmark_distance(ref, pred)[0] == pytest.approx(6.0 / 12)
    assert landmark_distance(ref, pred, FACE_LANDMARKS)[0] == pytest.approx(6.0 / K)


def test_alignment_removes_head_pose_but_not_mouth_motion():
    ref = _face(t=2, seed=1)
    th = np.deg2rad(12.0)
    a = 1.1 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    # generated mouth opens 2 px more than the reference, then the whole head turns and moves
    moved = ref.copy()
    moved[:, list(MOUTH_LANDMARKS), 1] += 2.0
    posed = moved @ a.T + np.array([5.0, -3.0])
    raw = landmark_distance(ref, posed)
    aligned = landmark_distance(ref, posed, align=True)
    assert np.all(raw > 5.0)
    assert np.allclose(aligned, 2.0, atol=1e-9)  # only the mouth difference remains


def test_similarity_fit_hand_case_and_no_reflection():
    src = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    dst = src @ np.array([[0.0, -2.0], [2.0, 0.0]]).T + np.array([1.0, 1.0])
    a, t = similarity_fit(src, dst)
    assert np.allclose(a, [[0.0, -2.0], [2.0, 0.0]]) and np.allclose(t, [1.0, 1.0])
    # a mirror image is fitted by a rotation (det > 0), never by the reflection itself
    tri = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    a, _ = similarity_fit(tri, tri * np.array([-1.0, 1.0]))
    assert np.linalg.det(a) > 0 and not np.allclose(a, np.diag([-1.0, 1.0]))
    a, t = similarity_fit(np.zeros((3, 2)), src[:3])
    assert np.isnan(a).all() and np.isnan(t).all()


def test_nan_frames_and_bad_shapes():
    ref = _face(t=3)
    pred = ref + 1.0
    pred[1, 0] = np.nan  # jaw point missing in frame 1: the whole-face LMD is undefined there
    d = landmark_distance(ref, pred, FACE_LANDMARKS, align=True)
    assert np.isnan(d[1]) and np.isfinite(d[[0, 2]]).all()
    pred[2, list(UPPER_FACE_LANDMARKS)] = np.nan  # no rigid points: no alignment
    assert np.isnan(landmark_distance(ref, pred, align=True)[2])
    zero = ref.copy()
    zero[0, LANDMARK_INDEX["eye_r_outer"]] = zero[0, LANDMARK_INDEX["eye_l_outer"]]
    assert np.isnan(landmark_distance(zero, zero + 1, normalize=True)[0])
    with pytest.raises(ValueError, match="different shapes"):
        landmark_distance(ref, ref[:2])
    with pytest.raises(ValueError, match=r"\(T, K, 2\)"):
        landmark_distance(ref[0], ref[0])
    with pytest.raises(ValueError, match="no landmark"):
        landmark_distance(ref, ref, [])


def test_registry_entries():
    from mrisynth.evaluation.metrics_registry import metric

    for name in ("lmd_mouth", "lmd_mouth_aligned", "lmd_face"):
        m = metric(name)
        assert (m.group, m.direction, m.unit) == ("face", "min", "IOD")
    assert metric("lmd_mouth_px").unit == "px"
