"""Domain randomisation: new appearance per sample, reproducible from torch's RNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrisynth.transforms.domain import (
    DomainRandomization,
    randomize_appearance,
    randomize_geometry,
)


def _batch(b: int = 4, size: int = 32) -> torch.Tensor:
    r, c = np.mgrid[0:size, 0:size]
    disc = (np.hypot(r - size / 2, c - size / 2) < size / 3).astype(np.float32)
    return torch.from_numpy(np.stack([0.2 + 0.6 * disc] * b)[:, None])


def test_appearance_changes_each_sample_and_stays_in_range():
    x = _batch()
    torch.manual_seed(0)
    y = randomize_appearance(x, DomainRandomization(prob=1.0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    # every sample drew its own appearance
    diffs = [(y[i] - y[0]).abs().mean() for i in range(1, len(y))]
    assert min(diffs) > 1e-3
    # the tissue disc stays brighter than its surround on average (a contrast change, not noise)
    inner = _batch()[0, 0] > 0.5
    assert all(float(s[0][inner].mean()) > float(s[0][~inner].mean()) for s in y)


def test_prob_zero_only_rescales():
    x = _batch()
    y = randomize_appearance(x, DomainRandomization(prob=0.0))
    torch.testing.assert_close(y, (x - 0.2) / 0.6)


def test_geometry_moves_image_and_labels_together():
    x = _batch()
    lab = (x > 0.5).long()
    torch.manual_seed(1)
    cfg = DomainRandomization(prob=1.0, elastic_magnitude_px=3.0, elastic_spacing_px=8.0)
    xi, li = randomize_geometry(x, lab, cfg, label_fill=7)
    assert li.dtype == torch.int64 and set(li.unique().tolist()) <= {0, 1, 7}
    assert not torch.equal(li, lab)
    assert float(xi[li == 1].mean()) > 0.6 > float(xi[li == 0].mean())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"prob": 1.5}, "prob"),
        ({"gamma": (2.0, 1.0)}, "gamma"),
        ({"blur_sigma": (-1.0, 1.0)}, "blur_sigma"),
        ({"histogram_points": 2}, "histogram_points"),
        ({"noise_std": -0.1}, "noise_std"),
        ({"elastic_spacing_px": 0}, "elastic_spacing_px"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DomainRandomization(**kwargs)
