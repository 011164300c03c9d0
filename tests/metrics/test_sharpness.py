"""CPBD: hand-computed edge widths, the just-noticeable-blur rule, monotonic in blur."""

import numpy as np
import pytest
from skimage.data import camera
from skimage.filters import gaussian

from mrisynth.metrics.sharpness import cpbd, edge_widths, mouth_box, mouth_sharpness
from mrisynth.phantom.face import LANDMARK_INDEX, render_face, sample_face_identity


def _ramp(width, contrast, n=32, vertical=False):
    """A straight edge from 50 to 50 + contrast whose linear ramp spans ``width`` px."""
    x = np.arange(n) - n / 2
    if width == 0:
        profile = 50.0 + contrast * (x >= 0)
    else:
        profile = 50.0 + contrast * np.clip((x + width / 2) / width, 0, 1)
    img = np.tile(profile, (n, 1))
    return (img.T if vertical else img).astype(np.uint8)


@pytest.mark.parametrize(
    ("width", "contrast", "expected"),
    [
        (0, 200, 1.0),  # a step: width 1 <= w_JNB 3
        (2, 200, 1.0),
        (4, 200, 0.0),  # width 4 > 3 at high contrast: blur noticed
        (4, 40, 1.0),  # the same width at contrast <= 50: w_JNB 5, not noticed
        (6, 40, 0.0),
    ],
)
def test_edge_width_and_jnb_rule(width, contrast, expected):
    for vertical in (False, True):  # widths are measured across the edge, either way
        img = _ramp(width, contrast, vertical=vertical)
        rows, cols, widths = edge_widths(img)
        assert len(rows) > 0 and np.all(widths == max(width, 1))
        assert cpbd(img) == expected


def test_flat_image_is_nan_and_bad_input_raises():
    assert np.isnan(cpbd(np.full((32, 32), 100, np.uint8)))
    with pytest.raises(ValueError, match="must be"):
        cpbd(np.zeros((4, 4, 2)))


def test_blur_lowers_cpbd_monotonically():
    img = camera()[100:300, 100:300]
    scores = [cpbd(img)] + [
        cpbd(gaussian(img, s, preserve_range=True).astype(np.uint8)) for s in (0.5, 1.0, 1.5, 2.0)
    ]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] > 0.6 and scores[-1] < 0.45


def _face(size, n=6):
    rng = np.random.default_rng(0)
    return render_face(
        rng.uniform(0, 12, n), rng.uniform(2, 15, n), rng.uniform(25, 45, n), np.zeros(n),
        fps=25.0, identity=sample_face_identity(np.random.default_rng(1)), rng=rng, size=size,
    )  # fmt: skip


def test_mouth_sharpness_drops_with_blur_on_a_96px_face():
    video = _face(96)
    scores = []
    for s in (0.0, 0.5, 1.0, 1.5, 2.0):
        frames = video.frames
        if s:
            frames = np.stack(
                [(gaussian(f, s, channel_axis=-1, preserve_range=True) + 0.5) for f in frames]
            ).astype(np.uint8)
        scores.append(np.nanmean(mouth_sharpness(frames, video.landmarks)))
    assert all(a > b for a, b in zip(scores, scores[1:])), scores


def test_mouth_box_spans_the_lips():
    video = _face(96, n=2)
    box = mouth_box(video.landmarks, (96, 96))
    corners = video.landmarks[:, [LANDMARK_INDEX["mouth_l"], LANDMARK_INDEX["mouth_r"]]]
    assert np.all(box[:, 2] < corners[:, 0, 0]) and np.all(box[:, 3] > corners[:, 1, 0])
    lm = video.landmarks.copy()
    lm[1] = np.nan
    assert np.all(mouth_box(lm, (96, 96))[1] == -1)
    assert np.isnan(mouth_sharpness(video.frames, lm)[1])
    with pytest.raises(ValueError, match="2 frames but 1"):
        mouth_sharpness(video.frames, lm[:1])


def test_registry_entry():
    from mrisynth.evaluation.metrics_registry import metric

    m = metric("mouth_cpbd")
    assert (m.group, m.direction) == ("face", "max")
