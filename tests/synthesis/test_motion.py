"""Pose and blink tracks of one-shot image animation (:mod:`mrisynth.synthesis.motion`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mrisynth.metrics.face_motion import blink_stats
from mrisynth.synthesis.motion import (
    MotionClip,
    MotionStats,
    fit_motion_stats,
    sample_tracks,
    speech_energy,
)

STATS = MotionStats(
    blink_rate_speech_per_min=18.0,
    blink_rate_pause_per_min=18.0,
    blink_half_s=0.12,
    blink_half_sd_s=0.02,
    roll_std_deg=1.5,
    translation_std_iod=(0.05, 0.03),
    smooth_s=(0.4, 0.3, 0.3),
)


def test_a_track_has_the_requested_statistics_for_a_seed():
    fps, n = 25.0, 25 * 600  # 10 minutes: ~180 blinks
    t = sample_tracks(STATS, n, fps, seed=3)
    b = blink_stats(1.0 - t.closure, fps)
    assert abs(b.rate_per_min - 18.0) < 0.15 * 18.0, b
    assert abs(b.duration_s - 0.12) < 0.012, b
    assert abs(np.std(t.roll_deg) - 1.5) < 0.15 * 1.5
    assert np.allclose(np.std(t.translation_iod, axis=0), (0.05, 0.03), rtol=0.15)
    # smooth: the frame-to-frame change is small against the amplitude
    assert np.std(np.diff(t.roll_deg)) < 0.15 * np.std(t.roll_deg)
    again = sample_tracks(STATS, n, fps, seed=3)
    assert np.array_equal(again.roll_deg, t.roll_deg) and again.blinks == t.blinks
    other = sample_tracks(STATS, n, fps, seed=4)
    assert not np.array_equal(other.roll_deg, t.roll_deg)


def test_blinks_follow_the_pauses_and_motion_the_energy_when_fitted_so():
    fps, n = 25.0, 25 * 600
    # speech that alternates 2 s voiced / 2 s pause
    sr = 16000
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, n * sr // 25)
    on = ((np.arange(len(audio)) / sr) % 4.0) < 2.0
    audio[~on] *= 1e-3  # 60 dB down
    energy = speech_energy(audio, sr, fps, n)
    pause = ((np.arange(n) + 0.5) / fps % 4.0) >= 2.0
    linked = dataclasses.replace(
        STATS, blink_rate_speech_per_min=6.0, blink_rate_pause_per_min=30.0, energy_gain=2.0
    )
    t = sample_tracks(linked, n, fps, energy_db=energy, seed=1)
    starts = np.array([int(s * fps) for s, _ in t.blinks])
    in_pause = pause[np.minimum(starts, n - 1)].mean()
    assert in_pause > 0.75  # 30 of 36 blinks per minute start in pauses
    speed = np.abs(np.diff(t.roll_deg))
    assert speed[~pause[1:]].mean() > 1.5 * speed[pause[1:]].mean()  # more motion in speech


def _template_landmarks():
    """The phantom's 35 landmarks of one frontal frame (96 px)."""
    from mrisynth.phantom.face import render_face, sample_face_identity

    ident = sample_face_identity(np.random.default_rng(5))
    one = np.ones(1)
    face = render_face(
        2 * one, 0 * one, 45 * one, 0 * one, fps=25.0, identity=ident,
        rng=np.random.default_rng(0), blink_rate_per_min=0.0, head_motion=False,
    )  # fmt: skip
    return face.landmarks[0].astype(np.float64)


def _landmarks_of(tracks, template):
    """Landmarks that move and blink as ``tracks`` say (roll about the eye midpoint)."""
    from mrisynth.data.face_landmarks import LANDMARK_INDEX as L

    iod = np.linalg.norm(template[L["eye_r_outer"]] - template[L["eye_l_outer"]])
    out = np.repeat(template[None], tracks.n_frames, axis=0)
    for side in "lr":
        up, lo = L[f"eye_{side}_upper"], L[f"eye_{side}_lower"]
        out[:, up] += tracks.closure[:, None] * (template[lo] - template[up])
    centre = template.mean(0)
    a = np.radians(tracks.roll_deg)
    rot = np.stack([np.cos(a), -np.sin(a), np.sin(a), np.cos(a)], -1).reshape(-1, 2, 2)
    out = np.einsum("tij,tkj->tki", rot, out - centre) + centre
    return out + tracks.translation_iod[:, None] * iod


def test_fitting_tracked_video_recovers_the_statistics_it_was_sampled_with():
    fps, n = 25.0, 25 * 60
    template = _template_landmarks()
    clips = []
    for seed in range(8):  # 8 minutes of "video"
        t = sample_tracks(STATS, n, fps, seed=seed)
        clips.append(MotionClip(_landmarks_of(t, template), fps, None, f"clip{seed}"))
    fit = fit_motion_stats(clips, source="test")
    assert abs(fit.blink_rate_per_min - 18.0) < 0.15 * 18.0, fit
    assert abs(fit.blink_half_s - 0.12) < 0.015, fit
    assert abs(fit.roll_std_deg - 1.5) < 0.2 * 1.5, fit
    assert np.allclose(fit.translation_std_iod, (0.05, 0.03), rtol=0.2), fit
    assert np.allclose(fit.smooth_s, STATS.smooth_s, rtol=0.3), fit
    assert fit.energy_gain == 0.0 and fit.source == "test"  # no audio: no energy link


def test_motion_statistics_round_trip_and_bad_files_are_named(tmp_path):
    path = STATS.save(tmp_path / "motion.json")
    assert MotionStats.load(path) == STATS
    (tmp_path / "bad.json").write_text('{"format": "mrisynth.motion_stats/1", "roll_std_deg": -1}')
    with pytest.raises(ValueError, match="bad.json: MotionStats.roll_std_deg must be"):
        MotionStats.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="other.json: not a motion statistics file"):
        MotionStats.load(tmp_path / "other.json")


def test_fit_motion_cli_writes_a_statistics_file_from_a_folder_of_videos(tmp_path, capsys):
    """The user's path: MP4s with audio → tracked with a landmark regressor → a file that
    ``dub --motion`` reads (a random regressor: plumbing; the fit itself is tested above)."""
    import torch

    from mrisynth.cli.main import main
    from mrisynth.io.video import write_mp4
    from mrisynth.models.artifacts import save_landmark_regressor
    from mrisynth.models.landmarks import LandmarkConfig, build_landmark_regressor

    cfg = LandmarkConfig(img_size=32, features=(4, 4, 8, 8), hidden=8)
    torch.manual_seed(1)
    reg = save_landmark_regressor(tmp_path / "lm.pt", build_landmark_regressor(cfg).eval(), cfg)
    videos = tmp_path / "videos"
    videos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        frames = rng.integers(0, 255, (60, 48, 48, 3), dtype=np.uint8)
        write_mp4(frames, videos / f"v{i}.mp4", fps=25.0, audio=rng.normal(0, 0.1, 38400), sr=16000)
    out = tmp_path / "motion.json"
    args = ["fit-motion", "--videos", str(videos), "--landmarks", str(reg), "--out", str(out)]
    assert main([*args, "--box", "4", "4", "40", "--no-progress"]) == 0
    stats = MotionStats.load(out)
    assert stats.source.startswith("2 videos (v0.mp4, v1.mp4")
    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    bad = ["fit-motion", "--videos", str(empty), "--landmarks", str(reg), "--out", str(out)]
    assert main(bad) != 0
    assert "empty: no videos" in capsys.readouterr().err
