"""The air–tissue boundary contour reader, on the shared real USC-TIMIT annotations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from mrisynth.data.sequence import SequenceError
from mrisynth.io.contours import AIR, TISSUE, UNTRACED, read_contours

CLIPS = "data/real-rtmri-contours"


def test_reads_real_annotation(shared_data):
    ann = read_contours(shared_data(f"{CLIPS}/F1_001.mat"))
    assert ann.n_frames == 46
    assert ann.is_traced(0)
    c1 = ann.contours[0]["contour1"]
    assert c1.shape[1] == 2 and len(c1) > 30
    # 0-based (row, col): the upper lip landmark lies near the face's front, mid-height
    ul = ann.landmarks[0]["UL"]
    assert 20 < ul[0] < 35 and 10 < ul[1] < 25
    labels = ann.labels((68, 68))
    assert labels.shape == (46, 68, 68) and set(np.unique(labels)) <= {AIR, TISSUE}
    # the tongue body (below the palate, behind the lips) is tissue; the corner in front of
    # the face is air
    assert labels[0, 40, 30] == TISSUE and labels[0, 60, 2] == AIR


def test_boundary_drops_image_border_closures(shared_data):
    ann = read_contours(shared_data(f"{CLIPS}/F1_001.mat"))
    raw = np.concatenate(list(ann.contours[0].values()))
    kept = np.concatenate(ann.boundary(0))
    assert len(kept) < len(raw)
    # contour3 closes around the image edge at column ~66.6: none of that segment is kept
    on_right_edge = kept[:, 1] > 66.0
    assert not on_right_edge[kept[:, 0] > 5].any()


def test_contours_follow_image_edges(shared_data):
    """The 1-based MATLAB reading: the gradient along the contours is largest with it."""
    from scipy import ndimage

    from mrisynth.io import read_sequence

    frames = read_sequence(
        shared_data(f"{CLIPS}/F2_002.avi"), spacing_mm=2.94, fps=23.18
    ).frames.astype(float)
    ann = read_contours(shared_data(f"{CLIPS}/F2_002.mat"))
    strength = {}
    for shift in (-1.0, 0.0, 1.0):
        vals = []
        for t in range(0, ann.n_frames, 5):
            g = np.hypot(ndimage.sobel(frames[t], 0), ndimage.sobel(frames[t], 1))
            pts = np.concatenate(ann.boundary(t)) + shift
            vals.append(ndimage.map_coordinates(g, pts.T, order=1).mean())
        strength[shift] = np.mean(vals)
    assert strength[0.0] > strength[-1.0] and strength[0.0] > strength[1.0]


def test_every_shared_clip_reads(shared_data):
    folder = shared_data(CLIPS)
    mats = sorted(folder.glob("*.mat"))
    assert len(mats) == 27
    untraced = 0
    for mat in mats:
        ann = read_contours(mat)
        untraced += sum(not ann.is_traced(t) for t in range(ann.n_frames))
    assert 0 < untraced < 20  # a few blank frames exist and are marked, not invented


def _write(path, frames):
    scipy.io.savemat(path, {"annotation": np.array(frames, dtype=object)})


def _square(x0, y0, s=10):
    return np.array([[x0, y0], [x0 + s, y0], [x0 + s, y0 + s], [x0, y0 + s]], float)


def test_synthetic_annotation_and_untraced_frame(tmp_path):
    dt = [(k, object) for k in ("contour1", "contour2", "contour3", "UL")]
    rec = np.zeros(2, dtype=dt)
    rec[0] = (_square(5, 5), _square(30, 30), _square(50, 5), np.array([6.0, 7.0]))
    rec[1] = (np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)))
    scipy.io.savemat(tmp_path / "a.mat", {"annotation": rec})
    ann = read_contours(tmp_path / "a.mat")
    assert ann.is_traced(0) and not ann.is_traced(1)
    lab = ann.labels((68, 68))
    # square from x=5..15, y=5..15 in 1-based coordinates -> rows/cols 4..14 0-based
    assert lab[0, 9, 9] == TISSUE and lab[0, 20, 20] == AIR
    assert (lab[1] == UNTRACED).all()
    assert ann.boundary(1) == []
    np.testing.assert_allclose(ann.landmarks[0]["UL"], [6.0, 5.0])


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(SequenceError, match="not found"):
        read_contours(tmp_path / "missing.mat")
    scipy.io.savemat(tmp_path / "b.mat", {"other": np.zeros(3)})
    with pytest.raises(SequenceError, match="b.mat: no 'annotation'"):
        read_contours(tmp_path / "b.mat")
    dt = [(k, object) for k in ("contour1", "contour2", "contour3")]
    rec = np.zeros(1, dtype=dt)
    rec[0] = (_square(5, 5), _square(30, 30), _square(200, 5))
    scipy.io.savemat(tmp_path / "c.mat", {"annotation": rec})
    with pytest.raises(SequenceError, match="c.mat frame 0 contour3: points span"):
        read_contours(tmp_path / "c.mat")
    (tmp_path / "d.mat").write_text("not matlab")
    with pytest.raises(SequenceError, match="d.mat"):
        read_contours(tmp_path / "d.mat")
