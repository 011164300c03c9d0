"""Convolutional encoders that reduce an image (or mel window) to a 1×1 embedding.

The downsampling plan is derived from the input size, so one class serves 64/80/96/128-px
frames, lower-half face crops (48×96) and mel windows (80×16 or 80×20).
"""

from __future__ import annotations

import torch
from torch import nn

from mrisynth.modules.conv import ConvBlock, Norm, conv_out_size

__all__ = ["ConvEncoder", "downsample_plan"]


def downsample_plan(
    size: tuple[int, int], min_size: int = 4
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Strides and output sizes of 3×3 stride-≤2 stages until both axes are ``<= min_size``.

    An axis is halved (stride 2) only while it is larger than ``min_size``, so a short
    axis (e.g. 16 mel steps) is not reduced below it while a long one (80 mels) still is.

    Returns:
        ``[(stride, size_after), ...]`` per stage; empty if the input is already small.
    """
    h, w = size
    plan = []
    while h > min_size or w > min_size:
        s = (2 if h > min_size else 1, 2 if w > min_size else 1)
        h, w = conv_out_size(h, 3, s[0], 1), conv_out_size(w, 3, s[1], 1)
        plan.append((s, (h, w)))
    return plan


class ConvEncoder(nn.Module):
    """Stem + strided stages + a final "valid" conv to a ``(B, out_dim, 1, 1)`` embedding.

    Args:
        in_channels: input channels (e.g. ``2C`` for [masked, reference], ``Tv·C`` for a sync
            window, 1 for a mel window).
        input_size: ``(H, W)`` of the input (pixels or (n_mels, n_win)).
        base_width: channels of the stem; doubled at every stage up to ``max_width``.
        max_width: channel cap.
        out_dim: embedding channels.
        res_blocks: residual 3×3 blocks after the stem and each stage.
        norm: ``"batch"``, ``"group"`` or ``"none"``.
        stem_kernel: kernel of the full-resolution stem conv.

    ``forward(x (B, in_channels, H, W)) -> (embedding (B, out_dim, 1, 1), skips)`` where
    ``skips`` is the list of stem/stage outputs, full resolution first; ``widths`` and
    ``sizes`` give their channels and ``(h, w)``.
    """

    def __init__(
        self,
        in_channels: int,
        input_size: tuple[int, int],
        base_width: int,
        max_width: int,
        out_dim: int,
        res_blocks: int = 0,
        norm: Norm = "batch",
        stem_kernel: int = 3,
    ) -> None:
        super().__init__()
        if min(input_size) < 1 or in_channels < 1 or base_width < 1 or out_dim < 1:
            raise ValueError(
                f"ConvEncoder: invalid sizes in_channels={in_channels}, input_size={input_size}, "
                f"base_width={base_width}, out_dim={out_dim}"
            )

        def stage(cin: int, cout: int, stride: tuple[int, int], k: int = 3) -> nn.Sequential:
            layers = [ConvBlock(cin, cout, k, stride, norm=norm)]
            layers += [
                ConvBlock(cout, cout, 3, 1, norm=norm, residual=True) for _ in range(res_blocks)
            ]
            return nn.Sequential(*layers)

        self.widths = [min(base_width, max_width)]
        self.sizes = [tuple(input_size)]
        self.stages = nn.ModuleList([stage(in_channels, self.widths[0], (1, 1), stem_kernel)])
        for i, (stride, size) in enumerate(downsample_plan(tuple(input_size))):
            w = min(base_width * 2 ** (i + 1), max_width)
            self.stages.append(stage(self.widths[-1], w, stride))
            self.widths.append(w)
            self.sizes.append(size)
        # A "valid" conv over the whole remaining map: every position contributes, no pooling.
        self.head = ConvBlock(self.widths[-1], out_dim, self.sizes[-1], 1, padding=0, norm=norm)
        self.out_dim = out_dim
        self.input_size = tuple(input_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(
                f"ConvEncoder expects inputs of size {self.input_size}, got {tuple(x.shape[-2:])}"
            )
        skips = []
        for st in self.stages:
            x = st(x)
            skips.append(x)
        return self.head(x), skips
