"""Solver for the audio-visual sync expert (SyncNet-style) on in-sync / off-sync pairs.

Batches come from :class:`~mrisynth.data.dataset.SyncPairDataset` (optionally through
:class:`RedrawnPairs`, which draws fresh off-sync shifts on every pass over the data):
``frames`` uint8 ``(B, Tv, C, H, W)``, ``mel`` float32 ``(B, 1, n_mels, n_win)``, ``label``
float32 ``(B,)`` (1 = in sync). The loss is :func:`~mrisynth.losses.sync.expert_bce` (chance
level ln 2 ≈ 0.693 for balanced pairs); the accuracy counts ``P(sync) > 0.5`` agreeing with the
label. Training batches can be augmented on the fly (:class:`VisualAugment`: a small shift of
the whole window, intensity gain/offset, noise) so the expert cannot key on one speaker's exact
pixel positions or intensities.

Both solvers of this package keep a ``meta`` dict (the model config as a plain dict, the data
frame rate and sample rate...) in their checkpointed state, so every trainer checkpoint can be
rebuilt into a model and checked against new data; :func:`check_meta` refuses to resume a run
whose meta changed.

:func:`train_sync_expert` is the whole recipe: data checks, balanced pairs, the trainer run
and the export of ``<out_dir>/expert.pt`` (:mod:`mrisynth.models.artifacts`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset

from mrisynth.config.schema import to_dict
from mrisynth.data.checks import check_sequences, warn_shared_speakers
from mrisynth.data.dataset import SyncPairDataset
from mrisynth.data.intensity import unit_tensor
from mrisynth.engine.recipe import (
    common_spacing,
    evenly_spaced,
    export_artifact,
    log_run_outputs,
    log_run_params,
    solver_meta,
)
from mrisynth.engine.tracking import NullTracker
from mrisynth.engine.trainer import Solver, TrainConfig, Trainer
from mrisynth.losses.sync import expert_bce
from mrisynth.models.artifacts import check_same_front_end, read_artifact
from mrisynth.models.builders import ModelConfig, build_sync_expert
from mrisynth.models.syncnet import SyncExpert, cosine_probability, visible_rows
from mrisynth.transforms.domain import DomainRandomization, randomize_appearance
from mrisynth.utils.seed import seed_model_init
from mrisynth.utils.state_files import load_model_state

logger = logging.getLogger(__name__)

__all__ = [
    "ExpertOptions",
    "SyncExpertSolver",
    "RedrawnPairs",
    "VisualAugment",
    "check_meta",
    "sync_pairs",
    "balanced_subset",
    "train_sync_expert",
]


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
    domain: DomainRandomization | None = None
    """Random MRI appearance per training window (contrast curve, coil shading, blur, Rician
    noise; :mod:`mrisynth.transforms.domain`), the same for all frames of a window, so the
    expert learns motion against audio rather than one scanner's look. None = off."""

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.weight_decay < 0 or self.stride < 1 or self.max_val_pairs < 0:
            raise ValueError(
                "ExpertOptions: need lr > 0, weight_decay >= 0, stride >= 1, max_val_pairs >= 0"
            )


def check_meta(saved: Mapping[str, Any], current: Mapping[str, Any], source: str) -> None:
    """Raise ``ValueError`` naming the first differing key of two checkpoint meta dicts.

    Only keys present in both are compared (tensors with ``torch.equal``), so adding a meta
    field later does not break old checkpoints; ``sources`` (file paths, which may be spelled
    differently on resumption) is never compared.
    """
    for key in sorted((set(saved) & set(current)) - {"sources"}):
        a, b = saved[key], current[key]
        if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
            same = (
                isinstance(a, torch.Tensor)
                and isinstance(b, torch.Tensor)
                and a.shape == b.shape
                and torch.equal(a.cpu(), b.cpu())
            )
        else:
            same = a == b
        if not same:
            shown_a = f"tensor{tuple(a.shape)}" if isinstance(a, torch.Tensor) else repr(a)
            shown_b = f"tensor{tuple(b.shape)}" if isinstance(b, torch.Tensor) else repr(b)
            raise ValueError(
                f"{source}: checkpoint has {key}={shown_a} but this run has {key}={shown_b}; "
                "start a fresh out_dir (or restore the original settings) to resume"
            )


