"""Writing synthesized video as it is made: a streaming MP4 writer and all-or-nothing outputs.

:class:`Mp4Writer` is the streaming form of :func:`mrisynth.io.write_mp4`, built on the same
two pieces (:func:`mrisynth.io.video.open_h264_writer`, :func:`mrisynth.io.video.mux_audio`),
taking frames chunk by chunk so that memory does not
grow with the video's length. :class:`StagedOutputs` writes every output under a hidden folder
beside its target and moves them into place only when all of them are complete, so a failure
never leaves a half-written file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

import numpy as np

__all__ = ["Mp4Writer", "StagedOutputs", "display_uint8"]


def display_uint8(frames: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Frames in any intensity units → uint8 for display, with a fixed ``(black, white)``
    window (the same for every chunk, unlike a per-array min–max stretch)."""
    lo, hi = window
    unit = (np.asarray(frames, dtype=np.float32) - lo) / max(hi - lo, 1e-12)
    return np.rint(np.clip(unit, 0.0, 1.0) * 255).astype(np.uint8)


class Mp4Writer:
    """Stream grey uint8 frames into an MP4, muxing mono audio in when closed.

    Args:
        path: the ``.mp4`` to write.
        fps: frame rate (frames/s).
        frame_shape: ``(H, W)`` of every frame (odd sizes are padded by one edge-replicated
            row/column: yuv420p needs even sizes).
        audio: mono samples ``(N,)`` starting at frame 0, or None; ``sr`` their rate (Hz).
        crf: x264 quality (lower = better; 12 is visually lossless for rtMRI).
        rgb: colour frames ``(t, H, W, 3)`` (talking faces) instead of grey ones.

    Use as a context manager; :meth:`write` takes ``(t, H, W)`` (or ``(t, H, W, 3)``) uint8
    chunks.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        frame_shape: tuple[int, int],
        audio: np.ndarray | None = None,
        sr: int | None = None,
        *,
        crf: int = 12,
        rgb: bool = False,
    ) -> None:

        self.path = Path(path)
        if not fps > 0:
            raise ValueError(f"{self.path.name}: Mp4Writer needs fps > 0, got {fps}")
        if audio is not None and not sr:
            raise ValueError(f"{self.path.name}: audio given without a sample rate")
        self.fps, self.audio, self.sr = float(fps), audio, sr
        self.shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.n_frames = 0
        self._video = (
            self.path.with_name(f".{self.path.stem}.video.mp4") if audio is not None else self.path
        )
        from mrisynth.io.video import open_h264_writer

        even = tuple(n + n % 2 for n in self.shape)
        self.rgb = rgb
        self._writer = open_h264_writer(self._video, even, self.fps, rgb=rgb, crf=crf)

    def write(self, frames: np.ndarray) -> None:
        """Append ``(t, H, W)`` (``rgb``: ``(t, H, W, 3)``) uint8 frames."""
        f = np.asarray(frames)
        shape = (*self.shape, 3) if self.rgb else self.shape
        if f.dtype != np.uint8 or f.shape[1:] != shape:
            raise ValueError(
                f"{self.path.name}: expected uint8 frames of {shape}, got {f.dtype} {f.shape[1:]}"
            )
        h, w = self.shape
        pad = ((0, 0), (0, h % 2), (0, w % 2)) + (((0, 0),) if self.rgb else ())
        f = np.pad(f, pad, mode="edge")
        for frame in f:
            self._writer.send(np.ascontiguousarray(frame).tobytes())
        self.n_frames += len(f)

    def close(self) -> Path:
        """Finish the video and mux the audio in; returns the path."""
        from mrisynth.io.video import mux_audio

        self._writer.close()
        if self.audio is None:
            return self.path
        wav = self.path.with_name(f".{self.path.stem}.audio.wav")
        try:
            mux_audio(
                self._video, self.audio, int(self.sr), self.n_frames, self.fps, self.path, wav
            )
        finally:
            wav.unlink(missing_ok=True)
            self._video.unlink(missing_ok=True)
        return self.path

    def abort(self) -> None:
        """Stop without finishing (the partial files are removed)."""
        try:
            self._writer.close()
        except Exception:  # the encoder may already have failed; the files go either way
            pass
        for p in (self._video, self.path):
            p.unlink(missing_ok=True)

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class StagedOutputs:
    """All-or-nothing outputs: each is written under a hidden folder beside its target
    (same file system) and renamed into place by :meth:`commit`.

    Everything written into a staging folder moves with its output (a NIfTI's ``.wav`` and
    ``.json`` sidecars, a DICOM folder); :meth:`scratch` gives a folder whose files never move.
    Leaving the ``with`` block on an exception removes every staging folder.
    """

    def __init__(self) -> None:
        self._staging: dict[Path, Path] = {}  # target folder -> its staging folder
        self._scratch: Path | None = None

    def stage(self, final: str | Path) -> Path:
        """Where to write the output that is to end up at ``final``."""
        final = Path(final)
        parent = final.parent.resolve()
        if parent not in self._staging:
            parent.mkdir(parents=True, exist_ok=True)
            staging = parent / f".mrisynth-staging-{uuid.uuid4().hex[:12]}"
            staging.mkdir()
            self._staging[parent] = staging
        return self._staging[parent] / final.name

    def scratch(self) -> Path:
        """A folder for temporary files (removed at the end, never moved into place): beside
        the first staged output, else in the system's temporary folder."""
        if self._scratch is None:
            first = next(iter(self._staging.values()), None)
            if first is None:
                self._scratch = Path(tempfile.mkdtemp(prefix=".mrisynth-scratch-"))
            else:
                self._scratch = first.parent / f".mrisynth-scratch-{uuid.uuid4().hex[:12]}"
                self._scratch.mkdir()
        return self._scratch

    def commit(self) -> None:
        """Move every staged entry to its target folder (replacing files of the same name and
        empty folders; a non-empty folder in the way is an ``OSError``)."""
        self._remove_scratch()
        for parent, staging in self._staging.items():
            for entry in sorted(staging.iterdir()):
                os.replace(entry, parent / entry.name)
            staging.rmdir()
        self._staging.clear()

    def abort(self) -> None:
        """Remove every staged output."""
        self._remove_scratch()
        for staging in self._staging.values():
            shutil.rmtree(staging, ignore_errors=True)
        self._staging.clear()

    def _remove_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._staging:
            self.commit()
