"""The layers of the StyleGAN family (Karras et al. 2018-2020) built on :mod:`pixforge.nn.conv`'s equalised and
modulated convolutions: noise injection, constant input, styled conv, StyleGAN's AdaIN, ToRGB with skip
upsampling, minibatch standard deviation, and the discriminator's conv layer and residual block.

Attribute names follow rosinality/stylegan2-pytorch (``conv``, ``noise.weight``, ``activate.bias``,
``upsample.kernel``, ...), so the networks of :mod:`pixforge.models.stylegan2` load its state dicts by key.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .conv import Blur, EqualConv2d, EqualLinear, FusedLeakyReLU, ModulatedConv2d, Upsample
from .norms import adain

Tensor = torch.Tensor
BLUR = (1, 3, 3, 1)


class NoiseInjection(nn.Module):
    """Adds per-pixel Gaussian noise (one map shared by all channels) times a learned strength (StyleGAN's B):
    one strength (StyleGAN2), or one per channel with ``channels`` (StyleGAN). The strength starts at 0, so a
    fresh layer is the identity."""

    def __init__(self, channels: int | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1) if channels is None else torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, *x.shape[2:]).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    """The synthesis network's learned 4x4 input (StyleGAN replaces the latent input by a constant)."""

    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """Modulated conv, noise, bias + scaled leaky ReLU: one StyleGAN2 synthesis layer."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[float] = BLUR, demodulate: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, demodulate=demodulate,
                                    upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: Tensor, style: Tensor, noise: Tensor | None = None) -> Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class StyleAdaIN(nn.Module):
    """StyleGAN's AdaIN: instance norm, then per-channel ``(1 + scale, shift)`` from an equalised linear map of w
    (NVIDIA's ``style_mod``), so a fresh layer is plain instance norm."""

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.style = EqualLinear(style_dim, 2 * channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        scale, shift = self.style(w)[:, :, None, None].chunk(2, 1)
        return adain(x, (shift, 1 + scale), eps=1e-8)


class ToRGB(nn.Module):
    """StyleGAN2's output skip: a modulated 1x1 conv to RGB without demodulation, plus a bias, added to the
    FIR-upsampled RGB of the previous resolution (``skip``), so the image is built as a sum over scales."""

    def __init__(self, in_channels: int, style_dim: int, upsample: bool = True, blur_kernel: Sequence[float] = BLUR,
                 channels: int = 3):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channels, channels, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.conv(x, style) + self.bias
        return out if skip is None else out + self.upsample(skip)


class MinibatchStdDev(nn.Module):
    """Appends the average standard deviation over groups of samples as ``num_channels`` extra feature maps
    (ProGAN's minibatch stddev): D sees how varied a batch is, which penalises mode collapse.

    Samples are split into groups of ``group_size`` (i, i + N/G, i + 2N/G, ... form a group, as in the reference
    code); a batch not divisible by it uses the largest group size that divides it.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.num_channels, self.eps = group_size, num_channels, eps

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        group = min(self.group_size, n)
        while n % group:
            group -= 1
        f = self.num_channels
        y = x.float().reshape(group, -1, f, c // f, h, w)
        y = torch.sqrt(y.var(0, unbiased=False) + self.eps)  # (N/G, F, C/F, H, W): stddev over each group
        y = y.mean((2, 3, 4)).to(x.dtype)  # (N/G, F)
        y = y.view(-1, f, 1, 1).repeat(group, 1, h, w)
        return torch.cat([x, y], 1)


class EqualConvBlock(nn.Sequential):
    """Discriminator conv (rosinality's ``ConvLayer``): [blur,] equalised conv [, bias + scaled leaky ReLU].

    ``downsample`` blurs, then convolves with stride 2 (no padding). Kept a Sequential so that its parameters
    have rosinality's names (``0.weight``, ``1.bias``; ``1.weight``, ``2.bias`` after a blur)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[float] = BLUR, bias: bool = True, activate: bool = True):
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride=2 if downsample else 1,
                                  padding=0 if downsample else kernel_size // 2, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """StyleGAN2's residual discriminator block: two 3x3 convs (the second downsampling) plus a 1x1 downsampling
    skip, summed and divided by √2 to keep the variance."""

    def __init__(self, in_channels: int, out_channels: int, blur_kernel: Sequence[float] = BLUR):
        super().__init__()
        self.conv1 = EqualConvBlock(in_channels, in_channels, 3)
        self.conv2 = EqualConvBlock(in_channels, out_channels, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = EqualConvBlock(in_channels, out_channels, 1, downsample=True, blur_kernel=blur_kernel,
                                   activate=False, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)