@dataclasses.dataclass
class VisualAugment:
    """Random per-window perturbation of training windows (the same for all ``Tv`` frames).

    A window is shifted by whole pixels (edges replicated), its intensity mapped to
    ``gain · x + offset`` and Gaussian noise added; the result is clipped to [0, 1].
    """

    shift_px: int = 2
    """Maximum shift in each direction (px); 0 = none."""
    gain: float = 0.15
    """Gain drawn uniformly from ``[1 - gain, 1 + gain]``."""
    offset: float = 0.05
    """Offset drawn uniformly from ``[-offset, offset]`` (intensity units, 1 = white)."""
    noise_std: float = 0.02
    """Standard deviation of the additive noise (intensity units)."""

    def __post_init__(self) -> None:
        if self.shift_px < 0 or not 0 <= self.gain < 1 or self.offset < 0 or self.noise_std < 0:
            raise ValueError(
                "VisualAugment: need shift_px >= 0, 0 <= gain < 1, offset >= 0, noise_std >= 0; "
                f"got {self}"
            )

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """Augment ``(B, Tv, C, H, W)`` float frames in [0, 1]; returns the same shape."""
        b, tv, c, h, w = frames.shape
        x = frames.reshape(b, tv * c, h, w)
        dev = x.device
        if self.shift_px > 0:
            s = self.shift_px
            padded = F.pad(x, (s, s, s, s), mode="replicate")  # (B, Tv·C, H+2s, W+2s)
            dy, dx = torch.randint(0, 2 * s + 1, (2, b), device=dev).tolist()
            # one slice per window: half the time of a gather with per-pixel indices
            x = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])
        gain = 1 + self.gain * (2 * torch.rand(b, 1, 1, 1, device=dev) - 1)
        offset = self.offset * (2 * torch.rand(b, 1, 1, 1, device=dev) - 1)
        x = torch.addcmul(offset, x, gain)  # a new tensor: the in-place steps below are safe
        if self.noise_std > 0:
            x.add_(torch.randn_like(x), alpha=self.noise_std)
        return x.clamp_(0, 1).reshape(b, tv, c, h, w)


class RedrawnPairs(Dataset):
    """A pair dataset repeated ``passes`` times, each pass with other off-sync shifts.

    Item ``i`` is ``base[i % n]`` drawn with ``base.set_epoch(i // n)``: still a pure function of
    the index (so resumed runs and workers agree), but negatives are not fixed for the whole
    run, which keeps the expert from memorising one shift per window.

    Args:
        base: a dataset with ``set_epoch(int)`` (e.g. ``SyncPairDataset``).
        passes: number of redrawn copies (>= 1).
    """

    def __init__(self, base: Dataset, passes: int) -> None:
        if passes < 1:
            raise ValueError(f"RedrawnPairs: passes must be >= 1, got {passes}")
        if not hasattr(base, "set_epoch"):
            raise TypeError(f"RedrawnPairs: {type(base).__name__} has no set_epoch()")
        self.base, self.passes = base, int(passes)

    def __len__(self) -> int:
        return self.passes * len(self.base)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} pairs")
        epoch, i = divmod(index, len(self.base))
        self.base.set_epoch(epoch)
        return self.base[i]


