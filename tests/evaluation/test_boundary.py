"""The air–tissue boundary protocol on the shared real contour clips."""

from __future__ import annotations

import numpy as np
import pytest

from mrisynth.data.prepare import PrepareConfig
from mrisynth.evaluation.boundary import (
    RoiGrid,
    clip_boundary_scores,
    load_contour_clips,
    otsu_air,
    segmenter_air,
)
from mrisynth.io.contours import AIR
from mrisynth.phantom.labels import LABELS


@pytest.fixture(scope="module")
def clips(shared_data):
    return load_contour_clips(
        shared_data("data/real-rtmri-contours"), PrepareConfig(img_size=48, roi_size_mm=120.0)
    )


def _speaker_mean(clips, air_of) -> float:
    return float(np.mean([np.nanmean(clip_boundary_scores(air_of(c), c)["mean"]) for c in clips]))


def test_all_clips_prepared_with_speaker_rois(clips):
    assert len(clips) == 27 and len({c.speaker for c in clips}) == 6
    for c in clips:
        assert c.roi.frames.shape[1:] == (48, 48)
        assert c.roi.frames.shape[0] == c.annotation.n_frames
        assert len({x.grid.box for x in clips if x.speaker == c.speaker}) == 1


def test_manual_mask_scores_near_zero_and_a_shift_does_not(clips):
    """The geometry check: the contours' own air mask on the ROI grid lies within the
    rasterisation error of the contours; moving it by 2 ROI pixels costs about that much."""
    sample = [c for c in clips if c.name in ("F1_001", "M2_393", "M3_406")]
    oracle = _speaker_mean(sample, lambda c: c.labels() == AIR)
    shifted = _speaker_mean(sample, lambda c: np.roll(c.labels() == AIR, 2, axis=2))
    assert oracle < 0.8  # mm; pixels of the ROI are 2.5 mm
    assert shifted > oracle + 2.0


def test_otsu_baseline_lies_between_oracle_and_chance(clips):
    sample = [c for c in clips if c.speaker == "F2"]
    otsu = _speaker_mean(sample, lambda c: otsu_air(c.unit_frames()))
    everything_tissue = [
        np.nanmean(
            clip_boundary_scores(np.zeros((c.annotation.n_frames, *c.grid.size), bool), c)["mean"]
        )
        for c in sample
    ]
    assert 1.5 < otsu < 5.0
    assert np.isnan(everything_tissue).all()  # no predicted boundary: not scoreable, not 0


def test_corrupt_border_rows_do_not_capture_the_roi(clips):
    """M1's MJPEG clips have 3 noise rows at the bottom; the ROI stays on the vocal tract."""
    m1 = next(c for c in clips if c.speaker == "M1")
    top, left, h, w = m1.grid.box
    assert top + h <= 68 - 3
    # the ROI holds the oral tract: the lip and alveolar-ridge landmarks lie inside it
    marks = np.array([m1.annotation.landmarks[0][k] for k in ("UL", "LL", "AVR")])
    assert m1.grid.inside(marks).all()


def test_segmenter_air_counts_outside_air_as_air():
    labels = np.array([[[LABELS["background"], LABELS["airway"], LABELS["tongue"]]]])
    np.testing.assert_array_equal(segmenter_air(labels), [[[True, True, False]]])


def test_roi_grid_round_trip():
    grid = RoiGrid((13, 6, 41, 41), (48, 48))
    pts = np.array([[13.0, 6.0], [30.5, 20.25], [53.0, 46.0]])
    np.testing.assert_allclose(grid.to_frame(grid.to_roi(pts)), pts)
    # pixel edges map to pixel edges (align_corners=False): frame edge -0.5 -> ROI edge -0.5
    np.testing.assert_allclose(grid.to_roi(np.array([[12.5, 5.5]])), [[-0.5, -0.5]])
    line = np.array([[0.0, 0.0], [20.0, 20.0], [30.0, 30.0], [60.0, 60.0]])
    parts = grid.clip([line])
    assert len(parts) == 1 and len(parts[0]) == 2
