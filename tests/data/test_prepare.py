"""ROI preparation: the automatic ROI follows the moving articulators, outputs are model-ready."""

import numpy as np
import pytest

from mrisynth.data.prepare import PrepareConfig, find_vocal_tract_roi, prepare_sequence
from mrisynth.data.sequence import SpeechMRISequence


def _moving_square_sequence(top, left, t=40, size=80):
    rng = np.random.default_rng(0)
    frames = np.full((t, size, size), 100, np.uint16) + rng.integers(0, 5, (t, size, size)).astype(
        np.uint16
    )
    for k in range(t):  # a bright bar moving up and down inside a 20 px region
        y = top + int(10 + 8 * np.sin(k / 3))
        frames[k, y : y + 3, left : left + 20] = 1000
    return SpeechMRISequence(frames, fps=50.0, spacing_mm=2.0)


def test_auto_roi_is_centred_on_the_motion():
    seq = _moving_square_sequence(top=40, left=50)
    top, left, h, w = find_vocal_tract_roi([seq], size_mm=40.0, top_fraction=0.05)
    assert (h, w) == (20, 20)
    assert 40 <= top + h / 2 <= 62  # motion rows 42..61
    assert 50 <= left + w / 2 <= 70  # motion cols 50..69


def test_auto_roi_ignores_a_small_mover_at_the_border():
    seq = _moving_square_sequence(top=40, left=50)
    frames = seq.frames.copy()
    frames[::2, 0:2, 0:3] = 3000  # a flickering speck in the corner (e.g. skin edge, head motion)
    top, left, h, w = find_vocal_tract_roi([seq.replace(frames=frames)], size_mm=40.0)
    assert 40 <= top + h / 2 <= 62 and 50 <= left + w / 2 <= 70


def test_prepare_sequence_gives_uint8_rois_of_the_model_size():
    seq = _moving_square_sequence(top=10, left=10)
    seq = seq.replace(labels=(seq.frames > 500).astype(np.uint8))
    out = prepare_sequence(seq, (5, 5, 30, 30), PrepareConfig(img_size=64, fps=25.0))
    assert out.frames.dtype == np.uint8 and out.frames.shape[1:] == (64, 64)
    assert out.labels.shape == out.frames.shape
    assert out.fps == 25.0
    assert out.spacing_mm[0] == pytest.approx(30 * 2.0 / 64)
    assert out.frames.max() == 255 and out.frames.min() == 0


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="roi_box_mm"):
        PrepareConfig(roi="fixed")
    with pytest.raises(ValueError, match="percentiles"):
        PrepareConfig(percentiles=(99, 1))


def test_prepare_keeps_the_colours_of_face_video():
    rng = np.random.default_rng(1)
    frames = rng.integers(60, 120, (6, 96, 96, 3), dtype=np.uint8)
    frames[..., 2] = 30  # little blue: a percentile stretch would push it to 0 or 255
    seq = SpeechMRISequence(frames, fps=25.0, spacing_mm=1.0)
    out = prepare_sequence(seq, None, PrepareConfig(img_size=48, source="face"))
    assert out.frames.dtype == np.uint8 and out.frames.shape == (6, 48, 48, 3)
    assert (out.frames[..., 2] == 30).all()
    assert 60 <= out.frames[..., :2].min() and out.frames[..., :2].max() <= 120
    with pytest.raises(ValueError, match="source must be 'mri' or 'face'"):
        PrepareConfig(source="ultrasound")


def test_prepare_a_manifest_of_face_clips_only(tmp_path):
    # an LRS2/VoxCeleb-style folder: the manifest's image_path is each face clip (with audio)
    from mrisynth.data.manifest import ManifestEntry, write_manifest
    from mrisynth.data.prepare import prepare_manifest
    from mrisynth.io import write_mp4

    rng = np.random.default_rng(2)
    frames = np.full((25, 40, 40, 3), (180, 120, 90), np.uint8)  # 1 s of a skin-coloured face
    frames[:, 25:30, 12:28] = rng.integers(0, 60, (25, 5, 16, 3))  # a moving "mouth"
    audio = (0.1 * np.sin(np.arange(16000) * 0.05)).astype(np.float32)
    write_mp4(frames, tmp_path / "clips" / "s1_0001.mp4", fps=25.0, audio=audio, sr=16000)
    manifest = write_manifest(
        [ManifestEntry("s1_0001", "clips/s1_0001.mp4", speaker="s1", split="adapt")],
        tmp_path / "manifest.csv",
    )
    out = prepare_manifest(manifest, tmp_path / "prep", PrepareConfig(img_size=32, source="face"))
    seq = SpeechMRISequence.load(tmp_path / "prep" / "s1" / "s1_0001.npz")
    assert seq.frames.shape == (25, 32, 32, 3) and seq.fps == 25.0
    assert abs(seq.audio_duration_s - 1.0) < 0.1 and seq.sample_rate == 16000
    red, green, blue = (float(seq.frames[:, :10, :, c].mean()) for c in range(3))
    assert abs(red - 180) < 8 and abs(green - 120) < 8 and abs(blue - 90) < 8  # colours kept
    assert "s1/s1_0001.npz" in out.read_text()
