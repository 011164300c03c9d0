"""Helpers of the synthesis tests: real-data paths, tiny generator files, a stand-in mask.

The generators have random weights (synthesis speed and plumbing do not depend on training);
``configs/model/tiny.yaml`` (32 px, 25 fps, Wav2Lip's mel front end) keeps every run short.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

#: Real data shared between projects (never copied into the repository): the same root as
#: the ``shared_data`` fixture of tests/conftest.py ($MRISYNTH_SHARED, default ../shared).
SHARED = Path(os.environ.get("MRISYNTH_SHARED") or Path(__file__).resolve().parents[3] / "shared")
REAL_FRAME = SHARED / "data" / "real-rtmri-frame" / "aa_rtmri.png"
REAL_SPEECH = SHARED / "data" / "real-speech" / "arctic_a0009.wav"
#: Field of view of the test models (mm): the quickstart's 48 px × 2.5 mm.
FOV_MM = 120.0


def needs(path: Path) -> Path:
    """Skip the test when a shared data file is absent."""
    if not path.is_file():
        pytest.skip(f"shared test data not found: {path} (set MRISYNTH_SHARED; default ../shared)")
    return path


def disk_mask(size: int, center=(0.55, 0.45), radius: float = 0.3) -> np.ndarray:
    """``(size, size)`` bool disk: a stand-in for a generator's painted vocal-tract region."""
    yy, xx = np.mgrid[:size, :size] / size
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 < radius**2


def save_generator(path: Path, cfg, mask: np.ndarray | None, fov_mm: float | None = FOV_MM) -> Path:
    """A generator artifact with random (seeded) weights at ``path``; its training spacing is
    ``fov_mm / img_size`` (None: a file that does not record one)."""
    import torch

    from mrisynth.data.spec import DataSpec
    from mrisynth.models.artifacts import Artifact, save_artifact
    from mrisynth.models.builders import build_generator

    torch.manual_seed(0)
    spacing = None if fov_mm is None else (fov_mm / cfg.img_size,) * 2
    artifact = Artifact(
        kind="generator",
        weights={"generator": build_generator(cfg).state_dict()},
        model_config=dataclasses.asdict(cfg),
        data_spec=DataSpec.of_model(cfg, spacing_mm=spacing),
        mask=mask,
        info={"mask_kind": "vocal_tract"},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_artifact(path, artifact)
