"""AVI/MP4 rtMRI videos (e.g. USC-TIMIT 68x68 at 23.18 fps) and video/preview writers.

Everything goes through the ffmpeg binary bundled with ``imageio-ffmpeg``
(``imageio_ffmpeg.get_ffmpeg_exe()``): frames are decoded straight to 8-bit grey, the frame
rate comes from the container, and an embedded audio track is decoded too.

:func:`write_mp4` produces browser-playable H.264 (yuv420p, ``+faststart``) with the audio
muxed as AAC (``-c:v copy -c:a aac -shortest``). H.264 is lossy: a write -> read round trip
of smooth 8-bit frames stays within a few grey levels (see the tests for the bound).
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mrisynth.data.intensity import to_uint8
from mrisynth.data.sequence import SequenceError, SpeechMRISequence
from mrisynth.io.audio import decode_with_ffmpeg, write_audio
from mrisynth.io.base import RawImage

__all__ = [
    "read_video",
    "write_mp4",
    "write_gif",
    "write_png_strip",
    "frames_to_uint8",
    "open_h264_writer",
    "mux_audio",
]

logger = logging.getLogger(__name__)


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def read_video(path: str | Path, *, read_audio: bool = True, rgb: bool = False) -> RawImage:
    """Decode a video file to uint8 frames, fps and embedded audio.

    Args:
        path: the video file.
        read_audio: also decode the embedded audio (mono mix).
        rgb: ``(T, H, W, 3)`` colour frames (a face video) instead of grey ``(T, H, W)``.

    Raises:
        FileNotFoundError: missing file.
        SequenceError: ffmpeg cannot decode it or it has no frames.
    """
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    try:
        pix, bpp = ("rgb24", 24) if rgb else ("gray", 8)
        gen = imageio_ffmpeg.read_frames(str(path), pix_fmt=pix, bits_per_pixel=bpp)
        meta = next(gen)
        w, h = meta["size"]
        shape = (h, w, 3) if rgb else (h, w)
        frames = [np.frombuffer(buf, np.uint8).reshape(shape) for buf in gen]
    except (OSError, RuntimeError, StopIteration, KeyError) as e:
        raise SequenceError(f"{path.name}: not a readable video file ({e})") from e
    if not frames:
        raise SequenceError(f"{path.name}: video contains no frames")
    audio = sr = None
    warnings: list[str] = []
    if read_audio:
        try:
            decoded = decode_with_ffmpeg(path)
        except ValueError as e:
            warnings.append(f"embedded audio not readable: {e}")
            decoded = None
        if decoded is not None and decoded[0].size:
            audio, sr = decoded[0].mean(axis=1).astype(np.float32), decoded[1]
    fps = float(meta.get("fps") or 0) or None
    return RawImage(
        frames=np.stack(frames),
        reader="video",
        fps=fps,
        fps_source="container" if fps else None,
        header={"codec": str(meta.get("codec")), "container": path.suffix.lower().lstrip(".")},
        warnings=warnings,
        audio=audio,
        sample_rate=sr,
    )


def frames_to_uint8(seq_or_frames: SpeechMRISequence | np.ndarray) -> np.ndarray:
    """uint8 ``(T, H, W)`` grey or ``(T, H, W, 3)`` RGB for display.

    uint8 is kept, float in [0, 1] scaled by 255, anything else min-max scaled.
    """
    if isinstance(seq_or_frames, SpeechMRISequence):
        return seq_or_frames.to_uint8()
    f = np.asarray(seq_or_frames)
    if not (f.ndim == 3 or (f.ndim == 4 and f.shape[-1] == 3)):
        raise SequenceError(f"frames must be (T, H, W) or (T, H, W, 3), got {f.shape}")
    return to_uint8(f)


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """Pad bottom/right by edge replication to even H and W (yuv420p needs even sizes)."""
    h, w = frames.shape[1:3]
    pad = ((0, 0), (0, h % 2), (0, w % 2)) + ((0, 0),) * (frames.ndim - 3)
    return np.pad(frames, pad, mode="edge")


def write_mp4(
    seq_or_frames: SpeechMRISequence | np.ndarray,
    path: str | Path,
    fps: float | None = None,
    audio: np.ndarray | None = None,
    sr: int | None = None,
    *,
    crf: int = 12,
) -> Path:
    """Write H.264/yuv420p MP4 (+ AAC audio) playable in browsers.

    Args:
        seq_or_frames: a sequence (its fps/audio are used unless given), ``(T, H, W)`` grey
            or ``(T, H, W, 3)`` RGB frames.
        path: output ``.mp4``.
        fps: frame rate (required for bare frames).
        audio, sr: mono samples ``(N,)`` and rate (Hz); a sequence's ``audio_offset_s`` is
            applied by padding/trimming so that audio sample 0 is at frame 0 in the file.
        crf: x264 quality (lower = better; 12 is visually lossless for rtMRI).

    Odd widths/heights are padded by one edge-replicated row/column.
    """
    path = Path(path)
    offset = 0.0
    if isinstance(seq_or_frames, SpeechMRISequence):
        fps = fps or seq_or_frames.fps
        if audio is None and seq_or_frames.audio is not None:
            audio, sr, offset = (
                seq_or_frames.audio,
                seq_or_frames.sample_rate,
                seq_or_frames.audio_offset_s,
            )
    if not fps or fps <= 0:
        raise ValueError(f"{path.name}: write_mp4 needs a positive fps")
    if audio is not None and not sr:
        raise ValueError(f"{path.name}: audio given without sample rate sr")
    frames = _pad_even(frames_to_uint8(seq_or_frames))
    h, w = frames.shape[1:3]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        video_only = Path(tmp) / "video.mp4" if audio is not None else path
        writer = open_h264_writer(video_only, (h, w), fps, rgb=frames.ndim == 4, crf=crf)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame).tobytes())
        writer.close()
        if audio is None:
            return path
        a = np.asarray(audio, dtype=np.float32)
        shift = int(round(offset * sr))
        a = np.concatenate([np.zeros(shift, np.float32), a]) if shift > 0 else a[-shift:]
        mux_audio(video_only, a, int(sr), len(frames), float(fps), path, Path(tmp) / "audio.wav")
    return path


def open_h264_writer(
    path: Path, shape: tuple[int, int], fps: float, *, rgb: bool = False, crf: int = 12
) -> Any:
    """A started imageio-ffmpeg frame writer of H.264/yuv420p (``+faststart``) to ``path``.

    Args:
        path: output video; shape: even ``(H, W)``; fps: frames/s; rgb: rgb24 (else grey)
            input; crf: x264 quality. Send each frame's bytes, then ``close()``.
    """
    import imageio_ffmpeg

    h, w = shape
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (w, h),
        pix_fmt_in="rgb24" if rgb else "gray",
        pix_fmt_out="yuv420p",
        fps=float(fps),
        codec="libx264",
        macro_block_size=1,
        output_params=["-crf", str(crf), "-movflags", "+faststart"],
        ffmpeg_log_level="error",
    )
    writer.send(None)
    return writer


def mux_audio(
    video: Path, audio: np.ndarray, sr: int, n_frames: int, fps: float, out: Path, wav: Path
) -> Path:
    """Mux mono ``audio`` (sample 0 at frame 0) as AAC into ``video``'s stream, written to
    ``out``; ``wav`` is the scratch file the samples pass through."""
    a = np.asarray(audio, dtype=np.float32)
    # Pad with silence past the last frame: then the video is the shortest stream and
    # ``-shortest`` (which cuts at packet granularity) never drops frames.
    need = int(np.ceil((n_frames / fps + 0.2) * sr))
    a = np.pad(a, (0, max(0, need - len(a))))
    write_audio(wav, a, int(sr))
    cmd = [_ffmpeg(), "-nostdin", "-v", "error", "-y", "-i", str(video), "-i", str(wav)]
    cmd += ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k"]
    cmd += ["-shortest", "-movflags", "+faststart", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{out.name}: ffmpeg muxing failed: {proc.stderr.strip()}")
    return out


def write_gif(frames: SpeechMRISequence | np.ndarray, path: str | Path, fps: float) -> Path:
    """Animated grey GIF preview (frame durations rounded to GIF's 10 ms ticks)."""
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    u8 = frames_to_uint8(frames)
    iio.imwrite(path, list(u8), extension=".gif", duration=1000.0 / float(fps), loop=0)
    return path


def write_png_strip(frames: SpeechMRISequence | np.ndarray, path: str | Path, n: int = 8) -> Path:
    """A single PNG with ``n`` evenly spaced frames side by side, ``(H, n * W)`` uint8."""
    import imageio.v3 as iio

    u8 = frames_to_uint8(frames)
    idx = np.linspace(0, len(u8) - 1, num=min(int(n), len(u8))).round().astype(int)
    strip = np.concatenate(list(u8[idx]), axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, strip)
    return path
