"""Articulator motion in pauses: the frames that count, and the motion measured on them."""

from __future__ import annotations

import numpy as np
import pytest

from mrisynth.metrics.constriction import pause_frames, pause_motion_mm
from mrisynth.phantom.labels import CONSTRICTION_PLACES


def test_only_long_pauses_count_and_their_ends_are_trimmed():
    fps = 10.0
    sil = np.zeros(40, bool)
    sil[0:2] = True  # 0.2 s: too short
    sil[10:16] = True  # 0.6 s: counts, 0.1 s (1 frame) trimmed at each end -> 11..14
    sil[30:40] = True  # 1.0 s at the end -> 31..38
    got = np.flatnonzero(pause_frames(sil, fps, min_pause_s=0.3, trim_s=0.1))
    assert got.tolist() == [11, 12, 13, 14, *range(31, 39)]


def test_a_mouth_moving_in_silence_scores_its_motion_and_a_still_one_zero():
    t = np.arange(50)
    pauses = np.zeros(50, bool)
    pauses[10:30] = True
    still = {f"{p}_degree_mm": np.where(pauses, 5.0, np.sin(t)) for p in CONSTRICTION_PLACES}
    moving = {f"{p}_degree_mm": 5.0 + 2.0 * (t % 2) for p in CONSTRICTION_PLACES}
    assert pause_motion_mm(still, pauses) == 0.0
    assert pause_motion_mm(moving, pauses) == pytest.approx(2.0)
    assert np.isnan(pause_motion_mm(moving, np.zeros(50, bool)))


def test_the_phantom_can_pause_longer():
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    utt = Utterance("u1", "spk00", 0, "en", 1, "test", 5)
    short = synthesize_utterance(PhantomConfig(face=False), utt)["segments"]
    long = synthesize_utterance(PhantomConfig(face=False, pause_s=0.6), utt)["segments"]
    assert long[0].symbol == "_" and long[0].end_s - long[0].start_s == pytest.approx(0.6)
    assert short[0].end_s - short[0].start_s == pytest.approx(0.2)
    with pytest.raises(ValueError, match="pause_s"):
        PhantomConfig(pause_s=-1)
