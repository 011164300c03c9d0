"""Generator, sync expert, discriminators and builders: shapes, gradients, presets, errors."""

import time

import pytest
import torch

from mrisynth.models import (
    Generator,
    ModelConfig,
    QualityDiscriminator,
    SyncExpert,
    TemporalDiscriminator,
    build_discriminators,
    build_generator,
    build_sync_expert,
    count_parameters,
)

# Parameter counts (generator, sync expert, quality D, temporal D) per preset; see builders.py.
PARAMS = {
    "face96": (46_394_099, 24_379_648, 981_505, 283_137),
    "face_small": (607_299, 1_099_200, 61_249, 72_449),
    "mri_small": (594_193, 1_050_336, 60_961, 71_585),
    "mri_base": (13_295_889, 8_253_248, 241_729, 71_585),
}

VIDEO, AUDIO = 0, 1  # SyncExpert.forward returns (video_emb, audio_emb)


def _small_gen(size, c):
    return Generator(
        size,
        c,
        base_width=4,
        max_width=16,
        embed_dim=16,
        audio_window_steps=16,
        audio_base_width=4,
        res_blocks=0,
    )


@pytest.mark.parametrize("size", [64, 80, 96, 128])
@pytest.mark.parametrize("c", [1, 3])
def test_generator_shapes_any_size(size, c):
    g = _small_gen(size, c)
    B, T = 2, 3
    y = g(
        torch.randn(B, T, 1, 80, 16),
        torch.rand(B, T, c, size, size),
        torch.rand(B, T, c, size, size),
    )
    assert y.shape == (B, T, c, size, size)
    assert y.min() >= 0 and y.max() <= 1


def test_generator_gradients_reach_every_parameter_and_audio_matters():
    torch.manual_seed(0)
    g = _small_gen(64, 1)
    a, m = torch.randn(2, 2, 1, 80, 16), torch.rand(2, 2, 1, 64, 64)
    y = g(a, m, m)
    (y - m).abs().mean().backward()
    missing = [
        n for n, p in g.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
    ]
    assert not missing
    assert g.audio_encoder.stages[0][0].conv.weight.grad.abs().sum() > 0
    with torch.no_grad():  # train-mode BN: untrained running stats would shrink the signal
        assert (g(a, m, m) - g(torch.randn_like(a), m, m)).abs().max() > 1e-3


def test_generator_bad_inputs():
    g = _small_gen(64, 1)
    ok = torch.rand(1, 2, 1, 64, 64)
    with pytest.raises(ValueError, match="masked must be"):
        g(torch.randn(1, 2, 1, 80, 16), torch.rand(1, 2, 3, 64, 64), torch.rand(1, 2, 3, 64, 64))
    with pytest.raises(ValueError, match="audio must be"):
        g(torch.randn(1, 2, 1, 80, 20), ok, ok)
    with pytest.raises(ValueError, match="channels"):
        Generator(64, 2)


@pytest.mark.parametrize("name", list(PARAMS))
def test_presets_build_run_and_parameter_counts(name):
    cfg = ModelConfig.preset(name)
    g, s = build_generator(cfg), build_sync_expert(cfg)
    q, t = build_discriminators(cfg)
    assert tuple(count_parameters(m) for m in (g, s, q, t)) == PARAMS[name]
    C, H, T, Tv = cfg.channels, cfg.img_size, cfg.n_frames, cfg.sync_frames
    g.eval()
    with torch.no_grad():
        y = g(
            torch.randn(1, T, 1, 80, cfg.audio_window_steps),
            torch.rand(1, T, C, H, H),
            torch.rand(1, T, C, H, H),
        )
        assert y.shape == (1, T, C, H, H)
        v, a = s.eval()(torch.rand(2, Tv, C, H, H), torch.randn(2, 1, 80, cfg.sync_window_steps))
        assert a.shape == v.shape == (2, cfg.sync_embed_dim)
        assert q(y).shape[:2] == (T, 1) and t(y).shape[:3] == (1, 1, T)


def test_sync_expert_embeddings_and_probability():
    e = SyncExpert(3, 96, 5, 16, embed_dim=32, base_width=8, max_width=32, crop="lower_half")
    frames, mel = torch.rand(4, 5, 3, 96, 96), torch.randn(4, 1, 80, 16)
    v, a = e(frames, mel)
    assert (a >= 0).all() and (v >= 0).all()
    torch.testing.assert_close(a.norm(dim=1), torch.ones(4))
    p = e.sync_probability(frames, mel)
    assert p.shape == (4,) and (p > 0).all() and (p < 1).all()
    # lower_half: the upper half of the frames does not change the embedding.
    f2 = frames.clone()
    f2[..., :48, :] = 0
    e.eval()
    with torch.no_grad():
        torch.testing.assert_close(e(frames, mel)[VIDEO], e(f2, mel)[VIDEO])
    with pytest.raises(ValueError, match="frames must be"):
        e(torch.rand(4, 4, 3, 96, 96), mel)


