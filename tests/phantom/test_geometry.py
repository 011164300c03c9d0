"""Vocal-tract geometry: label maps, area function and measures agree with the articulation."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mrisynth.phantom.anatomy import SpeakerAnatomy, sample_anatomy
from mrisynth.phantom.articulation import ARTICULATORY_PARAMS
from mrisynth.phantom.geometry import MIN_AREA_CM2, VocalTractGeometry
from mrisynth.phantom.labels import LABELS, MEASURE_NAMES

IDX = {n: i for i, n in enumerate(ARTICULATORY_PARAMS)}


@pytest.fixture(scope="module")
def geom() -> VocalTractGeometry:
    return VocalTractGeometry(SpeakerAnatomy())


def state(geom, **kw) -> np.ndarray:
    x = geom.neutral.copy()
    for k, v in kw.items():
        x[IDX[k]] = v
    return x


def to_px(geom, pts_head: np.ndarray, h: float = 0.8, matrix_mm: float = 201.6) -> np.ndarray:
    """Head-frame mm -> (col, row) pixel indices of a default raster."""
    return np.floor((pts_head + geom.origin + 0.5 * (matrix_mm - 200.0)) / h).astype(int)


def test_label_maps_classes_and_static_anatomy(geom):
    states = np.stack(
        [geom.neutral, state(geom, jaw_open_mm=16, lip_aperture_mm=15, tongue_body_back_mm=5)]
    )
    lab = geom.rasterize(states)
    assert lab.shape == (2, 252, 252) and lab.dtype == np.uint8
    for name, k in LABELS.items():
        assert (lab[0] == k).sum() > 20, f"label {name} missing"
    # background surrounds the head; the head fills a large part of the 200-mm FOV
    assert lab[0, :, 0].max() == 0 and 0.35 < (lab[0] > 0).mean() < 0.8
    # static anatomy (skull, nasal cavity, palate, spine/neck) is identical across frames
    same = lab[0] == lab[1]
    assert same[:90].mean() > 0.99 and same[:, 190:].mean() > 0.99
    # the open jaw moves articulators: the frames differ around the mouth
    assert (~same[100:180, 20:130]).sum() > 200
    # anatomy ordering: nasal airway above the hard palate above the tongue (column through palate)
    col = to_px(geom, np.array([geom.palate[len(geom.palate) // 2]]))[0, 0]
    rows = {k: np.flatnonzero(lab[0][:, col] == LABELS[k]) for k in ("hard_palate", "tongue")}
    assert rows["hard_palate"].mean() < rows["tongue"].mean()
    assert np.any(lab[0][: rows["hard_palate"].min(), col] == LABELS["airway"])


def test_bilabial_closure_leaves_no_air_between_lips(geom):
    closed = state(geom, lip_aperture_mm=-4.0, jaw_open_mm=5.0)
    opened = state(geom, lip_aperture_mm=10.0, jaw_open_mm=10.0)
    m = geom.measures(np.stack([closed, opened]))
    assert m["lips_degree_mm"][0] < 0.5 and m["lips_degree_mm"][1] == pytest.approx(10.0)
    lab = geom.rasterize(np.stack([closed, opened]))
    s = geom.scale
    y0 = geom.lip_contact_y
    box = to_px(geom, np.array([[-11.0 * s, y0 - 3.0], [-1.0 * s, y0 + 3.0]]))
    win = lab[:, box[0, 1] : box[1, 1] + 1, box[0, 0] : box[1, 0] + 1]
    assert (win[0] == LABELS["airway"]).sum() == 0 and (win[0] == LABELS["background"]).sum() == 0
    assert (win[0] == LABELS["lips"]).mean() > 0.8
    assert (win[1] == LABELS["airway"]).sum() > 10  # control: open lips show the oral air


def test_tongue_tip_closure_separates_oral_and_pharyngeal_air(geom):
    from scipy import ndimage

    from mrisynth.phantom.articulation import consonant_gestures
    from mrisynth.phantom.inventory import Phoneme

    x = state(geom, lip_aperture_mm=10.0, jaw_open_mm=6.0)
    t = x.copy()
    for g in consonant_gestures(Phoneme("t", "consonant", "alveolar", "stop"), geom, 0.0, 0.1):
        for k, v in g.targets.items():
            t[IDX[k]] = v
    t[IDX["lip_aperture_mm"]] = 10.0
    assert geom.measures(t[None])["tongue_tip_degree_mm"][0] == 0.0
    lab = geom.rasterize(np.stack([x, t]))
    front = to_px(geom, np.array([[-6.0 * geom.scale, geom.lip_contact_y + 2.0]]))[0]
    phar = to_px(geom, np.array([[geom.wall_x(30.0) - 3.0, 30.0]]))[0]
    for k, connected in ((0, True), (1, False)):
        comp, _ = ndimage.label(lab[k] == LABELS["airway"])
        a, b = comp[front[1], front[0]], comp[phar[1], phar[0]]
        assert a > 0 and b > 0
        assert (a == b) == connected


def test_area_function_neutral_uniform_and_length(geom):
    areas, sec_len, nasal = geom.area_function(geom.neutral[None], n_sections=44)
    assert areas.shape == (1, 44) and sec_len.shape == (1,) and nasal.shape == (1,)
    # total length = the speaker's tract length (the neutral posture is calibrated)
    assert sec_len[0] * 44 == pytest.approx(geom.anatomy.vocal_tract_length_mm / 10.0, rel=0.01)
    body = areas[0, :-4]
    assert 1.0 < np.median(body) < 4.0
    assert body.std() / body.mean() < 0.5  # schwa-like: roughly uniform tube
    assert body.min() > 0.3 and nasal[0] == 0.0


def test_area_function_closures_and_lip_ellipse(geom):
    p = state(geom, lip_aperture_mm=-3.0)
    k = state(geom, tongue_body_back_mm=9.0, tongue_body_height_mm=14.0)
    o = state(geom, lip_aperture_mm=12.0, lip_width_mm=50.0, jaw_open_mm=12.0)
    areas, _, _ = geom.area_function(np.stack([p, k, o]))
    assert areas[0, -1] == MIN_AREA_CM2 and areas[0, :-3].min() > 0.1
    assert areas[1].min() == MIN_AREA_CM2 and areas[1, -1] > 1.0  # dorsal closure, lips open
    assert areas[2, -1] == pytest.approx(np.pi / 4 * 1.2 * 5.0, rel=1e-6)
    assert np.all(areas >= MIN_AREA_CM2)


def test_measures_contract_and_ranges(geom):
    rng = np.random.default_rng(0)
    x = np.repeat(geom.neutral[None], 50, 0)
    for name, lo, hi in (("jaw_open_mm", 0, 20), ("lip_aperture_mm", -4, 18), ("tongue_body_back_mm", -8, 8),
                         ("tongue_body_height_mm", -10, 12), ("tongue_tip_height_mm", -8, 16),
                         ("velum_port_mm", -2, 8)):  # fmt: skip
        x[:, IDX[name]] = rng.uniform(lo, hi, 50)
    m = geom.measures(x)
    assert tuple(m) == MEASURE_NAMES
    L = geom.tract_length_mm(x)
    for k, v in m.items():
        assert v.shape == (50,) and np.all(np.isfinite(v))
        if k.endswith("degree_mm"):
            assert np.all(v >= 0), k
        else:
            assert np.all((v >= 0) & (v <= L + 1e-6)), k
    # places are ordered along the tract from the glottis
    n = geom.measures(geom.neutral[None])
    assert (
        n["pharynx_location_mm"][0]
        < n["tongue_body_location_mm"][0]
        < n["tongue_tip_location_mm"][0]
    )
    assert n["tongue_tip_location_mm"][0] < n["lips_location_mm"][0]
    # velum degree follows the port parameter; negative (pressed) reads as closed
    v = geom.measures(np.stack([state(geom, velum_port_mm=-2), state(geom, velum_port_mm=5)]))
    assert v["velum_degree_mm"][0] == 0.0 and v["velum_degree_mm"][1] == pytest.approx(5.0, abs=0.1)


def test_larynx_and_protrusion_change_tract_length(geom):
    L = geom.tract_length_mm(
        np.stack([geom.neutral, state(geom, larynx_height_mm=-5), state(geom, lip_protrusion_mm=6)])
    )
    assert L[1] > L[0] + 3 and L[2] > L[0] + 4


def test_speakers_differ_and_match_their_tract_length():
    lens = []
    for seed in range(8):
        an = sample_anatomy(np.random.default_rng(seed))
        g = VocalTractGeometry(an)
        L = g.tract_length_mm(g.neutral)[0]
        assert 139.5 <= L <= 180.5 and L == pytest.approx(an.vocal_tract_length_mm, abs=1.0)
        lens.append(L)
    assert np.ptp(lens) > 10
    with pytest.raises(ValueError, match="sex"):
        sample_anatomy(np.random.default_rng(0), "other")


def test_head_pose_moves_the_image(geom):
    x = np.repeat(geom.neutral[None], 2, 0)
    lab = geom.rasterize(x, head_pose=np.array([[0.0, 0.0, 0.0], [4.8, -2.4, 0.0]]))
    rows, cols = np.nonzero(lab[0] == LABELS["hard_palate"])
    rows1, cols1 = np.nonzero(lab[1] == LABELS["hard_palate"])
    assert cols1.mean() - cols.mean() == pytest.approx(6.0, abs=0.7)  # 4.8 mm / 0.8 mm
    assert rows1.mean() - rows.mean() == pytest.approx(-3.0, abs=0.7)
    rot = geom.rasterize(x[:1], head_pose=np.array([[0.0, 0.0, 2.0]]))
    assert 0.0 < (rot[0] != lab[0]).mean() < 0.2


def test_contours_and_tongue_contour(geom):
    c = geom.contours(geom.neutral)
    for key in ("upper_lip", "lower_lip", "tongue", "hard_palate", "velum", "pharyngeal_wall"):
        assert c[key].ndim == 2 and c[key].shape[1] == 2 and np.all(np.isfinite(c[key]))
    tc = geom.tongue_contour(geom.neutral)
    assert tc.shape == (geom.n_rays + 1, 2)
    assert tc[0, 0] < tc[-1, 0] - 10  # tip is anterior (left) of the root
    assert np.all((tc >= 0) & (tc <= 200))
    d = geom.contours({"jaw_open_mm": 15.0})
    assert d["lower_incisor"][0, 1] > c["lower_incisor"][0, 1] + 6  # jaw opens downwards


def test_rasterize_scales_and_is_fast(geom):
    lab = geom.rasterize(geom.neutral[None], matrix=256, spacing_mm=200 / 256, supersample=1)
    assert lab.shape == (1, 256, 256) and set(np.unique(lab)) == set(LABELS.values())
    x = np.repeat(geom.neutral[None], 120, 0)
    x[:, IDX["jaw_open_mm"]] = np.linspace(2, 18, 120)
    pose = np.random.default_rng(0).normal(0, 0.5, (120, 3))
    geom.rasterize(x[:2], head_pose=pose[:2])  # warm-up (numba compile)
    t0 = time.perf_counter()
    geom.rasterize(x, head_pose=pose)
    ms = (time.perf_counter() - t0) / 120 * 1e3
    assert ms < 6.0, f"{ms:.2f} ms per 252x252 frame"  # ~1 ms measured; loose for shared CPUs


def test_bad_input(geom):
    with pytest.raises(ValueError, match="shape"):
        geom.rasterize(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="head_pose"):
        geom.rasterize(geom.neutral[None], head_pose=np.zeros((2, 3)))
    with pytest.raises(KeyError, match="unknown articulatory"):
        geom.contours({"tongue_size": 1.0})
    with pytest.raises(ValueError, match="n_sections"):
        geom.area_function(geom.neutral[None], n_sections=2)
