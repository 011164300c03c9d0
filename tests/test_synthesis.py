"""Inference: shapes, the reference-only input, batching, sync embeddings."""

import numpy as np
import pytest
import torch

from mrisynth.models.builders import ModelConfig, build_generator, build_sync_expert
from mrisynth.synthesis import sync_embeddings, synthesize_frames


@pytest.fixture(scope="module")
def cfg():
    return ModelConfig.preset("mri_small", img_size=32)


def test_synthesize_frames_shapes_and_reference_input(cfg):
    torch.manual_seed(0)
    gen = build_generator(cfg).eval()
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 255, (3, 32, 32), dtype=np.uint8)  # a 3-frame reference video
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    sr, n = 16000, 10
    audio = rng.normal(0, 0.1, int(n / cfg.fps * sr)).astype(np.float32)
    out = synthesize_frames(gen, cfg, ref, audio, sr, n, mask)
    assert out.shape == (n, 32, 32) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    batched = synthesize_frames(gen, cfg, ref, audio, sr, n, mask, batch_size=3)
    np.testing.assert_allclose(out, batched, atol=1e-5)  # batching does not change frames
    other_ref = synthesize_frames(gen, cfg, 255 - ref, audio, sr, n, mask)
    assert np.abs(out - other_ref).mean() > 1e-3  # the reference (not a target) is the input
    with pytest.raises(ValueError, match="mask"):
        synthesize_frames(gen, cfg, ref, audio, sr, n, mask[:-1])


def test_sync_embeddings_one_per_window(cfg):
    torch.manual_seed(0)
    expert = build_sync_expert(cfg).eval()
    frames = np.random.default_rng(1).integers(0, 255, (30, 32, 32), dtype=np.uint8)
    audio = np.random.default_rng(2).normal(0, 0.1, int(30 / cfg.fps * 16000)).astype(np.float32)
    v, a = sync_embeddings(expert, cfg, frames, audio, 16000)
    tv = round(cfg.sync_window_ms / 1000 * cfg.fps)
    assert v.shape == a.shape == (30 - tv + 1, cfg.sync_embed_dim)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)


def test_synthesize_frames_in_parts_equals_one_call(cfg):
    """``first_frame`` places a part on the recording's clock: audio windows and the cycled
    reference of frames 7.. are those of one call over all frames (at aligned batches)."""
    torch.manual_seed(0)
    gen = build_generator(cfg).eval()
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 255, (3, 32, 32), dtype=np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    sr, n = 16000, 14
    audio = rng.normal(0, 0.1, int(n / cfg.fps * sr)).astype(np.float32)
    whole = synthesize_frames(gen, cfg, ref, audio, sr, n, mask, batch_size=7)
    head = synthesize_frames(gen, cfg, ref, audio, sr, 7, mask, batch_size=7)
    tail = synthesize_frames(gen, cfg, ref, audio, sr, 7, mask, batch_size=7, first_frame=7)
    np.testing.assert_array_equal(np.concatenate([head, tail]), whole)
    # another output rate samples other audio windows
    other = synthesize_frames(gen, cfg, ref, audio, sr, n, mask, batch_size=7, fps=cfg.fps / 2)
    assert np.abs(other - whole).mean() > 0