@pytest.mark.parametrize("visual_input", ["minus_mean", "diff"])
def test_sync_expert_visual_input_ignores_static_anatomy(visual_input):
    # A static image added to every frame (another speaker's anatomy) must not change the
    # visual embedding; with raw frames it does.
    kw = dict(embed_dim=16, base_width=8, max_width=16)
    e = SyncExpert(1, 32, 6, 8, n_mels=20, visual_input=visual_input, **kw).eval()
    raw = SyncExpert(1, 32, 6, 8, n_mels=20, **kw).eval()
    frames, mel = 0.5 * torch.rand(3, 6, 1, 32, 32), torch.randn(3, 1, 20, 8)
    static = 0.4 * torch.rand(1, 1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(e(frames, mel)[VIDEO], e(frames + static, mel)[VIDEO])
        assert not torch.allclose(
            raw(frames, mel)[VIDEO], raw(frames + static, mel)[VIDEO], atol=1e-4
        )
        # ...but motion inside the window does change it.
        moved = frames.clone()
        moved[:, 3:] = moved[:, 3:].roll(4, dims=-1)
        assert not torch.allclose(e(frames, mel)[VIDEO], e(moved, mel)[VIDEO], atol=1e-4)
    in_ch = e.visual_encoder.stages[0][0].conv.in_channels
    assert in_ch == (5 if visual_input == "diff" else 6)


def test_sync_expert_audio_norm_ignores_recording_level():
    e = SyncExpert(1, 32, 4, 8, n_mels=20, embed_dim=16, base_width=8, audio_norm="window")
    e.eval()
    frames, mel = torch.rand(2, 4, 1, 32, 32), torch.randn(2, 1, 20, 8)
    with torch.no_grad():
        # log-mel + 12 dB and a 1.5x wider dynamic range give the same audio embedding
        torch.testing.assert_close(e(frames, mel)[AUDIO], e(frames, 1.5 * mel + 12.0)[AUDIO])


def test_sync_expert_bad_input_options():
    with pytest.raises(ValueError, match="visual_input"):
        SyncExpert(1, 32, 4, 8, visual_input="mean")
    with pytest.raises(ValueError, match="audio_norm"):
        SyncExpert(1, 32, 4, 8, audio_norm="utterance")
    with pytest.raises(ValueError, match="n_frames_window >= 2"):
        SyncExpert(1, 32, 1, 8, visual_input="diff")
    with pytest.raises(ValueError, match="sync_visual_input"):
        ModelConfig(sync_visual_input="delta")
    with pytest.raises(ValueError, match="sync_audio_norm"):
        ModelConfig(sync_audio_norm="global")
    e = build_sync_expert(ModelConfig(sync_visual_input="diff", sync_audio_norm="window"))
    assert (e.visual_input, e.audio_norm) == ("diff", "window")


def test_discriminators():
    q = QualityDiscriminator(1, base_width=8, n_layers=3)
    out = q(torch.rand(2, 4, 1, 64, 64))
    assert out.shape == (8, 1, 8, 8)
    td = TemporalDiscriminator(1, base_width=8)
    assert td(torch.rand(2, 4, 1, 64, 64)).shape == (2, 1, 4, 8, 8)
    with pytest.raises(ValueError, match="T>=2"):
        td(torch.rand(2, 1, 1, 64, 64))
    with pytest.raises(ValueError, match="QualityDiscriminator"):
        q(torch.rand(2, 3, 64, 64))


def test_model_config_validation():
    with pytest.raises(ValueError, match="channels"):
        ModelConfig(channels=2)
    with pytest.raises(ValueError, match="img_size"):
        ModelConfig(img_size=8)
    with pytest.raises(
        ValueError,
        match=r"unknown preset 'nope' in configs/model/ \(available: face96, face_small, mri_base",
    ):
        ModelConfig.preset("nope")
    with pytest.raises(ValueError, match=r"model\.widht: unknown key"):
        ModelConfig.preset("mri_small", widht=3)
    with pytest.raises(ValueError, match=r"model\.img_size: expected an integer"):
        ModelConfig.preset("mri_small", img_size="big")
    with pytest.raises(ValueError, match="sync_crop"):
        ModelConfig(sync_crop="top")
    cfg = ModelConfig(mel={"hop_length": 200, "n_fft": 800, "win_length": 800})
    assert cfg.audio_window_steps == 16 and cfg.sync_frames == 17


@pytest.mark.slow  # timing: flaky on a shared CPU, run with -m slow
def test_mri_small_generator_faster_than_real_time_on_cpu():
    for size in (64, 96):
        cfg = ModelConfig.preset("mri_small", img_size=size)
        g = build_generator(cfg).eval()
        B, T = 8, 8
        a = torch.randn(B, T, 1, 80, cfg.audio_window_steps)
        m = torch.rand(B, T, 1, size, size)
        best = 0.0
        with torch.inference_mode():
            g(a, m, m)
            for _ in range(3):
                t0 = time.perf_counter()
                g(a, m, m)
                best = max(best, B * T / (time.perf_counter() - t0))
        print(f"mri_small {size}px: {best:.0f} frames/s on CPU ({torch.get_num_threads()} threads)")
        assert best > 83.28
