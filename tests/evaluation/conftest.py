"""Shared fixtures of the evaluation tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model_cfg():
    """The tiny 32-px, 25-fps ModelConfig of the evaluation tests (generator and expert)."""
    from mrisynth.models.builders import ModelConfig
    from mrisynth.transforms.mel import MelConfig

    return ModelConfig(
        name="tiny",
        img_size=32,
        fps=25.0,
        mel=MelConfig.wav2lip(),
        gen_base_width=4,
        gen_max_width=16,
        gen_embed_dim=16,
        gen_audio_base_width=4,
        sync_base_width=8,
        sync_max_width=32,
        sync_embed_dim=32,
        disc_base_width=4,
        disc_layers=2,
        temporal_disc_base_width=4,
        temporal_disc_layers=2,
    )
