"""Convolution building blocks shared by the feed-forward image networks (style nets, decoders, generators).

Reflection padding instead of zero padding avoids dark borders in generated images; nearest-neighbour
upsampling followed by a convolution avoids the checkerboard artefacts of transposed convolutions
(Odena et al. 2016). Module attribute names follow pytorch/examples ``fast_neural_style`` so its
pretrained state dicts load unchanged.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

NormFactory = Callable[[int], nn.Module]


def instance_norm(channels: int) -> nn.Module:
    """Instance normalisation with a learned scale and shift (Ulyanov et al. 2016)."""
    return nn.InstanceNorm2d(channels, affine=True)


class ConvLayer(nn.Module):
    """Reflection padding (kernel // 2) followed by a convolution: 'same' size at stride 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class UpsampleConvLayer(ConvLayer):
    """Nearest-neighbour upsampling by ``upsample``, then a :class:`ConvLayer`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 upsample: int | None = None):
        super().__init__(in_channels, out_channels, kernel_size, stride)
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        return super().forward(x)


class ResidualBlock(nn.Module):
    """conv-norm-relu-conv-norm plus the identity (He et al. 2016; no ReLU after the sum, as Johnson et al.)."""

    def __init__(self, channels: int, norm: NormFactory = instance_norm):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = norm(channels)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = norm(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(out)) + x
