"""Fixtures for the whole test suite.

``shared_data``: real recordings in the shared data folder, read where they lie (never copied
into the project): ``$MRISYNTH_SHARED``, default ``<repo>/../shared``. A test that asks for a
missing file is skipped, naming the path and the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

SHARED_ENV = "MRISYNTH_SHARED"


def shared_root() -> Path:
    """``$MRISYNTH_SHARED``, else ``shared/`` beside the repository."""
    env = os.environ.get(SHARED_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Callable[[str], Path]:
    """``shared_data("data/real-rtmri-unlabelled/F2_400.avi")``: the path, or skip the test.

    Also works for a folder (``shared_data("data/real-rtmri-contours")``).
    """

    def get(relative: str) -> Path:
        path = shared_root() / relative
        if not path.exists():
            pytest.skip(
                f"shared test data not found: {path} (set {SHARED_ENV} to the shared folder; "
                "default <repo>/../shared)"
            )
        return path

    return get


# ------------------------------------------------------------ pretrained models for `adapt`
def _adapt_pretrained(root: Path, segmenter: bool = False) -> Path:
    """A quickstart-shaped models folder of random tiny models (120 mm field of view); with
    ``segmenter``, a small random 48-px segmenter in ``segmenter/segmenter.pt`` too."""
    import dataclasses

    import numpy as np
    import torch

    from mrisynth.data.spec import DataSpec
    from mrisynth.models.artifacts import Artifact, save_artifact, save_segmenter
    from mrisynth.models.builders import ModelConfig, build_generator, build_sync_expert

    cfg = ModelConfig.preset("tiny")
    torch.manual_seed(0)
    spec = DataSpec.of_model(cfg, spacing_mm=(120.0 / cfg.img_size,) * 2)
    config = dataclasses.asdict(cfg)
    mask = np.zeros((cfg.img_size,) * 2, bool)
    mask[8:28, 4:28] = True
    gen = Artifact(
        "generator", {"generator": build_generator(cfg).state_dict()}, config, spec, mask=mask
    )
    save_artifact(root / "pretrain/generator.pt", gen)
    for name in ("expert", "eval_expert"):
        expert = {"expert": build_sync_expert(cfg).state_dict()}
        save_artifact(root / name / "expert.pt", Artifact("sync_expert", expert, config, spec))
    if segmenter:
        from mrisynth.models.segmenter import SegmenterConfig, build_segmenter

        seg_cfg = SegmenterConfig(img_size=48, features=(8, 8, 16, 16, 32, 8), augment=False)
        save_segmenter(root / "segmenter/segmenter.pt", build_segmenter(seg_cfg), seg_cfg)
    return root


def _adapt_fast_presets(root: Path) -> dict[str, str]:
    """Training and evaluation presets sized for a test (paths, as AdaptConfig accepts)."""
    import yaml

    presets = {
        "expert_preset": {
            "train": {"batch_size": 8, "log_interval": 100},
            "opt": {"max_val_pairs": 16},
        },
        "generator_preset": {
            "train": {"batch_size": 2, "log_interval": 100},
            "opt": {"max_val_clips": 2, "temporal_disc": False},
            "loss": {"sync": 0.001, "sync_enable_below": None, "gan": 0.0, "ssim": 0.0},
        },
        "evaluate_preset": {
            "n_videos": 1,
            "hd95_stride": 50,
            "warp_stride": 16,
            "offset_test_frames": [-2, 2],
        },
    }
    out = {}
    root.mkdir(parents=True, exist_ok=True)
    for name, body in presets.items():
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(body))
        out[name] = str(path)
    return out


@pytest.fixture(scope="session")
def adapt_pretrained() -> Callable[..., Path]:
    """``adapt_pretrained(root, segmenter=False) -> root``: random tiny pretrained models in
    the quickstart's layout (the plumbing of `adapt` does not depend on training)."""
    return _adapt_pretrained


@pytest.fixture(scope="session")
def adapt_fast_presets() -> Callable[[Path], dict[str, str]]:
    """``adapt_fast_presets(root) -> {field: preset path}``: AdaptConfig presets sized for a
    test."""
    return _adapt_fast_presets


class RecordingTracker:
    """Records the Tracker calls of a training run (params, logged dicts, artifacts)."""

    def __init__(self):
        self.params, self.dicts, self.artifacts = {}, {}, []

    def log_params(self, config):
        self.params.update(config)

    def log_metrics(self, metrics, step):
        pass

    def log_dict(self, data, artifact_file):
        self.dicts[artifact_file] = data

    def log_artifact(self, path, artifact_path=None):
        self.artifacts.append((artifact_path, path))


@pytest.fixture
def recording_tracker() -> type[RecordingTracker]:
    """The :class:`RecordingTracker` class: call it for a fresh recorder."""
    return RecordingTracker
