"""High-level training entry points: sync expert and generator on lists of sequences.

The functions take :class:`~mrisynth.data.sequence.SpeechMRISequence` lists whose frames are
already ROI-cropped and sized to ``model_cfg.img_size`` (see :func:`prepare_for_model`), build
the datasets, models and solvers, run the :class:`~mrisynth.engine.trainer.Trainer` (resumable
in ``train_cfg.out_dir``) and export one self-describing checkpoint:

- ``<out_dir>/expert.pt`` (:func:`train_sync_expert`) and ``<out_dir>/generator.pt``
  (:func:`train_generator`): the weights of the best validation step (``best.pt``; the last
  step when there is no validation), the model config as a plain dict, the data frame rate,
  sample rate, image size, channels (and, for the generator, the inpainting mask), the
  validation metrics of those weights and the training config. They load with
  ``torch.load(weights_only=True)``; :func:`load_sync_expert` / :func:`load_generator` rebuild
  the model and check it against the data or config it is used with.

Every check that compares a checkpoint, a config and data raises ``ValueError`` naming both
values (e.g. ``checkpoint fps 25.0 != model config fps 83.28``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Subset

from mrisynth.config.schema import to_dict
from mrisynth.data.dataset import (
    AVClipDataset,
    DeviceClipBank,
    SyncPairDataset,
    lower_half_mask,
    vocal_tract_mask,
)
from mrisynth.data.sequence import SpeechMRISequence
from mrisynth.engine.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)
from mrisynth.engine.distributed import barrier
from mrisynth.engine.solvers.generator import GeneratorSolver
from mrisynth.engine.solvers.sync_expert import RedrawnPairs, SyncExpertSolver, VisualAugment
from mrisynth.engine.tracking import NullTracker
from mrisynth.engine.trainer import TrainConfig, Trainer
from mrisynth.losses.weights import GeneratorLossWeights
from mrisynth.models.builders import (
    ModelConfig,
    build_discriminators,
    build_generator,
    build_sync_expert,
)
from mrisynth.models.generator import Generator
from mrisynth.models.syncnet import SyncExpert
from mrisynth.utils.seed import seed_model_init

logger = logging.getLogger(__name__)

__all__ = [
    "ExpertOptions",
    "GeneratorOptions",
    "prepare_for_model",
    "check_sequences",
    "check_compatible",
    "training_mask",
    "read_model_checkpoint",
    "load_sync_expert",
    "load_generator",
    "generator_mask",
    "train_sync_expert",
    "train_generator",
    "write_generator_samples",
]

EXPORT_FORMAT = "mrisynth.model/1"
_KINDS = {"sync_expert": "expert", "generator": "generator"}  # kind -> main model key


# ---------------------------------------------------------------------------------- options
@dataclasses.dataclass
class ExpertOptions:
    """Optimiser and data settings of :func:`train_sync_expert`."""

    lr: float = 1e-4
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    negative_shift_s: tuple[float, float] = (0.2, 1.0)
    """``(min, max)`` absolute audio shift of off-sync pairs (s)."""
    stride: int = 1
    """Frames between training window positions."""
    redraw_negatives: bool = True
    """Draw new off-sync shifts on every pass over the training data."""
    max_val_pairs: int = 2000
    """Validation pairs (spread evenly over the validation data, balanced); 0 = all."""
    augment: bool = False
    """Perturb training windows (shift, gain/offset, noise; see ``VisualAugment``)."""

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.weight_decay < 0 or self.stride < 1 or self.max_val_pairs < 0:
            raise ValueError(
                "ExpertOptions: need lr > 0, weight_decay >= 0, stride >= 1, max_val_pairs >= 0"
            )


@dataclasses.dataclass
class GeneratorOptions:
    """Optimiser and data settings of :func:`train_generator`."""

    lr: float = 1e-4
    """Peak learning rate of the generator (Adam)."""
    disc_lr: float = 1e-4
    """Peak learning rate of the discriminators (Adam)."""
    beta1: float = 0.5
    """Adam beta1 of all optimisers."""
    beta2: float = 0.999
    """Adam beta2 of all optimisers."""
    mask: Literal["auto", "vocal_tract", "lower_half"] = "auto"
    """Region hidden from the generator: ``auto`` = ``vocal_tract`` for 1 channel (MRI: union
    of the moving regions of the training sequences), ``lower_half`` for 3 (faces)."""
    mask_dilation_px: int = 2
    """Margin (px) around the moving region of the vocal-tract mask."""
    reference: Literal["random_other_time", "first"] = "random_other_time"
    """Identity reference frames (see :class:`~mrisynth.data.dataset.AVClipDataset`)."""
    masked_from: Literal["reference", "target"] = "reference"
    """Frames the masked input is cut from: ``reference`` (as at inference) or ``target``
    (Wav2Lip's dubbing set-up; see :class:`~mrisynth.data.dataset.AVClipDataset`)."""
    device_data: bool = True
    """Keep all training/validation frames and mels on the training device as one uint8 bank
    (:class:`~mrisynth.data.dataset.DeviceClipBank`): batches are tensor indexing, with no
    DataLoader, per-item Python or host → device copy. False: a DataLoader over the Dataset."""
    temporal_disc: bool = True
    """Use the temporal discriminator when the temporal loss weight is > 0."""
    stride: int = 1
    """Frames between training clip starts."""
    max_val_clips: int = 256
    """Validation clips (spread evenly over the validation data); 0 = all."""

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.disc_lr <= 0:
            raise ValueError("GeneratorOptions: lr and disc_lr must be > 0")
        if self.stride < 1 or self.max_val_clips < 0 or self.mask_dilation_px < 0:
            raise ValueError(
                "GeneratorOptions: need stride >= 1, max_val_clips >= 0, mask_dilation_px >= 0"
            )
        if self.mask not in ("auto", "vocal_tract", "lower_half"):
            raise ValueError(f"GeneratorOptions.mask: unknown mask {self.mask!r}")
        if self.masked_from not in ("reference", "target"):
            raise ValueError(
                f"GeneratorOptions.masked_from must be 'reference' or 'target', "
                f"got {self.masked_from!r}"
            )


# ---------------------------------------------------------------------------------- data checks
def _seq_name(seq: Any, i: int, what: str) -> str:
    uid = getattr(seq, "utterance_id", None)
    return f"{what} sequence {i}" + (f" ({uid})" if uid else "")


def _to_uint8(frames: np.ndarray, source_dtype: np.dtype) -> np.ndarray:
    # Keep the intensity scale where one exists: uint8 data stays on its 0..255 scale and
    # [0, 1] floats are scaled; anything else is stretched min-max (as SpeechMRISequence.to_uint8).
    f = np.asarray(frames)
    if np.dtype(source_dtype) == np.uint8:
        return np.clip(np.rint(f), 0, 255).astype(np.uint8)
    if f.dtype.kind == "f" and f.min() >= 0 and f.max() <= 1:
        return np.rint(f * 255).astype(np.uint8)
    lo, hi = float(f.min()), float(f.max())
    return np.rint((f.astype(np.float64) - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)


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
        spacing = (
            seq.spacing_mm[0] * seq.height / img_size,
            seq.spacing_mm[1] * seq.width / img_size,
        )
        out = seq.resample(fps=new_fps, spacing_mm=spacing)
        if out.frames.shape[1:3] != (img_size, img_size):  # guard against rounding surprises
            raise RuntimeError(f"{name}: resampled to {out.frames.shape[1:3]}, not {img_size} px")
    return out.replace(frames=_to_uint8(out.frames, seq.frames.dtype))


def check_sequences(sequences: Sequence[Any], model_cfg: ModelConfig, what: str) -> None:
    """Check that sequences match the model config (size, channels, fps, audio, sample rate).

    Args:
        sequences: :class:`SpeechMRISequence` (``(T, H, W)`` frames) or objects with the same
            attributes and ``(T, H, W, C)`` frames.
        model_cfg: the model they are for.
        what: ``"training"`` / ``"validation"`` for messages.

    Raises:
        ValueError: no sequences, or the first mismatch, naming the sequence and both values.
    """
    if len(sequences) == 0:
        raise ValueError(f"no {what} sequences given")
    size, sr = model_cfg.img_size, model_cfg.mel.sample_rate
    for i, seq in enumerate(sequences):
        name = _seq_name(seq, i, what)
        shape = np.shape(seq.frames)
        channels = 1 if len(shape) == 3 else shape[-1] if len(shape) == 4 else None
        if channels is None:
            raise ValueError(f"{name}: frames must be (T, H, W) or (T, H, W, C), got {shape}")
        if channels != model_cfg.channels:
            raise ValueError(
                f"{name}: frames have {channels} channel(s) but model config channels is "
                f"{model_cfg.channels}"
            )
        if tuple(shape[1:3]) != (size, size):
            raise ValueError(
                f"{name}: frames are {shape[1]}x{shape[2]} px but model config img_size is "
                f"{size}; crop the ROI and call prepare_for_model(seq, {size})"
            )
        if abs(float(seq.fps) - model_cfg.fps) > 1e-6 * model_cfg.fps:
            raise ValueError(
                f"{name}: data fps {float(seq.fps):g} != model config fps {model_cfg.fps:g}; "
                "resample with prepare_for_model(..., fps=model_cfg.fps)"
            )
        if getattr(seq, "audio", None) is None:
            raise ValueError(f"{name}: has no audio")
        if int(seq.sample_rate) != sr:
            if not model_cfg.mel.resample:
                raise ValueError(
                    f"{name}: data sample rate {seq.sample_rate} Hz != model config "
                    f"mel.sample_rate {sr} Hz (and mel.resample is off)"
                )
            logger.debug("%s: audio %d Hz is resampled to %d Hz", name, seq.sample_rate, sr)


def _check_speakers(train: Sequence[Any], val: Sequence[Any]) -> None:
    shared = {getattr(s, "speaker", None) for s in train} & {
        getattr(s, "speaker", None) for s in val
    }
    shared.discard(None)
    if shared:
        logger.warning(
            "speakers %s are in both the training and the validation data: validation then "
            "does not measure generalisation to new speakers",
            sorted(shared),
        )


def check_compatible(
    saved: ModelConfig,
    current: ModelConfig,
    source: str,
    fields: Iterable[str] = ("fps", "sample_rate", "img_size", "channels"),
) -> None:
    """Raise ``ValueError`` if a checkpoint's model config disagrees with this run's.

    Args:
        saved: the config stored in the checkpoint.
        current: the config of this run / the data.
        source: the checkpoint path (for messages).
        fields: what to compare: ``fps``, ``sample_rate`` (``mel.sample_rate``), ``img_size``,
            ``channels``, ``mel`` (the whole front end), ``sync_window_ms``, ``sync_crop``.
    """

    def get(cfg: ModelConfig, f: str) -> Any:
        return cfg.mel.sample_rate if f == "sample_rate" else getattr(cfg, f)

    for f in fields:
        a, b = get(saved, f), get(current, f)
        same = math.isclose(a, b, rel_tol=1e-6) if f == "fps" else a == b
        if not same:
            raise ValueError(f"{source}: checkpoint {f} {a} != model config {f} {b}")


def training_mask(
    sequences: Sequence[Any], kind: Literal["vocal_tract", "lower_half"], dilation_px: int = 2
) -> np.ndarray:
    """The ``(H, W)`` bool region the generator paints, shared by training and inference.

    ``vocal_tract``: union over sequences of :func:`vocal_tract_mask` (temporal-variance region;
    static sequences are skipped). ``lower_half``: rows ``H//2:`` (faces).

    Raises:
        ValueError: unknown kind, or no sequence with a moving region.
    """
    frames0 = np.asarray(sequences[0].frames)
    h, w = frames0.shape[1:3]
    if kind == "lower_half":
        return lower_half_mask(h, w)
    if kind != "vocal_tract":
        raise ValueError(f"training_mask: kind must be 'vocal_tract' or 'lower_half', got {kind!r}")
    mask = np.zeros((h, w), dtype=bool)
    used = 0
    for i, seq in enumerate(sequences):
        f = np.asarray(seq.frames, dtype=np.float32)
        f = f.mean(axis=-1) if f.ndim == 4 else f
        try:
            mask |= vocal_tract_mask(f, dilation_px=dilation_px)
            used += 1
        except ValueError as e:
            logger.warning("%s: no vocal-tract mask (%s)", _seq_name(seq, i, "training"), e)
    if not used:
        raise ValueError("training_mask: no training sequence has a moving region")
    logger.info("vocal-tract mask covers %.1f%% of the frame", 100 * mask.mean())
    return mask


def _spread(n_groups: int, max_groups: int) -> np.ndarray:
    """Evenly spaced group indices ``0..n_groups-1`` (all when ``max_groups`` is 0 or enough)."""
    if max_groups <= 0 or max_groups >= n_groups:
        return np.arange(n_groups)
    return np.unique(np.linspace(0, n_groups - 1, max_groups).round().astype(np.int64))


class _ClipSubset:
    """Indexed batch source over chosen clips of a :class:`DeviceClipBank` (validation)."""

    def __init__(self, bank: DeviceClipBank, keep: np.ndarray) -> None:
        self.bank, self.keep = bank, torch.as_tensor(keep, dtype=torch.long)

    def __len__(self) -> int:
        return int(self.keep.numel())

    def get_batch(self, indices: Sequence[int], seed: int) -> dict[str, torch.Tensor]:
        return self.bank.get_batch(self.keep[torch.as_tensor(indices, dtype=torch.long)], seed)


# ---------------------------------------------------------------------------------- checkpoints
def _meta(kind: str, model_cfg: ModelConfig, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "model_config": dataclasses.asdict(model_cfg),
        "fps": float(model_cfg.fps),
        "sample_rate": int(model_cfg.mel.sample_rate),
        "img_size": int(model_cfg.img_size),
        "channels": int(model_cfg.channels),
        **extra,
    }


def read_model_checkpoint(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read an exported model or a trainer checkpoint into one description.

    Args:
        path: ``expert.pt``/``generator.pt`` written by the train functions, or any trainer
            checkpoint (``checkpoints/step_*.pt``, ``best.pt``) of these solvers.
        kind: expected ``"sync_expert"`` or ``"generator"`` (None: either).

    Returns:
        ``{"kind", "model_config" (ModelConfig), "models" (state dicts by name), "meta",
        "metrics", "step"}``.

    Raises:
        CheckpointError: unreadable, not a model checkpoint of these solvers, or another kind.
    """
    state = load_checkpoint(path)
    if state.get("format") == EXPORT_FORMAT:
        meta, metrics = state["meta"], state.get("metrics") or {}
    elif isinstance((state.get("solver") or {}).get("meta"), dict) and "models" in state:
        meta, metrics = state["solver"]["meta"], {}
    else:
        raise CheckpointError(
            f"checkpoint {path}: not a sync expert or generator checkpoint (no model config)"
        )
    found = meta.get("kind")
    if found not in _KINDS or (kind is not None and found != kind):
        raise CheckpointError(
            f"checkpoint {path}: holds a {found!r} model, expected {kind or 'a known kind'!r}"
        )
    try:
        model_cfg = ModelConfig(**meta["model_config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: invalid model config ({e})") from e
    return {
        "kind": found,
        "model_config": model_cfg,
        "models": state["models"],
        "meta": meta,
        "metrics": metrics,
        "step": int(state.get("step", 0)),
    }


def _expect(model_cfg: ModelConfig, source: str, **expected: Any) -> None:
    """Compare a checkpoint's config with expected fps / sample_rate / img_size / channels."""
    have = {
        "fps": model_cfg.fps,
        "sample_rate": model_cfg.mel.sample_rate,
        "img_size": model_cfg.img_size,
        "channels": model_cfg.channels,
    }
    for key, want in expected.items():
        if want is None:
            continue
        a = have[key]
        same = math.isclose(a, float(want), rel_tol=1e-6) if key == "fps" else a == want
        if not same:
            raise ValueError(f"{source}: checkpoint {key} {a} != expected {key} {want}")


def _load(
    path: str | Path,
    kind: str,
    build: Any,
    model_cfg: ModelConfig | None,
    map_location: str | torch.device,
    expected: dict[str, Any],
) -> tuple[torch.nn.Module, ModelConfig]:
    info = read_model_checkpoint(path, kind)
    cfg = info["model_config"]
    source = f"checkpoint {path}"
    if model_cfg is not None:
        check_compatible(cfg, model_cfg, source)
    _expect(cfg, source, **expected)
    model = build(cfg)
    load_model_state(model, info["models"][_KINDS[kind]], source=f"{path} [{_KINDS[kind]}]")
    return model.to(map_location).eval(), cfg


def load_sync_expert(
    path: str | Path,
    *,
    model_cfg: ModelConfig | None = None,
    fps: float | None = None,
    sample_rate: int | None = None,
    img_size: int | None = None,
    channels: int | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[SyncExpert, ModelConfig]:
    """Rebuild a trained sync expert (eval mode) and its config from ``path``.

    Args:
        path: ``expert.pt`` or a trainer checkpoint of :class:`SyncExpertSolver`.
        model_cfg: if given, its fps, sample rate, image size and channels must match.
        fps, sample_rate, img_size, channels: expected values of the data (None: not checked).

    Raises:
        CheckpointError: unreadable or not a sync expert checkpoint.
        ValueError: a mismatch, naming the checkpoint's and the expected value.
    """
    expected = dict(fps=fps, sample_rate=sample_rate, img_size=img_size, channels=channels)
    return _load(path, "sync_expert", build_sync_expert, model_cfg, map_location, expected)


def load_generator(
    path: str | Path,
    *,
    model_cfg: ModelConfig | None = None,
    fps: float | None = None,
    sample_rate: int | None = None,
    img_size: int | None = None,
    channels: int | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[Generator, ModelConfig]:
    """Rebuild a trained generator (eval mode) and its config from ``path``.

    The inpainting mask it was trained with: :func:`generator_mask`. Arguments and errors as
    :func:`load_sync_expert`.
    """
    expected = dict(fps=fps, sample_rate=sample_rate, img_size=img_size, channels=channels)
    return _load(path, "generator", build_generator, model_cfg, map_location, expected)


def generator_mask(path: str | Path) -> np.ndarray:
    """The ``(H, W)`` bool region a generator checkpoint was trained to paint."""
    mask = read_model_checkpoint(path, "generator")["meta"]["mask"]
    return np.asarray(mask.cpu().numpy() if hasattr(mask, "cpu") else mask, dtype=bool)


def _select_record(metrics_file: Path, metric: str, mode: str) -> dict[str, Any]:
    if not metrics_file.is_file():
        return {}
    records = [json.loads(ln) for ln in metrics_file.read_text().splitlines() if ln.strip()]
    valid = [r for r in records if metric in r and r[metric] == r[metric]]  # skip NaN
    if not valid:
        return {}
    pick = min if mode == "min" else max
    return pick(valid, key=lambda r: r[metric])  # first occurrence = the step of best.pt


def _export(trainer: Trainer, filename: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``<out_dir>/<filename>`` from ``best.pt`` (or the last checkpoint); return metrics."""
    out = trainer.out_dir / filename
    if trainer.dist.is_main:
        best = trainer.out_dir / "best.pt"
        src = best if best.is_file() else latest_checkpoint(trainer.ckpt_dir)
        if src is None:
            raise CheckpointError(f"{trainer.out_dir}: training wrote no checkpoint to export")
        state = load_checkpoint(src)
        record = {}
        if trainer.cfg.best_metric and src == best:
            record = _select_record(
                trainer.metrics_file, trainer.cfg.best_metric, trainer.cfg.best_mode
            )
        metrics = {k: float(v) for k, v in record.items() if k.startswith("valid/")}
        save_checkpoint(
            out,
            {
                "format": EXPORT_FORMAT,
                "meta": meta,
                "models": state["models"],
                "step": int(state["step"]),
                "metrics": metrics,
                "train_config": state.get("config"),
                "git_commit": state.get("git_commit"),
                "source": src.name,
            },
        )
        logger.info("exported %s (step %d) to %s", src.name, state["step"], out)
    barrier()
    info = read_model_checkpoint(out)
    return {**info["metrics"], "step": info["step"]}


def _log_params(trainer: Trainer, tracker: Any, params: Mapping[str, Any]) -> None:
    """The run's resolved config: MLflow params and a ``config.json`` artifact."""
    if tracker is not None and trainer.dist.is_main:
        tracker.log_params(params)
        tracker.log_dict(json.loads(json.dumps(params, default=str)), "config.json")


def _log_outputs(trainer: Trainer, tracker: Any, samples: Path | None = None) -> None:
    """The training log (``metrics.jsonl``: the loss curves) and sample videos as artifacts."""
    if tracker is None or not trainer.dist.is_main:
        return
    if trainer.metrics_file.is_file():
        tracker.log_artifact(trainer.metrics_file, "train")
    if samples is not None:
        tracker.log_artifact(samples, "samples")


def write_generator_samples(
    generator_ckpt: str | Path, sequences: Sequence[Any], out_dir: str | Path
) -> Path:
    """Side-by-side MP4s with audio (recording | synthesized | difference), one per sequence.

    The identity reference is each sequence's first frame (the image+audio condition); the
    audio drives the rest. Written to ``out_dir/<utterance>.mp4``; returns ``out_dir``.
    """
    from mrisynth.io import write_mp4
    from mrisynth.synthesis import side_by_side, synthesize_frames

    generator, cfg = load_generator(generator_ckpt)
    mask = generator_mask(generator_ckpt)
    out = Path(out_dir)
    for i, seq in enumerate(sequences):
        pred = synthesize_frames(
            generator,
            cfg,
            np.asarray(seq.frames)[:1],
            seq.audio,
            seq.sample_rate,
            len(seq.frames),
            mask,
            audio_offset_s=seq.audio_offset_s,
        )
        name = getattr(seq, "utterance_id", None) or f"sample_{i}"
        write_mp4(
            side_by_side(np.asarray(seq.frames), pred),
            out / f"{name}.mp4",
            fps=seq.fps,
            audio=seq.audio_for_frames(0, len(seq.frames)),
            sr=seq.sample_rate,
        )
    return out


# ---------------------------------------------------------------------------------- entry points
def train_sync_expert(
    train_seqs: Sequence[Any],
    val_seqs: Sequence[Any],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    *,
    options: ExpertOptions | None = None,
    tracker: NullTracker | None = None,
) -> dict[str, float]:
    """Train the sync expert on balanced in-/off-sync pairs; export ``<out_dir>/expert.pt``.

    Validation (``valid/loss``, ``valid/accuracy``, ``valid/p_pos``, ``valid/p_neg``) runs on
    balanced pairs of ``val_seqs`` (use held-out SPEAKERS; a shared speaker is warned about).
    ``best.pt`` follows ``train_cfg.best_metric`` (default ``valid/loss``, min).

    Args:
        train_seqs, val_seqs: prepared sequences (see :func:`prepare_for_model`).
        model_cfg: model and audio front-end config.
        train_cfg: run settings (steps, batch size, ``out_dir``...).
        options: optimiser/data settings.
        tracker: an open MLflow run (metrics and parameters are logged to it).

    Returns:
        Validation metrics of the exported weights (``{"valid/accuracy": ..., "step": ...}``).

    Raises:
        ValueError: sequences that do not match ``model_cfg`` (named, with both values).
    """
    opts = options or ExpertOptions()
    check_sequences(train_seqs, model_cfg, "training")
    check_sequences(val_seqs, model_cfg, "validation")
    _check_speakers(train_seqs, val_seqs)
    common = dict(
        window_ms=model_cfg.sync_window_ms,
        mel_cfg=model_cfg.mel,
        negative_shift_s=opts.negative_shift_s,
        fps=model_cfg.fps,
        channels=model_cfg.channels,
    )
    pairs = SyncPairDataset(train_seqs, seed=train_cfg.seed, stride=opts.stride, **common)
    val_pairs = SyncPairDataset(val_seqs, seed=train_cfg.seed + 1, **common)
    keep = _spread(len(val_pairs) // 2, opts.max_val_pairs // 2 if opts.max_val_pairs else 0)
    val_set = Subset(val_pairs, np.stack([2 * keep, 2 * keep + 1], 1).ravel().tolist())

    cfg = dataclasses.replace(train_cfg, best_metric=train_cfg.best_metric or "valid/loss")
    meta = _meta("sync_expert", model_cfg)
    seed_model_init(cfg.seed)
    solver = SyncExpertSolver(
        build_sync_expert(model_cfg),
        lr=opts.lr,
        weight_decay=opts.weight_decay,
        meta=meta,
        augment=VisualAugment() if opts.augment else None,
    )
    trainer = Trainer(cfg, solver, tracker=tracker)
    train_set = pairs
    if opts.redraw_negatives:
        seen = cfg.max_steps * cfg.batch_size * trainer.dist.world_size
        train_set = RedrawnPairs(pairs, max(1, math.ceil(seen / len(pairs))))
    logger.info(
        "sync expert: %d training pairs (%d sequences), %d validation pairs (%d sequences)",
        len(pairs),
        len(train_seqs),
        len(val_set),
        len(val_seqs),
    )
    _log_params(
        trainer,
        tracker,
        {"train": to_dict(cfg), "model": dataclasses.asdict(model_cfg), "options": to_dict(opts)},
    )
    trainer.fit(train_set, val_set)
    result = _export(trainer, "expert.pt", meta)
    _log_outputs(trainer, tracker)
    return result


def train_generator(
    train_seqs: Sequence[Any],
    val_seqs: Sequence[Any],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    expert_ckpt: str | Path | None,
    *,
    loss_weights: GeneratorLossWeights,
    options: GeneratorOptions | None = None,
    init_from: str | Path | None = None,
    freeze: Sequence[str] = (),
    tracker: NullTracker | None = None,
) -> dict[str, float]:
    """Train (pretrain or fine-tune) the generator; export ``<out_dir>/generator.pt``.

    Training clips have ``max(n_frames, Tv)`` frames when the sync loss is used, so the frozen
    expert sees a whole ``Tv``-frame window of generated frames (``n_frames`` otherwise);
    validation clips always span the expert's window when there is an expert. ``best.pt`` follows
    ``train_cfg.best_metric`` (default ``valid/l1``, min).

    Args:
        train_seqs, val_seqs: prepared sequences (see :func:`prepare_for_model`).
        model_cfg: model config (its fps, sample rate, size, channels, sync window must match
            the expert's).
        train_cfg: run settings; its ``freeze`` and ``init_from`` are honoured too.
        expert_ckpt: pretrained sync expert (``expert.pt``); None only if ``loss_weights.sync``
            is 0 (then there are no sync metrics either).
        loss_weights: e.g. :meth:`GeneratorLossWeights.mri` or ``.face()``.
        options: optimiser/data settings.
        init_from: pretrained generator checkpoint (``generator.pt`` or a trainer checkpoint)
            for fine-tuning; its discriminators are loaded too where present. A resume from
            ``out_dir`` takes precedence.
        freeze: parameter-name prefixes to freeze, e.g. ``["generator.audio_encoder"]``.
        tracker: an open MLflow run.

    Returns:
        Validation metrics of the exported weights (``valid/l1``, ``valid/ssim``,
        ``valid/sync_gen``, ``valid/sync_real``, ``valid/loss``) and ``step``.

    Raises:
        ValueError: data/config/checkpoint mismatches (naming both values), or a sync weight
            without an expert.
    """
    opts = options or GeneratorOptions()
    expert = None
    if expert_ckpt is not None:
        expert, expert_cfg = load_sync_expert(expert_ckpt)
        check_compatible(
            expert_cfg,
            model_cfg,
            f"sync expert {expert_ckpt}",
            ("fps", "sample_rate", "img_size", "channels", "mel", "sync_window_ms", "sync_crop"),
        )
    elif loss_weights.sync > 0:
        raise ValueError(
            "train_generator: loss_weights.sync > 0 needs expert_ckpt (a trained sync expert); "
            "pass one or set the sync weight to 0"
        )
    check_sequences(train_seqs, model_cfg, "training")
    check_sequences(val_seqs, model_cfg, "validation")
    _check_speakers(train_seqs, val_seqs)
    init_from = init_from or train_cfg.init_from
    init_info = None
    if init_from:
        init_info = read_model_checkpoint(init_from, "generator")
        check_compatible(init_info["model_config"], model_cfg, f"init_from {init_from}")

    mask_kind = opts.mask
    if mask_kind == "auto":
        mask_kind = "vocal_tract" if model_cfg.channels == 1 else "lower_half"
    mask = training_mask(train_seqs, mask_kind, opts.mask_dilation_px)
    # Clips span the expert's window only where it looks at them: in training when the sync
    # term is on (short clips otherwise: more, more varied clips per step for the same compute),
    # and always in validation, where the expert scores generated vs real windows.
    tv = expert.n_frames_window if expert is not None else 1
    n_clip = max(model_cfg.n_frames, tv if loss_weights.sync > 0 else 1)
    n_val_clip = max(model_cfg.n_frames, tv)
    common = dict(
        sync_window_ms=model_cfg.sync_window_ms,
        window_ms=model_cfg.audio_window_ms,
        mel_cfg=model_cfg.mel,
        reference=opts.reference,
        masked_from=opts.masked_from,
        mask=mask,
        center=model_cfg.audio_window_center,
        fps=model_cfg.fps,
        channels=model_cfg.channels,
    )
    train_set = AVClipDataset(
        train_seqs, n_frames=n_clip, seed=train_cfg.seed, stride=opts.stride, **common
    )
    val_clips = AVClipDataset(val_seqs, n_frames=n_val_clip, seed=train_cfg.seed + 1, **common)
    val_keep = _spread(len(val_clips), opts.max_val_clips)

    seed_model_init(train_cfg.seed)
    quality, temporal = build_discriminators(model_cfg)
    meta = _meta(
        "generator",
        model_cfg,
        mask=torch.from_numpy(mask),
        mask_kind=mask_kind,
        clip_frames=int(n_clip),
        sources={
            "expert": None if expert_ckpt is None else str(expert_ckpt),
            "init_from": None if init_from is None else str(init_from),
        },
    )
    solver = GeneratorSolver(
        build_generator(model_cfg),
        weights=loss_weights,
        expert=expert,
        quality_disc=quality,
        temporal_disc=temporal if opts.temporal_disc else None,
        lr=opts.lr,
        disc_lr=opts.disc_lr,
        betas=(opts.beta1, opts.beta2),
        meta=meta,
    )
    cfg = dataclasses.replace(
        train_cfg,
        init_from=None,  # loaded below, with config checks and partial (generator + D) support
        freeze=[*train_cfg.freeze, *freeze],
        best_metric=train_cfg.best_metric or "valid/l1",
    )
    trainer = Trainer(cfg, solver, tracker=tracker)
    if opts.device_data:
        train_data: Any = DeviceClipBank(train_set, trainer.device)
        val_data: Any = _ClipSubset(DeviceClipBank(val_clips, trainer.device), val_keep)
    else:
        train_data, val_data = train_set, Subset(val_clips, val_keep.tolist())
    if init_info is not None:
        for name, module in solver.models().items():
            if name in init_info["models"]:
                load_model_state(module, init_info["models"][name], source=f"{init_from} [{name}]")
            else:
                logger.info("init_from %s has no %r: it starts from scratch", init_from, name)
    logger.info(
        "generator: %d training clips of %d frames, %d validation clips, losses %s",
        len(train_set),
        n_clip,
        len(val_keep),
        loss_weights,
    )
    _log_params(
        trainer,
        tracker,
        {
            "train": to_dict(cfg),
            "model": dataclasses.asdict(model_cfg),
            "loss": dataclasses.asdict(loss_weights),
            "options": to_dict(opts),
            "expert": str(expert_ckpt),
            "init_from": str(init_from),
        },
    )
    trainer.fit(train_data, val_data)
    result = _export(trainer, "generator.pt", meta)
    samples = None
    if tracker is not None and trainer.dist.is_main and hasattr(val_seqs[0], "audio_for_frames"):
        samples = write_generator_samples(
            trainer.out_dir / "generator.pt", val_seqs[:1], trainer.out_dir / "samples"
        )
    _log_outputs(trainer, tracker, samples)
    return result