class SyncExpertSolver(Solver):
    """Trains a :class:`~mrisynth.models.syncnet.SyncExpert` with BCE on its cosine probability.

    Args:
        expert: the model (its key in checkpoints is ``"expert"``).
        lr: peak learning rate of Adam (Wav2Lip: 1e-4).
        weight_decay: AdamW weight decay.
        meta: plain dict stored in every checkpoint (model config, fps, sample rate...).
        augment: on-the-fly augmentation of training windows (None = off; never at validation).
        domain: random appearance of training windows, applied before ``augment`` (None = off;
            never at validation).

    ``run_step`` returns ``loss`` (BCE), ``accuracy`` (fraction of pairs with
    ``(P > 0.5) == label``), ``p_pos``/``p_neg`` (mean probability of in-sync / off-sync pairs in
    the batch; 0 where a batch has none, which balanced batches avoid).
    """

    def __init__(
        self,
        expert: SyncExpert,
        *,
        lr: float = 1e-4,
        weight_decay: float = 0.0,
        meta: Mapping[str, Any] | None = None,
        augment: VisualAugment | None = None,
        domain: DomainRandomization | None = None,
    ) -> None:
        if lr <= 0:
            raise ValueError(f"SyncExpertSolver: lr must be > 0, got {lr}")
        self.expert = expert
        self.opt = torch.optim.AdamW(expert.parameters(), lr=lr, weight_decay=weight_decay)
        self.meta = dict(meta or {})
        self.augment = augment
        self.domain = domain

    def models(self) -> dict[str, torch.nn.Module]:
        return {"expert": self.expert}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"expert": self.opt}

    def run_step(self, batch: Mapping[str, torch.Tensor], train: bool) -> dict[str, torch.Tensor]:
        frames = unit_tensor(batch["frames"])  # (B, Tv, C, H, W)
        if train:
            frames = self._perturb(frames)
        label = batch["label"].float().reshape(-1)  # (B,)
        video_emb, audio_emb = self.expert(frames, batch["mel"].float())  # (B, D) each
        loss = expert_bce(video_emb, audio_emb, label)
        if train:
            self.optimize(loss, "expert")
        prob = cosine_probability(video_emb.detach(), audio_emb.detach()).float()  # (B,)
        pos = label > 0.5
        correct = ((prob > 0.5) == pos).float()
        n_pos, n_neg = pos.sum().clamp_min(1), (~pos).sum().clamp_min(1)
        return {
            "loss": loss,
            "accuracy": correct.mean(),
            "p_pos": (prob * pos).sum() / n_pos,
            "p_neg": (prob * ~pos).sum() / n_neg,
        }

    def _perturb(self, frames: torch.Tensor) -> torch.Tensor:
        """Training look and augmentation of ``(B, Tv, C, H, W)`` windows, on the rows the expert
        reads only: perturbing the rows its crop discards was ~40 % of a face expert's step."""
        if self.domain is None and self.augment is None:
            return frames
        rows = visible_rows(frames.shape[-2], self.expert.crop)
        whole = rows.start == 0 and rows.stop == frames.shape[-2]  # nothing to put back
        seen = frames[..., rows, :]
        if self.domain is not None:
            b, tv, c, h, w = seen.shape  # one appearance per window: its frames share it
            look = randomize_appearance(seen.reshape(b, tv * c, h, w), self.domain)
            seen = look.reshape(b, tv, c, h, w)
        if self.augment is not None:
            seen = self.augment(seen)
        if whole:
            return seen
        return torch.cat([frames[..., : rows.start, :], seen, frames[..., rows.stop :, :]], -2)

    def state_dict(self) -> dict[str, Any]:
        return {"meta": self.meta}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_meta(state.get("meta") or {}, self.meta, "sync expert checkpoint")


# ---------------------------------------------------------------------------------- recipe
def sync_pairs(
    seqs: Sequence[Any],
    model_cfg: ModelConfig,
    *,
    seed: int,
    shift_s: tuple[float, float] = (0.2, 1.0),
    stride: int = 1,
) -> SyncPairDataset:
    """In-sync / off-sync pairs of ``seqs`` with ``model_cfg``'s expert window, mel front end,
    frame rate and channels; negatives shifted by ``shift_s`` (min, max) seconds."""
    return SyncPairDataset(
        seqs,
        window_ms=model_cfg.sync_window_ms,
        mel_cfg=model_cfg.mel,
        negative_shift_s=shift_s,
        fps=model_cfg.fps,
        channels=model_cfg.channels,
        seed=seed,
        stride=stride,
    )


