"""Synthesis of long audio in constant memory: audio + reference + model file → frame chunks.

:func:`synthesize` plans the output (frame rate, size, ROI, intensity scaling) and returns a
:class:`SynthesisStream`; iterating it yields the output frames chunk by chunk. Per chunk it
computes the log-mel of just the audio the chunk's windows need, plus
:func:`mel_context_steps` steps of context on each side, so a chunk border never changes a
frame: the STFT frames of a chunk's log-mel are the same numbers as those of the whole
recording's (the segment starts on a mel hop, and the steps at its edges, which see its
zero padding, are never used). Chunks hold a whole number of generator batches, so the
generator sees the same batches too: streamed output equals one-shot output exactly (at equal
batch size).

Example::

    from mrisynth.io import read_audio, read_sequence
    from mrisynth.synthesis import synthesize

    audio, sr = read_audio("speech.wav")
    ref = read_sequence("frame_folder", spacing_mm=2.4)
    stream = synthesize(audio, sr, ref, "experiments/quickstart/models/finetune")
    for chunk in stream:                   # (t, H, W) float32, the reference's intensities
        ...

Time: output frame ``k`` covers ``[k / fps, (k + 1) / fps)`` on the audio's clock (audio sample
0 at time 0); frame ``k``'s audio window is cut by time
(:func:`mrisynth.transforms.mel.frames_to_mel_windows`), so any output rate samples the same
audio → frame mapping the model learnt. A reference clip is resampled to the output rate and
cycled.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mrisynth.data.intensity import percentile_scale, to_uint8
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.data.spec import DataSpec
from mrisynth.synthesis.frames import synthesize_frames
from mrisynth.synthesis.roi import (
    PasteBack,
    RoiBox,
    check_roi,
    find_reference_roi,
    resize_frames,
    roi_size_px,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MODEL_DIR",
    "DEFAULT_FACE_MODEL_DIR",
    "HOW_TO_GET_A_MODEL",
    "HOW_TO_GET_A_FACE_MODEL",
    "MAX_UPSAMPLE",
    "SynthesisModel",
    "PreparedReference",
    "SynthesisStream",
    "resolve_model_path",
    "prepare_audio",
    "prepare_reference",
    "output_fps",
    "mel_context_steps",
    "check_chunking",
    "chunk_frames_of",
    "n_output_frames",
    "synthesize_span",
    "synthesize",
]

#: Where ``make quickstart`` leaves its fine-tuned generator (relative to the repository).
DEFAULT_MODEL_DIR = Path("experiments/quickstart/models/finetune")
HOW_TO_GET_A_MODEL = (
    "get one with `make quickstart`, then pass --model experiments/quickstart/models/finetune"
)
#: A reference whose pixels are more than this many times coarser than the model's is refused:
#: the model would see a far blurrier image than it was trained on.
MAX_UPSAMPLE = 2.0
#: Intensity percentiles that map to 0 and 1 in the model's input (the prepare default).
PERCENTILES = (1.0, 99.5)
#: Field of view (mm) assumed for a model file without a training spacing.
DEFAULT_FOV_MM = 120.0
#: Default seconds of output per chunk, and the most output pixels one chunk may hold.
DEFAULT_CHUNK_S = 4.0
MAX_CHUNK_PIXELS = 2**25
#: Audio quieter than this peak (dBFS) is reported as silence.
SILENCE_DBFS = -80.0


# ---------------------------------------------------------------------------------- model
#: Where the face pipeline (``dvc repro experiments/face/dvc.yaml``) leaves its lip-sync
#: generator for any face (its ``lipsync`` stage: trained on all its pretraining speakers; the
#: ``finetune`` model is specific to the pipeline's two target speakers).
DEFAULT_FACE_MODEL_DIR = Path("experiments/face/models/lipsync")
HOW_TO_GET_A_FACE_MODEL = (
    "get one with `dvc repro experiments/face/dvc.yaml`, then pass --model "
    "experiments/face/models/lipsync"
)


def resolve_model_path(model: str | Path | None, face: bool = False) -> Path:
    """The generator file of ``model``: a file, or a folder holding ``generator.pt``.

    None looks in :data:`DEFAULT_MODEL_DIR` (the quickstart's output), or for ``face`` in
    :data:`DEFAULT_FACE_MODEL_DIR`.

    Raises:
        FileNotFoundError: no model there, with how to get one.
    """
    default, how = (
        (DEFAULT_FACE_MODEL_DIR, HOW_TO_GET_A_FACE_MODEL)
        if face
        else (DEFAULT_MODEL_DIR, HOW_TO_GET_A_MODEL)
    )
    path = default if model is None else Path(model)
    if path.is_dir():
        path = path / "generator.pt"
    if not path.is_file():
        what = "no model given and none" if model is None else "no generator model"
        raise FileNotFoundError(f"{what} at {path}; {how}")
    return path


@dataclasses.dataclass
class SynthesisModel:
    """A loaded generator with what synthesis needs of its file.

    Attributes:
        generator: the network (eval mode).
        config: its :class:`~mrisynth.models.builders.ModelConfig`.
        spec: the training data's :class:`~mrisynth.data.spec.DataSpec` (fps, sample rate,
            size, channels, spacing).
        mask: ``(S, S)`` bool region the generator paints.
        path: the file it came from.
        speaker_folder: the folder it was found in (may hold a speaker's ``roi.json``).
    """

    generator: torch.nn.Module
    config: Any
    spec: DataSpec
    mask: np.ndarray | None
    path: Path
    speaker_folder: Path | None = None

    @classmethod
    def load(
        cls, model: str | Path | None, device: str | torch.device = "cpu", face: bool = False
    ) -> SynthesisModel:
        """Load a generator file (or a folder holding ``generator.pt``) through
        :func:`mrisynth.models.artifacts.load_model`.

        Args:
            model: the file or folder (None: the default one).
            device: where the generator goes.
            face: expect a 3-channel talking-face generator (``mrisynth dub``) instead of a
                1-channel MRI one.

        Raises:
            FileNotFoundError: no model (with how to get one).
            ValueError: not a generator file, or a model of the other kind (naming the file).
        """
        from mrisynth.models.artifacts import load_model
        from mrisynth.utils.state_files import CheckpointError

        path = resolve_model_path(model, face=face)
        try:
            generator, artifact = load_model(path, "generator", map_location=device)
            cfg = artifact.config()
        except CheckpointError as e:  # torch's unpickling messages run over many lines
            first, *rest = str(e).splitlines() or [""]
            raise ValueError(
                first + (" ...)" if rest and first.count("(") > first.count(")") else "")
            ) from e
        if face and cfg.channels != 3:
            raise ValueError(
                f"{path}: a {cfg.channels}-channel (MRI) generator; dub needs a 3-channel "
                "face model"
            )
        if not face and cfg.channels != 1:
            raise ValueError(
                f"{path}: a {cfg.channels}-channel (face) generator; synthesize makes MRI with "
                "a 1-channel model"
            )
        folder = Path(model) if model is not None and Path(model).is_dir() else None
        return cls(generator, cfg, artifact.data_spec, artifact.mask, path, folder)

    @property
    def field_of_view_mm(self) -> tuple[float, float] | None:
        """``(rows, cols)`` mm the model's ROI covers (``img_size × spacing``), if known."""
        if self.spec.spacing_mm is None:
            return None
        return tuple(self.spec.img_size * s for s in self.spec.spacing_mm)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------- inputs
def prepare_audio(
    audio: np.ndarray, sample_rate: int, target_sr: int, min_s: float, *, name: str = "audio"
) -> tuple[np.ndarray, list[str]]:
    """Mono float32 audio at ``target_sr`` Hz, at least ``min_s`` seconds long.

    Args:
        audio: ``(N,)`` mono or ``(N, C)`` samples (channels are averaged).
        sample_rate: its rate (Hz); another rate than ``target_sr`` is resampled (soxr).
        target_sr: the model's rate (Hz).
        min_s: audio shorter than this (one audio window) is padded with silence at the end.
        name: the audio's name for messages.

    Returns:
        ``(samples, warnings)``: silence-only and padded audio each add a warning.

    Raises:
        ValueError: empty audio, NaN/Inf samples or a bad shape (naming ``name``).
    """
    from mrisynth.io.audio import resample_audio

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise ValueError(f"{name}: audio must be (N,) or (N, channels), got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name}: audio is empty (0 samples)")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: audio contains NaN or Inf samples")
    if int(sample_rate) <= 0:
        raise ValueError(f"{name}: sample rate must be > 0 Hz, got {sample_rate}")
    x = resample_audio(x, int(sample_rate), int(target_sr))
    warnings = []
    peak = float(np.abs(x).max())
    if peak <= 10 ** (SILENCE_DBFS / 20):
        warnings.append(
            f"{name}: audio is silent (peak {20 * math.log10(max(peak, 1e-12)):.0f} dBFS); "
            "the articulators will rest"
        )
    need = int(math.ceil(min_s * target_sr))
    if len(x) < need:
        warnings.append(
            f"{name}: audio is {1000 * len(x) / target_sr:.0f} ms, shorter than one audio "
            f"window ({1000 * min_s:.0f} ms); padded with silence to {1000 * min_s:.0f} ms"
        )
        x = np.pad(x, (0, need - len(x)))
    return x, warnings


def output_fps(reference: SpeechMRISequence, model_fps: float, fps: float | None) -> float:
    """The output frame rate: ``fps`` if given, else a reference clip's rate, else the
    model's (a single frame has no rate of its own)."""
    if fps is not None:
        if not fps > 0:
            raise ValueError(f"output fps must be > 0, got {fps}")
        return float(fps)
    return float(reference.fps) if reference.n_frames > 1 else float(model_fps)


@dataclasses.dataclass(frozen=True)
class PreparedReference:
    """A reference recording made ready for the model.

    Attributes:
        frames: ``(Tr, H, W)`` float32 full frames in the reference's intensity units, at the
            output frame rate (a clip is cycled frame by frame).
        roi: ``(Tr, S, S)`` uint8 model inputs (the box resampled to the model's pixels and
            percentile-scaled as in training).
        box: the ROI box in ``frames`` (px) and ``roi_method`` the rule that placed it.
        intensity: ``(lo, hi)`` reference intensities mapped to 0 and 1 (percentiles
            :data:`PERCENTILES` of the ROI).
        spacing_mm: pixel spacing of ``frames``; ``roi_spacing_mm`` of ``roi``.
        dtype: the reference's stored dtype (NIfTI/DICOM outputs keep it).
    """

    frames: np.ndarray
    roi: np.ndarray
    box: RoiBox
    roi_method: str
    intensity: tuple[float, float]
    spacing_mm: tuple[float, float]
    roi_spacing_mm: tuple[float, float]
    dtype: np.dtype


def prepare_reference(
    reference: SpeechMRISequence,
    model: SynthesisModel,
    *,
    fps: float,
    roi: RoiBox | None = None,
    roi_method: str = "given",
) -> tuple[PreparedReference, list[str]]:
    """Place the ROI, cut it out, resample it to the model's pixels and scale it as in training.

    The box side is the model's field of view in the reference's pixels; a box whose pixels
    are more than :data:`MAX_UPSAMPLE` × coarser than the model's is refused.

    Args:
        reference: ``(Tr, H, W)`` frames of the speaker (one frame or a clip).
        model: the loaded model.
        fps: the output frame rate (a clip is resampled to it).
        roi: a box ``(top, left, height, width)`` px to use; None finds one
            (:func:`~mrisynth.synthesis.roi.find_reference_roi`).
        roi_method: how a given ``roi`` was chosen (for the report).

    Returns:
        ``(prepared, warnings)``.

    Raises:
        ValueError: colour frames, a box outside the frame, or a too coarse reference.
    """
    name = reference.provenance.get("source") or reference.utterance_id or "reference"
    if reference.channels != 1:
        raise ValueError(f"{name}: synthesize needs grey MRI frames, got {reference.channels}")
    warnings: list[str] = []
    s = model.spec.img_size
    fov = model.field_of_view_mm
    if fov is None:
        fov = (DEFAULT_FOV_MM, DEFAULT_FOV_MM)
        warnings.append(
            f"{model.path}: the model file does not record its training spacing; assuming a "
            f"{DEFAULT_FOV_MM:g} mm field of view (pass --roi to choose the box)"
        )
    if roi is None:
        box, roi_method = find_reference_roi(reference, fov)
    else:
        box = check_roi(roi, (reference.height, reference.width), name)
        want = roi_size_px(fov, reference.spacing_mm)
        if any(abs(b / w - 1) > 0.2 for b, w in zip(box[2:], want)):
            warnings.append(
                f"{name}: the ROI is {box[2]}x{box[3]} px but the model's "
                f"{fov[0]:g} x {fov[1]:g} mm field of view is {want[0]}x{want[1]} px here: "
                "the anatomy will look larger or smaller than in training"
            )
    want = roi_size_px(fov, reference.spacing_mm)
    if box[2] < want[0] * 0.8 or box[3] < want[1] * 0.8:
        raise ValueError(
            f"{name}: the frame ({reference.height}x{reference.width} px at "
            f"{reference.spacing_mm[0]:g} mm) is smaller than the model's {fov[0]:g} mm field "
            "of view; pass --roi with the box to use"
        )
    coarser = max(s / box[2], s / box[3])
    if coarser > MAX_UPSAMPLE:
        mm = tuple(round(f / s, 3) for f in fov)
        raise ValueError(
            f"{name}: its pixels ({reference.spacing_mm[0]:g} mm) are {coarser:.1f}x coarser "
            f"than the model's ({mm[0]:g} mm), more than {MAX_UPSAMPLE:g}x: the model would "
            "see a far blurrier image than it was trained on; use a model trained at this "
            "resolution"
        )
    ref = reference
    if ref.n_frames > 1 and not math.isclose(ref.fps, fps, rel_tol=1e-9):
        ref = ref.replace(labels=None).resample(fps=fps)  # time only: cycled by time
    t, left, h, w = box
    crop = np.asarray(ref.frames, dtype=np.float32)[:, t : t + h, left : left + w]
    unit, intensity = percentile_scale(resize_frames(crop, (s, s)), *PERCENTILES)
    prepared = PreparedReference(
        frames=np.asarray(ref.frames, dtype=np.float32),
        roi=to_uint8(unit),
        box=box,
        roi_method=roi_method,
        intensity=intensity,
        spacing_mm=ref.spacing_mm,
        roi_spacing_mm=(ref.spacing_mm[0] * h / s, ref.spacing_mm[1] * w / s),
        dtype=np.asarray(reference.frames).dtype,
    )
    return prepared, warnings


# ---------------------------------------------------------------------------------- stream
def synthesize_span(
    model: SynthesisModel,
    reference: np.ndarray,
    audio: np.ndarray,
    sample_rate: int,
    fps: float,
    k0: int,
    k1: int,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    cycle_reference: bool = True,
) -> np.ndarray:
    """Output frames ``[k0, k1)`` of a recording from the audio those frames need.

    Only the audio of the span's windows (plus :func:`mel_context_steps` of context) is turned
    into log-mel, so consecutive spans of a long recording equal one call over all of it and
    memory does not grow with the audio.

    Args:
        model: the loaded generator.
        reference: ``(Tr, S, S[, C])`` uint8 model inputs: cycled on the recording's clock, or
            with ``cycle_reference=False`` exactly one per output frame of the span.
        audio: ``(N,)`` mono samples of the whole recording at ``sample_rate`` (the model's).
        fps: output frame rate; k0, k1: the span.
        batch_size, device: as :func:`~mrisynth.synthesis.frames.synthesize_frames`.

    Returns:
        ``(k1 - k0, S, S[, C])`` float32 in [0, 1].
    """
    from mrisynth.transforms.mel import (
        frame_window_start_s,
        log_mel,
        mel_step_of_time,
        window_steps,
    )

    cfg = model.config
    mel_cfg = cfg.mel
    hop = mel_cfg.hop_length
    starts = frame_window_start_s(
        np.array([k0, k1 - 1]), fps, cfg.audio_window_ms, cfg.audio_window_center
    )
    j_lo, j_last = (int(j) for j in mel_step_of_time(starts, mel_cfg))
    j_hi = j_last + window_steps(cfg.audio_window_ms, mel_cfg) - 1
    m = mel_context_steps(mel_cfg)
    n = len(audio)
    s0 = min(max(0, (j_lo - m) * hop), max(0, (n - 1) // hop * hop))  # on a mel hop
    s1 = max(min(n, (j_hi + m) * hop), min(n, s0 + hop))
    segment = audio[s0:s1]
    return synthesize_frames(
        model.generator,
        cfg,
        reference,
        segment,
        sample_rate,
        k1 - k0,
        model.mask,
        audio_offset_s=s0 / sample_rate,
        batch_size=batch_size,
        device=device,
        mel=log_mel(segment, sample_rate, mel_cfg),
        fps=fps,
        first_frame=k0,
        cycle_reference=cycle_reference,
    )


def check_chunking(chunk_s: float, batch_size: int) -> None:
    """Chunk length and batch size a stream can use.

    Raises:
        ValueError: ``batch_size < 1`` or ``chunk_s <= 0``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not chunk_s > 0:
        raise ValueError(f"chunk_s must be > 0 s, got {chunk_s}")


def chunk_frames_of(chunk_s: float, fps: float, batch_size: int) -> int:
    """Frames per chunk: ``chunk_s`` of output at ``fps``, rounded down to whole generator
    batches (at least one), so that every chunk sees the same batches as one pass would."""
    check_chunking(chunk_s, batch_size)
    return max(1, int(chunk_s * fps // batch_size)) * batch_size


def n_output_frames(n_samples: int, sample_rate: int, fps: float) -> int:
    """Output frames for ``n_samples`` of audio: ``round(duration × fps)``, at least 1."""
    return max(1, int(round(n_samples / sample_rate * fps)))


def mel_context_steps(mel_cfg: Any) -> int:
    """Mel steps of context kept on each side of a chunk's windows: the STFT frames within
    this many steps of a segment's edge see its zero padding (and pre-emphasis start)."""
    return mel_cfg.n_fft // (2 * mel_cfg.hop_length) + 2


@dataclasses.dataclass
class SynthesisStream:
    """The planned output of :func:`synthesize`; iterate it for ``(t, H, W)`` float32 chunks.

    Attributes:
        model: the loaded model; ``reference``: the prepared reference.
        audio: mono float32 audio at ``sample_rate`` (the model's rate), as synthesized from
            (padded where it was shorter than one window).
        n_frames: output frames (``round(audio duration × fps)``, at least 1); ``fps``: their
            rate; ``spacing_mm``: their pixel spacing; ``frame_shape``: ``(H, W)``.
        roi_only: the output is the model's ROI (not pasted back into the full frame).
        chunk_frames: frames per chunk (a whole number of batches).
        display_range: intensities shown as black and white in videos (the reference's
            percentiles :data:`PERCENTILES`).
        warnings: what the user should know (silence, padding, assumed field of view).
    """

    model: SynthesisModel
    reference: PreparedReference
    audio: np.ndarray
    sample_rate: int
    n_frames: int
    fps: float
    spacing_mm: tuple[float, float]
    frame_shape: tuple[int, int]
    roi_only: bool
    chunk_frames: int
    batch_size: int
    device: str | torch.device
    display_range: tuple[float, float]
    paste: PasteBack
    progress: bool = True
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def chunks(self) -> Iterator[tuple[int, int]]:
        """Frame ranges ``[k0, k1)`` of the chunks, in order."""
        for k0 in range(0, self.n_frames, self.chunk_frames):
            yield k0, min(self.n_frames, k0 + self.chunk_frames)

    def reference_frames(self, k0: int, k1: int) -> np.ndarray:
        """The cycled reference for output frames ``[k0, k1)``: ``(t, H, W)`` float32 in the
        output's geometry (full frames, or the ROI in the model's input scale for ROI-only
        output), e.g. for a side-by-side video."""
        idx = np.arange(k0, k1) % len(self.reference.frames)
        if self.roi_only:
            lo, hi = self.reference.intensity
            frames = lo + self.reference.roi[idx].astype(np.float32) / 255 * np.float32(hi - lo)
        else:
            frames = self.reference.frames[idx]
        return self._out_geometry(frames)

    def _out_geometry(self, frames: np.ndarray) -> np.ndarray:
        return resize_frames(frames, self.frame_shape)

    def _synthesize_roi(self, k0: int, k1: int) -> np.ndarray:
        """``(k1 - k0, S, S)`` model output in [0, 1] for output frames ``[k0, k1)``."""
        return synthesize_span(
            self.model,
            self.reference.roi,
            self.audio,
            self.sample_rate,
            self.fps,
            k0,
            k1,
            batch_size=self.batch_size,
            device=self.device,
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        from tqdm import tqdm

        bar = tqdm(total=self.n_frames, unit="frame", desc="synthesize", disable=not self.progress)
        try:
            for k0, k1 in self.chunks():
                roi = self._synthesize_roi(k0, k1)
                if self.roi_only:
                    lo, hi = self.reference.intensity
                    frames = lo + roi * np.float32(hi - lo)
                else:
                    idx = np.arange(k0, k1) % len(self.reference.frames)
                    frames = self.paste(self.reference.frames[idx], roi)
                bar.update(k1 - k0)
                yield self._out_geometry(frames)
        finally:
            bar.close()


def synthesize(
    audio: np.ndarray,
    sample_rate: int,
    reference: SpeechMRISequence,
    model: str | Path | SynthesisModel | None,
    *,
    fps: float | None = None,
    spacing_mm: float | tuple[float, float] | None = None,
    roi: RoiBox | None = None,
    roi_only: bool = False,
    chunk_s: float = DEFAULT_CHUNK_S,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
    audio_name: str = "audio",
) -> SynthesisStream:
    """Plan the synthesis of rtMRI video for ``audio``; iterate the result for frame chunks.

    Args:
        audio: ``(N,)`` mono or ``(N, C)`` samples; ``sample_rate``: their rate (Hz; another
            rate than the model's is resampled).
        reference: frames of the speaker, any supported format read into a sequence: one
            frame (repeated) or a clip (cycled).
        model: a generator file, a folder holding ``generator.pt`` (a speaker folder's
            ``roi.json`` gives the ROI), a loaded :class:`SynthesisModel`, or None (the
            quickstart's).
        fps: output frame rate; None: a reference clip's rate, else the model's.
        spacing_mm: output pixel spacing (mm); None: the reference's (full frames) or the
            model ROI's (``roi_only``).
        roi: the ROI box ``(top, left, height, width)`` px in the reference; None: the speaker
            folder's, else found (:func:`~mrisynth.synthesis.roi.find_reference_roi`).
        roi_only: output the model's ROI instead of pasting it back into the full frame.
        chunk_s: seconds of output per chunk (memory; the result does not depend on it).
        batch_size: generator batch size (frames).
        device: where the generator runs.
        progress: show a tqdm progress bar while iterating.
        audio_name: how messages name the audio (e.g. its file name).

    Returns:
        A :class:`SynthesisStream` (``n_frames``, ``fps``, ``spacing_mm``, ``warnings``...).

    Raises:
        FileNotFoundError: no model (with how to get one).
        ValueError: empty audio, a reference that does not fit the model, bad options.
    """
    from mrisynth.synthesis.roi import roi_from_mm, speaker_roi_mm

    check_chunking(chunk_s, batch_size)
    loaded = model if isinstance(model, SynthesisModel) else SynthesisModel.load(model, device)
    cfg = loaded.config
    out_fps = output_fps(reference, cfg.fps, fps)
    samples, warnings = prepare_audio(
        audio, sample_rate, cfg.mel.sample_rate, cfg.audio_window_ms / 1000.0, name=audio_name
    )
    roi_method = "given"
    if roi is None and loaded.speaker_folder is not None:
        box_mm = speaker_roi_mm(loaded.speaker_folder)
        if box_mm is not None:
            roi, roi_method = roi_from_mm(box_mm, reference.spacing_mm), "speaker folder"
    prepared, more = prepare_reference(
        reference, loaded, fps=out_fps, roi=roi, roi_method=roi_method
    )
    warnings += more
    if roi_only:
        base_shape, base_spacing = (cfg.img_size, cfg.img_size), prepared.roi_spacing_mm
    else:
        base_shape, base_spacing = prepared.frames.shape[1:], prepared.spacing_mm
    shape, spacing = tuple(base_shape), tuple(base_spacing)
    if spacing_mm is not None:
        new = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (2,))
        if not (new > 0).all():
            raise ValueError(f"output spacing must be > 0 mm, got {spacing_mm}")
        shape = tuple(max(1, round(n * s / t)) for n, s, t in zip(base_shape, base_spacing, new))
        # the field of view is kept: the spacing follows the rounded size
        spacing = tuple(s * n / m for s, n, m in zip(base_spacing, base_shape, shape))
    n_frames = n_output_frames(len(samples), cfg.mel.sample_rate, out_fps)
    per_chunk = min(chunk_s * out_fps, MAX_CHUNK_PIXELS / (shape[0] * shape[1]))
    chunk_frames = chunk_frames_of(per_chunk, 1.0, batch_size)
    display = tuple(float(v) for v in np.percentile(prepared.frames, PERCENTILES))
    if display[1] <= display[0]:
        display = (display[0], display[0] + 1.0)
    for w in warnings:
        logger.warning("%s", w)
    return SynthesisStream(
        model=loaded,
        reference=prepared,
        audio=samples,
        sample_rate=cfg.mel.sample_rate,
        n_frames=n_frames,
        fps=out_fps,
        spacing_mm=(float(spacing[0]), float(spacing[1])),
        frame_shape=(int(shape[0]), int(shape[1])),
        roi_only=roi_only,
        chunk_frames=chunk_frames,
        batch_size=batch_size,
        device=device,
        display_range=display,  # type: ignore[arg-type]
        paste=PasteBack.for_model(prepared.box, loaded.mask, prepared.intensity),
        progress=progress,
        warnings=warnings,
    )
