"""The metric registry: what the report shows, which way is better, and how metrics.json keys
parse back to it (its coverage of real metrics.json files: test_evaluate.py)."""

from __future__ import annotations

import pytest

from mrisynth.evaluation.metrics_registry import (
    ARTICULATORS,
    METRICS,
    directions,
    find_metric,
    metric,
    metric_names,
)
from mrisynth.evaluation.report import METRIC_DIRECTIONS, parse_metrics_key


def test_views_keep_the_report_order():
    """The report's tables, comparisons and directions as they were before the registry."""
    assert metric_names("table") == (
        "l1", "ssim", "ms_ssim", "psnr", "lse_d", "lse_c", "sync_bce", "abs_offset",
        "dice_mean", "hd95_mean_mm", "hd95_median_mm", "degree_err_mean_mm",
        "location_err_mean_mm", "tongue_contour_mm", "traj_r_mean", "warp_error",
        "temporal_grad_diff", "flicker", "pause_motion_mm", "pause_motion_ratio",
    )  # fmt: skip
    assert metric_names("compare") == (
        "dice_mean", "hd95_mean_mm", "hd95_median_mm", "degree_err_mean_mm",
        "location_err_mean_mm", "tongue_contour_mm", "traj_r_mean", "lse_d", "lse_c", "sync_bce",
    )  # fmt: skip
    assert metric_names("breakdown") == (
        "l1",
        "ssim",
        "lse_d",
        "lse_c",
        "dice_mean",
        "degree_err_mean_mm",
    )
    before = {"l1": "min", "l1_mask": "min", "ssim": "max", "ms_ssim": "max", "psnr": "max",
              "lse_d": "min", "lse_c": "max", "sync_bce": "min", "abs_offset": "min",
              "dice_mean": "max", "hd95_mean_mm": "min", "hd95_median_mm": "min",
              "degree_err_mean_mm": "min", "location_err_mean_mm": "min",
              "tongue_contour_mm": "min", "traj_r_mean": "max", "warp_error": "min",
              "temporal_grad_diff": "min", "flicker": "min"}  # fmt: skip
    assert {k: METRIC_DIRECTIONS[k] for k in before} == before
    assert METRIC_DIRECTIONS == directions()
    with pytest.raises(ValueError, match="unknown view"):
        metric_names("tables")


def test_entries_are_complete_and_families_match():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    for m in METRICS:
        assert m.unit is not None and m.description and m.source, m.name
        assert (m.fn is not None) == (m.group == "image"), m.name
    ssim = metric("ssim")
    assert ssim.direction == "max" and "7×7" in ssim.description
    assert metric("shift_-6_offset").name == "shift_{shift}_offset"
    assert metric("shift_6_offset_error").direction == "min"
    assert find_metric("shift_x_offset") is None
    for a in ARTICULATORS:
        assert metric(f"dice_{a}").direction == "max" and metric(f"hd95_{a}_mm").unit == "mm"
    assert metric("traj_r_velum").group == "anatomy"
    with pytest.raises(KeyError, match="'valid/ssim11' is not in"):
        metric("valid/ssim11")


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("model.image_audio.dice_mean", ("model", "image_audio", "dice_mean")),
        ("baseline_static.video_audio.n_clips", ("baseline_static", "video_audio", "n_clips")),
        ("real.shift_-4_offset", ("real", None, "shift_-4_offset")),
        ("segmenter.dice_mean", ("segmenter", None, "dice_mean")),
        (
            "retroflex_check.model.image_audio.dental_x_mm",
            ("model.image_audio", None, "dental_x_mm"),
        ),
        ("retroflex_check.reference.retroflex_behind_dental", ("reference", None,
                                                                "retroflex_behind_dental")),
    ],
)  # fmt: skip
def test_metrics_keys_parse(key, parsed):
    assert parse_metrics_key(key) == parsed


@pytest.mark.parametrize("key", ["model.dice_mean", "real.real.lse_d", "lse_d"])
def test_malformed_metrics_keys_are_rejected(key):
    with pytest.raises(ValueError, match="neither"):
        parse_metrics_key(key)
