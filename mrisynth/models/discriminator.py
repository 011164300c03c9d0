"""Discriminators: per-frame visual quality (PatchGAN-like) and temporal (3D conv).

Both return *logits* (no sigmoid); use the losses in :mod:`mrisynth.losses.adversarial`.
"""

from __future__ import annotations

import torch
from torch import nn

from mrisynth.models.syncnet import Crop, crop_rows
from mrisynth.modules.conv import ConvBlock, Norm

__all__ = ["QualityDiscriminator", "TemporalDiscriminator"]


class QualityDiscriminator(nn.Module):
    """PatchGAN-like per-frame discriminator.

    Args:
        channels: image channels ``C``.
        base_width: channels of the first layer, doubled per layer up to ``8·base_width``.
        n_layers: stride-2 layers (the receptive field grows ~2× per layer).
        norm: normalisation after the first layer (``"group"`` recommended for small batches).
        crop: ``"full"`` or ``"lower_half"`` (faces: judge the mouth region).

    ``forward(x)`` takes ``(B, T, C, H, W)`` or ``(N, C, H, W)`` in [0, 1] and returns patch
    logits ``(N, 1, h, w)`` with ``N = B·T``.
    """

    def __init__(
        self,
        channels: int,
        base_width: int = 32,
        n_layers: int = 3,
        norm: Norm = "group",
        crop: Crop = "full",
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"QualityDiscriminator: n_layers must be >= 1, got {n_layers}")
        crop_rows(torch.zeros(1, 1), crop)
        self.channels, self.crop = channels, crop
        layers = [ConvBlock(channels, base_width, 3, 2, norm="none", act="leaky")]
        w = base_width
        for _ in range(n_layers - 1):
            w_next = min(2 * w, 8 * base_width)
            layers.append(ConvBlock(w, w_next, 3, 2, norm=norm, act="leaky"))
            w = w_next
        layers.append(ConvBlock(w, w, 3, 1, norm=norm, act="leaky"))
        layers.append(nn.Conv2d(w, 1, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 5:
            x = x.flatten(0, 1)
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"QualityDiscriminator: expected (N, {self.channels}, H, W) or "
                f"(B, T, {self.channels}, H, W), got {tuple(x.shape)}"
            )
        return self.net(crop_rows(x, self.crop))


class TemporalDiscriminator(nn.Module):
    """3D-conv discriminator over short clips (judges motion, e.g. flicker or jerky tongue).

    Args:
        channels: image channels ``C``.
        base_width: channels of the first layer, doubled per layer.
        n_layers: layers with stride (1, 2, 2) (time kept, space halved), kernel 3×3×3.

    ``forward(x (B, T, C, H, W))`` (the package's clip layout; permuted internally to
    ``(B, C, T, H, W)``) returns logits ``(B, 1, T, h, w)``. Needs ``T >= 2``.
    """

    def __init__(self, channels: int, base_width: int = 32, n_layers: int = 3) -> None:
        super().__init__()
        self.channels = channels
        layers: list[nn.Module] = []
        cin = channels
        for i in range(n_layers):
            cout = min(base_width * 2**i, 8 * base_width)
            layers += [nn.Conv3d(cin, cout, 3, (1, 2, 2), 1)]
            if i > 0:
                layers.append(nn.GroupNorm(min(8, cout), cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin = cout
        layers.append(nn.Conv3d(cin, 1, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[2] != self.channels or x.shape[1] < 2:
            raise ValueError(
                f"TemporalDiscriminator: expected (B, T>=2, {self.channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        return self.net(x.transpose(1, 2))
