"""PNG frame folders (8/16-bit) and video (MP4/AVI) round trips and previews."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
from io_factories import make_sequence

from mrisynth.data.sequence import SequenceError, SpeechMRISequence
from mrisynth.io import (
    read_sequence,
    write_gif,
    write_mp4,
    write_png_strip,
    write_sequence,
)


@pytest.mark.parametrize("dtype, bits", [(np.uint8, 8), (np.uint16, 16)])
def test_png_round_trip_bit_exact(tmp_path, dtype, bits):
    seq = make_sequence(t=5, dtype=dtype)
    write_sequence(seq, tmp_path / "png", format="png", bit_depth=bits)
    back = read_sequence(tmp_path / "png")
    assert back.frames.dtype == dtype
    np.testing.assert_array_equal(back.frames, seq.frames)
    assert back.fps == seq.fps and back.spacing_mm == seq.spacing_mm
    np.testing.assert_array_equal(back.audio, seq.audio)
    assert back.provenance["fps_source"] == "sidecar"


def test_png_needs_fps_and_spacing(tmp_path):
    # ATR-503 style: 16-bit 256x256 frames, nothing else known
    folder = tmp_path / "atr"
    folder.mkdir()
    frames = np.random.default_rng(0).integers(0, 65535, (3, 256, 256)).astype(np.uint16)
    for k in (0, 1, 2):
        iio.imwrite(folder / f"img{k + 1}.png", frames[k])
    with pytest.raises(SequenceError, match=r"atr: frame rate unknown.*pass fps="):
        read_sequence(folder)
    with pytest.raises(SequenceError, match=r"atr: pixel spacing unknown.*spacing_mm="):
        read_sequence(folder, fps=27.17)
    seq = read_sequence(folder, fps=27.17, spacing_mm=1.0)
    np.testing.assert_array_equal(seq.frames, frames)
    (folder / "sequence.json").write_text(json.dumps({"fps": 27.17, "spacing_mm": 1.0}))
    assert read_sequence(folder).fps == 27.17
    (folder / "sequence.json").write_text(json.dumps({"fsp": 27.17}))
    with pytest.raises(ValueError, match="unknown sidecar keys"):
        read_sequence(folder)


def test_png_natural_order_rgb_and_bad_files(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    for k in (2, 10, 1):
        iio.imwrite(folder / f"f{k}.png", np.full((4, 5, 3), k, np.uint8))  # grey RGB
    seq = read_sequence(folder, fps=10, spacing_mm=1)
    assert seq.frames[:, 0, 0].tolist() == [1, 2, 10]
    iio.imwrite(folder / "f11.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(SequenceError, match=r"p/f11\.png: frame \(5, 5\)"):
        read_sequence(folder, fps=10, spacing_mm=1)
    (folder / "f11.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(SequenceError, match=r"p/f11\.png: unreadable PNG"):
        read_sequence(folder, fps=10, spacing_mm=1)


def _smooth_uint8(t=30, h=21, w=19):
    yy, xx = np.mgrid[:h, :w]
    return np.stack([128 + 100 * np.sin(xx / 4 + k / 5) * np.cos(yy / 5) for k in range(t)]).astype(
        np.uint8
    )


def test_mp4_round_trip_with_audio(tmp_path):
    fps, sr = 23.18, 16000
    frames = _smooth_uint8()
    n = int(len(frames) / fps * sr)
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / sr)).astype(np.float32)
    audio[6000:6100] = 0.9  # a click to measure the A/V lag
    seq = SpeechMRISequence(frames=frames, fps=fps, spacing_mm=1.5, audio=audio, sample_rate=sr)
    write_mp4(seq, tmp_path / "v.mp4")
    back = read_sequence(tmp_path / "v.mp4", spacing_mm=1.5)
    assert back.frames.shape == (30, 22, 20)  # odd sizes padded to even
    err = np.abs(back.frames[:, :21, :19].astype(int) - frames.astype(int))
    assert err.mean() < 2.0 and err.max() <= 12  # H.264 crf 12 tolerance (grey levels)
    assert back.fps == pytest.approx(fps, rel=1e-3)
    assert back.sample_rate == sr
    assert abs(back.audio_duration_s - seq.duration_s) < 1 / fps + 0.03
    lag = np.argmax(np.abs(back.audio)) - 6000
    assert abs(lag) < 0.005 * sr  # audio stays aligned within 5 ms


def test_avi_and_previews(tmp_path):
    import imageio_ffmpeg

    frames = _smooth_uint8(t=8, h=68, w=68)
    w = imageio_ffmpeg.write_frames(
        str(tmp_path / "u.avi"), (68, 68), pix_fmt_in="gray", pix_fmt_out="gray",
        fps=23.18, codec="ffv1", macro_block_size=1, ffmpeg_log_level="error",
    )  # fmt: skip
    w.send(None)
    for f in frames:
        w.send(f.tobytes())
    w.close()
    seq = read_sequence(tmp_path / "u.avi", spacing_mm=2.9)
    np.testing.assert_array_equal(seq.frames, frames)  # ffv1 is lossless
    assert seq.fps == pytest.approx(23.18, rel=1e-3) and seq.audio is None
    write_gif(seq, tmp_path / "p.gif", fps=seq.fps)
    assert iio.imread(tmp_path / "p.gif").shape[:3] == (8, 68, 68)
    write_png_strip(seq, tmp_path / "s.png", n=4)
    assert iio.imread(tmp_path / "s.png").shape == (68, 4 * 68)
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 64)
    with pytest.raises(SequenceError, match=r"bad\.mp4: not a readable video"):
        read_sequence(tmp_path / "bad.mp4", fps=1, spacing_mm=1)


def test_rgb_face_video_mp4_keeps_colour(tmp_path):
    """RGB frames (the face-video path) are written in colour, not converted to grey."""
    frames = np.zeros((12, 32, 32, 3), np.uint8)
    frames[..., 0] = 200  # red square on a blue background
    frames[:, 8:24, 8:24] = (30, 60, 220)
    path = write_mp4(frames, tmp_path / "face.mp4", fps=25.0)
    back = np.stack(list(iio.imiter(path)))
    assert back.shape == (12, 32, 32, 3)
    assert abs(float(back[:, 2:6, 2:6, 0].mean()) - 200) < 12
    assert float(back[:, 12:20, 12:20, 2].mean()) > 180
