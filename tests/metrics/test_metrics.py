"""Metric tests on cases with known answers."""

import numpy as np
import pytest

from mrisynth.metrics.anatomy import (
    constriction_errors,
    contour_distance_mm,
    dice_per_class,
    hd95_per_class,
    trajectory_correlation,
)
from mrisynth.metrics.image import ms_ssim, psnr, ssim
from mrisynth.metrics.stats import intervals_overlap, summarize
from mrisynth.metrics.sync import lse_scores, max_offset_frames, sync_bce
from mrisynth.metrics.temporal import flicker, temporal_gradient_difference, warping_error


def _moving_blob(t=12, size=48, speed=1.0):
    yy, xx = np.mgrid[:size, :size]
    frames = []
    for k in range(t):
        cx = 16 + speed * k
        frames.append(np.exp(-((xx - cx) ** 2 + (yy - 24) ** 2) / (2 * 5.0**2)))
    return np.array(frames, np.float32)


def test_image_metrics_identity_and_ordering():
    ref = _moving_blob(size=64)
    assert np.allclose(ssim(ref, ref), 1.0)
    assert np.allclose(ms_ssim(ref, ref), 1.0, atol=1e-4)
    assert np.all(psnr(ref, ref) == 100.0)
    rng = np.random.default_rng(0)
    small = (ref + rng.normal(0, 0.02, ref.shape)).astype(np.float32)  # unclipped: exact sigma
    large = np.clip(ref + rng.normal(0, 0.2, ref.shape), 0, 1).astype(np.float32)
    assert ssim(ref, small).mean() > ssim(ref, large).mean()
    assert ms_ssim(ref, small).mean() > ms_ssim(ref, large).mean()
    # PSNR of Gaussian noise with sigma 0.02 ≈ 20·log10(1/0.02) = 34 dB
    assert psnr(ref, small).mean() == pytest.approx(34.0, abs=1.0)
    with pytest.raises(ValueError, match="different shapes"):
        ssim(ref, ref[:-1])


def test_lse_offset_recovers_a_known_shift():
    rng = np.random.default_rng(1)
    n, d, k = 120, 16, 7
    latent = rng.normal(size=(n + 40, d))
    video = latent[20 : 20 + n] + 0.05 * rng.normal(size=(n, d))
    audio = latent[20 - k : 20 - k + n]  # audio lags the video by k windows
    score = lse_scores(video, audio, max_offset_frames(25.0))
    assert score.offset == k
    assert score.lse_c > 1.0
    # shuffled audio: no clear minimum, much larger distance
    shuffled = lse_scores(video, audio[rng.permutation(n)], 15)
    assert shuffled.lse_d > score.lse_d + 1.0
    assert shuffled.lse_c < score.lse_c / 3
    assert max_offset_frames(83.28) == 50


def test_sync_bce_known_cases_and_the_expert_loss():
    import torch

    from mrisynth.losses.sync import expert_bce

    e = np.eye(4)
    assert sync_bce(e, e) == pytest.approx(0.0, abs=1e-5)  # cos 1: certain sync
    assert sync_bce(e, np.roll(e, 1, axis=0)) == pytest.approx(-np.log(1e-6))  # orthogonal
    half = np.array([[1.0, 0.0]]), np.array([[0.5, np.sqrt(0.75)]])  # cos 60° = 0.5
    assert sync_bce(*half) == pytest.approx(np.log(2.0))
    # the same number as the expert's BCE on in-sync pairs (the generator's sync loss)
    rng = np.random.default_rng(0)
    v, a = np.abs(rng.normal(size=(9, 8))), np.abs(rng.normal(size=(9, 8)))
    v, a = (
        v / np.linalg.norm(v, axis=1, keepdims=True),
        a / np.linalg.norm(a, axis=1, keepdims=True),
    )
    want = expert_bce(torch.from_numpy(v), torch.from_numpy(a), torch.ones(9))
    assert sync_bce(v, a) == pytest.approx(float(want), rel=1e-6)
    assert lse_scores(v, a, 2).sync_bce == pytest.approx(sync_bce(v, a))


