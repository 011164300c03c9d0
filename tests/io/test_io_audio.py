"""Audio reading/writing: formats, resampling, mono mix-down and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from mrisynth.io.audio import AudioError, read_audio, write_audio

SR = 16000


def _tone(n=SR // 2, f=440.0, sr=SR):
    return (0.5 * np.sin(2 * np.pi * f * np.arange(n) / sr)).astype(np.float32)


def test_wav_round_trip_is_exact(tmp_path):
    x = _tone()
    write_audio(tmp_path / "a.wav", x, SR)
    y, sr = read_audio(tmp_path / "a.wav")
    assert sr == SR and y.dtype == np.float32
    np.testing.assert_array_equal(y, x)


def test_flac_stereo_mixdown_and_resample(tmp_path):
    x = _tone()
    sf.write(tmp_path / "s.flac", np.stack([x, 0.5 * x], axis=1), SR, subtype="PCM_16")
    y, sr = read_audio(tmp_path / "s.flac")
    np.testing.assert_allclose(y, 0.75 * x, atol=1e-4)  # 16-bit quantisation
    z, sr2 = read_audio(tmp_path / "s.flac", target_sr=8000)
    assert sr2 == 8000 and abs(len(z) - len(x) // 2) <= 1
    # a 440 Hz tone keeps its frequency after resampling
    spec = np.abs(np.fft.rfft(z))
    assert np.fft.rfftfreq(len(z), 1 / 8000)[np.argmax(spec)] == pytest.approx(440, abs=4)


def test_mp3_is_read(tmp_path):
    x = _tone(n=SR)
    sf.write(tmp_path / "a.mp3", x, SR, format="MP3")
    y, sr = read_audio(tmp_path / "a.mp3")
    assert sr == SR
    assert abs(len(y) - len(x)) < 0.1 * SR  # MP3 adds encoder padding
    assert 0.3 < np.abs(y).max() < 0.7


def test_m4a_via_ffmpeg(tmp_path):
    import subprocess

    import imageio_ffmpeg

    write_audio(tmp_path / "a.wav", _tone(n=SR), SR)
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(tmp_path / "a.wav"),
         "-c:a", "aac", str(tmp_path / "a.m4a")],
        check=True,
    )  # fmt: skip
    y, sr = read_audio(tmp_path / "a.m4a")
    assert sr == SR and abs(len(y) / sr - 1.0) < 0.05


def test_bad_audio(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_audio(tmp_path / "missing.wav")
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really a wav file")
    with pytest.raises(AudioError, match=r"bad\.wav: unreadable"):
        read_audio(tmp_path / "bad.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), SR)
    with pytest.raises(AudioError, match=r"empty\.wav.*empty"):
        read_audio(tmp_path / "empty.wav")
    x = _tone()
    x[10] = np.nan
    sf.write(tmp_path / "nan.wav", x, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav.*NaN"):
        read_audio(tmp_path / "nan.wav")
    with pytest.raises(AudioError, match="NaN"):
        write_audio(tmp_path / "o.wav", x, SR)


def test_wav_bytes_depend_only_on_the_samples(tmp_path):
    import time

    x = np.sin(np.linspace(0, 50, 8000)).astype(np.float32)
    a = write_audio(tmp_path / "a.wav", x, 16000)
    time.sleep(1.1)  # libsndfile's float WAVs stamp the write time into a PEAK chunk
    b = write_audio(tmp_path / "b.wav", x, 16000)
    assert a.read_bytes() == b.read_bytes()
    y, sr = read_audio(a)
    assert sr == 16000 and np.array_equal(y, x)
