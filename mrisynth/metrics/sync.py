"""Audio–visual sync metrics: LSE-D, LSE-C and the AV offset, from sync-expert embeddings.

Definitions (after syncnet_python, Chung & Zisserman 2016; Prajwal et al. 2020):

- For every visual window ``i`` (frames ``i .. i+Tv``) and its audio window, a sync expert
  gives embeddings ``v_i`` and ``a_i`` (``(N, D)`` each).
- For an audio offset ``o`` (in frames), ``D(o) = mean_i ||v_i - a_{i+o}||_2`` over the pairs
  where ``0 <= i + o < N``. Offsets span ``±max_offset`` frames: ±600 ms by default, i.e.
  ``round(0.6 * fps)`` frames (syncnet_python's ±15 frames at 25 fps), in steps of one frame.
- **LSE-D** = ``min_o D(o)`` (lower is better); **LSE-C** = ``median_o D(o) − min_o D(o)``
  (higher is better); **offset** = ``argmin_o D(o)`` in frames (positive: the audio matching
  frame ``i`` sits ``o`` frames later).
- **sync BCE** = ``mean_i −log clip(cos(v_i, a_i), 1e-6, 1 − 1e-6)``: the expert's own training loss
  (computed by :func:`mrisynth.losses.sync.expert_bce`, its one definition)
  on the in-sync windows (offset 0), i.e. the generator's sync loss (Wav2Lip); lower is better,
  ln 2 ≈ 0.69 is a coin flip. Compare with the real video's value from the same expert.

Difference to syncnet_python: it zero-pads the audio features at the ends, so pairs with a
padded zero vector enter ``D(o)``; we average only valid pairs, which removes the bias that
padding gives to large offsets. Absolute values depend on the expert: numbers from mrisynth's
own experts are **not comparable** with those from the public SyncNet weights; always compare
with the real video scored by the same expert.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = [
    "SyncScore",
    "offset_distance_curve",
    "lse_scores",
    "max_offset_frames",
    "sync_bce",
]


def max_offset_frames(fps: float, span_ms: float = 600.0) -> int:
    """Number of one-frame offset steps on each side covering ``±span_ms`` at ``fps``."""
    return max(1, int(round(span_ms / 1000.0 * fps)))


@dataclasses.dataclass(frozen=True)
class SyncScore:
    """LSE result for one video: ``lse_d``, ``lse_c``, ``offset`` (frames) and the curve."""

    lse_d: float
    lse_c: float
    offset: int
    offsets: np.ndarray  # (2K+1,) frame offsets
    distances: np.ndarray  # (2K+1,) mean distance per offset
    sync_bce: float = float("nan")  # expert loss on the in-sync windows (offset 0)


def offset_distance_curve(
    video_emb: np.ndarray, audio_emb: np.ndarray, max_offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean embedding distance per audio offset.

    Args:
        video_emb: ``(N, D)`` visual-window embeddings.
        audio_emb: ``(N, D)`` audio-window embeddings (same windows, same order).
        max_offset: largest offset in frames; must leave at least one valid pair.

    Returns:
        ``offsets (2K+1,)`` and ``distances (2K+1,)``.
    """
    v = np.asarray(video_emb, dtype=np.float64)
    a = np.asarray(audio_emb, dtype=np.float64)
    if v.shape != a.shape or v.ndim != 2:
        raise ValueError(f"embeddings must both be (N, D), got {v.shape} and {a.shape}")
    n = len(v)
    if max_offset < 0 or max_offset >= n:
        raise ValueError(f"max_offset {max_offset} needs more than {max_offset} windows, got {n}")
    offsets = np.arange(-max_offset, max_offset + 1)
    dist = np.empty(len(offsets))
    for j, o in enumerate(offsets):
        i0, i1 = max(0, -o), min(n, n - o)
        dist[j] = np.linalg.norm(v[i0:i1] - a[i0 + o : i1 + o], axis=1).mean()
    return offsets, dist


def lse_scores(video_emb: np.ndarray, audio_emb: np.ndarray, max_offset: int) -> SyncScore:
    """LSE-D, LSE-C and the AV offset of one video (see module docstring)."""
    offsets, dist = offset_distance_curve(video_emb, audio_emb, max_offset)
    k = int(np.argmin(dist))
    return SyncScore(
        lse_d=float(dist[k]),
        lse_c=float(np.median(dist) - dist[k]),
        offset=int(offsets[k]),
        offsets=offsets,
        distances=dist,
        sync_bce=sync_bce(video_emb, audio_emb),
    )


def sync_bce(video_emb: np.ndarray, audio_emb: np.ndarray) -> float:
    """Mean expert sync loss ``−log P(sync)`` of aligned window pairs ``(N, D)`` (see above)."""
    import torch

    from mrisynth.losses.sync import expert_bce

    v = torch.from_numpy(np.asarray(video_emb, dtype=np.float64))
    a = torch.from_numpy(np.asarray(audio_emb, dtype=np.float64))
    if v.shape != a.shape or v.ndim != 2:
        raise ValueError(
            f"embeddings must both be (N, D), got {tuple(v.shape)} and {tuple(a.shape)}"
        )
    return float(expert_bce(v, a, torch.ones(len(v), dtype=torch.float64)))
