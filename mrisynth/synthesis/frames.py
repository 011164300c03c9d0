"""Frame synthesis: speech audio + reference ROI frames of a speaker → synthesized ROI frames.

The generator paints the region it was trained to paint (the vocal-tract mask for MRI, the
lower half for faces) into **reference** frames of the same speaker, driven by the audio
window of each output frame. The ground-truth target frame is never an input: the masked
input is the reference with its mask region zeroed, so evaluation cannot leak the answer.

Two conditions (as in the seed study's table):

- ``image+audio``: one reference frame, repeated for every output frame;
- ``video+audio``: a reference video (another utterance of the same speaker), cycled.

Audio windows come from :func:`mrisynth.transforms.mel.frames_to_mel_windows`, the same
function the training datasets use, so training and inference see identical alignment.
:mod:`mrisynth.synthesis.stream` calls :func:`synthesize_frames` chunk by chunk for long audio
(``first_frame`` and ``audio_offset_s`` place a chunk on the recording's clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mrisynth.data.intensity import to_unit, unit_tensor
from mrisynth.data.spec import DataSpec
from mrisynth.transforms.mel import frames_to_mel_windows, log_mel

__all__ = ["synthesize_frames", "sync_embeddings", "side_by_side", "write_side_by_side_samples"]


def _to_tchw(frames: np.ndarray) -> torch.Tensor:
    """uint8 or float [0,1] ``(T, H, W)`` / ``(T, H, W, C)`` → float ``(T, C, H, W)`` in [0, 1]."""
    f = np.asarray(frames)
    if f.ndim == 3:
        f = f[:, None]
    elif f.ndim == 4:
        f = np.moveaxis(f, -1, 1)
    else:
        raise ValueError(f"frames must be (T, H, W) or (T, H, W, C), got {f.shape}")
    return unit_tensor(torch.from_numpy(np.ascontiguousarray(f)))


@torch.no_grad()
def synthesize_frames(
    generator: torch.nn.Module,
    model_cfg,
    reference: np.ndarray,
    audio: np.ndarray,
    sample_rate: int,
    n_frames: int,
    mask: np.ndarray,
    *,
    audio_offset_s: float = 0.0,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    mel: np.ndarray | None = None,
    fps: float | None = None,
    first_frame: int = 0,
    cycle_reference: bool = True,
) -> np.ndarray:
    """Synthesize ``n_frames`` frames at ``model_cfg.fps`` (or ``fps``) from audio.

    Args:
        generator: trained :class:`~mrisynth.models.generator.Generator` (eval mode).
        model_cfg: its :class:`~mrisynth.models.builders.ModelConfig` (fps, mel, windows).
        reference: ``(Tr, H, W[, C])`` uint8 (or float in [0, 1]) frames of the speaker;
            ``Tr = 1`` for image+audio, a video for video+audio (cycled).
        audio: mono samples ``(N,)``; sample_rate: Hz.
        n_frames: number of output frames ``T``.
        mask: ``(H, W)`` bool region to paint (from the generator's checkpoint).
        audio_offset_s: time of the first audio sample relative to frame 0 (s).
        mel: the audio's log-mel ``(n_mels, n_steps)`` by ``model_cfg.mel``, if already
            computed (:func:`~mrisynth.transforms.mel.log_mel`); None computes it.
        fps: output frame rate (frames/s); None = ``model_cfg.fps``. The generator maps one
            audio window to one frame, and frame ``k``'s window is cut by time, so any rate
            samples the same audio → frame mapping.
        first_frame: index of the first output frame on the recording's clock: frames
            ``first_frame .. first_frame + n_frames - 1`` are made (their audio windows and the
            reference frames they cycle through), so consecutive chunks of one recording
            equal one call over all of it.
        cycle_reference: output frame ``k`` takes reference frame ``k mod Tr`` (on the
            recording's clock); False: ``reference`` holds exactly one frame per output frame
            of this call, in order (e.g. face crops that follow a moving head).

    Returns:
        ``(T, H, W)`` (1 channel) or ``(T, H, W, C)`` float32 frames in [0, 1].
    """
    DataSpec.of_model(model_cfg).check_frames(np.shape(reference), "reference frames")
    ref = _to_tchw(reference)
    c, h, w = ref.shape[1:]
    if (h, w) != tuple(np.asarray(mask).shape):
        raise ValueError(f"mask {np.asarray(mask).shape} does not match reference frames {(h, w)}")
    if not cycle_reference and len(ref) != n_frames:
        raise ValueError(f"{len(ref)} reference frames for {n_frames} output frames")
    if mel is None:
        mel = log_mel(audio, sample_rate, model_cfg.mel)
    windows = frames_to_mel_windows(
        mel,
        n_frames,
        model_cfg.fps if fps is None else fps,
        model_cfg.audio_window_ms,
        model_cfg.mel,
        center=model_cfg.audio_window_center,
        audio_offset_s=audio_offset_s,
        first_frame=first_frame,
    )  # (T, 1, n_mels, n_win)
    keep = torch.from_numpy(~np.asarray(mask, dtype=bool)).float()  # 1 outside the painted region
    generator = generator.to(device).eval()
    out = []
    for s in range(0, n_frames, batch_size):
        idx = np.arange(s, min(n_frames, s + batch_size))
        r = ref[(first_frame + idx) % len(ref) if cycle_reference else idx].to(device)
        masked = r * keep.to(device)
        a = torch.from_numpy(windows[idx]).to(device)
        y = generator(a[:, None], masked[:, None], r[:, None])[:, 0]  # T = 1 per item
        out.append(y.float().cpu())
    y = torch.cat(out).clamp(0, 1).numpy()
    return y[:, 0] if c == 1 else np.moveaxis(y, 1, -1)


@torch.no_grad()
def sync_embeddings(
    expert: torch.nn.Module,
    model_cfg,
    frames: np.ndarray,
    audio: np.ndarray,
    sample_rate: int,
    *,
    audio_offset_s: float = 0.0,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    mel: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sync-expert embeddings of every visual window and its audio window of a video.

    Window ``i`` covers frames ``i .. i + Tv - 1`` and the audio over the same time span
    (``model_cfg.sync_window_ms``). The windows go in raw ([0, 1] frames, log-mel): the expert
    applies its own input preprocessing (``sync_visual_input``, ``sync_audio_norm``), exactly
    as in training and in the generator's sync loss.

    ``mel``: the audio's log-mel by ``model_cfg.mel`` if already computed (None computes it).

    Returns:
        ``(video_emb, audio_emb)``, each ``(N, D)`` with ``N = T - Tv + 1``.
    """
    from mrisynth.models.syncnet import frames_in_window

    f = _to_tchw(frames)
    tv = frames_in_window(model_cfg.sync_window_ms, model_cfg.fps)
    n = f.shape[0] - tv + 1
    if n < 1:
        raise ValueError(f"video of {f.shape[0]} frames is shorter than the sync window ({tv})")
    if mel is None:
        mel = log_mel(audio, sample_rate, model_cfg.mel)
    # audio window i starts at frame i's start time and spans the visual window
    windows = frames_to_mel_windows(
        mel,
        n,
        model_cfg.fps,
        model_cfg.sync_window_ms,
        model_cfg.mel,
        center=False,
        audio_offset_s=audio_offset_s,
    )  # (N, 1, n_mels, n_win)
    expert = expert.to(device).eval()
    v_out, a_out = [], []
    for s in range(0, n, batch_size):
        idx = np.arange(s, min(n, s + batch_size))
        clips = torch.stack([f[i : i + tv] for i in idx]).to(device)  # (b, Tv, C, H, W)
        v_emb, a_emb = expert(clips, torch.from_numpy(windows[idx]).to(device))
        v_out.append(v_emb.float().cpu())
        a_out.append(a_emb.float().cpu())
    return torch.cat(v_out).numpy(), torch.cat(a_out).numpy()


def side_by_side(reference: np.ndarray, synthesized: np.ndarray) -> np.ndarray:
    """``(T, H, 3W + 2[, 3])`` uint8 panel: reference | synthesized | |difference|.

    Args:
        reference, synthesized: ``(T, H, W)`` or ``(T, H, W, 3)`` floats in [0, 1] (uint8 is
            scaled), one shape. 1-px white separators between the panels.
    """
    ref, syn = (to_unit(x) for x in (reference, synthesized))
    if ref.shape != syn.shape:
        raise ValueError(f"side_by_side: shapes differ, {ref.shape} vs {syn.shape}")
    sep = np.ones((len(ref), ref.shape[1], 1, *ref.shape[3:]), np.float32)
    panel = np.concatenate([ref, sep, syn, sep, np.abs(syn - ref)], axis=2)
    return np.rint(np.clip(panel, 0, 1) * 255).astype(np.uint8)


def write_side_by_side_samples(
    generator_path: str | Path, sequences: Sequence[Any], out_dir: str | Path
) -> Path:
    """Side-by-side MP4s with audio (recording | synthesized | difference), one per sequence.

    The identity reference is each sequence's first frame (the image+audio condition); the
    audio drives the rest. Written to ``out_dir/<utterance>.mp4``; returns ``out_dir``.
    """
    from mrisynth.io import write_mp4
    from mrisynth.models.artifacts import load_model

    generator, artifact = load_model(generator_path, "generator")
    cfg = artifact.config()
    out = Path(out_dir)
    for i, seq in enumerate(sequences):
        pred = synthesize_frames(
            generator,
            cfg,
            np.asarray(seq.frames)[:1],
            seq.audio,
            seq.sample_rate,
            len(seq.frames),
            artifact.mask,
            audio_offset_s=seq.audio_offset_s,
        )
        name = getattr(seq, "utterance_id", None) or f"sample_{i}"
        write_mp4(
            side_by_side(np.asarray(seq.frames), pred),
            out / f"{name}.mp4",
            fps=seq.fps,
            audio=seq.audio_for_frames(0, len(seq.frames)),
            sr=seq.sample_rate,
        )
    return out
