"""Weights of the generator's loss terms."""

from __future__ import annotations

import dataclasses

import torch

__all__ = ["GeneratorLossWeights"]


@dataclasses.dataclass
class GeneratorLossWeights:
    """``total = recon·L1(+SSIM) + sync·sync + gan·(quality GAN) + temporal·(temporal terms)``."""

    recon: float = 0.9
    """Reconstruction (L1) weight."""
    sync: float = 0.03
    """Expert sync loss weight."""
    gan: float = 0.07
    """Quality-discriminator (non-saturating) weight."""
    temporal: float = 0.0
    """Temporal difference loss (+ temporal discriminator) weight."""
    ssim: float = 0.0
    """SSIM weight inside the reconstruction term."""
    sync_enable_below: float | None = 0.75
    """Switch the sync term on only once the expert's eval loss is below this (None: always)."""

    def __post_init__(self) -> None:
        for f in ("recon", "sync", "gan", "temporal", "ssim"):
            if getattr(self, f) < 0:
                raise ValueError(f"GeneratorLossWeights.{f} must be >= 0, got {getattr(self, f)}")

    @classmethod
    def face(cls) -> GeneratorLossWeights:
        """Wav2Lip's weights: 0.9 L1, 0.03 sync, 0.07 GAN, no temporal term."""
        return cls()

    @classmethod
    def mri(cls) -> GeneratorLossWeights:
        """MRI: more weight on motion (temporal 0.1) and structure (SSIM 0.1), GAN 0.05.

        At 83.28 fps consecutive frames differ little, so flicker is the visible failure; the
        temporal term addresses it. Sync keeps Wav2Lip's 0.03 with the same switch-on rule.
        """
        return cls(recon=0.8, sync=0.03, gan=0.05, temporal=0.1, ssim=0.1)

    def combine(self, terms: dict[str, torch.Tensor], sync_enabled: bool = True) -> torch.Tensor:
        """Weighted sum of the terms present in ``terms`` (keys ``recon``, ``sync``, ``gan``,
        ``temporal``); ``sync`` is skipped when ``sync_enabled`` is False."""
        unknown = set(terms) - {"recon", "sync", "gan", "temporal"}
        if unknown:
            raise ValueError(f"GeneratorLossWeights.combine: unknown loss terms {sorted(unknown)}")
        total = None
        for k, v in terms.items():
            if k == "sync" and not sync_enabled:
                continue
            part = getattr(self, k) * v
            total = part if total is None else total + part
        if total is None:
            raise ValueError("GeneratorLossWeights.combine: no loss terms given")
        return total
