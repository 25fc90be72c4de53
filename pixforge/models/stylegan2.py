"""StyleGAN2 (Karras et al. 2020): the skip generator and the residual discriminator, registered as
``stylegan2-generator`` and ``stylegan2-discriminator``.

Generator: z -> mapping network (pixel norm, ``n_mlp`` equalised fully connected layers at 1/100 learning rate)
-> w, one w per synthesis layer (``n_latent`` = 2 log2(size) - 2 of them; two latents crossed over at a random
layer is style mixing) -> learned 4x4 constant -> per resolution a 2x upsampling modulated conv and a modulated
conv, each with noise, and a ToRGB whose output is added to the upsampled RGB of the resolution below.
Truncation in W pulls every w towards ``w_avg``, the running mean of w that training keeps in a buffer.

Discriminator: 1x1 conv from RGB, residual blocks halving the resolution down to 4x4, minibatch standard
deviation, a 3x3 conv and two fully connected layers.

Channel counts are ``min(channel_base / resolution, channel_max)``: the defaults 32768 / 512 are config F
(rosinality's ``channel_multiplier=2``), 16384 / 512 its ``channel_multiplier=1``. Module and parameter names are
rosinality/stylegan2-pytorch's, so its ``g_ema`` state dicts load by key (``w_avg`` is pixforge's; see
:mod:`pixforge.models.released` for loading released files).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..nn.conv import EqualLinear
from ..nn.norms import PixelNorm
from ..nn.stylegan import BLUR, ConstantInput, EqualConvBlock, MinibatchStdDev, ResBlock, StyledConv, ToRGB
from ..registry import ARCHS

Tensor = torch.Tensor


def channels_at(resolution: int, channel_base: int = 32768, channel_max: int = 512) -> int:
    """Feature maps at ``resolution``: ``min(channel_base // resolution, channel_max)`` (NVIDIA's formula)."""
    return max(1, min(channel_base // resolution, channel_max))


def log2_size(size: int) -> int:
    """log2 of a power-of-two image size of at least 8, or the ConfigError saying what sizes work."""
    k = int(math.log2(size)) if size > 0 else 0
    if size < 8 or 2 ** k != size:
        raise ConfigError(f"StyleGAN image size must be a power of two >= 8 (8, 16, 32, ..., 1024), not {size}")
    return k


class StyleBasedGenerator(nn.Module):
    """What StyleGAN and StyleGAN2 generators share: the mapping network ``style`` (pixel norm, ``n_mlp``
    equalised layers at ``lr_mlp``), the tracked mean w, truncation, style mixing and ``forward``; a subclass
    builds ``n_latent`` synthesis layers and implements :meth:`synthesis`."""

    #: the layers truncation moves by default (None: all; StyleGAN v1: its first 8)
    truncation_cutoff: int | None = None

    def __init__(self, size: int, style_dim: int, n_mlp: int, lr_mlp: float, w_avg_beta: float, channels: int):
        super().__init__()
        self.size, self.style_dim, self.n_mlp, self.image_channels = size, style_dim, n_mlp, channels
        self.z_dim, self.num_classes = style_dim, 0
        self.w_avg_beta = w_avg_beta
        self.log_size = log2_size(size)
        self.n_latent = self.log_size * 2 - 2
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp,
                                                              activation="fused_lrelu") for _ in range(n_mlp)])

    # ------------------------------------------------------------------------------------------------ latents
    def mapping(self, z: Tensor) -> Tensor:
        """z (N, D) -> w (N, D)."""
        return self.style(z)

    @torch.no_grad()
    def track_w_avg(self, w: Tensor) -> None:
        """Move ``w_avg`` towards the batch mean of ``w`` (decay ``w_avg_beta``, as NVIDIA's training does)."""
        self.w_avg.lerp_(w.detach().float().reshape(-1, self.style_dim).mean(0), 1 - self.w_avg_beta)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, seed: int = 0) -> Tensor:
        """The mean w of ``n`` random z (rosinality's ``mean_latent``): a w_avg for generators that lack one."""
        z = torch.randn(n, self.style_dim, generator=torch.Generator().manual_seed(seed))
        return self.mapping(z.to(self.w_avg.device)).mean(0)

    def truncate(self, latent: Tensor, psi: float | Tensor, cutoff: int | None = None) -> Tensor:
        """The truncation trick in W: ``w_avg + psi (w - w_avg)`` (psi 1: unchanged, 0: the average image) for w
        (N, D) or per-layer latents (N, n_latent, D); with ``cutoff`` only per-layer latents below it move
        (StyleGAN v1's ``truncation_cutoff``). ``psi`` may be a tensor broadcasting against ``latent``."""
        if not torch.is_tensor(psi) and psi == 1:
            return latent
        moved = torch.lerp(self.w_avg.to(latent.dtype), latent, psi)
        if cutoff is None or latent.dim() == 2:
            return moved
        layer = torch.arange(latent.shape[1], device=latent.device).view(1, -1, 1)
        return torch.where(layer < cutoff, moved, latent)

    @property
    def resolution(self) -> int:
        """The size of the images the synthesis network makes now (lower while a StyleGAN v1 grows)."""
        return self.size

    @property
    def layers_in_use(self) -> int:
        """How many per-layer latents the synthesis network reads now (fewer while a StyleGAN v1 grows)."""
        return self.n_latent

    def latents(self, z: Tensor, z2: Tensor | None = None, inject_index: int | None = None,
                truncation: float | Tensor = 1.0, truncation_cutoff: int | None = None) -> Tensor:
        """Per-layer latents (N, n_latent, D): w(z) for every layer, or with ``z2`` style mixing: w(z) for layers
        below ``inject_index`` and w(z2) from there on (``inject_index`` random in [1, layers in use) when
        None); then truncated, below ``truncation_cutoff`` (default: the generator's; None: every layer)."""
        w = self.mapping(z).unsqueeze(1).expand(-1, self.n_latent, -1)
        if z2 is not None:
            if inject_index is None:
                inject_index = int(torch.randint(1, max(2, self.layers_in_use), ()))
            w = self.mix(w[:, 0], self.mapping(z2), inject_index)
        return self.truncate(w, truncation, self.truncation_cutoff if truncation_cutoff is None else truncation_cutoff)

    def mix(self, w: Tensor, w2: Tensor, inject_index: int) -> Tensor:
        """Per-layer latents taking ``w`` (N, D) for layers below ``inject_index``, ``w2`` from there on."""
        layer = torch.arange(self.n_latent, device=w.device).view(1, -1, 1)
        return torch.where(layer < inject_index, w.unsqueeze(1), w2.unsqueeze(1))

    def synthesis(self, latent: Tensor, noise: str | Sequence[Tensor | None] | None = None) -> Tensor:
        raise NotImplementedError

    def constant_noise(self) -> list[Tensor]:
        """The fixed noise maps of ``noise="const"``, one per synthesis layer (reproducible images)."""
        raise NotImplementedError

    def forward(self, z: Tensor, y: Tensor | None = None, z2: Tensor | None = None,
                inject_index: int | None = None, truncation: float = 1.0,
                noise: str | Sequence[Tensor | None] | None = None, return_latents: bool = False,
                truncation_cutoff: int | None = None):
        """Images for latents z (N, z_dim); ``return_latents`` also returns the per-layer w (for path length)."""
        latent = self.latents(z, z2, inject_index, truncation, truncation_cutoff)
        image = self.synthesis(latent, noise)
        return (image, latent) if return_latents else image


