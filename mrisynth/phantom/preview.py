"""Previews of one phantom sentence: a PNG strip and an MP4 (with audio) of MRI | labels | face."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mrisynth.phantom.corpus import PhantomConfig, Utterance, synthesize_utterance
from mrisynth.phantom.labels import N_LABELS

__all__ = ["label_colours", "preview_sentence"]


def label_colours(labels: np.ndarray) -> np.ndarray:
    """``(..., H, W)`` label ids → ``(..., H, W, 3)`` uint8 colours (one fixed colour per id)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    table = (np.array([cmap(i % 10)[:3] for i in range(N_LABELS)]) * 255).astype(np.uint8)
    table[0] = 0  # background black
    return table[np.asarray(labels)]


def _upscale(img: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour upscale of ``(T, H, W[, 3])`` to ``size`` rows."""
    k = max(1, size // img.shape[1])
    return np.repeat(np.repeat(img, k, axis=1), k, axis=2)


def preview_sentence(
    out_dir: str | Path,
    language: str = "en",
    sentence_index: int = 1,
    seed: int = 0,
    size: int = 252,
) -> tuple[Path, Path]:
    """Write ``phantom_<lang>.png`` (8 time points) and ``phantom_<lang>.mp4`` (with audio).

    Each frame shows the MRI, its articulator labels and the face at the same instant, all from
    one articulatory trajectory. Returns the two paths.
    """
    from mrisynth.io import write_mp4

    cfg = PhantomConfig(face=True, face_size=size, seed=seed)
    utt = Utterance(f"preview_{language}", "spk00", 0, language, sentence_index, "test", seed + 17)
    res = synthesize_utterance(cfg, utt)
    seq, face = res["sequence"], res["face"]
    mri = seq.to_uint8()
    mri_rgb = np.repeat(_upscale(mri, size)[..., None], 3, axis=-1)
    lab_rgb = _upscale(label_colours(seq.labels), size)
    # face frame shown at each MRI frame: the one whose interval contains the MRI frame centre
    t = (np.arange(seq.n_frames) + 0.5) / seq.fps
    idx = np.minimum((t * face.fps).astype(int), len(face.frames) - 1)
    face_frames = face.frames[idx]
    pad = size - face_frames.shape[1] * (size // face_frames.shape[1])
    face_up = _upscale(face_frames, size)
    if pad:
        face_up = np.pad(face_up, ((0, 0), (0, pad), (0, pad), (0, 0)))
    panel = np.concatenate(
        [mri_rgb, lab_rgb, face_up[:, : mri_rgb.shape[1], : mri_rgb.shape[2]]], axis=2
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mp4 = write_mp4(
        panel,
        out_dir / f"phantom_{language}.mp4",
        fps=seq.fps,
        audio=seq.audio,
        sr=seq.sample_rate,
        crf=23,
    )
    import imageio.v3 as iio

    picks = np.linspace(0, seq.n_frames - 1, 8).round().astype(int)
    # rows: MRI, labels, face; columns: 8 instants through the sentence
    rows = [
        np.concatenate(list(panel[picks, :, i * size : (i + 1) * size]), axis=1) for i in range(3)
    ]
    strip = np.concatenate(rows, axis=0)
    png = out_dir / f"phantom_{language}.png"
    iio.imwrite(png, strip)
    return png, mp4
