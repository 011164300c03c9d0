"""Log-mel features and the one time → mel-window mapping used by training and inference.

Time conventions (see :mod:`mrisynth.data.sequence`): frame ``k`` starts at ``k / fps`` s on the
video clock; audio sample ``i`` sits at ``audio_offset_s + i / sample_rate`` s. Mel step ``j``
(librosa ``center=True``) is centred on audio sample ``j * hop_length``, i.e. on the video-clock
time ``audio_offset_s + j * hop_length / sample_rate``.

The audio window for frame ``k`` is cut by :func:`mel_window` from a *time*:

- ``center=False``: the window starts at ``k / fps`` (Wav2Lip's convention: the window covers the
  frame and the next ``window_ms``; the sync expert uses this so its audio window spans the same
  time as its visual window of frames ``k .. k + Tv - 1``);
- ``center=True``: the window is centred on the middle of frame ``k``, ``(k + 0.5) / fps``
  (coarticulation works in both directions; the generator default).

Both the datasets and inference call :func:`frames_to_mel_windows` (which calls
:func:`mel_window`), and the time → sample step goes through
:func:`mrisynth.data.sequence.audio_sample_index`, so there is no one-frame offset between
training and inference (Wav2Lip's known defect) for any fps, including 83.28.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from mrisynth.data.sequence import audio_sample_index

__all__ = [
    "MelConfig",
    "log_mel",
    "mel_step_of_time",
    "mel_window",
    "window_steps",
    "frame_window_start_s",
    "frames_to_mel_windows",
    "frames_in_window",
]

PadMode = Literal["silence", "edge"]


@dataclasses.dataclass(frozen=True)
class MelConfig:
    """Parameters of the log-mel front end.

    Args:
        sample_rate: rate (Hz) the audio is analysed at; other rates are resampled.
        n_fft: FFT size in samples.
        hop_length: step between mel frames in samples (``hop_ms = 1000 * hop / sample_rate``).
        win_length: analysis (Hann) window length in samples (<= ``n_fft``).
        n_mels: number of mel bands.
        fmin, fmax: mel filterbank edges in Hz (``fmax <= sample_rate / 2``).
        preemphasis: first-order pre-emphasis coefficient, or ``None`` for none.
        ref_level_db: subtracted from the amplitude in dB (20 → levels relative to +20 dB).
        min_level_db: floor in dB (negative); maps to ``-max_abs_value``.
        max_abs_value: output range is ``[-max_abs_value, max_abs_value]`` (symmetric).
        resample: resample audio at another rate (True) or raise (False).
    """

    sample_rate: int = 16000
    n_fft: int = 800
    hop_length: int = 200
    win_length: int = 800
    n_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    preemphasis: float | None = 0.97
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_abs_value: float = 4.0
    resample: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"MelConfig.sample_rate must be > 0 Hz, got {self.sample_rate}")
        if not 0 < self.win_length <= self.n_fft:
            raise ValueError(
                f"MelConfig.win_length ({self.win_length}) must be in 1..n_fft ({self.n_fft})"
            )
        if self.hop_length <= 0:
            raise ValueError(f"MelConfig.hop_length must be > 0, got {self.hop_length}")
        if self.n_mels <= 0:
            raise ValueError(f"MelConfig.n_mels must be > 0, got {self.n_mels}")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"MelConfig needs 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, "
                f"fmax={self.fmax}, sample_rate={self.sample_rate}"
            )
        if self.min_level_db >= 0 or self.max_abs_value <= 0:
            raise ValueError("MelConfig.min_level_db must be < 0 and max_abs_value > 0")

    @classmethod
    def wav2lip(cls) -> MelConfig:
        """Wav2Lip's front end: 16 kHz, 12.5 ms hop (80 steps/s), 80 mels 55–7600 Hz, [-4, 4]."""
        return cls()

    @classmethod
    def mri(cls) -> MelConfig:
        """Front end for rtMRI (83.28 fps = 12.0 ms frames).

        16 kHz, hop 160 samples = 10 ms (100 steps/s, ~1.2 mel steps per MRI frame, the usual
        ASR rate), 25 ms Hann window (400 samples) in a 512-point FFT, 80 mels 55–7600 Hz,
        same pre-emphasis and dB normalisation as Wav2Lip so the level range is familiar. A
        shorter window than Wav2Lip's 50 ms keeps fast articulatory events (bursts, taps) sharp
        at the MRI frame rate; scanner noise is handled upstream (denoised audio expected).
        """
        return cls(n_fft=512, hop_length=160, win_length=400)

    @property
    def hop_ms(self) -> float:
        """Time between mel steps in milliseconds."""
        return 1000.0 * self.hop_length / self.sample_rate

    @property
    def steps_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def silence_value(self) -> float:
        """The normalised value of silence (the dB floor): the padding outside the audio."""
        return -self.max_abs_value


