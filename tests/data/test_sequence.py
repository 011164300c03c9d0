"""SpeechMRISequence: validation, exact frame↔audio alignment, ROI, resampling, persistence."""

import numpy as np
import pytest

from mrisynth.data import SequenceError, SpeechMRISequence


def _seq(t=20, h=16, w=12, fps=83.28, sr=16000, offset=0.0, dtype=np.uint16, **kw):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 4000, size=(t, h, w)).astype(dtype)
    n_audio = int(round((t / fps - offset) * sr)) if sr else 0
    audio = rng.standard_normal(max(n_audio, 1)).astype(np.float32) * 0.1 if sr else None
    return SpeechMRISequence(
        frames=frames,
        fps=fps,
        spacing_mm=(2.4, 2.4),
        audio=audio,
        sample_rate=sr,
        audio_offset_s=offset,
        **kw,
    )


@pytest.mark.parametrize("fps", [10.0, 23.18, 27.17, 50.0, 83.28])
@pytest.mark.parametrize("sr", [16000, 20000])
def test_clip_audio_covers_exactly_the_frame_span(fps, sr):
    """Clip k's audio window covers frame k's time span with < 1 sample error."""
    n = 200
    # audio whose value encodes its own time: sample i at time i / sr
    audio_t = np.arange(int(np.ceil(n / fps * sr)) + 10) / sr
    seq = SpeechMRISequence(
        frames=np.zeros((n, 4, 4), np.uint8),
        fps=fps,
        spacing_mm=2.0,
        audio=audio_t.astype(np.float64).astype(np.float32),
        sample_rate=sr,
    )
    for k in range(n):
        a0, a1 = seq.audio_span(k, k + 1)
        assert abs(a0 / sr - k / fps) * sr < 1.0
        assert abs(a1 / sr - (k + 1) / fps) * sr < 1.0
    # consecutive clips tile the audio without gaps or overlaps
    spans = [seq.audio_span(k, k + 7) for k in range(0, n - 7, 7)]
    assert all(b[0] == a[1] for a, b in zip(spans, spans[1:]))
    clips = list(seq.clips(7))
    assert len(clips) == n // 7
    total = sum(len(c.audio) for c in clips)
    assert abs(total - (n // 7) * 7 / fps * sr) < 1.0


def test_audio_offset_shifts_the_window():
    fps, sr = 50.0, 16000
    seq = _seq(t=50, fps=fps, sr=sr, offset=0.1)
    a0, _ = seq.audio_span(10, 11)  # frame 10 starts at 0.2 s; audio starts at 0.1 s
    assert a0 == int(0.1 * sr)
    # before the audio starts, the clip is zero-padded
    first = seq.audio_for_frames(0, 5)
    assert len(first) == int(5 / fps * sr)
    assert np.all(first[: int(0.1 * sr)] == 0)


def test_validation_errors_name_the_problem():
    with pytest.raises(SequenceError, match="frame rate"):
        SpeechMRISequence(np.zeros((2, 3, 3), np.uint8), fps=None, spacing_mm=1.0)
    with pytest.raises(SequenceError, match="spacing"):
        SpeechMRISequence(np.zeros((2, 3, 3), np.uint8), fps=10, spacing_mm=None)
    with pytest.raises(SequenceError, match="NaN"):
        SpeechMRISequence(np.full((2, 3, 3), np.nan, np.float32), fps=10, spacing_mm=1.0)
    with pytest.raises(SequenceError, match="dtype"):
        SpeechMRISequence(np.zeros((2, 3, 3), np.complex64), fps=10, spacing_mm=1.0)
    with pytest.raises(SequenceError, match="empty"):
        SpeechMRISequence(
            np.zeros((2, 3, 3), np.uint8),
            fps=10,
            spacing_mm=1.0,
            audio=np.zeros(0),
            sample_rate=8000,
        )
    with pytest.raises(SequenceError, match="mono"):
        SpeechMRISequence(
            np.zeros((2, 3, 3), np.uint8),
            fps=10,
            spacing_mm=1.0,
            audio=np.zeros((5, 2)),
            sample_rate=8000,
        )
    with pytest.raises(SequenceError, match="labels shape"):
        SpeechMRISequence(
            np.zeros((2, 3, 3), np.uint8),
            fps=10,
            spacing_mm=1.0,
            labels=np.zeros((2, 3, 4), np.uint8),
        )


def test_crop_pixels_and_mm_and_bounds():
    seq = _seq(labels=np.ones((20, 16, 12), np.uint8))
    roi = seq.crop(2, 3, 8, 5)
    assert roi.frames.shape == (20, 8, 5)
    np.testing.assert_array_equal(roi.frames, seq.frames[:, 2:10, 3:8])
    assert roi.labels.shape == (20, 8, 5)
    roi_mm = seq.crop_mm(2 * 2.4, 3 * 2.4, 8 * 2.4, 5 * 2.4)
    np.testing.assert_array_equal(roi_mm.frames, roi.frames)
    with pytest.raises(SequenceError, match="exceeds"):
        seq.crop(10, 0, 10, 5)


def test_resample_keeps_duration_and_field_of_view():
    seq = _seq(t=83, h=84, w=84, fps=83.28, dtype=np.float32)
    out = seq.resample(fps=25.0, spacing_mm=1.2)
    assert out.fps == 25.0
    assert abs(out.duration_s - seq.duration_s) <= 1 / 25.0
    assert out.frames.shape[1:] == (168, 168)
    assert out.spacing_mm[0] * out.height == pytest.approx(seq.spacing_mm[0] * seq.height)
    # constant video stays constant (no interpolation artefacts)
    flat = seq.replace(frames=np.full((10, 8, 8), 7.0, np.float32))
    np.testing.assert_allclose(flat.resample(fps=33.0, spacing_mm=1.0).frames, 7.0, atol=1e-5)


def test_resample_moves_a_bright_bar_linearly_in_time():
    # bar at column k in frame k; at half the frame times the bar sits midway
    frames = np.zeros((8, 4, 8), np.float32)
    for k in range(8):
        frames[k, :, k] = 1.0
    seq = SpeechMRISequence(frames, fps=10, spacing_mm=1.0)
    up = seq.resample(fps=20)
    assert up.n_frames == 16
    centroid = (up.frames.sum(1) * np.arange(8)).sum(1) / up.frames.sum((1, 2))
    assert np.all(np.diff(centroid) > 0)


def test_normalize_is_robust_to_outliers():
    frames = np.full((4, 10, 10), 100, np.uint16)
    frames[:, :5] = 1000
    frames[0, 0, 0] = 60000  # a single hot pixel
    seq = SpeechMRISequence(frames, fps=10, spacing_mm=1.0)
    norm = seq.normalize(1, 99)
    assert norm.frames.dtype == np.float32
    assert norm.frames.min() == 0.0 and norm.frames.max() == 1.0
    assert np.median(norm.frames[:, :5]) == 1.0  # hot pixel did not squash the tissue range
    with pytest.raises(SequenceError, match="percentiles"):
        SpeechMRISequence(np.ones((2, 3, 3), np.uint8), fps=10, spacing_mm=1.0).normalize()


def test_save_load_is_lossless(tmp_path):
    seq = _seq(speaker="spk01", language="ta", utterance_id="u1", transcript="தமிழ்")
    seq = seq.replace(labels=(seq.frames % 9).astype(np.uint8), provenance={"reader": "test"})
    path = seq.save(tmp_path / "x.npz")
    back = SpeechMRISequence.load(path)
    np.testing.assert_array_equal(back.frames, seq.frames)
    assert back.frames.dtype == seq.frames.dtype
    np.testing.assert_array_equal(back.audio, seq.audio)
    np.testing.assert_array_equal(back.labels, seq.labels)
    assert (back.fps, back.spacing_mm, back.sample_rate) == (
        seq.fps,
        seq.spacing_mm,
        seq.sample_rate,
    )
    assert (back.speaker, back.language, back.transcript) == ("spk01", "ta", "தமிழ்")
    assert back.provenance == {"reader": "test"}
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(SequenceError, match="bad.npz"):
        SpeechMRISequence.load(tmp_path / "bad.npz")


def test_rgb_video_is_one_sequence_type_too(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (10, 8, 6, 3), dtype=np.uint8)
    frames[:, :, :, 0] = 200  # a red cast that resampling and saving must keep
    seq = SpeechMRISequence(frames, fps=25.0, spacing_mm=1.0, labels=np.zeros((10, 8, 6), np.uint8))
    assert (seq.channels, seq.height, seq.width) == (3, 8, 6)
    assert seq.summary()["channels"] == 3
    half = seq.resample(fps=12.5, spacing_mm=2.0)
    assert half.frames.shape == (5, 4, 3, 3) and half.labels.shape == (5, 4, 3)
    np.testing.assert_allclose(half.frames[..., 0], 200.0, atol=1e-3)
    assert seq.crop(1, 1, 4, 4).frames.shape == (10, 4, 4, 3)
    back = SpeechMRISequence.load(seq.save(tmp_path / "rgb.npz"))
    np.testing.assert_array_equal(back.frames, frames)
    with pytest.raises(SequenceError, match=r"RGB \(T, H, W, 3\)"):
        SpeechMRISequence(np.zeros((2, 3, 3, 2), np.uint8), fps=10, spacing_mm=1.0)


def test_unknown_fps_and_spacing_only_when_the_provenance_says_so():
    from mrisynth.data.sequence import UNKNOWN

    frames = np.ones((4, 5, 6), np.uint8)
    with pytest.raises(SequenceError, match="pixel spacing is unknown"):
        SpeechMRISequence(frames, fps=10.0, spacing_mm=None)
    with pytest.raises(SequenceError, match="frame rate is unknown"):
        SpeechMRISequence(frames, fps=None, spacing_mm=1.0)
    seq = SpeechMRISequence(
        frames,
        fps=None,
        spacing_mm=None,
        audio=np.zeros(100, np.float32),
        sample_rate=100,
        provenance={"source": "a.avi", "fps_source": UNKNOWN, "spacing_source": UNKNOWN},
    )
    assert seq.replace(speaker="s").spacing_mm is None  # survives copies
    summary = seq.summary()
    assert summary["fps"] is None and summary["duration_s"] is None
    assert "audio_video_mismatch_s" not in summary
    with pytest.raises(SequenceError, match=r"^a\.avi: frame rate unknown.*aligning audio"):
        seq.audio_for_frames(0, 2)
    with pytest.raises(SequenceError, match=r"^a\.avi: pixel spacing unknown.*a crop in mm"):
        seq.crop_mm(0, 0, 2, 2)
    known = seq.replace(fps=5.0, spacing_mm=(2.0, 2.0))
    assert known.require_fps() == 5.0 and known.require_spacing() == (2.0, 2.0)
