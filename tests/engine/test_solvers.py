"""Sync-expert and generator solvers, training entry points and the ``train`` CLI (CPU, tiny).

Synthetic data where sync is learnable: the audio is a 440 Hz tone whose loudness jumps
between four levels every 40–160 ms, and each frame shows a bar whose row follows that
loudness at the frame's centre time. A 200 ms window of frames therefore identifies its audio
window, and a shift of >= 0.2 s does not.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from mrisynth.data.checks import check_sequences
from mrisynth.data.prepare import prepare_for_model
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.engine import TrainConfig, Trainer
from mrisynth.engine.solvers.generator import GeneratorOptions, GeneratorSolver, train_generator
from mrisynth.engine.solvers.sync_expert import (
    ExpertOptions,
    RedrawnPairs,
    SyncExpertSolver,
    VisualAugment,
    check_meta,
    train_sync_expert,
)
from mrisynth.losses import GeneratorLossWeights
from mrisynth.models.artifacts import load_generator, load_sync_expert, read_artifact
from mrisynth.models.builders import ModelConfig, build_sync_expert
from mrisynth.transforms.mel import MelConfig
from mrisynth.utils.git import source_commit

FPS, SR, SIZE = 25.0, 16000, 32


def bar_sequence(seed: int, duration_s: float = 4.0, size: int = SIZE, fps: float = FPS):
    """``(T, size, size)`` uint8 bar video driven by a stepped tone envelope (see module doc)."""
    rng = np.random.default_rng(seed)
    edges = [0.0]
    while edges[-1] < duration_s + 0.5:
        edges.append(edges[-1] + rng.uniform(0.04, 0.16))
    levels = rng.choice([0.0, 0.33, 0.66, 1.0], size=len(edges))

    def level(t):
        return levels[np.searchsorted(edges, t, side="right") - 1]

    t = np.arange(int(duration_s * SR)) / SR
    audio = level(t) * 0.5 * np.sin(2 * np.pi * 440 * t) + 0.003 * rng.standard_normal(t.size)
    n = int(round(duration_s * fps))
    frames = np.full((n, size, size), 30, np.uint8)
    frames[:, 2:4, :] = 120  # static anatomy
    rows = np.rint(5 + level((np.arange(n) + 0.5) / fps) * (size - 10)).astype(int)
    for k, r in enumerate(rows):
        frames[k, r : r + 3, 4:-4] = 220
    return SpeechMRISequence(
        frames=frames,
        fps=fps,
        spacing_mm=(2.0, 2.0),
        audio=audio.astype(np.float32),
        sample_rate=SR,
        speaker=f"spk{seed}",
        utterance_id=f"utt{seed}",
    )


def tiny_cfg(**overrides) -> ModelConfig:
    """``configs/model/tiny.yaml`` (32 px, 25 fps, Wav2Lip's mel) with field overrides."""
    return dataclasses.replace(ModelConfig.preset("tiny"), **overrides)


def run_cfg(out_dir, **overrides) -> TrainConfig:
    base = dict(
        max_steps=10,
        batch_size=4,
        out_dir=str(out_dir),
        device="cpu",
        progress=False,
        lr_schedule="constant",
        log_interval=5,
        eval_interval=10,
        ckpt_interval=1000,
    )
    return TrainConfig(**{**base, **overrides})


def records(out_dir) -> list[dict]:
    return [json.loads(ln) for ln in (out_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # The test machines are small and shared: one intra-op thread avoids spin-wait thrashing.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


TRAIN = [bar_sequence(i) for i in range(8)]
VAL = [bar_sequence(100 + i) for i in range(2)]  # held-out "speakers"


@pytest.fixture(scope="module")
def expert_run(tmp_path_factory):
    """One sync expert trained for 300 steps (~5 s); shared by the generator tests."""
    out = tmp_path_factory.mktemp("expert")
    cfg = run_cfg(out, max_steps=300, batch_size=16, eval_interval=100, log_interval=50)
    result = train_sync_expert(TRAIN, VAL, tiny_cfg(), cfg, options=ExpertOptions(lr=1e-3))
    return out, result


# ---------------------------------------------------------------------------------- sync expert
def test_expert_learns_sync_on_held_out_speakers(expert_run):
    out, result = expert_run
    valid = [r for r in records(out) if "valid/accuracy" in r]
    assert [r["step"] for r in valid] == [100, 200, 300]
    # Chance is 50% / ln 2 on balanced pairs; the easy bar data is learnt well past that.
    assert result["valid/accuracy"] > 0.8, result
    assert result["valid/loss"] < math.log(2) - 0.2, result
    assert result["valid/p_pos"] > result["valid/p_neg"] + 0.3
    assert result["valid/accuracy"] == max(
        r["valid/accuracy"] for r in valid if r["step"] == result["step"]
    )
    first_train = next(r for r in records(out) if "train/loss" in r)
    assert first_train["train/loss"] > result["valid/loss"]


def test_expert_checkpoint_loads_with_weights_only_and_rebuilds(expert_run):
    out, result = expert_run
    raw = torch.load(out / "expert.pt", weights_only=True)
    assert raw["format"] == "mrisynth.artifact/2" and raw["kind"] == "sync_expert"
    assert raw["model_config"]["img_size"] == SIZE
    assert raw["data_spec"]["fps"] == FPS and raw["data_spec"]["sample_rate"] == SR
    assert raw["data_spec"]["spacing_mm"] is not None  # the training data's common spacing
    assert raw["step"] == result["step"] and raw["metrics"]["valid/loss"] == result["valid/loss"]
    # The run's metadata sits beside the weights, not in them.
    assert "git_commit" not in raw and (out / "expert.run.json").is_file()
    run = json.loads((out / "expert.run.json").read_text())
    assert run.get("git_commit") == source_commit()
    # ... and beside the trainer's checkpoints: a commit elsewhere in the repository must not
    # change their bytes (DVC hashes the whole model folder)
    for ckpt in [out / "best.pt", *(out / "checkpoints").glob("step_*.pt")]:
        assert "git_commit" not in torch.load(ckpt, weights_only=True), ckpt.name
    expert, cfg = load_sync_expert(out / "expert.pt", fps=FPS, sample_rate=SR, img_size=SIZE)
    assert cfg == tiny_cfg() and not expert.training
    # A trainer checkpoint rebuilds the same model.
    step_ckpt = sorted((out / "checkpoints").glob("step_*.pt"))[-1]
    again, _ = load_sync_expert(step_ckpt)
    assert set(again.state_dict()) == set(expert.state_dict())


# Data-spec mismatch messages on load: tests/models/test_artifacts.py.


def test_loading_the_wrong_kind_is_refused(expert_run):
    out, _ = expert_run
    with pytest.raises(RuntimeError, match="holds a 'sync_expert' model, expected 'generator'"):
        load_generator(out / "expert.pt")


def test_redrawn_pairs_change_negatives_but_are_deterministic():
    from mrisynth.data.dataset import SyncPairDataset

    base = SyncPairDataset(TRAIN[:2], window_ms=200, mel_cfg=MelConfig.wav2lip(), fps=FPS)
    pairs = RedrawnPairs(base, 3)
    n = len(base)
    assert len(pairs) == 3 * n
    shifts = [float(pairs[i * n + 1]["shift_s"]) for i in range(3)]  # one negative, 3 passes
    assert shifts == [float(pairs[i * n + 1]["shift_s"]) for i in range(3)]
    assert len(set(shifts)) > 1 or len({float(pairs[i * n + 3]["shift_s"]) for i in range(3)}) > 1
    assert float(pairs[n]["label"]) == 1.0 and float(pairs[n]["shift_s"]) == 0.0


def test_visual_augment_shifts_whole_windows_and_only_in_training():
    torch.manual_seed(0)
    frames = torch.rand(4, 3, 1, 12, 12)
    shifted = VisualAugment(shift_px=2, gain=0, offset=0, noise_std=0)(frames)
    assert shifted.shape == frames.shape
    for i in range(4):  # each window is one whole-pixel shift of itself, the same for all frames
        inner = shifted[i, :, :, 2:-2, 2:-2]
        hits = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(inner, frames[i, :, :, 2 + dy : 10 + dy, 2 + dx : 10 + dx])
        ]
        assert len(hits) == 1
    noisy = VisualAugment(shift_px=0, gain=0.2, offset=0.1, noise_std=0.05)(frames)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.allclose(noisy, frames)
    with pytest.raises(ValueError, match="VisualAugment"):
        VisualAugment(gain=1.5)

    class Spy(VisualAugment):
        calls = 0

        def __call__(self, x):
            Spy.calls += 1
            return super().__call__(x)

    expert = build_sync_expert(tiny_cfg())
    solver = SyncExpertSolver(expert, augment=Spy())
    batch = {
        "frames": torch.randint(0, 256, (4, 5, 1, SIZE, SIZE), dtype=torch.uint8),
        "mel": torch.randn(4, 1, 80, 16),
        "label": torch.tensor([1.0, 0.0, 1.0, 0.0]),
    }
    with torch.no_grad():
        solver.run_step(batch, train=False)
    assert Spy.calls == 0
    with pytest.raises(RuntimeError, match="not attached"):  # augments, then needs a Trainer
        solver.run_step(batch, train=True)
    assert Spy.calls == 1


@pytest.mark.parametrize("crop", ["full", "lower_half"])
def test_expert_training_perturbs_only_the_rows_the_expert_reads(crop):
    """Augmentation and appearance randomisation skip rows the expert's crop discards."""
    from mrisynth.transforms.domain import DomainRandomization

    torch.manual_seed(0)
    expert = build_sync_expert(tiny_cfg(channels=3, sync_crop=crop))
    solver = SyncExpertSolver(expert, augment=VisualAugment(), domain=DomainRandomization(prob=1.0))
    frames = torch.rand(4, 5, 3, SIZE, SIZE)
    out = solver._perturb(frames.clone())
    assert out.shape == frames.shape
    top = SIZE // 2 if crop == "lower_half" else 0
    assert torch.equal(out[..., :top, :], frames[..., :top, :])
    assert (out[..., top:, :] - frames[..., top:, :]).abs().mean() > 0.01
    no_change = SyncExpertSolver(expert)._perturb(frames)
    assert no_change is frames


def _inverted(seqs):
    """An unseen appearance domain: the same motion and audio, contrast inverted."""
    return [s.replace(frames=(255 - s.frames).astype(np.uint8)) for s in seqs]


def test_expert_adapts_from_pretrained_weights_to_an_unseen_domain(expert_run, tmp_path):
    out, pretrained = expert_run
    train, val = _inverted(TRAIN), _inverted(VAL)
    cfg = run_cfg(tmp_path / "zero", max_steps=1, batch_size=16, eval_interval=1)
    # lr tiny: one step leaves the pretrained weights as they are, so this is zero-shot
    zero = train_sync_expert(
        train, val, tiny_cfg(), cfg, options=ExpertOptions(lr=1e-12), init_from=out / "expert.pt"
    )
    runs = {}
    for name, init in (("adapted", out / "expert.pt"), ("scratch", None)):
        cfg = run_cfg(tmp_path / name, max_steps=60, batch_size=16, eval_interval=60, seed=3)
        runs[name] = train_sync_expert(
            train, val, tiny_cfg(), cfg, options=ExpertOptions(lr=1e-3), init_from=init
        )
    # the inverted domain fools the pretrained expert; 60 steps from its weights recover
    # most of the accuracy, and more than the same 60 steps from scratch
    assert zero["valid/accuracy"] < pretrained["valid/accuracy"] - 0.1, (zero, pretrained)
    assert runs["adapted"]["valid/accuracy"] > zero["valid/accuracy"] + 0.1, (runs, zero)
    assert runs["adapted"]["valid/loss"] < runs["scratch"]["valid/loss"], runs
    other = dataclasses.replace(tiny_cfg(), sync_embed_dim=tiny_cfg().sync_embed_dim * 2)
    with pytest.raises(ValueError, match="architecture differs.*sync_embed_dim"):
        train_sync_expert(train, val, other, run_cfg(tmp_path / "bad"), init_from=out / "expert.pt")


def test_judge_separates_own_from_shuffled_audio_only_for_a_trained_expert(expert_run, tmp_path):
    from mrisynth.data.spec import DataSpec
    from mrisynth.evaluation.config import EvalConfig
    from mrisynth.evaluation.judge import SyncJudgement, judge_sync
    from mrisynth.models.artifacts import Artifact, save_artifact

    out, _ = expert_run
    clips = [bar_sequence(200 + i) for i in range(6)]
    cfg = EvalConfig(offset_test_frames=(-3, 3))
    trained = judge_sync(clips, out / "expert.pt", cfg)
    assert trained.separates, trained.as_dict()
    assert trained.real_lse_d.high < trained.shuffled_lse_d.low
    assert trained.recovers_shifts(2.0), trained.shift_errors
    flat = trained.as_dict()
    assert flat["separates"] == 1.0 and flat["n_clips"] == 6.0
    assert flat["shift_3.offset_error_max_ms"] == pytest.approx(
        flat["shift_3.offset_error_max"] * 1000 / FPS
    )
    assert "separated" in trained.markdown("trained") and "NOT" not in trained.markdown("t")

    torch.manual_seed(1)
    random = tmp_path / "random.pt"
    spec = DataSpec.of_model(tiny_cfg())
    weights = {"expert": build_sync_expert(tiny_cfg()).state_dict()}
    save_artifact(random, Artifact("sync_expert", weights, dataclasses.asdict(tiny_cfg()), spec))
    untrained = judge_sync(clips, random, cfg)
    assert not untrained.separates and not untrained.recovers_shifts(2.0)

    both = SyncJudgement.pooled([trained, untrained])
    assert len(both.clips) == 12 and both.per_clip["real_lse_d"].shape == (12,)
    with pytest.raises(ValueError, match="at least 2 clips"):
        judge_sync(clips[:1], out / "expert.pt", cfg)
    with pytest.raises(ValueError, match="fps 50 != model fps 25"):
        judge_sync([bar_sequence(0, fps=50.0)] * 2, out / "expert.pt", cfg)


def test_domain_randomization_gives_each_window_one_new_look():
    from mrisynth.transforms.domain import DomainRandomization

    class Capture(VisualAugment):
        seen: list = []

        def __call__(self, x):
            Capture.seen.append(x.clone())
            return x

    torch.manual_seed(0)
    frames = torch.randint(0, 256, (4, 5, 1, SIZE, SIZE), dtype=torch.uint8)
    frames[:, 1:] = frames[:, :1]  # each window's frames are identical ...
    solver = SyncExpertSolver(
        build_sync_expert(tiny_cfg()),
        augment=Capture(),
        domain=DomainRandomization(prob=1.0, noise_std=0.0),  # noise is drawn per frame
    )
    batch = {"frames": frames, "mel": torch.randn(4, 1, 80, 16), "label": torch.ones(4)}
    with pytest.raises(RuntimeError, match="not attached"):
        solver.run_step(batch, train=True)
    looked = Capture.seen[0]
    assert looked.shape == (4, 5, 1, SIZE, SIZE) and looked.min() >= 0 and looked.max() <= 1
    # ... and stay identical after randomisation (one look per window), but the look changed
    assert torch.allclose(looked[:, 1:], looked[:, :1].expand_as(looked[:, 1:]), atol=1e-6)
    assert not torch.allclose(looked, frames.float() / 255, atol=0.05)


def test_solver_refuses_to_resume_with_other_meta():
    cfg = tiny_cfg()
    from mrisynth.models.builders import build_sync_expert

    solver = SyncExpertSolver(build_sync_expert(cfg), meta={"fps": 25.0, "sources": {"a": "x"}})
    solver.load_state_dict({"meta": {"fps": 25.0, "sources": {"a": "elsewhere"}}})  # paths ignored
    with pytest.raises(ValueError, match="checkpoint has fps=83.28 but this run has fps=25.0"):
        solver.load_state_dict({"meta": {"fps": 83.28}})
    check_meta({"mask": torch.ones(2, 2, dtype=torch.bool)}, {"mask": torch.ones(2, 2) > 0}, "x")
    with pytest.raises(ValueError, match="mask"):
        check_meta({"mask": torch.ones(2, 2) > 0}, {"mask": torch.zeros(2, 2) > 0}, "x")


# ---------------------------------------------------------------------------------- generator
def test_generator_pretrain_then_finetune_with_freeze(expert_run, tmp_path):
    expert_dir, _ = expert_run
    weights = dataclasses.replace(GeneratorLossWeights.mri(), sync_enable_below=None)
    pre = tmp_path / "pre"
    result = train_generator(
        TRAIN[:4],
        VAL,
        tiny_cfg(),
        run_cfg(pre, max_steps=16, eval_interval=8, log_interval=8),
        expert_dir / "expert.pt",
        loss_weights=weights,
        options=GeneratorOptions(lr=3e-3, max_val_clips=8),
    )
    valid = [r for r in records(pre) if "valid/l1" in r]
    assert len(valid) == 2
    assert valid[-1]["valid/l1"] < valid[0]["valid/l1"], valid
    for key in ("valid/ssim11", "valid/sync_gen", "valid/sync_real", "valid/loss"):
        assert math.isfinite(result[key])
    # The expert scores real frames as in sync far better than the early generator's frames.
    assert result["valid/sync_real"] < result["valid/sync_gen"]
    train = [r for r in records(pre) if "train/l1" in r]
    assert all(r["train/sync_on"] == 1.0 for r in train)  # sync_enable_below=None: always on
    assert {"train/d_quality", "train/d_temporal", "train/temporal_diff"} <= set(train[0])

    raw = torch.load(pre / "generator.pt", weights_only=True)
    mask = raw["mask"]
    assert mask.dtype == torch.bool and mask.shape == (SIZE, SIZE)
    assert mask[[5, 12, 20, 27], 16].all()  # every bar position (rows of the 4 loudness levels)
    assert not mask[:3].any()  # the static structure and background above stay visible
    assert raw["info"]["clip_frames"] == 5
    generator, cfg = load_generator(pre / "generator.pt", model_cfg=tiny_cfg())
    pretrained = dict(generator.named_parameters())

    fine = tmp_path / "fine"
    train_generator(
        TRAIN[:2],
        VAL,
        tiny_cfg(),
        run_cfg(fine, max_steps=3, eval_interval=3, log_interval=3),
        expert_dir / "expert.pt",
        loss_weights=weights,
        options=GeneratorOptions(lr=3e-3, max_val_clips=4),
        init_from=pre / "generator.pt",
        freeze=["generator.audio_encoder"],
    )
    tuned, _ = load_generator(fine / "generator.pt")
    after = dict(tuned.named_parameters())  # parameters: BatchNorm statistics still adapt
    frozen = [k for k in after if k.startswith("audio_encoder.")]
    assert frozen and all(torch.equal(after[k], pretrained[k]) for k in frozen)
    head = [k for k in after if k.startswith("head.")]
    assert any(not torch.equal(after[k], pretrained[k]) for k in head)
    saved = torch.load(fine / "generator.pt", weights_only=True)["train_config"]
    assert saved["freeze"] == ["generator.audio_encoder"]


def test_sync_term_switches_on_after_evaluation_below_threshold(expert_run, tmp_path):
    expert_dir, _ = expert_run
    # Threshold above any BCE value: off until the first evaluation, then on (Wav2Lip's rule).
    weights = dataclasses.replace(GeneratorLossWeights.face(), sync_enable_below=100.0, gan=0.0)
    train_generator(
        TRAIN[:2],
        VAL[:1],
        tiny_cfg(),
        run_cfg(tmp_path, max_steps=4, eval_interval=2, log_interval=1),
        expert_dir / "expert.pt",
        loss_weights=weights,
        options=GeneratorOptions(max_val_clips=4),
    )
    on = [r["train/sync_on"] for r in records(tmp_path) if "train/sync_on" in r]
    assert on == [0.0, 0.0, 1.0, 1.0]
    state = torch.load(tmp_path / "checkpoints" / "step_00000004.pt", weights_only=True)
    assert state["solver"]["sync_enabled"] is True


def test_expert_scores_generator_even_with_sync_weight_zero(expert_run, tmp_path):
    expert_dir, _ = expert_run
    weights = dataclasses.replace(GeneratorLossWeights.face(), sync=0.0, sync_enable_below=None)
    result = train_generator(
        TRAIN[:2],
        VAL[:1],
        tiny_cfg(n_frames=2),
        run_cfg(tmp_path, max_steps=2, eval_interval=2, log_interval=1),
        expert_dir / "expert.pt",
        loss_weights=weights,
        options=GeneratorOptions(max_val_clips=4),
    )
    assert result["valid/sync_real"] < result["valid/sync_gen"]
    # Training with no sync term neither runs the expert nor needs clips of its window.
    train = [r for r in records(tmp_path) if "train/l1" in r]
    assert len(train) == 2 and not any("train/sync" in r for r in train)
    info = torch.load(tmp_path / "generator.pt", weights_only=True)["info"]
    assert info["clip_frames"] == 2 < tiny_cfg().sync_frames


def test_generator_refuses_mismatched_expert_and_data(expert_run, tmp_path):
    expert_dir, _ = expert_run
    w = GeneratorLossWeights.mri()
    cfg = run_cfg(tmp_path)
    with pytest.raises(ValueError, match="checkpoint img_size 32 != model config img_size 48"):
        train_generator(
            TRAIN, VAL, tiny_cfg(img_size=48), cfg, expert_dir / "expert.pt", loss_weights=w
        )
    other_sr = tiny_cfg(mel=dataclasses.replace(MelConfig.wav2lip(), sample_rate=22050, fmax=7600))
    with pytest.raises(
        ValueError, match="checkpoint sample_rate 16000 != model config sample_rate 22050"
    ):
        train_generator(TRAIN, VAL, other_sr, cfg, expert_dir / "expert.pt", loss_weights=w)
    with pytest.raises(ValueError, match="needs expert_ckpt"):
        train_generator(TRAIN, VAL, tiny_cfg(), cfg, None, loss_weights=w)
    with pytest.raises(ValueError, match="validation sequence 0 \\(utt100\\): frames are 40x40 px"):
        train_generator(
            TRAIN,
            [bar_sequence(100, size=40)],
            tiny_cfg(),
            cfg,
            expert_dir / "expert.pt",
            loss_weights=w,
        )
    with pytest.raises(
        ValueError, match="init_from .*: checkpoint fps 25.0 != model config fps 50.0"
    ):
        # A sync-free fine-tune of a 25 fps generator on a 50 fps config.
        pre = tmp_path / "pre"
        train_generator(
            TRAIN[:1],
            VAL[:1],
            tiny_cfg(),
            run_cfg(pre, max_steps=1),
            None,
            loss_weights=dataclasses.replace(w, sync=0.0),
            options=GeneratorOptions(max_val_clips=2),
        )
        train_generator(
            [bar_sequence(0, fps=50.0)],
            [bar_sequence(100, fps=50.0)],
            tiny_cfg(fps=50.0),
            run_cfg(tmp_path / "f"),
            None,
            loss_weights=dataclasses.replace(w, sync=0.0),
            init_from=pre / "generator.pt",
        )


def test_generator_solver_keeps_discriminator_gradients_out_of_the_generator_step():
    from mrisynth.models.builders import build_discriminators, build_generator

    cfg = tiny_cfg()
    quality, _ = build_discriminators(cfg)
    w = GeneratorLossWeights(recon=1.0, sync=0.0, gan=1.0, temporal=0.0)
    solver = GeneratorSolver(build_generator(cfg), weights=w, quality_disc=quality)
    assert set(solver.models()) == {"generator", "quality_disc"}  # no temporal D at weight 0
    batch = {
        "frames": torch.randint(0, 255, (2, 5, 1, SIZE, SIZE), dtype=torch.uint8),
        "mel": torch.randn(2, 5, 1, 80, cfg.audio_window_steps),
    }
    batch["masked"], batch["reference"] = batch["frames"], batch["frames"]

    grads = {}

    class Recorder:
        def optimizer_step(self, loss, name):
            loss.backward()
            grads[name] = [p.grad is not None for p in quality.parameters()]
            for p in [*quality.parameters(), *solver.generator.parameters()]:
                p.grad = None

    solver.trainer = Recorder()
    out = solver.run_step(batch, train=True)
    assert grads["generator"] == [False] * len(grads["generator"])  # G step left D untouched
    assert all(grads["quality_disc"])
    assert all(p.requires_grad for p in quality.parameters())  # restored after the G step
    assert {"loss", "l1", "gan", "d_quality"} <= set(out)


# ---------------------------------------------------------------------------------- data prep
def test_prepare_for_model_resizes_converts_and_checks_fps():
    seq = bar_sequence(3, size=40)
    out = prepare_for_model(seq, SIZE, fps=FPS)
    assert out.frames.shape == (seq.n_frames, SIZE, SIZE) and out.frames.dtype == np.uint8
    assert out.spacing_mm == pytest.approx((2.5, 2.5))
    assert out.frames.max() <= 220 and out.frames.min() >= 30  # uint8 scale kept, not stretched
    close = prepare_for_model(seq.replace(fps=25.1), SIZE, fps=FPS)  # 0.4% off: resampled exactly
    assert close.fps == FPS and close.n_frames == round(seq.n_frames * FPS / 25.1)
    with pytest.raises(ValueError, match="frame rate 50 fps differs from the model's 25 fps"):
        prepare_for_model(seq.replace(fps=50.0), SIZE, fps=FPS)
    halved = prepare_for_model(seq.replace(fps=50.0), SIZE, fps=FPS, resample_fps=True)
    assert halved.n_frames == seq.n_frames // 2
    floats = prepare_for_model(seq.replace(frames=seq.frames / 255.0), SIZE)
    assert floats.frames.dtype == np.uint8 and floats.frames.max() > 200


def test_check_sequences_names_sequence_and_both_values():
    cfg = tiny_cfg()
    check_sequences(TRAIN[:2], cfg, "training")
    with pytest.raises(ValueError, match=r"training sequence 1 \(utt1\): data fps 30 != model"):
        check_sequences([TRAIN[0], TRAIN[1].replace(fps=30.0)], cfg, "training")
    strict_mel = tiny_cfg(mel=dataclasses.replace(MelConfig.wav2lip(), resample=False))
    resampled = TRAIN[0].replace(sample_rate=8000)
    check_sequences([resampled], cfg, "training")  # the mel front end resamples
    with pytest.raises(ValueError, match="data sample rate 8000 Hz != model sample rate 16000 Hz"):
        check_sequences([resampled], strict_mel, "training")
    with pytest.raises(ValueError, match="frames have 1 channel\\(s\\) but the model expects 3"):
        check_sequences(TRAIN[:1], tiny_cfg(channels=3), "training")


def test_read_artifact_rejects_other_files(tmp_path):
    torch.save({"weights": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(RuntimeError, match=r"x\.pt: not a model file"):
        read_artifact(tmp_path / "x.pt")


# ---------------------------------------------------------------------------------- CLI
def test_cli_train_expert_from_manifest(tmp_path):
    from mrisynth.cli import train as cli
    from mrisynth.data.manifest import write_manifest_rows
    from mrisynth.io import write_sequence

    rows = []
    for split, seqs in (("pretrain", TRAIN[:2]), ("test", VAL[:1])):
        for s in seqs:
            write_sequence(s, tmp_path / f"{s.utterance_id}.nii.gz")
            rows.append(
                {
                    "id": s.utterance_id,
                    "image_path": f"{s.utterance_id}.nii.gz",
                    "speaker": s.speaker,
                    "split": split,
                }
            )
    write_manifest_rows(rows, tmp_path / "manifest.csv")
    parser = __import__("argparse").ArgumentParser()
    cli.add_arguments(parser)
    sets = [
        "model.img_size=32",
        "model.fps=25",
        "model.mel.hop_length=200",
        "model.mel.n_fft=800",
        "model.mel.win_length=800",
        "model.sync_base_width=8",
        "model.sync_max_width=16",
        "model.sync_embed_dim=16",
        "train.max_steps=2",
        "train.batch_size=4",
        "train.device=cpu",
        "opt.max_val_pairs=8",
    ]
    args = parser.parse_args(
        [
            "expert",
            "--manifest",
            str(tmp_path / "manifest.csv"),
            "--split-val",
            "test",
            "--out",
            str(tmp_path / "run"),
            "--set",
            *sets,
        ]
    )
    assert cli.run(args) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["step"] == 2 and 0 <= metrics["valid/accuracy"] <= 1
    _, cfg = load_sync_expert(tmp_path / "run" / "expert.pt")
    assert cfg.img_size == 32 and cfg.mel.hop_length == 200 and cfg.mel.n_mels == 80
    with pytest.raises(ValueError, match="no recordings in split 'adapt'"):
        cli.run(
            parser.parse_args(
                [
                    *["expert", "--manifest", str(tmp_path / "manifest.csv")],
                    "--split-val",
                    "adapt",
                    "--out",
                    str(tmp_path / "r2"),
                    "--set",
                    *sets,
                ]
            )
        )
    from mrisynth.config.schema import ConfigError

    with pytest.raises(ConfigError, match="unknown section"):
        cli.build_configs("expert", "mri_small", ["lr=1"], str(tmp_path))
    with pytest.raises(ConfigError, match="model.img_sise"):
        cli.build_configs("expert", "mri_small", ["model.img_sise=1"], str(tmp_path))


def _reconstruction_only_run(out, steps: int, tracker=None, seed: int | None = None) -> None:
    """A few generator steps on two tiny recordings, without the expert and the GAN."""
    cfg = run_cfg(out, max_steps=steps, eval_interval=steps, log_interval=1)
    train_generator(
        TRAIN[:2],
        VAL[:1],
        tiny_cfg(),
        cfg if seed is None else dataclasses.replace(cfg, seed=seed),
        None,
        loss_weights=dataclasses.replace(GeneratorLossWeights.mri(), sync=0.0, gan=0.0),
        options=GeneratorOptions(max_val_clips=4),
        tracker=tracker,
    )


def test_generator_run_logs_config_training_log_and_a_sample_video(tmp_path, recording_tracker):
    from mrisynth.io.video import read_video

    rec = recording_tracker()
    _reconstruction_only_run(tmp_path, 2, tracker=rec)
    assert rec.dicts["config.json"]["loss"]["gan"] == 0.0
    assert rec.dicts["config.json"]["model"]["img_size"] == SIZE
    logged = dict(rec.artifacts)
    assert logged["train"] == tmp_path / "metrics.jsonl"
    # the model, with its run metadata and its own config, under model/
    assert ("model", tmp_path / "generator.pt") in rec.artifacts
    assert ("model", tmp_path / "generator.run.json") in rec.artifacts
    assert rec.dicts["model/config.json"]["kind"] == "generator"
    assert rec.dicts["model/config.json"]["step"] == 2
    video = next(logged["samples"].glob("*.mp4"))  # recording | synthesized | difference
    clip = read_video(video)
    assert clip.frames.shape == (VAL[0].n_frames, SIZE, 3 * SIZE + 2)
    assert clip.audio is not None  # the sample plays with its audio, as long as the video
    assert abs(len(clip.audio) / clip.sample_rate - VAL[0].duration_s) < 0.1


def test_one_seed_one_run_whatever_the_process_drew_before(tmp_path):
    # initial weights come from the run's seed, not from the global RNG state at build time
    runs = []
    for noise in (123, 456):
        torch.manual_seed(noise)
        np.random.seed(noise)
        out = tmp_path / str(noise)
        _reconstruction_only_run(out, 3)
        runs.append(torch.load(out / "generator.pt", weights_only=True)["weights"]["generator"])
    assert runs[0].keys() == runs[1].keys()
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k]), k
    _reconstruction_only_run(tmp_path / "s1", 3, seed=1)
    s1 = torch.load(tmp_path / "s1" / "generator.pt", weights_only=True)["weights"]["generator"]
    assert not torch.equal(s1["head.weight"], runs[0]["head.weight"])  # another seed: another run


def test_channels_last_generator_step_matches_contiguous(tmp_path):
    # Channels-last on a CPU (oneDNN skips its layout conversions, opt-in): one full Wav2Lip-style
    # step (L1 + sync from a frozen expert + GAN, then the discriminator's step) must give the
    # same losses and gradients as the contiguous layout, up to float rounding.
    from mrisynth.models.builders import build_discriminators, build_generator

    cfg = tiny_cfg()
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 255, (4, 5, 1, SIZE, SIZE), dtype=torch.uint8, generator=g)
    batch = {
        "frames": frames,
        "masked": frames * (torch.arange(SIZE) < SIZE // 2).to(torch.uint8)[:, None],
        "reference": frames.flip(0),
        "mel": torch.randn(4, 5, 1, 80, cfg.audio_window_steps, generator=g),
        "sync_mel": torch.randn(4, 1, 80, cfg.sync_window_steps, generator=g),
    }
    weights = GeneratorLossWeights(recon=0.9, sync=0.03, gan=0.07, sync_enable_below=None)
    runs = {}
    for layout in (False, True):
        torch.manual_seed(0)
        quality, _ = build_discriminators(cfg)
        solver = GeneratorSolver(
            build_generator(cfg),
            weights=weights,
            expert=build_sync_expert(cfg),
            quality_disc=quality,
        )
        grads: dict[str, list[torch.Tensor]] = {}

        def keep_grads(opt, *_, grads=grads, opts=solver.opts):  # what each optimiser steps on
            name = next(k for k, o in opts.items() if o is opt)
            grads[name] = [p.grad.clone() for grp in opt.param_groups for p in grp["params"]]

        for opt in solver.opts.values():
            opt.register_step_pre_hook(keep_grads)
        cfg_run = run_cfg(tmp_path / str(layout), max_steps=1, log_interval=1, grad_clip=0.0)
        trainer = Trainer(dataclasses.replace(cfg_run, channels_last=layout), solver)
        metrics = trainer.fit([batch])
        w = solver.generator.identity_encoder.stages[0][0].conv.weight
        assert w.is_contiguous(memory_format=torch.channels_last) == layout
        runs[layout] = metrics, grads
    (m_std, g_std), (m_cl, g_cl) = runs[False], runs[True]
    assert {"train/loss", "train/sync", "train/gan", "train/d_quality"} <= set(m_std)
    for key in [k for k in m_std if k.startswith("train/")]:
        assert m_cl[key] == pytest.approx(m_std[key], rel=1e-5, abs=1e-7), key
    assert set(g_cl) == set(g_std) == {"generator", "quality_disc"}
    for name in g_std:  # sums over the batch's pixels: rounding relative to the largest entry
        for a, b in zip(g_cl[name], g_std[name], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()) + 1e-9)
