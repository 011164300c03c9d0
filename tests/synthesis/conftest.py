"""Fixtures of the synthesis tests (helpers and paths: ``synth_inputs.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from synth_inputs import disk_mask, save_generator


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: these tiny models gain nothing from more, and on a busy machine
    spinning OpenMP threads make them several times slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_cfg():
    from mrisynth.models.builders import ModelConfig

    return ModelConfig.preset("tiny")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_cfg) -> Path:
    """A model folder holding a random tiny ``generator.pt`` (120 mm field of view)."""
    folder = tmp_path_factory.mktemp("tiny_model")
    save_generator(folder / "generator.pt", tiny_cfg, disk_mask(tiny_cfg.img_size))
    return folder


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from mrisynth.synthesis import SynthesisModel

    return SynthesisModel.load(tiny_model_dir)


@pytest.fixture(scope="session")
def phantom_clip():
    """One phantom utterance: 84×84 uint16 frames at 2.4 mm, 83.28 fps, labels, 16 kHz audio."""
    from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance

    utt = Utterance("u0", "spk00", 0, "en", 0, "test", 5)
    return synthesize_utterance(PhantomConfig(face=False), utt)["sequence"]


@pytest.fixture(scope="session")
def phantom_files(tmp_path_factory, phantom_clip) -> dict[str, Path]:
    """The phantom clip as a NIfTI reference (no audio) and its audio as a WAV."""
    from mrisynth.io import write_audio, write_sequence

    folder = tmp_path_factory.mktemp("phantom_files")
    ref = write_sequence(
        phantom_clip.replace(labels=None, audio=None, sample_rate=None), folder / "clip.nii.gz"
    )
    wav = write_audio(folder / "speech.wav", phantom_clip.audio, phantom_clip.sample_rate)
    return {"reference": ref, "audio": wav}
