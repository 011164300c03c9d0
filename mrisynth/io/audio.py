"""Audio reading and writing: WAV/FLAC/OGG via soundfile, anything else via bundled ffmpeg.

Samples are returned as mono float32 ``(N,)`` roughly in ``[-1, 1]`` with the rate in Hz.
Resampling uses soxr (the band-limited high-quality backend librosa uses too), called
directly so that reading audio does not pay librosa/numba's import time.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["AudioError", "read_audio", "write_audio", "resample_audio", "decode_with_ffmpeg"]

logger = logging.getLogger(__name__)


class AudioError(ValueError):
    """Audio file missing, unreadable, empty or with non-finite samples."""


def _ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def decode_with_ffmpeg(path: Path, stream: str = "0:a:0") -> tuple[np.ndarray, int] | None:
    """Decode an audio stream of any container ffmpeg knows (MP3, AAC in MP4, ...).

    Returns:
        ``(samples (N, C) float32, sr)``, or None when the file has no such audio stream.

    Raises:
        AudioError: ffmpeg failed for another reason (corrupt file).
    """
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "decoded.wav"
        cmd = [_ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path)]
        cmd += ["-map", f"{stream}?", "-vn", "-c:a", "pcm_f32le", "-y", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            msg = proc.stderr.strip().splitlines()[-1:] or ["unknown error"]
            if "does not contain any stream" in proc.stderr:
                return None
            raise AudioError(f"{path.name}: unreadable audio file (ffmpeg: {msg[0]})")
        if not out.exists() or out.stat().st_size == 0:
            return None
        try:
            data, sr = sf.read(str(out), dtype="float32", always_2d=True)
        except RuntimeError:  # soundfile raises LibsndfileError (a RuntimeError) on empty WAVs
            return None
    return data, int(sr)


def resample_audio(samples: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """Resample mono ``(N,)`` float32 samples from ``sr`` to ``target_sr`` Hz (soxr HQ)."""
    if int(sr) == int(target_sr):
        return samples
    import soxr

    y = soxr.resample(np.asarray(samples, np.float32), int(sr), int(target_sr), quality="HQ")
    return y.astype(np.float32, copy=False)


def read_audio(
    path: str | Path, *, target_sr: int | None = None, mono: bool = True
) -> tuple[np.ndarray, int]:
    """Read an audio file.

    Args:
        path: WAV/FLAC/OGG (soundfile) or MP3/M4A/AAC/MP4 (decoded with the bundled ffmpeg).
        target_sr: resample to this rate in Hz (None keeps the file's rate).
        mono: average the channels to one (``(N,)``); otherwise return ``(N, C)``.

    Returns:
        ``(samples, sr)``: float32 samples and the sample rate in Hz.

    Raises:
        FileNotFoundError: the file does not exist.
        AudioError: unreadable, empty, or containing NaN/Inf.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, TypeError, ValueError) as e:  # not a soundfile format: try ffmpeg
        logger.debug("soundfile could not read %s (%s); trying ffmpeg", path.name, e)
        decoded = decode_with_ffmpeg(path)
        if decoded is None:
            raise AudioError(f"{path.name}: unreadable audio file (no audio stream found)") from e
        data, sr = decoded
    if data.shape[0] == 0:
        raise AudioError(f"{path.name}: audio file is empty (0 samples)")
    if not np.isfinite(data).all():
        raise AudioError(f"{path.name}: audio contains NaN or Inf samples")
    samples = data.mean(axis=1).astype(np.float32) if mono else data
    if target_sr is not None:
        if not mono:
            raise AudioError("resampling is only supported for mono audio (mono=True)")
        samples = resample_audio(samples, sr, int(target_sr))
        sr = int(target_sr)
    return samples, int(sr)


def write_audio(path: str | Path, samples: np.ndarray, sr: int) -> Path:
    """Write ``samples`` ``(N,)`` or ``(N, C)`` at ``sr`` Hz; format from the suffix.

    WAV is written as 32-bit float so that a write -> read round trip is bit-exact, and with
    scipy rather than libsndfile, whose float WAVs carry a PEAK chunk with the write time: the
    same samples then give the same bytes (DVC hashes of generated data stay put).
    """
    import soundfile as sf

    path = Path(path)
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size == 0:
        raise AudioError(f"{path.name}: refusing to write empty audio")
    if not np.isfinite(samples).all():
        raise AudioError(f"{path.name}: refusing to write audio with NaN or Inf")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".wav":
        from scipy.io import wavfile

        wavfile.write(str(path), int(sr), samples)
    else:
        sf.write(str(path), samples, int(sr))
    return path