def log_mel(audio: np.ndarray, sample_rate: int, cfg: MelConfig) -> np.ndarray:
    """Normalised log-mel spectrogram of mono audio.

    Args:
        audio: ``(N,)`` mono samples, float in roughly [-1, 1].
        sample_rate: rate of ``audio`` in Hz; resampled to ``cfg.sample_rate`` if different.
        cfg: front-end parameters.

    Returns:
        ``(n_mels, n_steps)`` float32 in ``[-max_abs_value, max_abs_value]``; step ``j`` is
        centred on sample ``j * hop_length`` (at ``cfg.sample_rate``), ``n_steps = 1 + N' // hop``.

    Raises:
        ValueError: audio not mono/finite/empty, or a rate mismatch with ``cfg.resample=False``.
    """
    import librosa
    import scipy.signal

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"log_mel: audio must be non-empty mono (N,), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("log_mel: audio contains NaN or Inf")
    if int(sample_rate) != cfg.sample_rate:
        if not cfg.resample:
            raise ValueError(
                f"log_mel: audio is {sample_rate} Hz but the mel config expects "
                f"{cfg.sample_rate} Hz (resample=False)"
            )
        x = librosa.resample(x, orig_sr=int(sample_rate), target_sr=cfg.sample_rate)
    if cfg.preemphasis:
        x = scipy.signal.lfilter([1.0, -cfg.preemphasis], [1.0], x).astype(np.float32)
    spec = np.abs(
        librosa.stft(
            x, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, center=True
        )
    )
    basis = librosa.filters.mel(
        sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax
    )
    # einsum, not ``basis @ spec``: a BLAS matmul may round a column differently depending on
    # where it sits in the matrix (seen with OpenBLAS on AVX-512), so the log-mel of a chunk
    # of audio would differ by an ulp from the same steps of the whole recording, and chunked
    # synthesis would not equal one pass. einsum sums each column the same way wherever it is.
    mel = np.einsum("mf,ft->mt", basis, spec)
    floor = 10.0 ** (cfg.min_level_db / 20.0)  # avoid log(0) below the dB floor anyway
    db = 20.0 * np.log10(np.maximum(floor, mel)) - cfg.ref_level_db
    m = cfg.max_abs_value
    out = np.clip(2 * m * (db - cfg.min_level_db) / (-cfg.min_level_db) - m, -m, m)
    return out.astype(np.float32)


