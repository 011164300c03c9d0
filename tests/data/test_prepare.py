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


def test_prepare_needs_spacing_and_takes_it_from_a_dataset_preset(tmp_path, capsys):
    import json

    from mrisynth.cli.main import main
    from mrisynth.data.manifest import ManifestEntry, write_manifest
    from mrisynth.io import write_sequence

    # a recording that states its frame rate but not its spacing (as an AVI), plus a brighter
    # non-steady-state start of 12 frames
    seq = _moving_square_sequence(top=20, left=20, t=60, size=68)
    frames = seq.frames.astype(np.float64)
    frames[:12] *= 1.8
    write_sequence(seq.replace(frames=frames.astype(np.uint16)), tmp_path / "rec", format="png")
    (tmp_path / "rec" / "sequence.json").write_text(json.dumps({"fps": 50.0}))
    manifest = write_manifest([ManifestEntry("r1", "rec", speaker="s1")], tmp_path / "m.csv")
    args = ["prepare", "--manifest", str(manifest), "--set", "img_size=32", "roi=full"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "rec: pixel spacing unknown" in err and "--dataset" in err
    assert main([*args, "--out", str(tmp_path / "b"), "--dataset", "nope"]) == 2
    assert "unknown dataset preset 'nope'; known: usc-span, usc-timit, usc75" in (
        capsys.readouterr().err
    )
    out = tmp_path / "c"
    trim = ["--set", "trim_transient=true", "--dataset", "usc-timit"]
    assert main([*args, *trim, "--out", str(out)]) == 0
    prepared = SpeechMRISequence.load(out / "s1" / "r1.npz")
    assert prepared.provenance["spacing_source"] == "dataset preset usc-timit"
    assert prepared.provenance["fps_source"] == "sidecar"  # the recording's own value wins
    # a step ends within half a smoothing window (13 frames at 50 fps) after frame 12
    assert 12 <= prepared.provenance["transient_frames"] <= 12 + 7
    assert prepared.n_frames == 60 - prepared.provenance["transient_frames"]
    assert prepared.spacing_mm == pytest.approx((68 * 200 / 68 / 32,) * 2)
    # a manifest 'dataset' column names the preset per row
    write_manifest([ManifestEntry("r1", "rec", speaker="s1", extra={"dataset": "usc75"})], manifest)
    assert main([*args, "--out", str(tmp_path / "d")]) == 0
    prepared = SpeechMRISequence.load(tmp_path / "d" / "s1" / "r1.npz")
    assert prepared.provenance["spacing_source"] == "dataset preset usc75"
    assert prepared.n_frames == 60
    assert any("differs from the usc75 preset" in w for w in prepared.provenance["warnings"])
