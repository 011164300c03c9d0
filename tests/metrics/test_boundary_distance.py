"""Air–tissue boundary distance: the edge of an air mask against polylines, in mm."""

from __future__ import annotations

import numpy as np

from mrisynth.metrics.anatomy import air_boundary, boundary_distance_mm, hd95_per_class


def _disc(radius: float, shape=(64, 64), centre=(32.0, 32.0)) -> np.ndarray:
    r, c = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.hypot(r - centre[0], c - centre[1]) <= radius


def _circle(radius: float, centre=(32.0, 32.0), n=400) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n)
    return np.stack([centre[0] + radius * np.sin(a), centre[1] + radius * np.cos(a)], 1)


def test_air_edge_lies_on_the_true_boundary():
    edge = air_boundary(_disc(15.0))
    assert len(edge) == 1
    r = np.hypot(edge[0][:, 0] - 32, edge[0][:, 1] - 32)
    assert abs(r.mean() - 15.0) < 0.6  # half-way between pixel centres, sub-pixel


def test_distance_of_concentric_circles_is_their_gap():
    d = boundary_distance_mm([_circle(10)], [_circle(13)], (2.0, 2.0))
    np.testing.assert_allclose([d["mean"], d["hd95"]], [6.0, 6.0], atol=0.05)
    assert d["pred_scored"] == 1.0
    same = boundary_distance_mm([_circle(10)], [_circle(10, n=37)], (1.0, 1.0))
    assert same["mean"] < 0.05


def test_band_scores_only_predicted_boundary_near_the_reference():
    far = _circle(5, centre=(10.0, 10.0))
    d = boundary_distance_mm([_circle(10), far], [_circle(11)], (1.0, 1.0), max_mm=4.0)
    # the far circle is left out of pred->ref, and the reference is still met by the near one
    np.testing.assert_allclose(d["pred_to_ref"], 1.0, atol=0.05)
    assert 0.5 < d["pred_scored"] < 0.8
    nothing = boundary_distance_mm([far], [_circle(11)], (1.0, 1.0), max_mm=1.0)
    assert nothing["pred_scored"] == 0.0 and np.isnan(nothing["mean"])
    assert np.isnan(boundary_distance_mm([], [_circle(3)], (1.0, 1.0))["mean"])


def test_missing_boundary_is_penalised_by_the_reference_direction():
    half = _circle(10)[:200]
    d = boundary_distance_mm([half], [_circle(10)], (1.0, 1.0))
    assert d["pred_to_ref"] < 0.05 and d["ref_to_pred"] > 3.0


def test_hd95_agrees_with_the_mask_metric():
    """Mask edges against mask edges: the same 95th-percentile convention as MONAI's HD95
    within a pixel (MONAI measures between edge pixel centres, this between pixel edges)."""
    a, b = _disc(12.0), _disc(15.0, centre=(34.0, 30.0))
    ours = boundary_distance_mm(air_boundary(a), air_boundary(b), (1.5, 1.5))["hd95"]
    theirs = hd95_per_class(b[None].astype(int), a[None].astype(int), 2, (1.5, 1.5))[0, 1]
    assert abs(ours - theirs) < 1.5
