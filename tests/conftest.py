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