def mel_step_of_time(
    t_s: float | np.ndarray, cfg: MelConfig, audio_offset_s: float = 0.0
) -> np.ndarray:
    """Index of the mel step nearest to video-clock time ``t_s`` (s); may be outside the mel.

    Goes through :func:`audio_sample_index` (the project's single time → sample mapping),
    then to the step whose centre ``j * hop`` is nearest to that sample.
    """
    samples = audio_sample_index(t_s, cfg.sample_rate, audio_offset_s)
    return np.floor_divide(samples + cfg.hop_length // 2, cfg.hop_length)


def window_steps(window_ms: float, cfg: MelConfig) -> int:
    """Mel steps in a window of ``window_ms`` milliseconds: ``round(window_ms / hop_ms)``."""
    n = int(round(float(window_ms) / cfg.hop_ms))
    if n < 1:
        raise ValueError(
            f"window_ms={window_ms} is shorter than one mel step ({cfg.hop_ms:.2f} ms)"
        )
    return n


def mel_window(
    mel: np.ndarray,
    start_s: float | np.ndarray,
    window_ms: float,
    cfg: MelConfig,
    *,
    audio_offset_s: float = 0.0,
    pad: PadMode = "silence",
) -> np.ndarray:
    """Cut the mel window that starts at video-clock time ``start_s``.

    Args:
        mel: ``(n_mels, n_steps)`` from :func:`log_mel` of audio whose first sample is at
            ``audio_offset_s`` on the video clock.
        start_s: window start time(s) in seconds: a scalar or a ``(K,)`` array.
        window_ms: window length in ms; ``n_win = round(window_ms / hop_ms)`` steps.
        cfg: the config ``mel`` was computed with.
        audio_offset_s: the sequence's audio offset (s).
        pad: outside the audio, ``"silence"`` (the dB floor) or ``"edge"`` (nearest step).

    Returns:
        ``(n_mels, n_win)`` float32 for a scalar start, ``(K, n_mels, n_win)`` for an array.
    """
    mel = np.asarray(mel)
    if mel.ndim != 2 or mel.shape[0] != cfg.n_mels:
        raise ValueError(f"mel_window: mel must be (n_mels={cfg.n_mels}, n_steps), got {mel.shape}")
    if pad not in ("silence", "edge"):
        raise ValueError(f"mel_window: pad must be 'silence' or 'edge', got {pad!r}")
    n_win = window_steps(window_ms, cfg)
    first = mel_step_of_time(start_s, cfg, audio_offset_s)  # () or (K,)
    idx = np.asarray(first)[..., None] + np.arange(n_win)  # (..., n_win)
    n_steps = mel.shape[1]
    clipped = np.clip(idx, 0, n_steps - 1)
    out = mel[:, clipped]  # (n_mels, ..., n_win)
    if pad == "silence":
        out = np.where((idx >= 0) & (idx < n_steps), out, np.float32(cfg.silence_value))
    out = np.moveaxis(out, 0, -2)  # (..., n_mels, n_win)
    return np.ascontiguousarray(out, dtype=np.float32)


def frame_window_start_s(
    frame_index: int | np.ndarray, fps: float, window_ms: float, center: bool
) -> np.ndarray:
    """Start time (s) of the audio window for frame(s) ``frame_index`` at ``fps``.

    ``center=False``: ``k / fps``; ``center=True``: ``(k + 0.5) / fps - window_ms / 2000``.
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    k = np.asarray(frame_index, dtype=np.float64)
    if center:
        return (k + 0.5) / fps - float(window_ms) / 2000.0
    return k / fps


def frames_to_mel_windows(
    mel: np.ndarray,
    n_frames: int,
    fps: float,
    window_ms: float,
    cfg: MelConfig,
    *,
    center: bool = True,
    audio_offset_s: float = 0.0,
    first_frame: int = 0,
    pad: PadMode = "silence",
) -> np.ndarray:
    """Audio windows for frames ``first_frame .. first_frame + n_frames - 1``.

    Used by the training datasets *and* by inference (the same path, no frame offset).

    Returns:
        ``(n_frames, 1, n_mels, n_win)`` float32.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    starts = frame_window_start_s(
        np.arange(first_frame, first_frame + n_frames), fps, window_ms, center
    )
    win = mel_window(mel, starts, window_ms, cfg, audio_offset_s=audio_offset_s, pad=pad)
    return win[:, None]


def frames_in_window(window_ms: float, fps: float) -> int:
    """Frames ``Tv = round(window_ms / 1000 · fps)`` (at least 1): 200 ms → 5 @25, 17 @83.28."""
    if window_ms <= 0 or fps <= 0:
        raise ValueError(f"window_ms and fps must be > 0, got {window_ms}, {fps}")
    return max(1, int(round(window_ms / 1000.0 * fps)))
