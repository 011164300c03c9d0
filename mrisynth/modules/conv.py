"""Convolution blocks shared by the generator, the sync expert and the discriminators.

All blocks take ``(B, C, H, W)`` tensors and plain constructor arguments.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

__all__ = ["ConvBlock", "ConvTransposeBlock", "make_norm", "conv_out_size"]

Norm = Literal["batch", "group", "none"]
Act = Literal["relu", "leaky", "none"]


def make_norm(kind: Norm, channels: int) -> nn.Module:
    """Normalisation layer: BatchNorm2d, GroupNorm (up to 8 groups) or identity."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'group' or 'none', got {kind!r}")


def _make_act(kind: Act) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "leaky":
        return nn.LeakyReLU(0.2, inplace=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"act must be 'relu', 'leaky' or 'none', got {kind!r}")


def conv_out_size(n: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis."""
    return (n + 2 * padding - kernel) // stride + 1


class ConvBlock(nn.Module):
    """Conv2d → norm → activation, with an optional identity residual.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: square int or ``(kh, kw)``.
        stride: square int or ``(sh, sw)``.
        padding: defaults to ``kernel // 2`` ("same" for stride 1).
        norm: ``"batch"``, ``"group"`` or ``"none"``.
        act: ``"relu"``, ``"leaky"`` (slope 0.2) or ``"none"``.
        residual: add the input before the activation; needs equal channels and stride 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        norm: Norm = "batch",
        act: Act = "relu",
        residual: bool = False,
    ) -> None:
        super().__init__()
        k = nn.modules.utils._pair(kernel_size)
        s = nn.modules.utils._pair(stride)
        if residual and (in_channels != out_channels or s != (1, 1)):
            raise ValueError(
                "ConvBlock: residual=True needs in_channels == out_channels and stride 1, got "
                f"{in_channels}->{out_channels}, stride {s}"
            )
        pad = (k[0] // 2, k[1] // 2) if padding is None else padding
        self.conv = nn.Conv2d(in_channels, out_channels, k, s, pad, bias=norm == "none")
        self.norm = make_norm(norm, out_channels)
        self.act = _make_act(act)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(x))
        if self.residual:
            y = y + x
        return self.act(y)


class ConvTransposeBlock(nn.Module):
    """ConvTranspose2d → norm → activation (upsampling).

    ``forward(x, output_size)`` resolves the ambiguous output size of strided transposed
    convolutions, so odd skip sizes (e.g. 5 → 10 or 3 → 5) are matched exactly.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, stride, padding: as in :class:`torch.nn.ConvTranspose2d`
            (``padding`` defaults to ``kernel // 2`` when ``stride > 1``, else 0).
        norm, act: as in :class:`ConvBlock`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 2,
        padding: int | tuple[int, int] | None = None,
        norm: Norm = "batch",
        act: Act = "relu",
    ) -> None:
        super().__init__()
        k = nn.modules.utils._pair(kernel_size)
        s = nn.modules.utils._pair(stride)
        if padding is None:
            padding = tuple(ki // 2 if si > 1 else 0 for ki, si in zip(k, s))
        self.conv = nn.ConvTranspose2d(
            in_channels, out_channels, k, s, padding, bias=norm == "none"
        )
        self.norm = make_norm(norm, out_channels)
        self.act = _make_act(act)

    def forward(self, x: torch.Tensor, output_size: tuple[int, int] | None = None) -> torch.Tensor:
        return self.act(self.norm(self.conv(x, output_size=output_size)))
