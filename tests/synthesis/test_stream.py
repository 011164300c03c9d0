"""Chunked synthesis: identical to one shot, frame counts and rates, audio and model handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synth_inputs import FOV_MM, disk_mask, save_generator

from mrisynth.synthesis import SynthesisModel, synthesize, synthesize_frames
from mrisynth.synthesis.stream import (
    HOW_TO_GET_A_MODEL,
    mel_context_steps,
    prepare_audio,
    resolve_model_path,
)


def _speechlike(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Amplitude-modulated harmonic noise with pauses: spectra that change every few frames."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110 + 30 * np.sin(2 * np.pi * 0.7 * t)
    voice = np.sin(2 * np.pi * np.cumsum(f0) / sr) + 0.3 * rng.normal(size=t.size)
    envelope = np.clip(np.sin(2 * np.pi * 2.3 * t) + 0.3, 0, None)
    return (0.3 * voice * envelope).astype(np.float32)


def test_streamed_equals_one_shot_for_60_s(tiny_model, phantom_clip):
    """60 s at the reference clip's 83.28 fps (4997 frames) in chunks of 2 s: bit for bit the
    frames of :func:`synthesize_frames` over the whole recording in one call (one log-mel of
    all the audio), at the same batch size."""
    audio = _speechlike(60.0)
    streamed = synthesize(
        audio, 16000, phantom_clip, tiny_model, chunk_s=2.0, roi_only=True, batch_size=16
    )
    assert streamed.chunk_frames % 16 == 0 and len(list(streamed.chunks())) > 20
    a = np.concatenate(list(streamed))
    assert a.shape == (round(60.0 * phantom_clip.fps), 32, 32)
    roi = synthesize_frames(
        tiny_model.generator,
        tiny_model.config,
        streamed.reference.roi,
        audio,
        16000,
        streamed.n_frames,
        tiny_model.mask,
        batch_size=16,
        fps=streamed.fps,
    )
    lo, hi = streamed.reference.intensity
    assert np.array_equal(a, lo + roi * np.float32(hi - lo))


def test_streamed_full_frames_equal_one_shot(tiny_model, phantom_clip):
    audio = _speechlike(6.0, seed=1)
    kw = dict(batch_size=8, progress=False)
    a = np.concatenate(list(synthesize(audio, 16000, phantom_clip, tiny_model, chunk_s=0.5, **kw)))
    b = np.concatenate(list(synthesize(audio, 16000, phantom_clip, tiny_model, chunk_s=1e6, **kw)))
    assert a.shape == (round(6.0 * phantom_clip.fps), 84, 84) and np.array_equal(a, b)


def test_context_covers_the_stft_window(tiny_cfg):
    # Wav2Lip front end: 800-sample FFT, 200-sample hop: a step sees +-2 hops, so 4 are kept
    assert mel_context_steps(tiny_cfg.mel) == 4


def test_frame_count_rate_and_spacing(tiny_model, phantom_clip):
    audio = _speechlike(1.3)
    one_frame = phantom_clip.clip(40, 41)
    s = synthesize(audio, 16000, one_frame, tiny_model, progress=False)
    assert s.fps == tiny_model.config.fps == 25.0  # one frame: the model's rate
    assert s.n_frames == round(1.3 * 25) and s.spacing_mm == (2.4, 2.4)
    clip = synthesize(audio, 16000, phantom_clip, tiny_model, progress=False)
    assert clip.fps == phantom_clip.fps  # a clip: its own rate
    chosen = synthesize(audio, 16000, phantom_clip, tiny_model, fps=50.0, spacing_mm=3.0)
    assert chosen.fps == 50.0 and chosen.n_frames == 65
    assert chosen.frame_shape == (67, 67)  # 84 px x 2.4 mm / 3 mm, field of view kept
    assert chosen.spacing_mm == pytest.approx((84 * 2.4 / 67,) * 2)
    frames = np.concatenate(list(chosen))
    assert frames.shape == (65, 67, 67) and frames.dtype == np.float32
    # the reference is cycled at the output rate: as long as the clip, but at 50 fps
    assert len(chosen.reference.frames) == round(phantom_clip.n_frames * 50 / phantom_clip.fps)
    roi = synthesize(audio, 16000, phantom_clip, tiny_model, roi_only=True, progress=False)
    assert roi.frame_shape == (32, 32)
    assert roi.spacing_mm == pytest.approx((2.4 * 50 / 32,) * 2)


def test_audio_is_mixed_resampled_and_padded():
    stereo = np.stack([_speechlike(1.0, 44100), _speechlike(1.0, 44100, seed=3)], axis=1)
    x, warnings = prepare_audio(stereo, 44100, 16000, 0.2)
    assert x.shape == (16000,) and x.dtype == np.float32 and not warnings
    short, warnings = prepare_audio(np.full(800, 0.1, np.float32), 16000, 16000, 0.2)
    assert len(short) == 3200 and "shorter than one audio window" in warnings[0]
    _, warnings = prepare_audio(np.zeros(16000, np.float32), 16000, 16000, 0.2)
    assert "audio is silent" in warnings[0]
    with pytest.raises(ValueError, match="speech.wav: audio is empty"):
        prepare_audio(np.zeros(0, np.float32), 16000, 16000, 0.2, name="speech.wav")


def test_short_audio_gives_one_window_of_frames(tiny_model, phantom_clip, caplog):
    s = synthesize(np.full(400, 0.05, np.float32), 16000, phantom_clip, tiny_model)
    assert s.n_frames == round(0.2 * phantom_clip.fps)  # padded to one 200 ms window
    assert any("shorter than one audio window" in w for w in s.warnings)
    assert "padded with silence" in caplog.text


def test_model_folder_file_and_missing(tmp_path, tiny_model_dir, monkeypatch):
    assert resolve_model_path(tiny_model_dir) == tiny_model_dir / "generator.pt"
    assert resolve_model_path(tiny_model_dir / "generator.pt") == tiny_model_dir / "generator.pt"
    with pytest.raises(FileNotFoundError, match="no generator model at .*make quickstart"):
        resolve_model_path(tmp_path / "nothing")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no model given and none at"):
        resolve_model_path(None)
    assert "--model experiments/quickstart/models/finetune" in HOW_TO_GET_A_MODEL


def test_default_face_model_is_the_face_pipelines_lipsync_output():
    """``dub``'s default face model is what a stage of ``experiments/face`` writes, and that
    stage trains on the pretraining speakers (a model for any face), not the target ones."""
    import yaml

    from mrisynth.synthesis.stream import DEFAULT_FACE_MODEL_DIR, HOW_TO_GET_A_FACE_MODEL

    root = Path(__file__).resolve().parents[2]
    stages = yaml.safe_load((root / "experiments/face/dvc.yaml").read_text())["stages"]
    out = DEFAULT_FACE_MODEL_DIR.relative_to("experiments/face").as_posix()
    writers = [s for s in stages.values() if out in s.get("outs", [])]
    assert len(writers) == 1, f"{len(writers)} stages of experiments/face write {out}, want 1"
    assert "--split-train pretrain " in writers[0]["cmd"]
    assert f"--model {DEFAULT_FACE_MODEL_DIR.as_posix()}" in HOW_TO_GET_A_FACE_MODEL


def test_speaker_folder_roi_and_too_coarse_reference(tmp_path, tiny_cfg, phantom_clip):
    folder = tmp_path / "speaker"
    save_generator(folder / "generator.pt", tiny_cfg, disk_mask(32))
    (folder / "roi.json").write_text('{"roi_mm": [24, 12, 120, 120]}')
    model = SynthesisModel.load(folder)
    s = synthesize(_speechlike(0.5), 16000, phantom_clip, model, progress=False)
    assert s.reference.box == (10, 5, 50, 50) and s.reference.roi_method == "speaker folder"
    # a model of 0.5 mm pixels (16 mm field of view at 32 px) on 2.4 mm frames: refused
    fine = tmp_path / "fine.pt"
    save_generator(fine, tiny_cfg, disk_mask(32), fov_mm=16.0)
    with pytest.raises(ValueError, match=r"coarser than the model's .* more than 2x"):
        synthesize(_speechlike(0.5), 16000, phantom_clip, fine, roi=(10, 10, 7, 7))


def test_model_without_spacing_assumes_the_default_field_of_view(tmp_path, tiny_cfg, phantom_clip):
    path = save_generator(tmp_path / "old.pt", tiny_cfg, disk_mask(32), fov_mm=None)
    s = synthesize(_speechlike(0.5), 16000, phantom_clip, path, progress=False)
    assert s.reference.box[2:] == (50, 50)  # 120 mm at 2.4 mm
    assert any("does not record its training spacing" in w for w in s.warnings)
    assert FOV_MM == 120.0
