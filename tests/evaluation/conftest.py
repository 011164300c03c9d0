"""Shared fixtures of the evaluation tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model_cfg():
    """The tiny 32-px, 25-fps ModelConfig of the evaluation tests (``configs/model/tiny.yaml``)."""
    from mrisynth.models.builders import ModelConfig

    return ModelConfig.preset("tiny")
