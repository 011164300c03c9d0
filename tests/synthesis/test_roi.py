"""ROI placement (temporal variance, the single-frame face-profile rule) and seamless paste-back."""

from __future__ import annotations

import numpy as np
import pytest
from synth_inputs import FOV_MM, REAL_FRAME, needs

from mrisynth.data.intensity import percentile_scale
from mrisynth.phantom.labels import LABELS
from mrisynth.synthesis.roi import (
    FEATHER_MODEL_PX,
    PasteBack,
    blend_weight,
    border_jump,
    check_roi,
    find_reference_roi,
    find_roi_in_frame,
    resize_frames,
    roi_from_mm,
    speaker_roi_mm,
)

#: Articulators the vocal-tract box must hold (phantom ground truth).
ARTICULATORS = [LABELS["tongue"], LABELS["lips"], LABELS["velum"]]


def _inside(box, points_rc: np.ndarray) -> float:
    t, left, h, w = box
    r, c = points_rc[:, 0], points_rc[:, 1]
    return float(np.mean((r >= t) & (r < t + h) & (c >= left) & (c < left + w)))


@pytest.fixture(scope="module")
def phantom_speakers():
    """Three phantom speakers (other anatomies than the shared clip's), two frames each."""
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    out = []
    for spk in (1, 3, 5):
        utt = Utterance(f"u{spk}", f"spk{spk:02d}", spk, "en", spk, "test", spk + 1)
        seq = synthesize_utterance(PhantomConfig(face=False), utt)["sequence"]
        out.append(seq)
    return out


def test_single_frame_box_holds_the_phantom_articulators(phantom_speakers):
    fractions = []
    for seq in phantom_speakers:
        for k in (5, seq.n_frames // 2):
            box = find_roi_in_frame(seq.frames[k], seq.spacing_mm, FOV_MM)
            assert box[2:] == (50, 50)  # 120 mm at 2.4 mm/px
            check_roi(box, seq.frames.shape[1:], "phantom")
            fractions.append(_inside(box, np.argwhere(np.isin(seq.labels[k], ARTICULATORS))))
    # tongue, lips and velum: on average nearly all inside, never less than three quarters
    assert np.mean(fractions) >= 0.93 and min(fractions) >= 0.75, fractions


def test_clip_uses_temporal_variance_and_a_short_clip_the_spatial_rule(phantom_clip):
    box, method = find_reference_roi(phantom_clip, FOV_MM)
    assert method == "temporal variance" and box[2:] == (50, 50)
    frac = _inside(box, np.argwhere(np.isin(phantom_clip.labels[60], ARTICULATORS)))
    assert frac >= 0.9
    short = phantom_clip.clip(0, 4)
    box1, method1 = find_reference_roi(short, FOV_MM)
    assert method1 == "face profile" and box1[2:] == (50, 50)
    assert _inside(box1, np.argwhere(np.isin(short.labels[0], ARTICULATORS))) >= 0.9


#: Hand-marked points (row, col) of the real /a/ frame (513 px, face left): upper lip, lower
#: lip, oral cavity, tongue dorsum, pharynx (between tongue root and spine), velum.
A_VOCAL_TRACT = np.array([[210, 90], [270, 115], [215, 170], [265, 190], [260, 234], [200, 220]])
#: Its pixel spacing is not recorded: 0.5 mm/px (about 256 mm over 513 px) puts lips-to-
#: pharynx at ~85 mm, an adult's; the rule is checked at ±10 % too.
A_SPACING_MM = 0.5


def _real_frame() -> np.ndarray:
    from PIL import Image

    return np.array(Image.open(needs(REAL_FRAME)).convert("L"))


def _outside_head(frame: np.ndarray) -> np.ndarray:
    """The test's own rule for the air around the head: dark (below the 40th percentile after a
    3-px blur) and connected to the frame's border once narrow necks (the open lips) are cut by
    an opening with a 6-px disk."""
    from scipy import ndimage
    from skimage.morphology import disk

    g = ndimage.gaussian_filter(frame.astype(float), 3)
    dark = ndimage.binary_opening(g < np.percentile(g, 40), structure=disk(6))
    lab, _ = ndimage.label(dark)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    return np.isin(lab, edge[edge > 0])


@pytest.mark.parametrize("spacing", [A_SPACING_MM * 0.9, A_SPACING_MM, A_SPACING_MM * 1.1])
def test_single_frame_box_on_the_real_a_frame(spacing):
    frame = _real_frame()
    box = find_roi_in_frame(frame, (spacing, spacing), FOV_MM)
    side = round(FOV_MM / spacing)
    assert box[2:] == (side, side)
    check_roi(box, frame.shape, "aa_rtmri.png")  # inside the frame
    assert _inside(box, A_VOCAL_TRACT) == 1.0  # lips, oral cavity, tongue, velum, pharynx
    # mostly head: the air in front of the face and below the chin stays a minority (the box
    # shifted 60 px down or left holds 43 % and 56 %)
    t, left, h, w = box
    assert _outside_head(frame)[t : t + h, left : left + w].mean() < 0.4


def test_no_head_is_one_clear_error():
    with pytest.raises(ValueError, match="flat.png: no head found"):
        find_roi_in_frame(np.zeros((64, 64)), (2.0, 2.0), FOV_MM, source="flat.png")


def test_boxes_in_mm_and_checks(tmp_path):
    assert roi_from_mm((24.0, 12.0, 120.0, 120.0), (2.4, 2.4)) == (10, 5, 50, 50)
    with pytest.raises(ValueError, match="ref.nii.gz: ROI .* does not fit in the 84x84 px"):
        check_roi((40, 0, 50, 50), (84, 84), "ref.nii.gz")
    assert speaker_roi_mm(tmp_path) is None
    (tmp_path / "roi.json").write_text('{"roi_mm": [24, 12, 120, 120]}')
    assert speaker_roi_mm(tmp_path) == (24.0, 12.0, 120.0, 120.0)
    (tmp_path / "roi.json").write_text('{"roi_px": [1, 2]}')
    with pytest.raises(ValueError, match="roi.json: expected"):
        speaker_roi_mm(tmp_path)


def test_resize_frames_keeps_size_and_averages_when_shrinking():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.5, 0.2, (2, 200, 200)).astype(np.float32)
    small = resize_frames(noise, (40, 40))
    assert small.shape == (2, 40, 40) and small.dtype == np.float32
    # 5x smaller with anti-aliasing: the pixel noise averages out (aliased picking keeps it)
    assert small.std() < 0.5 * noise.std()
    assert np.array_equal(resize_frames(noise, (200, 200)), noise)