def balanced_subset(pairs: SyncPairDataset, max_pairs: int) -> Subset:
    """Up to ``max_pairs`` pairs spread evenly over ``pairs`` (0 = all), balanced: items
    alternate in-sync / off-sync, so each kept position keeps both of its neighbours."""
    keep = evenly_spaced(len(pairs) // 2, max_pairs // 2 if max_pairs else 0)
    return Subset(pairs, np.stack([2 * keep, 2 * keep + 1], 1).ravel().tolist())


def train_sync_expert(
    train_seqs: Sequence[Any],
    val_seqs: Sequence[Any],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    *,
    options: ExpertOptions | None = None,
    init_from: str | Path | None = None,
    tracker: NullTracker | None = None,
) -> dict[str, float]:
    """Train the sync expert on balanced in-/off-sync pairs; export ``<out_dir>/expert.pt``.

    With ``init_from`` (a trained ``expert.pt``), training starts from its weights: this is
    how an expert pretrained on the phantom is adapted to a speaker's own recordings, whose
    in-sync and shifted audio windows are free labels (self-supervision needs no annotation).

    Validation (``valid/loss``, ``valid/accuracy``, ``valid/p_pos``, ``valid/p_neg``) runs on
    balanced pairs of ``val_seqs`` (use held-out SPEAKERS; a shared speaker is warned about).
    ``best.pt`` follows ``train_cfg.best_metric`` (default ``valid/loss``, min).

    Args:
        train_seqs, val_seqs: prepared sequences (see :func:`prepare_for_model`).
        model_cfg: model and audio front-end config.
        train_cfg: run settings (steps, batch size, ``out_dir``...).
        options: optimiser/data settings.
        init_from: a sync-expert model file to start from; its data spec and audio front end
            must equal ``model_cfg``'s. A resumed run (``train_cfg.resume``) keeps its own
            checkpointed weights instead.
        tracker: an open MLflow run (metrics and parameters are logged to it).

    Returns:
        Validation metrics of the exported weights (``{"valid/accuracy": ..., "step": ...}``).

    Raises:
        ValueError: sequences that do not match ``model_cfg``, or an ``init_from`` expert of
            another data spec / architecture (named, with both values).
    """
    opts = options or ExpertOptions()
    check_sequences(train_seqs, model_cfg, "training")
    check_sequences(val_seqs, model_cfg, "validation")
    warn_shared_speakers(train_seqs, val_seqs)
    shift = opts.negative_shift_s
    pairs = sync_pairs(
        train_seqs, model_cfg, seed=train_cfg.seed, shift_s=shift, stride=opts.stride
    )
    val_pairs = sync_pairs(val_seqs, model_cfg, seed=train_cfg.seed + 1, shift_s=shift)
    val_set = balanced_subset(val_pairs, opts.max_val_pairs)

    cfg = dataclasses.replace(train_cfg, best_metric=train_cfg.best_metric or "valid/loss")
    meta = solver_meta("sync_expert", model_cfg)
    seed_model_init(cfg.seed)
    expert = build_sync_expert(model_cfg)
    if init_from is not None:
        _load_pretrained(expert, model_cfg, Path(init_from))
    solver = SyncExpertSolver(
        expert,
        lr=opts.lr,
        weight_decay=opts.weight_decay,
        meta=meta,
        augment=VisualAugment() if opts.augment else None,
        domain=opts.domain,
    )
    trainer = Trainer(cfg, solver, tracker=tracker)  # resuming replaces the weights loaded above
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
    log_run_params(
        trainer,
        tracker,
        {
            "train": to_dict(cfg),
            "model": dataclasses.asdict(model_cfg),
            "options": to_dict(opts),
            "init_from": str(init_from),
        },
    )
    trainer.fit(train_set, val_set)
    result = export_artifact(trainer, "expert.pt", meta, common_spacing(train_seqs))
    log_run_outputs(trainer, tracker, model=trainer.out_dir / "expert.pt")
    return result


# ModelConfig values that shape the expert (build_sync_expert); the data spec and the audio
# front end are checked by check_same_front_end.
_EXPERT_ARCH_FIELDS = (
    "sync_frames",
    "sync_window_steps",
    "sync_embed_dim",
    "sync_base_width",
    "sync_max_width",
    "sync_res_blocks",
    "norm",
    "sync_crop",
    "sync_visual_input",
    "sync_audio_norm",
)


def _load_pretrained(expert: SyncExpert, model_cfg: ModelConfig, path: Path) -> None:
    """Load a trained expert's weights into ``expert`` after checking it is the same model."""
    art = read_artifact(path, "sync_expert")
    saved = art.config()
    check_same_front_end(saved, model_cfg, f"init_from {path}")
    diff = [
        f"{name}: {getattr(saved, name)!r} vs {getattr(model_cfg, name)!r}"
        for name in _EXPERT_ARCH_FIELDS
        if getattr(saved, name) != getattr(model_cfg, name)
    ]
    if diff:
        raise ValueError(
            f"init_from {path}: the expert's architecture differs from this run's "
            f"({'; '.join(diff)}); adapt with the model config it was trained with"
        )
    load_model_state(expert, art.weights["expert"], strict=True, source=str(path))
    logger.info("sync expert initialised from %s (step %d)", path, art.step)
