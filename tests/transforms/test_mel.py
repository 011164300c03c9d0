"""Mel front end and the frame → audio-window alignment (no one-frame offset)."""

import numpy as np
import pytest

from mrisynth.data.dataset import AVClipDataset
from mrisynth.data.sequence import SpeechMRISequence, audio_sample_index
from mrisynth.transforms.mel import (
    MelConfig,
    frames_in_window,
    frames_to_mel_windows,
    log_mel,
    mel_step_of_time,
    mel_window,
    window_steps,
)

SR = 16000


def test_presets():
    w, m = MelConfig.wav2lip(), MelConfig.mri()
    assert (w.n_fft, w.hop_length, w.win_length, w.n_mels, w.fmin, w.fmax) == (
        800,
        200,
        800,
        80,
        55,
        7600,
    )
    assert w.hop_ms == 12.5 and window_steps(200, w) == 16
    assert m.hop_ms == 10.0 and window_steps(200, m) == 20
    assert frames_in_window(200, 25) == 5 and frames_in_window(200, 83.28) == 17
    with pytest.raises(ValueError, match="fmax"):
        MelConfig(fmax=9000)
    with pytest.raises(ValueError, match="shorter than one mel step"):
        window_steps(5, m)


def test_log_mel_shape_range_and_resampling():
    cfg = MelConfig.mri()
    t = np.arange(SR) / SR
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    mel = log_mel(x, SR, cfg)
    assert mel.shape == (80, 1 + SR // 160) and mel.dtype == np.float32
    assert mel.min() >= -4 and mel.max() <= 4
    # The 440 Hz tone is loud in its band, silence sits at the floor.
    assert mel[:, 10:-10].max() > 0
    assert np.allclose(log_mel(np.zeros(SR, np.float32), SR, cfg), cfg.silence_value)
    mel8 = log_mel(x[::2], 8000, cfg)  # resampled to 16 kHz
    assert abs(mel8.shape[1] - mel.shape[1]) <= 1
    with pytest.raises(ValueError, match="8000 Hz"):
        log_mel(x[::2], 8000, MelConfig(resample=False))
    with pytest.raises(ValueError, match="mono"):
        log_mel(np.zeros((2, 10)), SR, cfg)


def test_mel_window_padding_and_offset():
    cfg = MelConfig.mri()
    mel = np.arange(80 * 50, dtype=np.float32).reshape(80, 50)
    w = mel_window(mel, -0.05, 100, cfg)  # starts 5 steps before the audio
    assert w.shape == (80, 10)
    assert np.all(w[:, :5] == cfg.silence_value) and np.array_equal(w[:, 5:], mel[:, :5])
    e = mel_window(mel, -0.05, 100, cfg, pad="edge")
    assert np.array_equal(e[:, :5], np.repeat(mel[:, :1], 5, axis=1))
    # An audio offset of +30 ms moves the whole mapping by 3 steps.
    assert mel_step_of_time(0.13, cfg, audio_offset_s=0.03) == mel_step_of_time(0.10, cfg)
    many = mel_window(mel, np.array([0.0, 0.1]), 100, cfg)
    assert many.shape == (2, 80, 10) and np.array_equal(many[1], mel[:, 10:20])


def _click_audio(times_s, offset_s, duration_s, cfg):
    x = np.zeros(int(duration_s * SR), np.float32)
    x[audio_sample_index(np.asarray(times_s), SR, offset_s)] = 1.0
    return x


@pytest.mark.parametrize("fps", [25.0, 83.28])
@pytest.mark.parametrize("preset", ["wav2lip", "mri"])
@pytest.mark.parametrize("center", [False, True])
def test_click_lands_at_the_same_place_in_dataset_and_inference(fps, preset, center):
    cfg = getattr(MelConfig, preset)()
    offset, duration, T = 0.037, 2.0, 5
    n_frames = int(duration * fps)
    ks = [int(round(t * fps)) for t in (0.4, 0.9, 1.4)]
    # Click at the frame's window anchor: its start (center=False) or its middle (center=True).
    times = [(k + 0.5) / fps if center else k / fps for k in ks]
    audio = _click_audio(times, offset, duration, cfg)
    n_win = window_steps(200, cfg)
    expect_col = n_win // 2 if center else 0

    # Inference path: windows for every frame of the utterance.
    mel = log_mel(audio, SR, cfg)
    inf = frames_to_mel_windows(mel, n_frames, fps, 200, cfg, center=center, audio_offset_s=offset)
    assert inf.shape == (n_frames, 1, 80, n_win)

    # Training path: the dataset's clip that holds frame k at position 2.
    seq = SpeechMRISequence(
        frames=np.zeros((n_frames, 16, 16), np.uint8),
        fps=fps,
        spacing_mm=1.0,
        audio=audio,
        sample_rate=SR,
        audio_offset_s=offset,
    )
    ds = AVClipDataset([seq], n_frames=T, window_ms=200, mel_cfg=cfg, center=center)
    for k in ks:
        item = ds[k - 2]  # stride 1, single sequence: clip index == start frame
        assert int(item["start"]) == k - 2
        train = item["mel"][2].numpy()
        np.testing.assert_array_equal(train, inf[k])
        col = int(np.argmax(train[0].mean(axis=0)))
        assert col == expect_col, f"click at frame {k} landed in column {col}, not {expect_col}"


def test_log_mel_of_a_chunk_equals_the_same_steps_of_the_whole():
    """Chunked synthesis relies on it bit for bit: a step's value must not depend on where its
    column sits in the spectrogram (a BLAS matmul broke this on AVX-512 machines)."""
    cfg = MelConfig.mri()
    rng = np.random.default_rng(3)
    audio = (0.3 * rng.normal(size=20 * cfg.sample_rate)).astype(np.float32)
    whole = log_mel(audio, cfg.sample_rate, cfg)
    margin = cfg.n_fft // cfg.hop_length + 1  # steps whose window reaches a chunk's edge
    for start_step, n_steps in [(0, 401), (123, 777), (1000, 64), (1500, 499)]:
        s0 = start_step * cfg.hop_length
        part = log_mel(audio[s0 : s0 + n_steps * cfg.hop_length], cfg.sample_rate, cfg)
        inner = slice(margin, part.shape[1] - margin)
        shifted = slice(start_step + margin, start_step + part.shape[1] - margin)
        assert np.array_equal(part[:, inner], whole[:, shifted])