def test_blend_weight_is_one_on_the_mask_and_zero_on_the_box_edge():
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    w = blend_weight((50, 50), mask)
    assert w.shape == (50, 50) and w.dtype == np.float32
    assert w[25, 25] == pytest.approx(1.0)
    assert np.all(w[0] == 0) and np.all(w[-1] == 0) and np.all(w[:, 0] == 0)
    assert 0.0 <= w.min() and w.max() <= 1.0
    # smooth: no step between neighbours larger than the feather allows (1.5/width per px:
    # smoothstep's steepest slope), widths in box pixels
    per_px = 1.5 / (FEATHER_MODEL_PX * 50 / 32)
    assert np.abs(np.diff(w, axis=0)).max() <= per_px + 1e-6
    full = blend_weight((50, 50), np.ones((32, 32), bool))
    assert full[25, 25] == 1.0 and full[0, 25] == 0.0


def _prepared_roi(frames: np.ndarray, box, size: int, scale=None):
    t, left, h, w = box
    crop = frames[:, t : t + h, left : left + w].astype(np.float32)
    small = resize_frames(crop, (size, size))
    if scale is None:
        return percentile_scale(small, 1.0, 99.5)
    lo, hi = scale
    return np.clip((small - lo) / (hi - lo), 0, 1), scale


#: Seam tolerance: the paste-back may add at most this share of the reference's intensity
#: range (its 1st..99.5th percentiles) to the mean step across any contour in the blend zone.
SEAM_TOLERANCE = 0.02


def test_paste_back_leaves_no_seam(phantom_clip):
    """Reference frames of one moment, the ROI of another moment of the same speaker standing in
    for a good generator's output (other articulation, same anatomy), pasted with a mask that
    covers the whole ROI: the step across every contour from the box edge to the end of the
    feather stays within the tolerance of the reference's own."""
    frames = phantom_clip.frames.astype(np.float32)
    box, _ = find_reference_roi(phantom_clip, FOV_MM)
    ref = frames[20:30]
    _, scale = _prepared_roi(ref, box, 32)
    other, _ = _prepared_roi(frames[90:100], box, 32, scale)  # /another/ moment, same scaling
    paste = PasteBack.for_model(box, np.ones((32, 32), bool), scale)
    out = paste(ref, other)
    assert out.shape == ref.shape and np.array_equal(out[:, :, :2], ref[:, :, :2])
    tol = SEAM_TOLERANCE * (scale[1] - scale[0])
    feather_px = int(np.ceil(FEATHER_MODEL_PX * box[2] / 32))
    for inset in range(feather_px + 2):
        assert border_jump(out, box, inset) <= border_jump(ref, box, inset) + tol, inset
    # the synthesized content is really in: the box's centre changed by more than the tolerance
    t, left, h, w = box
    centre = (slice(None), slice(t + h // 3, t + 2 * h // 3), slice(left + w // 3, left + w // 2))
    assert np.abs(out[centre] - ref[centre]).mean() > tol


def test_the_seam_measure_catches_a_hard_paste(phantom_clip):
    frames = phantom_clip.frames[20:30].astype(np.float32)
    box, _ = find_reference_roi(phantom_clip, FOV_MM)
    _, scale = _prepared_roi(frames, box, 32)
    flat = np.full((len(frames), 32, 32), 0.5, np.float32)  # an untrained generator's grey
    hard = PasteBack(box, np.ones(box[2:], np.float32), scale)(frames, flat)
    tol = SEAM_TOLERANCE * (scale[1] - scale[0])
    assert border_jump(hard, box) > border_jump(frames, box) + tol
    soft = PasteBack.for_model(box, np.ones((32, 32), bool), scale)(frames, flat)
    assert border_jump(soft, box) <= border_jump(frames, box) + tol


def test_border_jump_by_hand():
    f = np.zeros((1, 6, 6))
    f[:, 1:5, 1:5] = 1.0  # a bright square: every pair across its border steps by 1
    assert border_jump(f, (1, 1, 4, 4)) == 1.0
    assert border_jump(f, (1, 1, 4, 4), inset=1) == 0.0
    assert border_jump(f, (0, 0, 6, 3)) == 0.0  # only the right side: 0|0 and 1|1 pairs
    with pytest.raises(ValueError, match="whole frame"):
        border_jump(f, (0, 0, 6, 6))
