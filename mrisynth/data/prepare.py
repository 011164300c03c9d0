"""Prepare recordings for training: find the vocal-tract ROI, crop, resize and normalise.

``source="face"`` prepares talking-face videos instead — the ``face_path`` column (the
phantom's frontal faces, with their own in-sync audio) or, in a manifest of face clips only,
``image_path``: RGB frames resized to ``img_size`` with their colours kept
(:func:`load_face_sequence`).

The ROI is found automatically per speaker from **temporal variance** (the articulators move,
the skull does not): the intensity standard deviation over all of a speaker's frames is
smoothed, and a square box of ``roi_size_mm`` is centred on the extent of
its top pixels. The same box is used for all utterances of that speaker, so ROIs never jump
between clips. It can be overridden by a fixed box (``roi="fixed"``) or switched off
(``roi="full"``).

Outputs per recording a lossless ``.npz`` :class:`SpeechMRISequence` with uint8 frames of
``img_size × img_size``, labels resized with nearest neighbour, the audio (offset applied by
the clip alignment), and the ROI's pixel spacing, plus ``prepared.csv`` — a manifest whose
``image_path`` is the ``.npz`` (so any manifest reader loads the prepared ROIs), with the
original files as ``source_image_path``/``source_audio_path`` and the other ``*_path`` columns
rebased — and ``rois.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import ndimage

from mrisynth.data.intensity import to_uint8
from mrisynth.data.quality import corrupt_border
from mrisynth.data.sequence import SequenceError, SpeechMRISequence

__all__ = [
    "PrepareConfig",
    "find_vocal_tract_roi",
    "prepare_sequence",
    "prepare_manifest",
    "load_face_sequence",
    "trim_transient",
    "load_prepared",
    "prepare_for_model",
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class PrepareConfig:
    """How recordings become model inputs.

    Args:
        img_size: output ROI size in pixels (square; must equal the model's ``img_size``).
        roi: ``"auto"`` (temporal variance, per speaker), ``"fixed"`` (``roi_box_mm``) or
            ``"full"`` (the whole frame).
        roi_size_mm: side of the automatic square ROI (mm).
        roi_box_mm: fixed ROI ``(top, left, height, width)`` in mm from the top-left corner.
        roi_top_fraction: share of highest-variance pixels whose extent centres the ROI.
        percentiles: intensity percentiles mapped to 0 and 255 (robust normalisation).
        fps: resample to this frame rate (None keeps the recording's rate).
        source: ``"mri"`` (``image_path``) or ``"face"`` (``face_path`` RGB videos: no
            automatic ROI and no percentiles; ``roi="fixed"`` crops ``roi_box_mm`` given in
            pixels, faces having a nominal 1 mm spacing).
        dataset: preset of :mod:`mrisynth.io.datasets` (``usc75``, ``usc-timit``,
            ``usc-span``) filling the fps / spacing that a recording does not state (CLI
            ``--dataset``); a manifest's ``dataset`` column, where set, names it per row.
        trim_transient: drop each MRI recording's brighter non-steady-state start
            (:func:`~mrisynth.data.quality.steady_state_start` frames, audio kept
            aligned) before the ROI search; recorded as ``provenance["transient_frames"]``.
    """

    img_size: int = 64
    roi: Literal["auto", "fixed", "full"] = "auto"
    roi_size_mm: float = 120.0
    roi_box_mm: tuple[float, float, float, float] | None = None
    roi_top_fraction: float = 0.05
    percentiles: tuple[float, float] = (1.0, 99.5)
    fps: float | None = None
    source: Literal["mri", "face"] = "mri"
    dataset: str | None = None
    trim_transient: bool = False

    def __post_init__(self) -> None:
        from mrisynth.io.datasets import get_dataset

        if self.source not in ("mri", "face"):
            raise ValueError(f"source must be 'mri' or 'face', got {self.source!r}")
        if self.dataset is not None:
            get_dataset(self.dataset)  # an unknown name fails here, listing the known ones
        if self.img_size < 16:
            raise ValueError(f"img_size must be >= 16 px, got {self.img_size}")
        if self.roi == "fixed" and self.roi_box_mm is None:
            raise ValueError("roi='fixed' needs roi_box_mm = (top, left, height, width) in mm")
        if self.roi_size_mm <= 0:
            raise ValueError("roi_size_mm must be > 0")
        if not 0 < self.roi_top_fraction <= 1:
            raise ValueError("roi_top_fraction must be in (0, 1]")
        lo, hi = self.percentiles
        if not 0 <= lo < hi <= 100:
            raise ValueError(
                f"percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles}"
            )
        if self.fps is not None and self.fps <= 0:
            raise ValueError("fps must be > 0")


def find_vocal_tract_roi(
    sequences: list[SpeechMRISequence], size_mm: float, top_fraction: float = 0.05
) -> tuple[int, int, int, int]:
    """Square ROI ``(top, left, height, width)`` in pixels around the moving vocal tract.

    Args:
        sequences: recordings of one speaker/session (same matrix and spacing).
        size_mm: side of the ROI in mm (clipped to the frame).
        top_fraction: share of highest temporal-std pixels that define the moving region.
    """
    shapes = {s.frames.shape[1:] for s in sequences}
    spacings = {s.require_spacing("the ROI search") for s in sequences}
    if len(shapes) != 1 or len(spacings) != 1:
        raise SequenceError(
            f"ROI search needs one matrix and spacing per speaker, got {shapes} and {spacings}"
        )
    h, w = shapes.pop()
    sr, sc = spacings.pop()
    std = np.zeros((h, w))
    bad = np.zeros(4, int)  # corrupt border lines (top, bottom, left, right), worst clip
    for s in sequences:
        f = s.frames.astype(np.float32)
        lo, hi = np.percentile(f, [1, 99.5])
        seq_std = ((f - lo) / max(hi - lo, 1e-6)).std(0)
        # rows/columns of decoder noise at the edge would be the "most moving" region
        top, bottom, left, right = corrupt_border(f)
        bad = np.maximum(bad, (top, bottom, left, right))
        if top or bottom or left or right:
            logger.warning(
                "%s: ignoring corrupt border lines for the ROI search (top %d, bottom %d, "
                "left %d, right %d: frame-to-frame noise far above the image's)",
                s.utterance_id or s.provenance.get("source", "recording"),
                top,
                bottom,
                left,
                right,
            )
            seq_std[:top] = seq_std[h - bottom :] = 0.0
            seq_std[:, :left] = seq_std[:, w - right :] = 0.0
        std += seq_std
    std = ndimage.gaussian_filter(std / len(sequences), sigma=2)
    moving = std >= np.quantile(std, 1 - top_fraction)
    # the vocal tract is the connected moving region with the most variance; smaller movers
    # (skin edges at the border from head motion) would otherwise stretch the box off the tract
    comp, n = ndimage.label(moving)
    if n > 1:
        mass = ndimage.sum(std, comp, index=np.arange(1, n + 1))
        moving = comp == 1 + int(np.argmax(mass))
    # centre on the extent of that region (lips to pharynx), not its centroid, so that the
    # lips are not cut off by the bulky tongue
    rows, cols = np.nonzero(moving)
    cy = (rows.min() + rows.max()) / 2
    cx = (cols.min() + cols.max()) / 2
    side_r = min(h, max(1, int(round(size_mm / sr))))
    side_c = min(w, max(1, int(round(size_mm / sc))))
    # keep the box off corrupt border lines where it fits between them
    lo_r, hi_r = (bad[0], h - bad[1] - side_r) if h - bad[0] - bad[1] >= side_r else (0, h - side_r)
    lo_c, hi_c = (bad[2], w - bad[3] - side_c) if w - bad[2] - bad[3] >= side_c else (0, w - side_c)
    top = int(np.clip(round(cy - side_r / 2), lo_r, hi_r))
    left = int(np.clip(round(cx - side_c / 2), lo_c, hi_c))
    return top, left, side_r, side_c


def prepare_sequence(
    seq: SpeechMRISequence, box_px: tuple[int, int, int, int] | None, cfg: PrepareConfig
) -> SpeechMRISequence:
    """Crop ``box_px`` (or keep the frame), resize to ``img_size`` and normalise to uint8.

    Colour (face) video keeps its colours: it is resized and clipped, not re-normalised.
    """
    roi = seq.crop(*box_px) if box_px is not None else seq
    sp = roi.require_spacing("prepare")
    target_spacing = (sp[0] * roi.height / cfg.img_size, sp[1] * roi.width / cfg.img_size)
    roi = roi.resample(fps=cfg.fps, spacing_mm=target_spacing)
    if roi.channels == 1:
        roi = roi.normalize(*cfg.percentiles)
        frames = roi.to_uint8()
    else:
        frames = np.clip(np.rint(roi.frames), 0, 255).astype(np.uint8)  # resampled 0..255
    if frames.shape[1:3] != (cfg.img_size, cfg.img_size):  # rounding guard
        raise SequenceError(f"prepared frames are {frames.shape[1:]}, expected {cfg.img_size}")
    return roi.replace(frames=frames)


def prepare_manifest(manifest: str | Path, out_dir: str | Path, cfg: PrepareConfig) -> Path:
    """Prepare every recording of a manifest; returns the path of ``prepared.csv``."""
    from tqdm import tqdm

    from mrisynth.data.manifest import load_sequence, read_manifest, write_manifest

    manifest = Path(manifest)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = read_manifest(manifest)
    by_speaker: dict[str, list] = defaultdict(list)
    for e in entries:
        by_speaker[e.speaker or e.id].append(e)
    rois: dict[str, list[int] | None] = {}
    out_entries = []
    for speaker, group in tqdm(by_speaker.items(), desc="prepare", unit="speaker"):
        if cfg.source == "face":
            seqs = [load_face_sequence(e, manifest.parent) for e in group]
        else:
            seqs = [load_sequence(e, manifest.parent, dataset_preset=cfg.dataset) for e in group]
            if cfg.trim_transient:
                seqs = [trim_transient(s) for s in seqs]
        if cfg.source == "face" and cfg.roi == "auto":
            box = None  # a face video is already a face crop (roi: fixed crops it tighter)
        elif cfg.roi == "auto":
            box = find_vocal_tract_roi(seqs, cfg.roi_size_mm, cfg.roi_top_fraction)
        elif cfg.roi == "fixed":
            t, left, hh, ww = cfg.roi_box_mm
            sp = seqs[0].require_spacing("a fixed ROI in mm")
            box = (round(t / sp[0]), round(left / sp[1]), round(hh / sp[0]), round(ww / sp[1]))
        else:
            box = None
        rois[speaker] = list(box) if box is not None else None
        for e, seq in zip(group, seqs):
            prepared = prepare_sequence(seq, box, cfg)
            rel = Path(speaker) / f"{e.id}.npz"
            prepared.save(out_dir / rel)
            out_entries.append(
                dataclasses.replace(e, extra={**e.extra, "prepared_path": rel.as_posix()})
            )
    # prepared.csv reads like any manifest: image_path is the prepared .npz (frames, labels,
    # audio inside); the original files stay where they are, referenced relative to out_dir
    rebased = []
    for e in out_entries:
        extra = {
            k: _rel(manifest.parent / v, out_dir)
            for k, v in e.extra.items()
            if k.endswith("_path") and k not in ("labels_path", "prepared_path")
        }
        if cfg.source == "face":  # frames (and, with face_path, audio) came from the face video
            extra["source_image_path"] = extra.pop("face_path", None) or _rel(
                manifest.parent / e.image_path, out_dir
            )
        else:
            extra["source_image_path"] = _rel(manifest.parent / e.image_path, out_dir)
            if e.audio_path:
                extra["source_audio_path"] = _rel(manifest.parent / e.audio_path, out_dir)
        rebased.append(
            dataclasses.replace(
                e,
                image_path=e.extra["prepared_path"],
                audio_path=None,
                fps=None,
                spacing_mm=None,
                audio_offset_s=None,
                extra=extra,
            )
        )
    path = out_dir / "prepared.csv"
    write_manifest(rebased, path)
    (out_dir / "rois.json").write_text(
        json.dumps({"config": dataclasses.asdict(cfg), "rois_px": rois}, indent=2)
    )
    return path


def trim_transient(seq: SpeechMRISequence) -> SpeechMRISequence:
    """``seq`` without its non-steady-state start (frames before
    :func:`~mrisynth.data.quality.steady_state_start`), audio still aligned.

    The kept clip's audio starts at its first frame (see :meth:`SpeechMRISequence.clip`);
    ``provenance["transient_frames"]`` records how many frames were dropped (0: unchanged).
    """
    from mrisynth.data.quality import steady_state_start

    n = steady_state_start(seq.frames, seq.fps)
    if n:
        name = seq.utterance_id or seq.provenance.get("source") or "sequence"
        logger.info("%s: dropping %d non-steady-state frames (%.2f s)", name, n, n / seq.fps)
        seq = seq.clip(n, seq.n_frames)
    return seq.replace(provenance={**seq.provenance, "transient_frames": n})


def load_face_sequence(entry, manifest_dir: str | Path) -> SpeechMRISequence:
    """The RGB face video of a manifest entry with its audio.

    The video is ``face_path`` (the phantom writes one beside each MRI recording) or, in a
    manifest of face clips only (LRS2/VoxCeleb-style), ``image_path``; the audio is
    ``audio_path`` if given, else the video's own. Faces have no physical pixel spacing: 1 mm
    is recorded as a nominal value.
    """
    from mrisynth.io import read_sequence

    root = Path(manifest_dir)
    face = entry.extra.get("face_path")
    audio = fps = None  # the phantom's row values (fps, audio) describe its MRI, not the face
    if not face:  # a manifest of face videos: image_path is the video, audio_path its audio
        face, fps = entry.image_path, entry.fps
        audio = root / entry.audio_path if entry.audio_path else None
    seq = read_sequence(root / face, audio=audio, fps=fps, spacing_mm=1.0, data_root=root, rgb=True)
    return seq.replace(
        utterance_id=entry.id,
        speaker=entry.speaker or seq.speaker,
        language=entry.language or seq.language,
        transcript=entry.transcript or seq.transcript,
        provenance={**seq.provenance, "manifest_id": entry.id, "split": entry.split},
    )


def _rel(path: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def load_prepared(prepared_csv: str | Path, split: str | None = None) -> list[SpeechMRISequence]:
    """Prepared sequences (uint8 ROIs) of ``split`` (or all), in manifest order."""
    from mrisynth.data.manifest import read_manifest

    prepared_csv = Path(prepared_csv)
    return [
        SpeechMRISequence.load(prepared_csv.parent / e.image_path)
        for e in read_manifest(prepared_csv)
        if split is None or e.split == split
    ]


def prepare_for_model(
    seq: SpeechMRISequence,
    img_size: int,
    *,
    fps: float | None = None,
    resample_fps: bool = False,
    fps_tolerance: float = 0.01,
) -> SpeechMRISequence:
    """Resize an (already ROI-cropped) sequence to ``img_size`` px and make its frames uint8.

    Space (and, if needed, time) is resampled by :meth:`SpeechMRISequence.resample` (the pixel
    spacing is updated, the field of view kept; a non-square ROI gets anisotropic spacing).
    A frame rate within ``fps_tolerance`` of ``fps`` is resampled to exactly ``fps`` (a few
    per-mille timing drift would otherwise accumulate against the audio); a larger difference
    is an error unless ``resample_fps``. Audio is untouched (it lives on the same clock).

    Args:
        seq: sequence with ``(T, H, W)`` frames.
        img_size: target square size in pixels.
        fps: the model's frame rate; ``None`` keeps the sequence's.
        resample_fps: allow resampling a frame rate that differs by more than the tolerance.
        fps_tolerance: relative frame-rate difference accepted without ``resample_fps``.

    Returns:
        A new sequence with uint8 ``(T', img_size, img_size)`` frames.

    Raises:
        ValueError: the frame rate differs by more than the tolerance and ``resample_fps`` is
            False (names both rates), or an invalid ``img_size``.
    """
    if not isinstance(seq, SpeechMRISequence):
        raise TypeError(f"prepare_for_model: expected a SpeechMRISequence, got {type(seq)}")
    if img_size < 1:
        raise ValueError(f"prepare_for_model: img_size must be >= 1 px, got {img_size}")
    name = seq.utterance_id or seq.provenance.get("source") or "sequence"
    new_fps = None
    if fps is not None:
        rel = abs(seq.fps - float(fps)) / float(fps)
        if rel > fps_tolerance and not resample_fps:
            raise ValueError(
                f"{name}: frame rate {seq.fps:g} fps differs from the model's {float(fps):g} fps "
                f"by {rel:.1%} (> {fps_tolerance:.0%}); resample explicitly "
                "(resample_fps=True, CLI --resample-fps) or use a model config with "
                f"fps={seq.fps:g}"
            )
        if rel > 1e-9:
            new_fps = float(fps)
    out = seq
    if new_fps is not None or (seq.height, seq.width) != (img_size, img_size):
        sp = seq.require_spacing("resizing for the model")
        spacing = (sp[0] * seq.height / img_size, sp[1] * seq.width / img_size)
        out = seq.resample(fps=new_fps, spacing_mm=spacing)
        if out.frames.shape[1:3] != (img_size, img_size):  # guard against rounding surprises
            raise RuntimeError(f"{name}: resampled to {out.frames.shape[1:3]}, not {img_size} px")
    return out.replace(frames=to_uint8(out.frames, seq.frames.dtype))
