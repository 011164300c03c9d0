"""Formant frequencies from audio by linear prediction (LPC).

The signal is resampled to ``2 × max_formant_hz`` (Praat's convention: look for formants below a
ceiling, 5.5 kHz for adult men), pre-emphasised, Hamming-windowed and fitted with
``librosa.lpc``. Formants are the angles of the LPC poles in the upper half plane whose
bandwidth ``B = −(fs/π)·ln|z|`` is below ``max_bandwidth_hz``, sorted by frequency.
"""

from __future__ import annotations

import librosa
import numpy as np

__all__ = ["estimate_formants", "formant_track"]


def _check_audio(audio: np.ndarray, sample_rate: int, name: str) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name}: audio must be 1-D, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: audio contains NaN or inf")
    if sample_rate <= 0:
        raise ValueError(f"{name}: sample_rate must be > 0, got {sample_rate}")
    return x


def _lpc_formants(
    x: np.ndarray, fs: float, n_formants: int, order: int, min_hz: float, max_bw: float
) -> np.ndarray:
    out = np.full(n_formants, np.nan)
    if x.size <= order + 1 or np.sqrt(np.mean(x**2)) < 1e-8:
        return out
    x = np.append(x[0], x[1:] - 0.97 * x[:-1]) * np.hamming(x.size)
    try:
        a = librosa.lpc(x, order=order)
    except FloatingPointError:
        return out
    if not np.all(np.isfinite(a)):
        return out
    roots = np.roots(a)
    roots = roots[np.imag(roots) > 0]
    freqs = np.angle(roots) * fs / (2 * np.pi)
    bws = -fs / np.pi * np.log(np.abs(roots) + 1e-300)
    keep = (freqs > min_hz) & (freqs < fs / 2 - 50.0) & (bws < max_bw)
    found = np.sort(freqs[keep])[:n_formants]
    out[: found.size] = found
    return out


def estimate_formants(
    audio: np.ndarray,
    sample_rate: int,
    *,
    n_formants: int = 4,
    lpc_order: int | None = None,
    max_formant_hz: float = 5500.0,
    max_bandwidth_hz: float = 500.0,
    min_formant_hz: float = 90.0,
) -> np.ndarray:
    """Formants of one stretch of (voiced) audio.

    Args:
        audio: ``(n,)`` waveform.
        sample_rate: Hz.
        n_formants: number of formants returned.
        lpc_order: LPC order at the analysis rate; default ``analysis_rate / 1000 + 2``.
        max_formant_hz: formant ceiling; analysis rate is twice this (capped at sample_rate).
        max_bandwidth_hz: poles with wider bandwidth are not formants.
        min_formant_hz: poles below this are ignored (glottal/DC).

    Returns:
        ``(n_formants,)`` Hz ascending; NaN where fewer formants were found or the audio is
        silent.

    Example:
        >>> f = estimate_formants(vowel, 16000)  # doctest: +SKIP
        >>> f[:2]  # F1, F2 in Hz
    """
    x = _check_audio(audio, sample_rate, "estimate_formants")
    if n_formants < 1:
        raise ValueError(f"estimate_formants: n_formants must be ≥ 1, got {n_formants}")
    fs = float(min(sample_rate, 2.0 * max_formant_hz))
    if fs < sample_rate:
        x = librosa.resample(x, orig_sr=sample_rate, target_sr=fs, res_type="soxr_hq")
    order = lpc_order if lpc_order is not None else int(fs // 1000) + 2
    if order < 2:
        raise ValueError(f"estimate_formants: lpc_order must be ≥ 2, got {order}")
    return _lpc_formants(x, fs, n_formants, order, min_formant_hz, max_bandwidth_hz)


def formant_track(
    audio: np.ndarray,
    sr: int,
    frame_s: float = 0.025,
    hop_s: float = 0.010,
    *,
    n_formants: int = 4,
    lpc_order: int | None = None,
    max_formant_hz: float = 5500.0,
    max_bandwidth_hz: float = 500.0,
    silence_db: float = -50.0,
) -> np.ndarray:
    """Framewise formants.

    Frame ``i`` starts at ``i · hop_s`` seconds and lasts ``frame_s``. Framing happens at the
    analysis rate ``fs_a = min(sr, 2 · max_formant_hz)``: with ``n_a`` samples there, there are
    ``1 + (n_a − round(frame_s·fs_a)) // round(hop_s·fs_a)`` frames (none if shorter than one).

    Args:
        audio: ``(n,)`` waveform.
        sr: Hz.
        frame_s: analysis window (s).
        hop_s: hop between frames (s).
        n_formants, lpc_order, max_formant_hz, max_bandwidth_hz: see :func:`estimate_formants`.
        silence_db: frames whose RMS is this far below the loudest frame are NaN.

    Returns:
        ``(n_frames, n_formants)`` Hz, NaN for silent frames or missing formants.
    """
    x = _check_audio(audio, sr, "formant_track")
    if not (frame_s > 0 and hop_s > 0):
        raise ValueError(f"formant_track: frame_s and hop_s must be > 0, got {frame_s}, {hop_s}")
    fs = float(min(sr, 2.0 * max_formant_hz))
    if fs < sr:
        x = librosa.resample(x, orig_sr=sr, target_sr=fs, res_type="soxr_hq")
    frame = max(8, int(round(frame_s * fs)))
    hop = max(1, int(round(hop_s * fs)))
    if x.size < frame:
        return np.full((0, n_formants), np.nan)
    frames = librosa.util.frame(x, frame_length=frame, hop_length=hop, axis=0)  # (n_frames, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = (
        rms > rms.max() * 10 ** (silence_db / 20.0) if rms.max() > 0 else np.zeros_like(rms, bool)
    )
    order = lpc_order if lpc_order is not None else int(fs // 1000) + 2
    out = np.full((frames.shape[0], n_formants), np.nan)
    for i in np.flatnonzero(loud):
        out[i] = _lpc_formants(frames[i], fs, n_formants, order, 90.0, max_bandwidth_hz)
    return out