@ARCHS.register("stylegan2-generator", family="gan", input=("z_dim",),
                description="StyleGAN2 skip generator (Karras et al. 2020): mapping net, modulated convs, noise")
class StyleGAN2Generator(StyleBasedGenerator):
    """``G(z) -> images`` in about [-1, 1]; see the module docstring. ``z_dim`` = ``style_dim``."""

    def __init__(self, size: int = 256, style_dim: int = 512, n_mlp: int = 8, channel_base: int = 32768,
                 channel_max: int = 512, lr_mlp: float = 0.01, channels: int = 3,
                 blur_kernel: Sequence[float] = BLUR, w_avg_beta: float = 0.995):
        super().__init__(size, style_dim, n_mlp, lr_mlp, w_avg_beta, channels)
        ch = {2 ** i: channels_at(2 ** i, channel_base, channel_max) for i in range(2, self.log_size + 1)}
        self.channels = ch
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False, channels=channels)
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()  # fixed noise maps (``noise="const"``): reproducible images
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        in_ch = ch[4]
        for i in range(3, self.log_size + 1):
            out_ch = ch[2 ** i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_ch, style_dim, blur_kernel=blur_kernel, channels=channels))
            in_ch = out_ch
        self.register_buffer("w_avg", torch.zeros(style_dim))  # running mean of w: the truncation centre

    # ------------------------------------------------------------------------------------------------ synthesis
    def constant_noise(self) -> list[Tensor]:
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def synthesis(self, latent: Tensor, noise: str | Sequence[Tensor | None] | None = None) -> Tensor:
        """Images from per-layer latents (N, n_latent, D). ``noise``: None draws fresh noise, ``"const"`` uses
        the stored maps (reproducible images), or a list of ``num_layers`` maps."""
        if noise is None:
            noise = [None] * self.num_layers
        elif isinstance(noise, str):
            noise = self.constant_noise()
        out = self.conv1(self.input(latent.shape[0]), latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv1, conv2, noise1, noise2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2],
                                                         noise[2::2], self.to_rgbs):
            out = conv2(conv1(out, latent[:, i], noise1), latent[:, i + 1], noise2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip


@ARCHS.register("stylegan2-discriminator", family="gan", input=(3, 256, 256),
                description="StyleGAN2 residual discriminator: FIR-downsampling res blocks, minibatch stddev")
class StyleGAN2Discriminator(nn.Module):
    """``D(x) -> logits (N,)``; see the module docstring."""

    def __init__(self, size: int = 256, channel_base: int = 32768, channel_max: int = 512, channels: int = 3,
                 blur_kernel: Sequence[float] = BLUR, stddev_group: int = 4):
        super().__init__()
        log_size = log2_size(size)
        ch = {2 ** i: channels_at(2 ** i, channel_base, channel_max) for i in range(2, log_size + 1)}
        convs: list[nn.Module] = [EqualConvBlock(channels, ch[size], 1)]
        for i in range(log_size, 2, -1):
            convs.append(ResBlock(ch[2 ** i], ch[2 ** (i - 1)], blur_kernel))
        self.convs = nn.Sequential(*convs)
        self.stddev = MinibatchStdDev(stddev_group, 1)
        self.final_conv = EqualConvBlock(ch[4] + 1, ch[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 16, ch[4], activation="fused_lrelu"),
                                          EqualLinear(ch[4], 1))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        out = self.final_conv(self.stddev(self.convs(x)))
        return self.final_linear(out.flatten(1)).squeeze(1)
