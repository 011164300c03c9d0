"""Shared fixtures of the evaluation tests: the tiny model config, a tiny prepared phantom
corpus and random-weight model files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

#: The tiny segmenter of the end-to-end runs.
SEG_FEATURES = (8, 8, 16, 16, 32, 8)


def _tiny_prepared(root, pretrain_speakers, adapt_per_language):
    """A tiny phantom corpus (one target speaker, en + ta, one test utterance each), prepared
    at 32 px and 25 fps."""
    from mrisynth.data.prepare import PrepareConfig, prepare_manifest
    from mrisynth.phantom.corpus import PhantomConfig, build_corpus

    phantom = PhantomConfig(
        n_pretrain_speakers=pretrain_speakers,
        n_target_speakers=1,
        languages=("en", "ta"),
        pretrain_utterances_per_language=1,
        adapt_utterances_per_language=adapt_per_language,
        test_utterances_per_language=1,
        face=False,
        workers=1,
    )
    manifest = build_corpus(phantom, root / "phantom", progress=False)
    return prepare_manifest(manifest, root / "prep", PrepareConfig(img_size=32, fps=25.0))


def _save_untrained(root, model_cfg, fps=None):
    """Random-weight generator and expert files of ``model_cfg`` (optionally at another fps)."""
    import torch

    from mrisynth.data.spec import DataSpec
    from mrisynth.models.artifacts import Artifact, save_artifact
    from mrisynth.models.builders import build_generator, build_sync_expert

    if fps is not None:
        model_cfg = dataclasses.replace(model_cfg, fps=fps)
    torch.manual_seed(0)
    spec, config = DataSpec.of_model(model_cfg), dataclasses.asdict(model_cfg)
    mask = np.zeros((32, 32), bool)
    mask[8:28, 4:28] = True
    root.mkdir(parents=True, exist_ok=True)
    gen = {"generator": build_generator(model_cfg).state_dict()}
    save_artifact(root / "generator.pt", Artifact("generator", gen, config, spec, mask=mask))
    expert = {"expert": build_sync_expert(model_cfg).state_dict()}
    save_artifact(root / "expert.pt", Artifact("sync_expert", expert, config, spec))
    return root / "generator.pt", root / "expert.pt"


@pytest.fixture(scope="session")
def tiny_model_cfg():
    """The tiny 32-px, 25-fps ModelConfig of the evaluation tests (``configs/model/tiny.yaml``)."""
    from mrisynth.models.builders import ModelConfig

    return ModelConfig.preset("tiny")


@pytest.fixture(scope="session")
def tiny_seg_cfg():
    """The tiny 32-px segmenter config of the evaluation tests (no augmentation)."""
    from mrisynth.models.segmenter import SegmenterConfig

    return SegmenterConfig(img_size=32, features=SEG_FEATURES, augment=False)


@pytest.fixture(scope="session")
def tiny_prepared():
    """``tiny_prepared(root, pretrain_speakers, adapt_per_language) -> prepared.csv``: a tiny
    phantom corpus (one target speaker, en + ta, one test utterance each) at 32 px, 25 fps."""
    return _tiny_prepared


@pytest.fixture(scope="session")
def save_untrained():
    """``save_untrained(root, model_cfg, fps=None) -> (generator.pt, expert.pt)``: random-weight
    model files of ``model_cfg`` (optionally at another fps)."""
    return _save_untrained


@pytest.fixture(scope="session")
def untrained(tmp_path_factory, tiny_model_cfg, tiny_seg_cfg):
    """A tiny prepared phantom and random-weight models of the tiny config (fast: the keys of
    ``metrics.json`` do not depend on training). ``(prepared_csv, generator, expert, segmenter,
    root)``."""
    from mrisynth.models.artifacts import save_segmenter
    from mrisynth.models.segmenter import build_segmenter

    root = tmp_path_factory.mktemp("untrained")
    prepared = _tiny_prepared(root, pretrain_speakers=1, adapt_per_language=1)
    gen, expert = _save_untrained(root / "models", tiny_model_cfg)
    save_segmenter(root / "models/seg.pt", build_segmenter(tiny_seg_cfg), tiny_seg_cfg)
    return prepared, gen, expert, root / "models/seg.pt", root
