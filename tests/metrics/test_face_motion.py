"""Blinks and head motion from landmarks: hand-computed signals, known blinks, known poses."""

import numpy as np
import pytest

from mrisynth.metrics.face_motion import blink_stats, detect_blinks, eye_openness, head_motion
from mrisynth.metrics.stats import percentile_rank, within_range
from mrisynth.phantom.face import render_face, sample_blinks, sample_face_identity


def test_one_hand_computed_blink():
    x = np.array([1, 1, 1, 0.2, 0.2, 1, 1, 1, 1, 1.0])
    blinks, complete = detect_blinks(x, fps=10.0)
    # open level 1, threshold 0.5: crossings at frame 2 + 0.5/0.8 and 5 - 0.5/0.8; frame k
    # sits at (k + 0.5) / fps
    assert blinks == [pytest.approx((0.3125, 0.4875))] and complete == [True]
    s = blink_stats(x, 10.0)
    assert s.n_blinks == 1 and s.rate_per_min == pytest.approx(60.0)
    assert s.duration_s == pytest.approx(0.175)


def test_cut_blinks_count_but_have_no_duration_and_no_blink_is_empty():
    x = np.array([0.1, 0.3, 1, 1, 1, 1, 1, 1, 1, 0.2])
    blinks, complete = detect_blinks(x, 10.0)
    assert len(blinks) == 2 and complete == [False, False]
    s = blink_stats(x, 10.0)
    assert s.rate_per_min == pytest.approx(120.0) and np.isnan(s.duration_s)
    assert blink_stats(np.ones(50), 25.0).n_blinks == 0
    assert detect_blinks(np.full(5, np.nan), 25.0) == ([], [])
    with pytest.raises(ValueError, match="fps"):
        detect_blinks(x, 0.0)


@pytest.mark.parametrize("fps", [25.0, 50.0])
def test_the_phantoms_blinks_are_found_with_half_their_duration(fps):
    eyelid, truth = sample_blinks(int(60 * fps), fps, 20.0, np.random.default_rng(3))
    found, complete = detect_blinks(eyelid, fps)
    assert len(found) == len(truth) == 20 and all(complete)
    for (s, e), (ts, te) in zip(found, truth):
        # sin²/cos² eyelid: below half closure for exactly half the blink
        assert e - s == pytest.approx(0.5 * (te - ts), abs=0.005)
        assert s == pytest.approx(ts + 0.5 * 0.41 * (te - ts), abs=0.005)  # half-way closing
    assert blink_stats(eyelid, fps).rate_per_min == pytest.approx(20.0)


@pytest.fixture(scope="module")
def video():
    n, rng = 250, np.random.default_rng(0)
    return render_face(
        rng.uniform(0, 12, n), rng.uniform(0, 15, n), rng.uniform(25, 45, n), np.zeros(n),
        fps=25.0, identity=sample_face_identity(np.random.default_rng(1)), rng=rng, size=96,
        blink_rate_per_min=20.0,
    )  # fmt: skip


def test_blinks_from_rendered_landmarks_match_the_eyelid(video):
    ear = blink_stats(eye_openness(video.landmarks), video.fps)
    lid = blink_stats(video.eyelid_open, video.fps)
    assert ear.n_blinks == lid.n_blinks == len(video.blinks) > 0
    assert ear.duration_s == pytest.approx(lid.duration_s, abs=0.01)


def test_head_roll_is_recovered_from_landmarks(video):
    motion = head_motion(video.landmarks, video.fps)
    roll = video.pose[:, 2]
    assert np.corrcoef(motion.roll_deg, roll)[0, 1] > 0.98
    assert motion.stats()["roll_std_deg"] == pytest.approx(roll.std(), rel=0.1)
    assert np.corrcoef(motion.yaw_proxy, video.pose[:, 0])[0, 1] > 0.8


def test_a_still_head_has_no_motion_and_a_known_motion_is_measured(video):
    still = np.repeat(video.landmarks[:1], 20, axis=0)
    stats = head_motion(still, 25.0).stats()
    assert all(abs(v) < 1e-9 for v in stats.values()), stats
    # rotate the still face by 4°·sin and shift it by 3 px·cos about its centre
    t = np.arange(100) / 25.0
    ang = np.radians(4.0 * np.sin(2 * np.pi * 0.5 * t))
    c = still[0].mean(0)
    rot = np.stack([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]]).transpose(2, 0, 1)
    moved = np.einsum("tij,kj->tki", rot, still[0] - c) + c
    moved[:, :, 0] += 3.0 * np.cos(2 * np.pi * 0.5 * t)[:, None]
    motion = head_motion(moved, 25.0)
    assert np.allclose(motion.roll_deg, np.degrees(ang), atol=0.05)
    iod = np.linalg.norm(still[0, 17] - still[0, 11])  # eye_r_outer - eye_l_outer
    s = motion.stats()
    assert s["roll_std_deg"] == pytest.approx(4.0 / np.sqrt(2), rel=0.02)
    assert s["translation_std_iod"] == pytest.approx(3.0 / np.sqrt(2) / iod, rel=0.1)
    # mean |d/dt 4 sin(pi t)| = 4 * pi * 2/pi = 8 deg/s
    assert s["roll_speed_deg_s"] == pytest.approx(8.0, rel=0.05)
    moved[5] = np.nan
    assert np.isnan(head_motion(moved, 25.0).roll_deg[5])


def test_percentile_rank_and_range():
    refs = [1.0, 2.0, 3.0, 4.0]
    assert percentile_rank(2.5, refs) == 50.0
    assert percentile_rank(2.0, refs) == 37.5  # one below, one equal
    assert percentile_rank(0.0, refs) == 0.0 and percentile_rank(9.0, refs) == 100.0
    assert np.isnan(percentile_rank(1.0, [np.nan])) and np.isnan(percentile_rank(np.nan, refs))
    assert within_range(2.0, refs) and not within_range(4.5, refs)
    assert within_range(3.9, refs, coverage=1.0) and not within_range(3.9, refs, coverage=0.5)
    with pytest.raises(ValueError, match="no finite"):
        within_range(1.0, [])


def test_registry_entries_name_the_stats_keys(video):
    from mrisynth.evaluation.metrics_registry import metric

    stats = head_motion(video.landmarks, video.fps).stats()
    for key in (
        "roll_std_deg",
        "roll_speed_deg_s",
        "translation_std_iod",
        "translation_speed_iod_s",
    ):
        m = metric(f"head_{key}")
        assert m.group == "face" and m.direction is None
        assert key in stats
    assert metric("blink_rate_per_min").unit == "1/min" and metric("blink_duration_s").unit == "s"