def test_dice_and_hd95_known_cases():
    ref = np.zeros((1, 20, 20), np.int64)
    ref[0, 5:15, 5:15] = 1
    assert np.allclose(dice_per_class(ref, ref, 2), 1.0)
    assert np.allclose(hd95_per_class(ref, ref, 2, (2.0, 2.0)), 0.0)
    shifted = np.roll(ref, 2, axis=2)  # 2 px = 4 mm shift
    dice = dice_per_class(shifted, ref, 3)
    assert dice[0, 1] == pytest.approx(2 * 80 / 200)
    assert np.isnan(dice[0, 2])  # class 2 absent in both
    hd = hd95_per_class(shifted, ref, 2, (2.0, 2.0))
    assert hd[0, 1] == pytest.approx(4.0)
    only = hd95_per_class(shifted, ref, 3, (2.0, 2.0), classes=[1])  # others not scored
    assert only[0, 1] == pytest.approx(4.0) and np.isnan(only[0, [0, 2]]).all()
    gone = np.zeros_like(ref)  # class 1 missing from the prediction: the image diagonal
    assert hd95_per_class(gone, ref, 2, (2.0, 2.0), [1])[0, 1] == pytest.approx(np.hypot(40, 40))
    with pytest.raises(ValueError, match="classes must lie in 0..1"):
        hd95_per_class(ref, ref, 2, (2.0, 2.0), [2])


def test_constriction_error_of_a_misplaced_tongue():
    ref = {"tongue_tip_location_mm": np.array([100.0, 102.0, 104.0]), "lips_degree_mm": np.zeros(3)}
    pred = {
        "tongue_tip_location_mm": ref["tongue_tip_location_mm"] - 6.0,
        "lips_degree_mm": np.zeros(3),
    }
    err = constriction_errors(pred, ref)
    assert err["tongue_tip_location_mm"] == pytest.approx(6.0)
    assert err["lips_degree_mm"] == 0.0
    corr = trajectory_correlation(pred, ref)
    assert corr["tongue_tip_location_mm"] == pytest.approx(1.0)


def test_contour_distance_of_parallel_lines():
    x = np.linspace(0, 50, 11)
    a = np.stack([x, np.zeros_like(x)], 1)
    b = np.stack([np.linspace(0, 50, 101), np.full(101, 3.0)], 1)
    assert contour_distance_mm(a, b) == pytest.approx(3.0, abs=1e-6)
    assert contour_distance_mm(a, a) == 0.0


def test_temporal_metrics():
    ref = _moving_blob(t=9, size=40)
    assert warping_error(ref, ref, stride=2) < 1e-3
    frozen = np.repeat(ref[:1], len(ref), 0)
    assert temporal_gradient_difference(ref, ref) == 0.0
    assert temporal_gradient_difference(ref, frozen) > 0.0
    assert warping_error(ref, frozen, stride=2) >= warping_error(ref, ref, stride=2)
    rng = np.random.default_rng(0)
    noisy = ref + rng.normal(0, 0.05, ref.shape).astype(np.float32)
    assert flicker(ref, noisy) > 10 * max(flicker(ref, ref), 1e-6)
    with pytest.raises(ValueError, match="same shape|one shape"):
        temporal_gradient_difference(ref, ref[:, :-1])


def test_summary_interval():
    s = summarize([1.0, 2.0, 3.0, np.nan])
    assert s.n == 3 and s.mean == 2.0
    assert s.low < 2.0 < s.high
    assert not intervals_overlap(summarize([1, 1.1, 0.9]), summarize([5, 5.1, 4.9]))


def test_constriction_of_a_misplaced_tongue_on_label_maps():
    from mrisynth.metrics.constriction import constriction_location_error, measure_constrictions
    from mrisynth.phantom.labels import LABELS

    lab = np.zeros((2, 40, 60), np.uint8)
    lab[:, 10:12, 5:55] = LABELS["hard_palate"]
    # tongue: a block whose top row is 15, i.e. 3 empty rows (6 mm) below the palate
    lab[0, 15:30, 20:30] = LABELS["tongue"]
    lab[1, 15:30, 22:32] = LABELS["tongue"]  # same tongue, 2 px (4 mm) further back
    m = measure_constrictions(lab, (2.0, 2.0))
    assert m["tongue_tip_degree_mm"] == pytest.approx([6.0, 6.0])
    ref = {k: v[:1] for k, v in m.items()}
    shifted = {k: v[1:] for k, v in m.items()}
    err = constriction_location_error(shifted, ref)
    assert err["tongue_tip_location_mm"] == pytest.approx(4.0)
    assert np.isnan(m["velum_degree_mm"]).all()  # no velum drawn: NaN, not a fake value
