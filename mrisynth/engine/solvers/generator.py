"""Solver for the Wav2Lip-style generator: reconstruction, expert sync, GAN and temporal losses.

One step (``train=True``):

1. the generator paints ``T`` frames from ``[masked target, reference]`` and their mel windows;
2. generator loss ``= weights.combine({recon, sync, gan, temporal})`` with
   ``recon = L1 (+ ssim·(1 − SSIM))``, ``sync`` = BCE of the FROZEN expert's probability on the
   first ``Tv`` generated frames and the clip's sync-window mel (switched on once the expert's
   mean sync loss on generated validation frames falls below ``weights.sync_enable_below``,
   as in Wav2Lip, or always when that is ``None``), ``gan`` = non-saturating loss of the
   quality discriminator, ``temporal`` = :func:`temporal_difference_loss` (+ the temporal
   discriminator's loss when one is given);
3. each discriminator steps on real vs detached generated frames with its own optimiser.

Batches come from :class:`~mrisynth.data.dataset.AVClipDataset` with a sync window (uint8) or
its :class:`~mrisynth.data.dataset.DeviceClipBank` (floats in [0, 1], already on the device):
``frames``/``masked``/``reference`` ``(B, T, C, H, W)``, ``mel`` ``(B, T, 1, n_mels, n_win)``,
``sync_mel`` ``(B, 1, n_mels, n_win_sync)``. Validation returns ``l1``, ``ssim11`` (SSIM with an
11×11 Gaussian window, the loss's; not the evaluation's 7×7 ``ssim``), ``sync_gen``
(expert loss on generated windows), ``sync_real`` (on the real ones: the reference level) and
the generator ``loss``.

:func:`train_generator` is the whole recipe (pretraining or fine-tuning): data checks, the
training mask, clips, the trainer run and the export of ``<out_dir>/generator.pt``
(:mod:`mrisynth.models.artifacts`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import Subset

from mrisynth.config.schema import to_dict
from mrisynth.data.checks import check_sequences, training_mask, warn_shared_speakers
from mrisynth.data.dataset import AVClipDataset, DeviceClipBank
from mrisynth.data.intensity import unit_tensor
from mrisynth.data.spec import DataSpec
from mrisynth.engine.checkpoint import load_model_state
from mrisynth.engine.distributed import all_reduce_mean
from mrisynth.engine.recipe import (
    common_spacing,
    evenly_spaced,
    export_artifact,
    log_run_outputs,
    log_run_params,
    solver_meta,
)
from mrisynth.engine.solvers.sync_expert import check_meta
from mrisynth.engine.tracking import NullTracker
from mrisynth.engine.trainer import Solver, TrainConfig, Trainer
from mrisynth.losses.adversarial import discriminator_loss, generator_adversarial_loss
from mrisynth.losses.reconstruction import ReconstructionLoss, l1_loss
from mrisynth.losses.sync import sync_loss
from mrisynth.losses.temporal import temporal_difference_loss
from mrisynth.losses.weights import GeneratorLossWeights
from mrisynth.models.artifacts import check_same_front_end, load_sync_expert, read_artifact
from mrisynth.models.builders import ModelConfig, build_discriminators, build_generator
from mrisynth.models.discriminator import QualityDiscriminator, TemporalDiscriminator
from mrisynth.models.generator import Generator
from mrisynth.models.syncnet import SyncExpert
from mrisynth.synthesis import write_side_by_side_samples
from mrisynth.utils.seed import seed_model_init

logger = logging.getLogger(__name__)

__all__ = ["GeneratorOptions", "GeneratorSolver", "train_generator"]


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


@contextlib.contextmanager
def _no_param_grad(module: nn.Module | None) -> Iterator[None]:
    # The generator's adversarial term must not leave gradients in the discriminator (they
    # would be added to its own step); graph-free parameters are cheaper than zeroing later.
    if module is None:
        yield
        return
    params = list(module.parameters())
    saved = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, r in zip(params, saved):
            p.requires_grad_(r)


class GeneratorSolver(Solver):
    """Wav2Lip-style training of a :class:`~mrisynth.models.generator.Generator`.

    Args:
        generator: the model being trained (checkpoint key ``"generator"``).
        weights: loss weights; terms with weight 0 are not computed.
        expert: a pretrained sync expert; frozen and kept in eval mode here (not saved with
            the generator's checkpoints). Needed when ``weights.sync > 0``; with a sync weight
            of 0 it still provides the ``sync``/``sync_gen``/``sync_real`` metrics.
        quality_disc: per-frame discriminator (``"quality_disc"``), used when ``weights.gan > 0``.
        temporal_disc: clip discriminator (``"temporal_disc"``), used when
            ``weights.temporal > 0``.
        lr, disc_lr: peak learning rates (Adam) of the generator and discriminators.
        betas: Adam betas for all optimisers.
        meta: plain dict stored in every checkpoint (model config, fps, mask...).

    Raises:
        ValueError: ``weights.sync > 0`` without an expert, or a non-positive learning rate.
    """

    def __init__(
        self,
        generator: Generator,
        *,
        weights: GeneratorLossWeights,
        expert: SyncExpert | None = None,
        quality_disc: QualityDiscriminator | None = None,
        temporal_disc: TemporalDiscriminator | None = None,
        lr: float = 1e-4,
        disc_lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        if lr <= 0 or disc_lr <= 0:
            raise ValueError(f"GeneratorSolver: lr and disc_lr must be > 0, got {lr}, {disc_lr}")
        if weights.sync > 0 and expert is None:
            raise ValueError(
                "GeneratorSolver: weights.sync > 0 needs a pretrained sync expert "
                "(or set the sync weight to 0)"
            )
        self.weights = weights
        self.generator = generator
        self.quality_disc = quality_disc if weights.gan > 0 else None
        self.temporal_disc = temporal_disc if weights.temporal > 0 else None
        # Unwrapped discriminators for the generator's adversarial terms (no DDP hooks there).
        self._quality_raw, self._temporal_raw = self.quality_disc, self.temporal_disc
        self.expert = expert  # also scores validation windows when the sync weight is 0
        if self.expert is not None:
            self.expert.eval()
            self.expert.requires_grad_(False)
        self.recon = ReconstructionLoss(1.0, weights.ssim)
        self._ssim = ReconstructionLoss(0.0, 1.0)  # 1 − SSIM, for the validation metric
        self.opts = {"generator": torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)}
        for name in ("quality_disc", "temporal_disc"):
            disc = getattr(self, name)
            if disc is not None:
                self.opts[name] = torch.optim.Adam(disc.parameters(), lr=disc_lr, betas=betas)
        self.meta = dict(meta or {})
        self.sync_enabled = (
            expert is not None and weights.sync > 0 and weights.sync_enable_below is None
        )
        self._eval_sync_sum: torch.Tensor | None = None
        self._eval_sync_n = 0

    # ------------------------------------------------------------------ Solver API
    def models(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {"generator": self.generator}
        for name in ("quality_disc", "temporal_disc"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self.opts)

    def state_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "sync_enabled": bool(self.sync_enabled)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_meta(state.get("meta") or {}, self.meta, "generator checkpoint")
        if self.expert is not None and self.weights.sync > 0:
            self.sync_enabled = bool(state.get("sync_enabled", self.sync_enabled))

    # ------------------------------------------------------------------ helpers
    def _expert_on(self, device: torch.device) -> SyncExpert:
        assert self.expert is not None
        if next(self.expert.parameters()).device != device:
            self.expert.to(device)
        return self.expert

    def _update_sync_switch(self) -> None:
        """After an evaluation, switch the sync term on if the expert judged it good enough."""
        if self._eval_sync_sum is None:
            return
        mean = all_reduce_mean(self._eval_sync_sum / max(self._eval_sync_n, 1))
        self._eval_sync_sum, self._eval_sync_n = None, 0
        threshold = self.weights.sync_enable_below
        if self.weights.sync <= 0 or threshold is None or self.sync_enabled:
            return
        if float(mean) < threshold:
            self.sync_enabled = True
            logger.info(
                "sync loss switched on: expert loss on generated frames %.4f < %.4f",
                float(mean),
                threshold,
            )

    def _sync_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """First ``Tv`` frames of ``(B, T, C, H, W)`` clips (the expert's window)."""
        tv = self.expert.n_frames_window
        if frames.shape[1] < tv:
            raise ValueError(
                f"GeneratorSolver: clips of {frames.shape[1]} frames are shorter than the "
                f"expert's window of {tv} frames; use n_frames >= {tv}"
            )
        return frames[:, :tv]

    # ------------------------------------------------------------------ step
    def run_step(self, batch: Mapping[str, torch.Tensor], train: bool) -> dict[str, torch.Tensor]:
        if train:
            self._update_sync_switch()
        real = unit_tensor(batch["frames"])  # (B, T, C, H, W)
        masked = unit_tensor(batch["masked"])
        reference = unit_tensor(batch["reference"])
        fake = self.generator(batch["mel"].float(), masked, reference)  # (B, T, C, H, W)

        w = self.weights
        terms: dict[str, torch.Tensor] = {"recon": self.recon(fake, real)}
        metrics: dict[str, torch.Tensor] = {"l1": l1_loss(fake.detach(), real)}
        # The expert looks at training clips only when the sync term is weighted (they span
        # its window then); validation clips always span it, for sync_gen vs sync_real.
        if self.expert is not None and (w.sync > 0 or not train):
            expert = self._expert_on(fake.device)
            sync_mel = batch["sync_mel"].float()
            if train and self.sync_enabled:
                terms["sync"] = sync_loss(expert, self._sync_frames(fake), sync_mel)
                metrics["sync"] = terms["sync"].detach()
            else:
                with torch.no_grad():
                    metrics["sync"] = sync_loss(expert, self._sync_frames(fake), sync_mel)
            metrics["sync_on"] = torch.tensor(float(self.sync_enabled), device=fake.device)
        if self._quality_raw is not None:
            with _no_param_grad(self._quality_raw):
                terms["gan"] = generator_adversarial_loss(self._quality_raw(fake))
            metrics["gan"] = terms["gan"].detach()
        if w.temporal > 0:
            if fake.shape[1] < 2:
                raise ValueError("GeneratorSolver: the temporal loss needs clips of >= 2 frames")
            temporal = temporal_difference_loss(fake, real)
            metrics["temporal_diff"] = temporal.detach()
            if self._temporal_raw is not None:
                with _no_param_grad(self._temporal_raw):
                    adv = generator_adversarial_loss(self._temporal_raw(fake))
                metrics["temporal_gan"] = adv.detach()
                temporal = temporal + adv
            terms["temporal"] = temporal
        loss = w.combine(terms, sync_enabled=self.sync_enabled)
        metrics["loss"] = loss.detach() if train else loss

        if train:
            self.optimize(loss, "generator")
            fake_d = fake.detach()
            if self.quality_disc is not None:
                logits = self.quality_disc(torch.cat([real, fake_d]))  # one pass: DDP-friendly
                real_l, fake_l = logits.chunk(2)
                d_loss = discriminator_loss(real_l, fake_l)
                self.optimize(d_loss, "quality_disc")
                metrics["d_quality"] = d_loss.detach()
            if self.temporal_disc is not None:
                logits = self.temporal_disc(torch.cat([real, fake_d]))
                real_l, fake_l = logits.chunk(2)
                d_loss = discriminator_loss(real_l, fake_l)
                self.optimize(d_loss, "temporal_disc")
                metrics["d_temporal"] = d_loss.detach()
            return metrics

        metrics["ssim11"] = 1.0 - self._ssim(fake, real)  # 11x11 Gaussian window (MONAI)
        if self.expert is not None:
            sync_gen = metrics.pop("sync")
            metrics["sync_gen"] = sync_gen
            metrics["sync_real"] = sync_loss(
                self.expert, self._sync_frames(real), batch["sync_mel"].float()
            )
            v = sync_gen.detach().float()
            self._eval_sync_sum = v if self._eval_sync_sum is None else self._eval_sync_sum + v
            self._eval_sync_n += 1
        return metrics


# ---------------------------------------------------------------------------------- recipe
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
        Validation metrics of the exported weights (``valid/l1``, ``valid/ssim11``,
        ``valid/sync_gen``, ``valid/sync_real``, ``valid/loss``) and ``step``.

    Raises:
        ValueError: data/config/checkpoint mismatches (naming both values), or a sync weight
            without an expert.
    """
    opts = options or GeneratorOptions()
    expert = None
    if expert_ckpt is not None:
        expert, expert_cfg = load_sync_expert(expert_ckpt)
        check_same_front_end(expert_cfg, model_cfg, f"sync expert {expert_ckpt}")
    elif loss_weights.sync > 0:
        raise ValueError(
            "train_generator: loss_weights.sync > 0 needs expert_ckpt (a trained sync expert); "
            "pass one or set the sync weight to 0"
        )
    check_sequences(train_seqs, model_cfg, "training")
    check_sequences(val_seqs, model_cfg, "validation")
    warn_shared_speakers(train_seqs, val_seqs)
    init_from = init_from or train_cfg.init_from
    init_info = None
    if init_from:
        init_info = read_artifact(init_from, "generator")
        init_info.data_spec.check_matches(DataSpec.of_model(model_cfg), f"init_from {init_from}")

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
    val_keep = evenly_spaced(len(val_clips), opts.max_val_clips)

    seed_model_init(train_cfg.seed)
    quality, temporal = build_discriminators(model_cfg)
    meta = solver_meta(
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
        val_data: Any = Subset(DeviceClipBank(val_clips, trainer.device), val_keep.tolist())
    else:
        train_data, val_data = train_set, Subset(val_clips, val_keep.tolist())
    if init_info is not None:
        for name, module in solver.models().items():
            if name in init_info.weights:
                load_model_state(module, init_info.weights[name], source=f"{init_from} [{name}]")
            else:
                logger.info("init_from %s has no %r: it starts from scratch", init_from, name)
    logger.info(
        "generator: %d training clips of %d frames, %d validation clips, losses %s",
        len(train_set),
        n_clip,
        len(val_keep),
        loss_weights,
    )
    log_run_params(
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
    result = export_artifact(trainer, "generator.pt", meta, common_spacing(train_seqs))
    samples = None
    if tracker is not None and trainer.dist.is_main and hasattr(val_seqs[0], "audio_for_frames"):
        samples = write_side_by_side_samples(
            trainer.out_dir / "generator.pt", val_seqs[:1], trainer.out_dir / "samples"
        )
    log_run_outputs(trainer, tracker, samples, model=trainer.out_dir / "generator.pt")
    return result
