"""Progressive growing of GANs (Karras et al. 2018, "PGGAN"): ``pggan-generator`` and ``pggan-discriminator``.

Both networks are built for the final resolution and run at a *stage* k (resolution 4·2^k) with a fade-in
weight α: a new resolution's layers are blended in linearly, ``lerp(upsampled lower-resolution RGB, new RGB, α)``
in G and ``lerp(fromRGB(downsampled image), new block(fromRGB(image)), α)`` in D, so α = 0 is exactly the
network of the previous stage and α = 1 the new one. :meth:`grow` sets (stage, α); they are saved with the
weights (``_extra_state``), so a checkpoint samples at the stage it was trained to. StyleGAN v1's generator grows
through the same :class:`Progressive` mixin.

Layers follow the paper: equalised learning rate everywhere, pixel norm after every conv of G, leaky ReLU 0.2,
nearest upsampling and average-pool downsampling, minibatch standard deviation before D's last convs. Channels
are ``min(channel_base / resolution, channel_max)`` (the paper's 8192 / 2^stage, capped at 512).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..nn.conv import Blur, EqualConv2d, EqualLinear, FusedLeakyReLU
from ..nn.norms import PixelNorm
from ..nn.stylegan import EqualConvBlock, MinibatchStdDev
from ..registry import ARCHS
from .stylegan2 import channels_at, log2_size

Tensor = torch.Tensor


class Progressive:
    """What growing networks share (PGGAN's G and D, StyleGAN v1's G): the stage count, and (stage, α) kept as
    module state. A mixin for an ``nn.Module``, set up by :meth:`init_growth`."""

    def init_growth(self, size: int, grows: bool = True) -> None:
        """Stages for ``size`` px, starting at the last; ``grows=False``: fixed at the last stage."""
        self.size = size
        self.stages = log2_size(size) - 1  # 4 px is stage 0
        self.stage, self.alpha = self.stages - 1, 1.0
        self.first_stage = 0 if grows else self.stages - 1

    def grow(self, stage: int, alpha: float = 1.0) -> None:
        """Run at resolution 4·2^stage, the newest layers blended in with weight ``alpha`` in [0, 1]."""
        if not self.first_stage <= stage < self.stages:
            raise ConfigError(f"stage {stage} is out of range for {self.size} px: {self.first_stage} "
                              f"({4 * 2 ** self.first_stage} px) to {self.stages - 1}")
        self.stage, self.alpha = int(stage), float(min(max(alpha, 0.0), 1.0))

    @property
    def resolution(self) -> int:
        return 4 * 2 ** self.stage

    @property
    def fading(self) -> bool:
        """Whether the newest resolution is being blended in (α < 1 above the first stage)."""
        return self.alpha < 1 and self.stage > self.first_stage

    def fade_in(self, rgb: Tensor, lower_rgb: Tensor) -> Tensor:
        """The generator's output while fading: ``lerp(nearest-upsampled lower-resolution RGB, new RGB, α)``."""
        return torch.lerp(F.interpolate(lower_rgb, scale_factor=2, mode="nearest"), rgb, self.alpha)

    def get_extra_state(self) -> dict[str, Any]:
        return {"stage": self.stage, "alpha": self.alpha}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.grow(state["stage"], state["alpha"])


def _conv(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    """Equalised conv, bias + leaky ReLU, pixel norm: one PGGAN generator layer."""
    return nn.Sequential(EqualConvBlock(cin, cout, kernel), PixelNorm())


@ARCHS.register("pggan-generator", family="gan", input=("z_dim",),
                description="progressive GAN generator (Karras et al. 2018): pixel norm, equalised LR, fade-in")
class PGGANGenerator(Progressive, nn.Module):
    def __init__(self, size: int = 1024, z_dim: int = 512, channel_base: int = 16384, channel_max: int = 512,
                 channels: int = 3):
        super().__init__()
        self.init_growth(size)
        self.z_dim, self.num_classes = z_dim, 0
        ch = [channels_at(4 * 2 ** k, channel_base, channel_max) for k in range(self.stages)]
        self.norm = PixelNorm()
        self.input = EqualLinear(z_dim, ch[0] * 16, bias=False)  # z -> 4x4 map (the paper's dense layer)
        self.input_act = FusedLeakyReLU(ch[0])
        blocks = [nn.Sequential(PixelNorm(), _conv(ch[0], ch[0]))]
        blocks += [nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(ch[k - 1], ch[k]),
                                 _conv(ch[k], ch[k])) for k in range(1, self.stages)]
        self.blocks = nn.ModuleList(blocks)
        self.to_rgbs = nn.ModuleList(EqualConv2d(c, channels, 1) for c in ch)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        k = self.stage
        h = self.input_act(self.input(self.norm(z)).view(z.shape[0], -1, 4, 4))
        for block in self.blocks[:k]:
            h = block(h)
        low = h
        rgb = self.to_rgbs[k](self.blocks[k](h))
        return self.fade_in(rgb, self.to_rgbs[k - 1](low)) if self.fading else rgb


@ARCHS.register("pggan-discriminator", family="gan", input=(3, 1024, 1024),
                description="progressive GAN discriminator: fromRGB per stage, avg-pool blocks, minibatch stddev")
class PGGANDiscriminator(Progressive, nn.Module):
    def __init__(self, size: int = 1024, channel_base: int = 16384, channel_max: int = 512, channels: int = 3,
                 stddev_group: int = 4, progressive: bool = True, blur: bool = False):
        """``blur``: a [1, 2, 1] low-pass between each block's two convs, before it halves the resolution
        (StyleGAN v1's ``D_basic``; PGGAN has none)."""
        super().__init__()
        self.init_growth(size, progressive)
        ch = [channels_at(4 * 2 ** k, channel_base, channel_max) for k in range(self.stages)]
        self.from_rgbs = nn.ModuleList(EqualConvBlock(channels, c, 1) for c in ch)
        blocks: list[nn.Module] = [nn.Sequential(MinibatchStdDev(stddev_group), EqualConvBlock(ch[0] + 1, ch[0], 3))]
        blocks += [nn.Sequential(EqualConvBlock(ch[k], ch[k], 3), *([Blur((1, 2, 1), pad=(1, 1))] if blur else []),
                                 EqualConvBlock(ch[k], ch[k - 1], 3), nn.AvgPool2d(2)) for k in range(1, self.stages)]
        self.blocks = nn.ModuleList(blocks)
        top = channels_at(2, channel_base, channel_max)
        self.final_linear = nn.Sequential(EqualLinear(ch[0] * 16, top, activation="fused_lrelu"),
                                          EqualLinear(top, 1))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        k, alpha = self.stage, self.alpha
        h = self.blocks[k](self.from_rgbs[k](x))
        if self.fading:
            h = torch.lerp(self.from_rgbs[k - 1](F.avg_pool2d(x, 2)), h, alpha)
        for block in reversed(self.blocks[:k]):
            h = block(h)
        return self.final_linear(h.flatten(1)).squeeze(1)
