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
``sync_mel`` ``(B, 1, n_mels, n_win_sync)``. Validation returns ``l1``, ``ssim``, ``sync_gen``
(expert loss on generated windows), ``sync_real`` (on the real ones: the reference level) and
the generator ``loss``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from mrisynth.engine.distributed import all_reduce_mean
from mrisynth.engine.solvers.sync_expert import check_meta, unit_frames
from mrisynth.engine.trainer import Solver
from mrisynth.losses.adversarial import discriminator_loss, generator_adversarial_loss
from mrisynth.losses.reconstruction import ReconstructionLoss, l1_loss
from mrisynth.losses.sync import sync_loss
from mrisynth.losses.temporal import temporal_difference_loss
from mrisynth.losses.weights import GeneratorLossWeights
from mrisynth.models.discriminator import QualityDiscriminator, TemporalDiscriminator
from mrisynth.models.generator import Generator
from mrisynth.models.syncnet import SyncExpert

logger = logging.getLogger(__name__)

__all__ = ["GeneratorSolver"]


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
        real = unit_frames(batch["frames"])  # (B, T, C, H, W)
        masked = unit_frames(batch["masked"])
        reference = unit_frames(batch["reference"])
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

        metrics["ssim"] = 1.0 - self._ssim(fake, real)
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
