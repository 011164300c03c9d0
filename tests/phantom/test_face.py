"""Face video of the phantom: mouth/jaw follow the articulators, blinks and pose are natural
and match what is rendered, identities are diverse and seeded, bad input is rejected."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mrisynth.phantom.face import (
    LANDMARK_INDEX,
    LANDMARK_NAMES,
    MOUTH_INTERIOR_RGB,
    TEETH_RGB,
    FaceIdentity,
    face_scale_px_per_mm,
    render_face,
    sample_blinks,
    sample_face_identity,
)

IDENT = FaceIdentity()


def _still(jaw, ap, width, prot, ident=IDENT, size=96, view="frontal"):
    """Render without blinks or head motion, so only the articulators change."""
    f = lambda v: np.asarray(v, dtype=float)  # noqa: E731
    return render_face(
        f(jaw), f(ap), f(width), f(prot), fps=25.0, identity=ident,
        rng=np.random.default_rng(0), size=size, view=view,
        blink_rate_per_min=0.0, head_motion=False,
    )  # fmt: skip


def _mouth_class(frame: np.ndarray, ident: FaceIdentity) -> np.ndarray:
    """Per-pixel nearest reference colour: 0 skin, 1 lip, 2 mouth interior, 3 teeth."""
    refs = np.array([ident.skin_rgb, ident.lip_rgb, MOUTH_INTERIOR_RGB, TEETH_RGB]) * 255
    d = np.linalg.norm(frame[..., None, :].astype(float) - refs, axis=-1)
    return d.argmin(-1)


def _opening_pixels(video, ident=IDENT) -> np.ndarray:
    """Mouth-interior + teeth pixels in the mouth-centre column between the outer lip mids."""
    out = []
    for k, frame in enumerate(video.frames):
        col = int(round(video.landmark("lip_upper_outer")[k, 0]))
        r0 = int(np.floor(video.landmark("lip_upper_outer")[k, 1]))
        r1 = int(np.ceil(video.landmark("lip_lower_outer")[k, 1])) + 1
        cls = _mouth_class(frame[r0:r1, col : col + 1], ident)
        out.append(int(np.isin(cls, (2, 3)).sum()))
    return np.array(out)


def test_output_shapes_and_landmarks_inside_frame():
    v = _still([3, 8], [2, 10], [45, 40], [0, 2], size=64)
    assert v.frames.shape == (2, 64, 64, 3) and v.frames.dtype == np.uint8
    assert v.landmarks.shape == (2, len(LANDMARK_NAMES), 2) and v.landmarks.dtype == np.float32
    assert v.pose.shape == (2, 3) and v.eyelid_open.shape == (2,)
    assert np.all((v.landmarks >= 0) & (v.landmarks <= 63))
    # Anatomical order: eyes above nose tip above mouth above chin; left/right consistent.
    y = {n: v.landmarks[0, i, 1] for n, i in LANDMARK_INDEX.items()}
    x = {n: v.landmarks[0, i, 0] for n, i in LANDMARK_INDEX.items()}
    assert (
        y["eye_l_upper"] < y["nose_tip"] < y["lip_upper_outer"] < y["lip_lower_outer"] < y["jaw_4"]
    )
    assert x["eye_l_outer"] < x["eye_l_inner"] < x["eye_r_inner"] < x["eye_r_outer"]
    assert x["mouth_l"] < x["mouth_inner_l"] < x["mouth_inner_r"] < x["mouth_r"]


def test_lip_opening_monotonic_and_closed_at_nonpositive_aperture():
    ap = np.array([-3.0, 0.0, 2.0, 5.0, 10.0, 15.0, 20.0])
    v = _still(0.6 * np.clip(ap, 0, None), ap, np.full(7, 45.0), np.zeros(7))
    px = _opening_pixels(v)
    assert px[0] == 0 and px[1] == 0, px  # compression and contact render closed lips
    assert np.all(np.diff(px) >= 0), px
    assert px[-1] >= px[3] + 5, px  # 15 mm more opening is ~5.6 px at 0.377 px/mm
    # The inner-lip landmark gap is exactly the aperture on the face scale (frontal, still head).
    s = face_scale_px_per_mm(96)
    np.testing.assert_allclose(v.mouth_opening_px, np.clip(ap, 0, None) * s, atol=1e-3)
    # The rendered gap agrees with the landmark gap to within the anti-aliased edge pixels.
    assert np.all(np.abs(px - v.mouth_opening_px) <= 2.0), (px, v.mouth_opening_px)


def test_mouth_width_follows_lip_width():
    w = np.array([25.0, 35.0, 45.0, 55.0])
    v = _still(np.full(4, 4.0), np.full(4, 6.0), w, np.zeros(4))
    s = face_scale_px_per_mm(96)
    inner = v.landmark("mouth_inner_r")[:, 0] - v.landmark("mouth_inner_l")[:, 0]
    np.testing.assert_allclose(inner, w * s, atol=1e-3)
    rendered = []
    for k, frame in enumerate(v.frames):
        row = int(round(v.landmark("mouth_inner_l")[k, 1]))
        cls = _mouth_class(frame[row : row + 1], IDENT)[0]
        rendered.append(int((cls >= 1).sum()))  # lip, interior or teeth pixels on that row
    rendered = np.array(rendered)
    assert np.all(np.diff(rendered) > 0), rendered
    # Slope of rendered width vs lip width is the face scale; the offset is the outer corners
    # (+2 mm each side) plus anti-aliased end pixels.
    slope, offset = np.polyfit(w, rendered, 1)
    assert slope == pytest.approx(s, rel=0.15)
    assert 0 < offset < 4.0 * s + 4


def test_protrusion_darkens_and_thickens_lips():
    v = _still([3, 3], [0, 0], [40, 40], [0, 10])
    s = face_scale_px_per_mm(96)
    thick = v.landmark("lip_lower_outer")[:, 1] - v.landmark("lip_upper_outer")[:, 1]
    expect = (IDENT.upper_lip_mm + IDENT.lower_lip_mm) * 0.5 * s  # 5 %/mm thickening
    assert thick[1] - thick[0] == pytest.approx(expect, abs=0.3)
    col = int(round(v.landmark("lip_upper_outer")[0, 0]))
    y0, y1 = (int(round(v.landmark(n)[0, 1])) for n in ("lip_upper_outer", "lip_lower_outer"))
    lips = v.frames[:, y0 + 1 : y1, col].astype(float).mean(axis=(1, 2))
    assert lips[1] < lips[0]


def test_jaw_drop_moves_chin_down():
    jaw = np.array([0.0, 8.0, 16.0])
    v = _still(jaw, np.zeros(3), np.full(3, 45.0), np.zeros(3))
    chin = v.landmark("jaw_4")[:, 1]
    s = face_scale_px_per_mm(96)
    np.testing.assert_allclose(np.diff(chin), 8.0 * 1.15 * s, atol=0.05)
    # Jaw-angle landmarks move less than the chin (rotation about the condyle).
    assert np.all(np.diff(v.landmark("jaw_1")[:, 1]) < np.diff(chin))
    # Rendered: rows just below the resting chin turn from neck shadow into face skin.
    col = int(round(v.landmark("jaw_4")[0, 0]))
    r = int(np.ceil(chin[0])) + 2
    lum = v.frames[:, r : r + 3, col].astype(float).mean(axis=(1, 2))
    assert lum[2] > lum[0] + 10


def test_blinks_natural_rate_and_duration():
    for seed in range(5):
        eyelid, blinks = sample_blinks(1500, 25.0, 20.0, np.random.default_rng(seed))
        assert 10 <= len(blinks) <= 33, (seed, len(blinks))  # per 60 s
        dur = np.array([e - s for s, e in blinks])
        assert np.all((dur >= 0.1) & (dur <= 0.4))
        assert np.all(np.diff(np.ravel(blinks)) > 0)  # ordered, non-overlapping
        assert eyelid.min() < 0.5 and eyelid.max() == 1.0
    # Closing is faster than opening: sampled finely, the closed instant comes before mid-blink.
    fps = 1000.0
    eyelid, blinks = sample_blinks(10000, fps, 30.0, np.random.default_rng(1))
    for start, end in blinks:
        if end < 10.0:
            k = np.arange(int(start * fps), int(end * fps))
            t_min = (k[np.argmin(eyelid[k])] + 0.5) / fps
            assert (t_min - start) / (end - start) == pytest.approx(0.41, abs=0.02)
    # Blinks live in continuous time, so a 60 s render at a low frame rate shows the same rate.
    v = render_face(
        *np.zeros((4, 300)) + np.array([[3], [2], [45], [0]]), fps=5.0, identity=IDENT,
        rng=np.random.default_rng(3),
    )  # fmt: skip
    assert 10 <= len(v.blinks) <= 33


def test_eyelid_ground_truth_matches_rendered_eye():
    T = 250
    v = render_face(
        np.full(T, 3.0), np.full(T, 2.0), np.full(T, 45.0), np.zeros(T), fps=25.0,
        identity=IDENT, rng=np.random.default_rng(5), blink_rate_per_min=30.0, head_motion=False,
    )  # fmt: skip
    assert v.eyelid_open.min() < 0.3
    x0, x1 = v.landmark("eye_l_outer")[0, 0], v.landmark("eye_l_inner")[0, 0]
    y0 = v.landmark("eye_l_upper")[0, 1] - 1
    y1 = v.landmark("eye_l_lower")[0, 1] + 1
    box = v.frames[:, int(y0) : int(np.ceil(y1)) + 1, int(x0) : int(np.ceil(x1)) + 1]
    skin = np.array(IDENT.skin_rgb) * 255
    # Visible eye (sclera + iris) = how far the eye box is from plain skin.
    visible = np.abs(box.astype(float) - skin).mean(axis=(1, 2, 3))
    assert np.corrcoef(visible, v.eyelid_open)[0, 1] > 0.9
    dark = box.astype(float).mean(axis=-1).min(axis=(1, 2))  # pupil visible only when open
    assert dark[v.eyelid_open > 0.95].max() < dark[v.eyelid_open < 0.2].min()


def test_pose_ground_truth_matches_landmark_motion():
    T = 400
    v = render_face(
        np.full(T, 3.0), np.full(T, 2.0), np.full(T, 45.0), np.zeros(T), fps=25.0,
        identity=IDENT, rng=np.random.default_rng(11), blink_rate_per_min=0.0,
    )  # fmt: skip
    yaw, pitch, roll = v.pose.T
    assert 0.5 < np.std(yaw) < 6 and np.abs(v.pose).max() < 10
    assert np.abs(np.diff(v.pose, axis=0)).max() < 1.5  # smooth: < 1.5 deg per 40 ms frame
    face_mid = 0.5 * (v.landmark("jaw_0")[:, 0] + v.landmark("jaw_8")[:, 0])
    nose_shift = v.landmark("nose_tip")[:, 0] - face_mid
    assert np.corrcoef(nose_shift, yaw)[0, 1] > 0.95
    d = v.landmark("eye_r_outer") - v.landmark("eye_l_outer")
    eye_angle = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    np.testing.assert_allclose(eye_angle, roll, atol=0.6)
    eye_y = 0.5 * (v.landmark("eye_l_lower")[:, 1] + v.landmark("eye_r_lower")[:, 1])
    nose_up = eye_y - v.landmark("nose_tip")[:, 1]
    assert np.corrcoef(nose_up, pitch)[0, 1] > 0.9  # pitch > 0 tips the nose up


def test_three_quarter_view_turns_features_right():
    f = _still([3], [2], [45], [0])
    q = _still([3], [2], [45], [0], view="three_quarter")
    assert q.pose[0, 0] == pytest.approx(30.0)
    assert q.landmark("nose_tip")[0, 0] > f.landmark("nose_tip")[0, 0] + 5

    # Rendered: the dark eye pixels (pupils, lashes) between brows and nose tip move right too.
    def dark_cx(v):
        r0 = int(v.landmark("brow_l")[0, 1]) + 2
        r1 = int(v.landmark("nose_tip")[0, 1]) - 3
        c0, c1 = int(v.landmark("jaw_0")[0, 0]) + 3, int(v.landmark("jaw_8")[0, 0]) - 3
        ys, xs = np.nonzero(v.frames[0, r0:r1, c0:c1].mean(axis=-1) < 60)
        return xs.mean() + c0

    assert dark_cx(q) > dark_cx(f) + 3


def test_identities_differ_and_cover_skin_tones():
    ids = [sample_face_identity(np.random.default_rng(s)) for s in range(60)]
    lum = np.array([np.dot(i.skin_rgb, (0.299, 0.587, 0.114)) for i in ids])
    assert lum.max() - lum.min() > 0.45  # from very light to very dark skin
    assert ids[0] != ids[1] and ids[0] == sample_face_identity(np.random.default_rng(0))
    assert len({round(i.aspect_ratio, 5) for i in ids}) > 50
    a = _still([3], [5], [45], [0], ident=ids[0])
    b = _still([3], [5], [45], [0], ident=ids[1])
    assert np.abs(a.frames.astype(int) - b.frames.astype(int)).mean() > 10


def test_deterministic_per_seed():
    args = (np.full(30, 3.0), np.linspace(0, 10, 30), np.full(30, 45.0), np.zeros(30))
    kw = dict(fps=25.0, identity=IDENT, blink_rate_per_min=30.0)
    a = render_face(*args, rng=np.random.default_rng(7), **kw)
    b = render_face(*args, rng=np.random.default_rng(7), **kw)
    c = render_face(*args, rng=np.random.default_rng(8), **kw)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert a.blinks == b.blinks
    assert not np.array_equal(a.pose, c.pose)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(lip_width_mm=np.full(4, 45.0)), "lengths differ"),
        (dict(jaw_open_mm=np.array([1.0, np.nan, 2.0])), "jaw_open_mm contains NaN"),
        (dict(size=31), "size must be an integer >= 32"),
        (dict(view="profile"), "view must be"),
        (dict(fps=0.0), "fps must be"),
        (dict(lip_width_mm=np.array([45.0, 0.0, 45.0])), "lip_width_mm must be > 0"),
        (dict(lip_aperture_mm=np.zeros((3, 1))), "lip_aperture_mm must be a non-empty 1-D"),
        (dict(blink_rate_per_min=-1.0), "blink_rate_per_min"),
    ],
)
def test_bad_input_raises(change, message):
    kw = dict(
        jaw_open_mm=np.zeros(3), lip_aperture_mm=np.zeros(3), lip_width_mm=np.full(3, 45.0),
        lip_protrusion_mm=np.zeros(3), fps=25.0, identity=IDENT, rng=np.random.default_rng(0),
    )  # fmt: skip
    kw.update(change)
    with pytest.raises(ValueError, match=message):
        render_face(**kw)


@pytest.mark.slow
def test_speed_at_least_200_fps():
    T = 500
    t = np.arange(T) / 25
    args = (6 + 5 * np.sin(12 * t), 8 + 10 * np.sin(19 * t), 40 + 8 * np.sin(t), 3 * np.cos(t))
    t0 = time.process_time()
    render_face(*args, fps=25.0, identity=IDENT, rng=np.random.default_rng(0))
    assert T / (time.process_time() - t0) >= 200
