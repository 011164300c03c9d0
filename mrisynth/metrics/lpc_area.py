"""Vocal-tract area functions from speech audio by linear prediction (Wakita's method).

A lossless tube of ``N`` equal sections driven at the glottis and radiating at the lips has
the all-pole transfer function that LPC of order ``N`` fits, and the PARCOR (reflection)
coefficients of the Levinson–Durbin recursion are the reflections at its section junctions
(Wakita 1973). With pre-emphasis for the glottal source and lip radiation, and an analysis
rate at which one sample of round trip spans one section (``N = 2 L fs / c``), the area ratio
of consecutive sections follows from each coefficient:

``A_{m+1} / A_m = (1 - k_m) / (1 + k_m)``, ``m = 1`` at the lips, counting towards the glottis.

Only ratios are defined, so areas are returned relative to their geometric mean (log areas
minus their mean): scale-free, comparable across speakers and recordings. The estimate is
valid for non-nasal vowel-like frames; it is a physically grounded baseline, not a
measurement. Jain, Nataraj & Pandey (2016) built a speech-training display for
hearing-impaired children on it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["levinson_durbin", "area_ratios_from_reflections", "lpc_area_track"]

#: Speed of sound in warm moist air (cm/s) and a typical adult tract length (cm).
SOUND_SPEED_CM_S = 35000.0
TRACT_LENGTH_CM = 17.5


def levinson_durbin(r: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Solve the autocorrelation normal equations by the Levinson–Durbin recursion.

    Args:
        r: ``(order + 1,)`` autocorrelation ``r[0..order]`` (``r[0] > 0``).
        order: predictor order ``p``.

    Returns:
        ``(a, k, err)``: ``a (p + 1,)`` the inverse filter ``A(z) = 1 + a_1 z^-1 + ...``,
        ``k (p,)`` the reflection coefficients (``|k| < 1`` for a positive definite ``r``)
        and the final prediction error power.
    """
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 1 or len(r) < order + 1:
        raise ValueError(f"levinson_durbin: need r[0..{order}], got shape {r.shape}")
    if not r[0] > 0:
        raise ValueError("levinson_durbin: r[0] must be > 0 (silent frame)")
    a = np.zeros(order + 1)
    a[0] = 1.0
    k = np.zeros(order)
    err = float(r[0])
    for m in range(1, order + 1):
        acc = r[m] + np.dot(a[1:m], r[m - 1 : 0 : -1])
        km = -acc / err
        a[1 : m + 1] = a[1 : m + 1] + km * a[m - 1 :: -1][:m]
        k[m - 1] = km
        err *= 1.0 - km * km
    return a, k, err


def area_ratios_from_reflections(k: np.ndarray) -> np.ndarray:
    """Relative log areas of the ``p + 1`` tube sections from ``p`` reflection coefficients.

    Args:
        k: ``(p,)`` reflection coefficients of :func:`levinson_durbin` (lips first).

    Returns:
        ``(p + 1,)`` natural-log areas, **glottis first, lips last**, minus their mean.
    """
    k = np.clip(np.asarray(k, dtype=np.float64), -0.999, 0.999)
    # log A_{m+1} - log A_m = log((1 - k_m) / (1 + k_m)), from the lips (m = 0) inwards
    steps = np.log1p(-k) - np.log1p(k)
    log_a = np.concatenate([[0.0], np.cumsum(steps)])[::-1]
    return log_a - log_a.mean()


def lpc_area_track(
    audio: np.ndarray,
    sample_rate: int,
    hop_s: float = 0.01,
    frame_s: float = 0.025,
    analysis_rate: int = 10000,
    pre_emphasis: float = 0.98,
    silence_db: float = -35.0,
) -> np.ndarray:
    """Framewise LPC area functions of a recording.

    Frame ``i`` is centred at ``i · hop_s`` s. The audio is resampled to ``analysis_rate``
    (order ``round(2 L fs / c)`` = 10 sections of 1.75 cm at 10 kHz), pre-emphasised and
    Hamming-windowed per frame.

    Args:
        audio: ``(n,)`` mono samples; ``sample_rate`` their rate (Hz).
        hop_s, frame_s: hop and window length (s).
        analysis_rate: the rate the tube model is fitted at (Hz).
        pre_emphasis: first-order pre-emphasis coefficient (glottal source + lip radiation).
        silence_db: frames whose RMS lies this far below the loud frames' (95th percentile)
            are NaN.

    Returns:
        ``(n_frames, sections)`` relative log areas (glottis first); NaN rows for silent
        frames. ``n_frames = 1 + len(audio) / sample_rate // hop_s``.
    """
    from mrisynth.io.audio import resample_audio

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"lpc_area_track: audio must be 1-D, got shape {x.shape}")
    x = resample_audio(x, int(sample_rate), int(analysis_rate)).astype(np.float64)
    fs = float(analysis_rate)
    order = max(2, int(round(2 * TRACT_LENGTH_CM * fs / SOUND_SPEED_CM_S)))
    x = np.append(x[:1], x[1:] - pre_emphasis * x[:-1])
    win = max(order + 2, int(round(frame_s * fs)))
    hop = max(1, int(round(hop_s * fs)))
    n_frames = 1 + int(len(x) // hop)
    padded = np.pad(x, (win // 2, win))
    window = np.hamming(win)
    frames = np.stack([padded[i * hop : i * hop + win] for i in range(n_frames)]) * window
    rms = np.sqrt(np.mean(frames**2, axis=1))
    # relative to the loud frames' level (95th percentile), not the loudest frame: a release
    # burst can lie 30 dB above the vowels
    level = float(np.percentile(rms, 95))
    loud = rms > level * 10 ** (silence_db / 20.0) if level > 0 else rms > 1
    out = np.full((n_frames, order + 1), np.nan)
    for i in np.flatnonzero(loud):
        f = frames[i]
        r = np.correlate(f, f, mode="full")[win - 1 : win + order]
        _, k, _ = levinson_durbin(r, order)
        out[i] = area_ratios_from_reflections(k)
    return out
