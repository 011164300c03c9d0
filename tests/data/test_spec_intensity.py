"""DataSpec (the data contract's one set of messages) and the intensity conversions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrisynth.data.intensity import percentile_scale, to_uint8, to_unit, unit_tensor
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.data.spec import DataSpec, sequence_name

SPEC = DataSpec(fps=25.0, sample_rate=16000, img_size=8, channels=1, spacing_mm=(2.0, 2.0))


def _seq(**kw) -> SpeechMRISequence:
    base = dict(
        frames=np.zeros((10, 8, 8), np.uint8),
        fps=25.0,
        spacing_mm=(2.0, 2.0),
        audio=np.zeros(6400, np.float32),
        sample_rate=16000,
        utterance_id="u1",
    )
    return SpeechMRISequence(**{**base, **kw})


def test_spec_accepts_what_fits_and_names_the_sequence_and_both_values():
    SPEC.check_sequence(_seq(), "s")
    name = sequence_name(_seq(), 3, "training")
    assert name == "training sequence 3 (u1)"
    cases = [
        (
            dict(frames=np.zeros((10, 6, 8), np.uint8)),
            "frames are 6x8 px but the model expects 8x8",
        ),
        (dict(frames=np.zeros((10, 8, 8, 3), np.uint8)), r"1 \(channels\)|3 channel\(s\)"),
        (dict(fps=50.0), "data fps 50 != model fps 25"),
        (dict(sample_rate=8000, audio=np.zeros(3200, np.float32)), "8000 Hz != model sample rate"),
        (dict(audio=None, sample_rate=None), "has no audio"),
    ]
    for kw, message in cases:
        with pytest.raises(ValueError, match=rf"training sequence 3 \(u1\): .*({message})"):
            SPEC.check_sequence(_seq(**kw), name)
    SPEC.check_sequence(
        _seq(sample_rate=8000, audio=np.zeros(3200, np.float32)), name, audio_resample=True
    )


def test_spec_comparison_skips_unknown_fields_and_round_trips():
    other = DataSpec(fps=25.0, sample_rate=16000, img_size=8, channels=1)
    SPEC.check_matches(
        other, "f.pt", fields=("fps", "sample_rate", "img_size", "channels", "spacing_mm")
    )
    with pytest.raises(
        ValueError, match=r"f\.pt: checkpoint spacing_mm \(2\.0, 2\.0\) != model config"
    ):
        SPEC.check_matches(
            DataSpec(25.0, 16000, 8, 1, spacing_mm=(3.0, 3.0)), "f.pt", fields=("spacing_mm",)
        )
    with pytest.raises(ValueError, match=r"f\.pt: checkpoint channels 1 != expected channels 3"):
        SPEC.check_values("f.pt", channels=3, fps=None)
    assert DataSpec.from_dict(SPEC.to_dict()) == SPEC
    with pytest.raises(ValueError, match="unknown fields"):
        DataSpec.from_dict({**SPEC.to_dict(), "zoom": 2})
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        DataSpec(fps=25.0, sample_rate=16000, img_size=8, channels=2)


def test_intensity_conversions():
    u8 = np.array([0, 128, 255], np.uint8)
    assert to_uint8(u8) is u8
    np.testing.assert_array_equal(to_uint8(np.array([0.0, 0.5, 1.0])), [0, 128, 255])
    np.testing.assert_array_equal(to_uint8(np.array([100, 300, 500], np.uint16)), [0, 128, 255])
    # uint8 data resampled as float keeps its scale (not stretched)
    np.testing.assert_array_equal(to_uint8(np.array([10.4, 20.6, 300.0]), np.uint8), [10, 21, 255])
    assert to_uint8(np.zeros((0, 4), np.float32)).shape == (0, 4)
    np.testing.assert_allclose(to_unit(u8), [0, 128 / 255, 1])
    assert torch.equal(
        unit_tensor(torch.tensor([0, 255], dtype=torch.uint8)), torch.tensor([0.0, 1.0])
    )
    y, (lo, hi) = percentile_scale(np.arange(101, dtype=np.float32), 10, 90)
    assert (lo, hi) == (10.0, 90.0) and y.dtype == np.float32 and y.min() == 0 and y.max() == 1
    with pytest.raises(ValueError, match="coincide"):
        percentile_scale(np.ones(10))
