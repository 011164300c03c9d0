"""Fixtures for the I/O tests (factories live in ``io_factories.py``)."""

from __future__ import annotations

import pytest
from io_factories import make_sequence

from mrisynth.data.sequence import SpeechMRISequence


@pytest.fixture
def seq() -> SpeechMRISequence:
    """A (12, 20, 18) uint16 sequence at 25 fps with exactly matching 16 kHz audio."""
    return make_sequence()
