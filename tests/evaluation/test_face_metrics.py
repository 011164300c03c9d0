"""Face metrics in the evaluation: the per-video row, plausibility against the recordings, and
evaluate() on a tiny phantom face corpus with a landmark regressor."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from mrisynth.evaluation.face import MOTION_METRICS, face_row, face_stats_row, plausibility
from mrisynth.evaluation.metrics_registry import metric
from mrisynth.phantom.face import render_face, sample_face_identity


@pytest.fixture(scope="module")
def video():
    n, rng = 100, np.random.default_rng(0)
    return render_face(
        rng.uniform(0, 12, n), rng.uniform(0, 15, n), rng.uniform(25, 45, n), np.zeros(n),
        fps=25.0, identity=sample_face_identity(np.random.default_rng(1)), rng=rng, size=96,
        blink_rate_per_min=30.0,
    )  # fmt: skip


def test_face_row_of_the_recording_itself_and_of_a_still_head(video):
    frames = video.frames.astype(np.float32) / 255
    same = face_row(video.landmarks, video.landmarks, frames, video.fps)
    for name in ("lmd_mouth", "lmd_mouth_aligned", "lmd_face", "lmd_mouth_px"):
        assert same[name] == pytest.approx(0.0, abs=1e-9)  # alignment: rounding only
    assert set(same) == {m for m in same if metric(m).group == "face"}  # all registered
    assert same == {**same, **face_stats_row(video.landmarks, frames, video.fps)}
    assert same["blink_rate_per_min"] > 0 and same["head_roll_std_deg"] > 0.5
    # a frozen first frame: no blinks, no head motion, and the mouth is off
    still = np.repeat(video.landmarks[:1], len(video.landmarks), axis=0)
    frozen = face_row(still, video.landmarks, np.repeat(frames[:1], len(frames), 0), video.fps)
    assert frozen["blink_rate_per_min"] == 0 and frozen["head_roll_std_deg"] < 1e-9
    assert frozen["lmd_mouth"] > frozen["lmd_mouth_aligned"] > 0


def test_plausibility_ranks_the_method_among_the_recordings():
    rows = [
        {"method": "real", "blink_rate_per_min": v, "head_roll_std_deg": 1.0} for v in (10, 20, 30)
    ]
    rows += [
        {"method": "model", "condition": "image_audio", "blink_rate_per_min": 0.0},
        {"method": "model", "condition": "video_audio", "blink_rate_per_min": 40.0},
    ]
    both = plausibility(rows, "model")
    assert both["blink_rate_per_min"] == {"generated": 20.0, "percentile": 50.0, "within": True}
    still = plausibility(rows, "model", "image_audio")["blink_rate_per_min"]
    assert still["percentile"] == 0.0 and still["within"] is False
    assert "head_roll_std_deg" not in both  # the method has no value for it
    assert set(both) <= set(MOTION_METRICS)


def test_evaluate_adds_face_metrics_on_a_tiny_face_corpus(tmp_path, tiny_model_cfg, save_untrained):
    """evaluate() with a (random-weight) landmark regressor on phantom face video: every method,
    condition and the real rows get the face columns, all in the registry."""
    import torch

    from mrisynth.data.prepare import PrepareConfig, prepare_manifest
    from mrisynth.evaluation.config import EvalConfig
    from mrisynth.evaluation.evaluate import evaluate
    from mrisynth.models.artifacts import save_landmark_regressor
    from mrisynth.models.landmarks import LandmarkConfig, build_landmark_regressor
    from mrisynth.phantom.corpus import PhantomConfig, build_corpus

    phantom = PhantomConfig(
        n_pretrain_speakers=1, n_target_speakers=1, languages=("en",),
        pretrain_utterances_per_language=1, adapt_utterances_per_language=1,
        test_utterances_per_language=1, face=True, face_size=32, workers=1,
    )  # fmt: skip
    manifest = build_corpus(phantom, tmp_path / "phantom", progress=False)
    prepared = prepare_manifest(
        manifest, tmp_path / "prep", PrepareConfig(img_size=32, fps=25.0, source="face", roi="full")
    )
    gen, expert = save_untrained(
        tmp_path / "models", dataclasses.replace(tiny_model_cfg, channels=3)
    )
    lm_cfg = LandmarkConfig(img_size=32, features=(4, 4, 8, 8), hidden=8)
    torch.manual_seed(0)
    lm_path = save_landmark_regressor(tmp_path / "lm.pt", build_landmark_regressor(lm_cfg), lm_cfg)
    cfg = EvalConfig(n_videos=0, offset_test_frames=(-2, 2), warp_stride=16)
    metrics = evaluate(prepared, gen, expert, None, tmp_path / "eval", cfg, landmarks_ckpt=lm_path)
    for method in ("model", "baseline_static"):
        for cond in ("image_audio", "video_audio"):
            for name in ("lmd_mouth", "lmd_mouth_aligned", "lmd_face", "blink_rate_per_min"):
                assert math.isfinite(metrics[f"{method}.{cond}.{name}"]), (method, cond, name)
    assert "real.head_roll_std_deg" in metrics and "real.lmd_mouth" not in metrics
    assert all(metric(k.rsplit(".", 1)[-1]) for k in metrics)
    with pytest.raises(ValueError, match="reads 64-px RGB frames"):
        big = LandmarkConfig()
        save_landmark_regressor(tmp_path / "lm64.pt", build_landmark_regressor(big), big)
        evaluate(
            prepared, gen, expert, None, tmp_path / "bad", cfg, landmarks_ckpt=tmp_path / "lm64.pt"
        )


def test_cli_names_a_missing_landmark_regressor(tmp_path):
    import argparse

    from mrisynth.cli import evaluate as cli

    files = [tmp_path / n for n in ("p.csv", "g.pt", "e.pt")]
    for f in files:
        f.write_text("")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        ["--prepared", str(files[0]), "--generator", str(files[1]), "--eval-expert", str(files[2])]
        + ["--landmarks", str(tmp_path / "lm.pt"), "--out", str(tmp_path / "o")]
    )
    with pytest.raises(FileNotFoundError, match="--landmarks: .*lm.pt does not exist"):
        cli.run(args)
