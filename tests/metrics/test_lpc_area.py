"""Wakita's LPC area function: the recursion, the area ratios, and a tube's own sound."""

from __future__ import annotations

import numpy as np
import pytest

from mrisynth.metrics.lpc_area import (
    area_ratios_from_reflections,
    levinson_durbin,
    lpc_area_track,
)


def test_levinson_durbin_matches_librosa_lpc():
    import librosa

    rng = np.random.default_rng(0)
    x = np.convolve(rng.normal(size=4000), [1.0, -1.2, 0.8, -0.3], mode="same")
    order = 8
    r = np.correlate(x, x, mode="full")[len(x) - 1 : len(x) + order]
    a, k, err = levinson_durbin(r, order)
    assert np.allclose(a, librosa.lpc(x, order=order), atol=1e-3)
    assert np.all(np.abs(k) < 1) and 0 < err < r[0]
    with pytest.raises(ValueError, match="silent"):
        levinson_durbin(np.zeros(order + 1), order)


def test_area_ratios_invert_the_tube_reflections():
    """Reflections of a known tube (the phantom's junction formula, lips first) give back its
    relative log areas."""
    from mrisynth.phantom.acoustics import reflection_coefficients

    areas = np.array([0.5, 1.0, 3.0, 4.0, 2.0, 0.3, 1.5, 2.5])  # glottis → lips (cm²)
    r = reflection_coefficients(areas[::-1])  # lips → glottis: (A_{i-1} − A_i)/(A_{i-1} + A_i)
    log_a = area_ratios_from_reflections(np.asarray(r))
    want = np.log(areas) - np.log(areas).mean()
    assert np.allclose(log_a, want, atol=1e-9)


def test_track_shape_and_silence():
    sr = 16000
    t = np.arange(sr) / sr
    x = np.sin(2 * np.pi * 120 * t) * (t < 0.5)
    x = x + 0.3 * np.sin(2 * np.pi * 700 * t) * (t < 0.5)
    track = lpc_area_track(x.astype(np.float32), sr, hop_s=0.01)
    assert track.shape == (101, 11)
    assert np.isfinite(track[10:40]).all() and np.isnan(track[60:]).all()
    assert np.allclose(np.nanmean(track[10:40], axis=1), 0.0, atol=1e-9)  # relative to the mean
