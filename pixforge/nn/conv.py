"""Convolution layers: reflection-padded and upsampling convs (Johnson et al.), padding to a multiple, and the
StyleGAN2 pieces (equalised learning rate, modulated convolution, FIR blur) in plain PyTorch.

``ConvLayer`` / ``UpsampleConvLayer`` keep the attribute names of pytorch/examples ``fast_neural_style``
(``conv2d``), so its published state dicts load unchanged. Reflection padding avoids dark borders; nearest
upsampling followed by a convolution avoids the checkerboard artefacts of transposed convolutions (Odena et al.
2016). The StyleGAN2 layers follow rosinality/stylegan2-pytorch (same parameter names and initialisation), with
its custom CUDA ``upfirdn2d`` written as ordinary convolutions.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor


class ConvLayer(nn.Module):
    """Reflection padding (kernel // 2) followed by a convolution: 'same' size at stride 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2d(self.reflection_pad(x))


class UpsampleConvLayer(ConvLayer):
    """Nearest-neighbour upsampling by ``upsample``, then a :class:`ConvLayer`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 upsample: int | None = None):
        super().__init__(in_channels, out_channels, kernel_size, stride)
        self.upsample = upsample

    def forward(self, x: Tensor) -> Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        return super().forward(x)


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad H and W (bottom/right) up to multiples of ``multiple``; return the padded batch and the (H, W) to crop
    the result back to (``y[..., :h, :w]``). Reflection padding, or edge replication where the image is too
    small to reflect."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
    return x, (h, w)


def tf_same_pad(x: Tensor, kernel_size: int, stride: int) -> Tensor:
    """TensorFlow's 'SAME' padding: the total ``max((ceil(n/s) - 1) s + k - n, 0)``, the odd pixel at the end."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = max((-(-n // stride) - 1) * stride + kernel_size - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


# ------------------------------------------------------------------------------------------------ StyleGAN2
def make_kernel(kernel: Sequence[float] | Tensor) -> Tensor:
    """A 2-D FIR kernel normalised to sum 1; a 1-D one (``[1, 3, 3, 1]``) is made separable (outer product)."""
    k = torch.as_tensor(kernel, dtype=torch.float32)
    if k.ndim == 1:
        k = torch.outer(k, k)
    return k / k.sum()


def upfirdn2d(x: Tensor, kernel: Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """Upsample by zero insertion, pad (negative values crop), convolve with the 2-D FIR ``kernel`` and keep every
    ``down``-th pixel: rosinality's ``upfirdn2d`` with equal x/y factors, as one depthwise convolution (faster on
    CPUs than two separable passes; a 1-D ``kernel`` is taken as separable)."""
    n, c, h, w = x.shape
    if kernel.ndim == 1:
        kernel = torch.outer(kernel, kernel)
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(n, c, h * up, w * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    k = kernel.flip(0, 1).to(x.dtype)
    c = int(c)  # (a constant when traced for ONNX export, which needs the depthwise kernel's shape)
    x = F.conv2d(x, k.expand(c, 1, *k.shape), groups=c)
    return x[..., ::down, ::down] if down > 1 else x


class Blur(nn.Module):
    """FIR low-pass filter (default [1, 3, 3, 1] made 2-D, normalised to sum 1) with upfirdn padding.

    ``upsample_factor`` f multiplies the kernel by f², which keeps the mean after zero insertion. The kernel is a
    buffer of rosinality's layout (``...blur.kernel``, 4x4), so its state dicts load by key.
    """

    def __init__(self, kernel: Sequence[float] = (1, 3, 3, 1), pad: tuple[int, int] = (0, 0),
                 upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * upsample_factor ** 2)
        self.pad = tuple(pad)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(Blur):
    """2x FIR upsampling (zero insertion, then the blur kernel times 4): StyleGAN2's skip-connection upsampler."""

    def __init__(self, kernel: Sequence[float] = (1, 3, 3, 1), factor: int = 2):
        p = len(kernel) - factor
        super().__init__(kernel, pad=((p + 1) // 2 + factor - 1, p // 2), upsample_factor=factor)
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


def fused_leaky_relu(x: Tensor, bias: Tensor | None = None, negative_slope: float = 0.2,
                     scale: float = 2 ** 0.5) -> Tensor:
    """StyleGAN's bias + leaky ReLU, scaled by √2 so that the output keeps the input's second moment (for zero-mean
    symmetric input, E[lrelu(x)²] = (1 + 0.2²)/2 E[x²], times 2 ≈ E[x²]). Plain PyTorch, no custom kernel."""
    if bias is not None:
        x = x + bias.view(1, -1, *[1] * (x.ndim - 2)).to(x.dtype)
    return F.leaky_relu(x, negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    """:func:`fused_leaky_relu` with its own per-channel ``bias`` (rosinality's module of that name)."""

    def __init__(self, channels: int, bias: bool = True, negative_slope: float = 0.2, scale: float = 2 ** 0.5):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None
        self.negative_slope, self.scale = negative_slope, scale

    def forward(self, x: Tensor) -> Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


class EqualConv2d(nn.Module):
    """Conv with an equalised learning rate (Karras et al. 2018): weights N(0, 1), scaled by 1/sqrt(fan_in) at
    run time, so every layer learns at the same speed under Adam."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    """Linear layer with an equalised learning rate; ``lr_mul`` slows it down further (StyleGAN's mapping net
    uses 0.01): weights are stored divided by ``lr_mul`` and multiplied back at run time, biases likewise.
    ``activation="fused_lrelu"`` adds StyleGAN's scaled leaky ReLU."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: str | None = None):
        super().__init__()
        if activation not in (None, "fused_lrelu"):
            raise ValueError(f"activation must be None or 'fused_lrelu', not {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul, self.activation = lr_mul, activation

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)


class ModulatedConv2d(nn.Module):
    """StyleGAN2's convolution: the weights are scaled per sample and input channel by an affine map of the style
    vector (modulation), then normalised per output channel to unit norm (demodulation), so that unit-variance
    input gives unit-variance output whatever the style. ``upsample``: a stride-2 transposed conv followed by a
    blur; ``downsample``: a blur followed by a stride-2 conv (rosinality's padding arithmetic).

    ``fused=True`` runs one grouped convolution over per-sample weights (rosinality's default); ``fused=False``
    scales the input by the style, convolves with the shared weight and scales the output by the demodulation
    coefficients (NVIDIA's training path): the same numbers, and faster whenever the batch is larger than one.
    ONNX export uses ``fused=False``: a grouped conv's group count (the batch) cannot be a dynamic ONNX attribute.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, downsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1),
                 fused: bool = False):
        super().__init__()
        if upsample and downsample:
            raise ValueError("a modulated conv upsamples or downsamples, not both")
        self.eps = 1e-8
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.upsample, self.downsample, self.demodulate, self.fused = upsample, downsample, demodulate, fused
        factor = 2
        if upsample:
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        if downsample:
            p = (len(blur_kernel) - factor) + (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2, p // 2))
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1)

    def modulated_weight(self, style: Tensor) -> Tensor:
        """Per-sample weights (N, out, in, k, k)."""
        n = style.shape[0]
        weight = self.scale * self.weight * self.modulation(style).view(n, 1, self.in_channels, 1, 1)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum((2, 3, 4)) + self.eps).view(n, self.out_channels, 1, 1, 1)
        return weight

    def _conv(self, x: Tensor, weight: Tensor, groups: int) -> Tensor:
        """The (grouped) convolution with up/down sampling; ``weight`` (groups * out, in, k, k)."""
        if self.upsample:
            k = self.kernel_size
            w = weight.view(groups, self.out_channels, -1, k, k).transpose(1, 2).reshape(-1, self.out_channels, k, k)
            return self.blur(F.conv_transpose2d(x, w, stride=2, groups=groups))
        if self.downsample:
            return F.conv2d(self.blur(x), weight, stride=2, groups=groups)
        return F.conv2d(x, weight, padding=self.padding, groups=groups)

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        n, c, h, w = x.shape
        if self.fused:
            weight = self.modulated_weight(style).reshape(n * self.out_channels, c, *self.weight.shape[-2:])
            out = self._conv(x.reshape(1, n * c, h, w), weight.to(x.dtype), groups=n)
            return out.view(n, self.out_channels, *out.shape[-2:])
        styles = self.modulation(style)  # (N, in)
        weight = self.scale * self.weight[0]
        out = self._conv(x * styles.view(n, c, 1, 1).to(x.dtype), weight.to(x.dtype), groups=1)
        if self.demodulate:
            demod = torch.rsqrt((weight[None] * styles.view(n, 1, c, 1, 1)).pow(2).sum((2, 3, 4)) + self.eps)
            out = out * demod.view(n, self.out_channels, 1, 1).to(out.dtype)
        return out
