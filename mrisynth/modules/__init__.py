"""Building blocks: convolution blocks and encoders (plain torch modules)."""

from mrisynth.modules.conv import ConvBlock, ConvTransposeBlock, conv_out_size, make_norm
from mrisynth.modules.encoders import ConvEncoder, downsample_plan

__all__ = [
    "ConvBlock",
    "ConvTransposeBlock",
    "ConvEncoder",
    "conv_out_size",
    "downsample_plan",
    "make_norm",
]
