"""Non-steady-state start: found on a decaying brightness, zero (or tiny) on steady real files."""

from __future__ import annotations

import numpy as np
import pytest

from mrisynth.data.prepare import trim_transient
from mrisynth.data.quality import steady_state_start
from mrisynth.data.sequence import SpeechMRISequence

USC75_FPS = 1000.0 / (2 * 6.004)


def _usc75_like(t=600, tau=30.0, seed=0, audio=False, start=45.0):
    """Frames whose mean decays from ~100 to a steady ~55 (tau in frames), with speech-like
    frame-to-frame swings of the mean (+-8 %) as in real recordings."""
    rng = np.random.default_rng(seed)
    level = 55.0 + start * np.exp(-np.arange(t) / tau) + 4.4 * np.sin(np.arange(t) / 3.0)
    frames = rng.normal(1.0, 0.2, (t, 16, 16)) * level[:, None, None]
    extra = {}
    if audio:
        sr = 8000
        n = int(round(t / USC75_FPS * sr))
        extra = dict(audio=np.sin(np.arange(n) / 7.0).astype(np.float32) * 0.1, sample_rate=sr)
    return SpeechMRISequence(frames.astype(np.float32), fps=USC75_FPS, spacing_mm=2.4, **extra)


def test_decaying_start_is_found_where_it_has_settled():
    seq = _usc75_like(tau=30.0)
    n = steady_state_start(seq.frames, seq.fps)
    # 3 % of 55 above steady: 30 * ln(45 / 1.65) = 99 frames (smoothing moves it a little)
    assert 85 <= n <= 115
    means = seq.frames.mean(axis=(1, 2))
    steady = np.median(means[300:])
    assert means[:10].mean() > 1.5 * steady and abs(means[n : n + 20].mean() / steady - 1) < 0.05


@pytest.mark.parametrize(
    "level",
    [
        np.full(200, 50.0),  # steady
        50.0 - 20.0 * np.exp(-np.arange(200) / 20),  # darker start: not a magnetisation transient
        50.0 + 3.0 * np.exp(-np.arange(200) / 20),  # 6 % brighter: within the detection band
    ],
)
def test_steady_or_darker_starts_give_zero(level):
    frames = np.ones((200, 4, 4)) * level[:, None, None]
    assert steady_state_start(frames, 25.0) == 0


def test_short_constant_and_colour_input():
    assert steady_state_start(np.ones((5, 4, 4)), 25.0) == 0  # too short to tell
    assert steady_state_start(np.zeros((100, 4, 4)), 25.0) == 0  # no positive steady level
    rgb = np.repeat(_usc75_like().frames[..., None], 3, axis=-1)
    assert steady_state_start(rgb, USC75_FPS) > 80
    assert steady_state_start(np.zeros((0, 4, 4))) == 0


def test_trim_transient_keeps_audio_aligned():
    seq = _usc75_like(audio=True)
    n = steady_state_start(seq.frames, seq.fps)
    cut = trim_transient(seq)
    assert cut.n_frames == seq.n_frames - n and cut.provenance["transient_frames"] == n
    np.testing.assert_array_equal(cut.frames, seq.frames[n:])
    np.testing.assert_array_equal(cut.audio_for_frames(3, 9), seq.audio_for_frames(n + 3, n + 9))
    steady = _usc75_like(start=0.0)
    assert trim_transient(steady).n_frames == steady.n_frames


def test_real_avis_are_already_steady(shared_data):
    from mrisynth.io import read_sequence

    found = {}
    for avi in sorted(shared_data("data/real-rtmri-unlabelled").glob("*.avi")):
        seq = read_sequence(avi, dataset_preset="usc-span")
        found[avi.name] = steady_state_start(seq.frames, seq.fps)
    assert found and all(n == 0 for n in found.values()), found
    # the one shared clip with a brighter start (its header also says 30 fps): a few frames
    seq = read_sequence(
        shared_data("data/real-rtmri-contours/M3_394.avi"), dataset_preset="usc-timit"
    )
    assert 0 < steady_state_start(seq.frames, seq.fps) <= 6
