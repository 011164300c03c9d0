"""Consistency checks run on every read: audio vs video duration and mild-problem warnings."""

from __future__ import annotations

import numpy as np

from mrisynth.data.sequence import SequenceError, SpeechMRISequence

__all__ = [
    "AV_TOLERANCE_S",
    "AV_TOLERANCE_FRAC",
    "av_mismatch_s",
    "check_audio_video",
    "sequence_warnings",
]

#: Audio/video duration mismatch above ``max(AV_TOLERANCE_S, AV_TOLERANCE_FRAC * video)``
#: is an error (wrong audio file, wrong fps); anything above one frame is a warning.
AV_TOLERANCE_S = 0.5
AV_TOLERANCE_FRAC = 0.10


def av_mismatch_s(seq: SpeechMRISequence) -> float | None:
    """End of audio minus end of video on the video clock (s); None without audio."""
    if seq.audio is None:
        return None
    return seq.audio_offset_s + seq.audio_duration_s - seq.duration_s


def check_audio_video(
    seq: SpeechMRISequence,
    *,
    image_name: str,
    audio_name: str | None,
    tolerance_s: float = AV_TOLERANCE_S,
    tolerance_frac: float = AV_TOLERANCE_FRAC,
    strict: bool = True,
) -> list[str]:
    """Compare audio and video spans.

    Args:
        seq: the sequence (with audio).
        image_name, audio_name: names used in messages.
        tolerance_s, tolerance_frac: allowed mismatch is ``max(tolerance_s,
            tolerance_frac * video duration)`` seconds.
        strict: raise on a large mismatch (otherwise it becomes a warning).

    Returns:
        Warnings for mismatches larger than one frame period but within the tolerance.

    Raises:
        SequenceError: names both files and durations when the mismatch is too large.
    """
    mismatch = av_mismatch_s(seq)
    if mismatch is None:
        return []
    start = seq.audio_offset_s
    audio_s, video_s = seq.audio_duration_s, seq.duration_s
    allowed = max(float(tolerance_s), float(tolerance_frac) * video_s)
    covered = start + audio_s
    # Audio that starts late leaves the first frames silent; audio that starts early (e.g.
    # after discarded frames) is harmless. At the end both too short and too long count.
    worst = max(abs(mismatch), max(start, 0.0))
    what = "shorter" if covered < video_s else "longer"
    msg = (
        f"audio {audio_name or '(embedded)'} ({audio_s:.3f} s, offset {start:+.3f} s) is "
        f"{abs(mismatch):.3f} s {what} than video {image_name} ({seq.n_frames} frames at "
        f"{seq.fps:.4g} fps = {video_s:.3f} s)"
    )
    if worst > allowed:
        if strict:
            raise SequenceError(
                f"{msg}; allowed mismatch {allowed:.3f} s (check the audio file and fps, or "
                "raise av_tolerance_s)"
            )
        return [msg + f" (exceeds allowed {allowed:.3f} s)"]
    if worst > 1.0 / seq.fps:
        return [msg]
    return []


def sequence_warnings(seq: SpeechMRISequence) -> list[str]:
    """Mild problems worth showing in ``mrisynth info`` (never fatal)."""
    out = []
    lo, hi = seq.intensity_range
    if lo == hi:
        out.append(f"all frames have the same intensity ({lo:g})")
    if seq.n_frames < 2:
        out.append("sequence has a single frame")
    if seq.spacing_mm is not None:  # unknown spacing (a described read) has no shape to check
        sr, sc = seq.spacing_mm
        if abs(sr - sc) > 0.01 * max(sr, sc):
            out.append(f"non-square pixels: spacing {sr:.4g} x {sc:.4g} mm")
    if seq.audio is not None:
        peak = float(np.max(np.abs(seq.audio)))
        if peak >= 0.999:
            out.append(f"audio may be clipped (peak {peak:.3f})")
        elif peak < 1e-4:
            out.append(f"audio is (nearly) silent (peak {peak:.2e})")
        if seq.sample_rate < 8000:
            out.append(f"low audio sample rate {seq.sample_rate} Hz")
    return out
