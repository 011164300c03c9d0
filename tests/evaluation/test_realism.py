"""The realism measures: appearance features, a group-wise domain classifier, a feature
distance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mrisynth.evaluation.realism import (
    FEATURE_NAMES,
    contiguous_groups,
    domain_classifier_auc,
    domain_transfer_auc,
    feature_distance,
    feature_gaps,
    image_features,
    roc_auc,
)


def _video(rng, n=40, noise=0.03, size=32):
    """A 'video': one smooth random anatomy slowly deforming, plus white noise of ``noise``."""
    base = ndimage.gaussian_filter(rng.standard_normal((size, size)), 3.0)
    base = (base - base.min()) / (np.ptp(base) + 1e-9)
    frames = []
    for t in range(n):
        shifted = ndimage.shift(base, (0.1 * t, 0.05 * t), mode="nearest")
        frames.append(shifted + noise * rng.standard_normal((size, size)))
    return np.clip(np.stack(frames), 0.0, 1.0)


def _set(seed, videos=6, noise=0.03):
    """Several videos of one 'scanner' (noise level), stacked, with one group per video."""
    rng = np.random.default_rng(seed)
    clips = [_video(rng, noise=noise) for _ in range(videos)]
    return np.concatenate(clips), contiguous_groups([len(c) for c in clips], 10**6)


def test_features_have_their_names_and_see_noise():
    rng = np.random.default_rng(0)
    clean, noisy = _video(rng, noise=0.0), _video(rng, noise=0.1)
    f_clean, f_noisy = image_features(clean), image_features(noisy)
    assert f_clean.shape == (40, len(FEATURE_NAMES))
    i = FEATURE_NAMES.index("noise_mad")
    assert f_noisy[:, i].mean() > 5 * f_clean[:, i].mean()
    gaps = feature_gaps(clean, noisy)
    assert max(gaps, key=lambda k: abs(gaps[k])) in ("noise_mad", "laplacian_var", "grad_mean",
                                                     "log_power_band5", "log_power_band4",
                                                     "dark_noise_mad", "grad_q90")  # fmt: skip


def test_roc_auc_and_groups_known_cases():
    assert roc_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert roc_auc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 0.0
    assert roc_auc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5
    assert contiguous_groups([3, 2], block_frames=2).tolist() == [0, 0, 1, 2, 2]
    with pytest.raises(ValueError, match="needs both classes"):
        roc_auc(np.array([]), np.array([1.0]))


def test_domain_classifier_tells_scanners_apart_and_not_one_scanner_from_itself():
    real, g_real = _set(0, noise=0.03)
    same, g_same = _set(1, noise=0.03)  # other videos of the same scanner
    other, g_other = _set(2, noise=0.12)  # another scanner: 4x the noise
    kw = dict(real_groups=g_real, n_splits=3, n_repeats=3, seed=0)
    apart = domain_classifier_auc(real, other, synth_groups=g_other, **kw)
    alike = domain_classifier_auc(real, same, synth_groups=g_same, **kw)
    assert apart.auc > 0.95
    assert alike.auc < 0.8
    assert apart.n_real_groups == apart.n_synth_groups == 6
    # fewer groups than folds is refused with the fix
    with pytest.raises(ValueError, match="fewer than n_splits"):
        domain_classifier_auc(real, other, real_groups=np.zeros(len(real), int), n_splits=3)


def test_transfer_auc_trained_on_some_videos_scores_others():
    train_real, _ = _set(0, noise=0.03)
    test_real, g_real = _set(3, videos=3, noise=0.03)
    far_train, _ = _set(1, noise=0.12)
    far_test, g_far = _set(4, videos=3, noise=0.12)
    near_train, _ = _set(2, noise=0.03)
    near_test, g_near = _set(5, videos=3, noise=0.03)
    far = domain_transfer_auc(train_real, far_train, test_real, far_test,
                              test_real_groups=g_real, test_synth_groups=g_far, n_boot=50)  # fmt: skip
    near = domain_transfer_auc(train_real, near_train, test_real, near_test,
                               test_real_groups=g_real, test_synth_groups=g_near, n_boot=50)  # fmt: skip
    assert far.auc > 0.95 and near.auc < 0.8
    assert len(far.samples) == 50 and far.auc_sd >= 0


def test_feature_distance_grows_with_the_domain_gap():
    real, _ = _set(0, noise=0.03)
    d = [feature_distance(real, _set(1, noise=n)[0]) for n in (0.03, 0.06, 0.12)]
    assert d[0] < d[1] < d[2]
    assert feature_distance(real, real) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "frames, problem",
    [
        (np.zeros((4, 16, 16), np.uint8), "must be floats"),
        (np.full((4, 16, 16), 2.0), "must lie in \\[0, 1\\]"),
        (np.zeros((16, 16)), "shape \\(N, H, W\\)"),
        (np.zeros((4, 4, 4)), "at least 8 x 8"),
    ],
)
def test_bad_frames_are_named(frames, problem):
    with pytest.raises(ValueError, match=problem):
        image_features(frames)
