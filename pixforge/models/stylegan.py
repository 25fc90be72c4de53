"""StyleGAN (Karras et al. 2019, "v1"): the style-based generator, registered as ``stylegan-generator``.

The mapping network, tracked mean w, truncation and style mixing are StyleGAN2's
(:class:`~pixforge.models.stylegan2.StyleBasedGenerator`); the synthesis network is the original one: a learned
4x4 constant, then per resolution nearest upsampling, 3x3 conv and [1, 2, 1] blur, each layer followed by
per-channel noise, bias + leaky ReLU and AdaIN whose scale and shift come from that layer's w, and a ToRGB per
resolution: it grows as PGGAN's generator does (:class:`~pixforge.models.pggan.Progressive`: stage and fade-in
α, the new resolution's RGB blended over the nearest-upsampled RGB of the one below), as NVIDIA's
``G_synthesis`` with ``structure='linear'``. Truncation moves only the first ``truncation_cutoff`` (8) latents by
default, as NVIDIA's ``G_style``. Channels ``min(channel_base / resolution, channel_max)``, 16384 / 512 in the
paper. ``pixforge train stylegan`` trains it with PGGAN's discriminator (see tasks/stylegan2.py).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.conv import Blur, EqualConv2d, FusedLeakyReLU
from ..nn.stylegan import ConstantInput, NoiseInjection, StyleAdaIN
from ..registry import ARCHS
from .pggan import Progressive
from .stylegan2 import StyleBasedGenerator, channels_at

Tensor = torch.Tensor


class StyleLayer(nn.Module):
    """[upsample,] [3x3 conv, [1, 2, 1] blur,] per-channel noise, bias + leaky ReLU, AdaIN: one StyleGAN layer
    (the first one at 4 px has no conv)."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, conv: bool = True,
                 upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.conv = EqualConv2d(in_channels, out_channels, 3, padding=1, bias=False) if conv else None
        self.blur = Blur((1, 2, 1), pad=(1, 1)) if upsample else None
        self.noise = NoiseInjection(out_channels)
        self.activate = FusedLeakyReLU(out_channels)
        self.adain = StyleAdaIN(out_channels, style_dim)

    def forward(self, x: Tensor, w: Tensor, noise: Tensor | None = None) -> Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.conv is not None:
            x = self.conv(x)
        if self.blur is not None:
            x = self.blur(x)
        return self.adain(self.activate(self.noise(x, noise)), w)


@ARCHS.register("stylegan-generator", family="gan", input=("z_dim",),
                description="StyleGAN generator (Karras et al. 2019): mapping net, AdaIN, noise, constant input")
class StyleGANGenerator(Progressive, StyleBasedGenerator):
    """``G(z) -> images``; see the module docstring. ``progressive``: a ToRGB per resolution and
    :meth:`~pixforge.models.pggan.Progressive.grow` (else one ToRGB, fixed at ``size``)."""

    def __init__(self, size: int = 1024, style_dim: int = 512, n_mlp: int = 8, channel_base: int = 16384,
                 channel_max: int = 512, lr_mlp: float = 0.01, channels: int = 3, w_avg_beta: float = 0.995,
                 progressive: bool = True, truncation_cutoff: int | None = 8):
        super().__init__(size, style_dim, n_mlp, lr_mlp, w_avg_beta, channels)
        self.init_growth(size, progressive)
        self.truncation_cutoff = truncation_cutoff  # NVIDIA's default 8: psi moves the 4-32 px layers' latents
        ch = [channels_at(2 ** i, channel_base, channel_max) for i in range(2, self.log_size + 1)]
        self.input = ConstantInput(ch[0])
        layers = [StyleLayer(ch[0], ch[0], style_dim, conv=False), StyleLayer(ch[0], ch[0], style_dim)]
        for a, b in zip(ch, ch[1:]):
            layers += [StyleLayer(a, b, style_dim, upsample=True), StyleLayer(b, b, style_dim)]
        self.layers = nn.ModuleList(layers)  # n_latent of them: layer i takes the i-th w
        # one ToRGB per stage that can be the output (to_rgbs[-1]: the final one)
        self.to_rgbs = nn.ModuleList(EqualConv2d(c, channels, 1) for c in ch[self.first_stage:])
        self.register_buffer("w_avg", torch.zeros(style_dim))

    @property
    def layers_in_use(self) -> int:
        return 2 * (self.stage + 1)

    def constant_noise(self) -> list[Tensor]:
        """Fixed maps drawn from seed 0, for the layers in use."""
        gen = torch.Generator().manual_seed(0)
        maps = [torch.randn(1, 1, 2 ** (i // 2 + 2), 2 ** (i // 2 + 2), generator=gen) for i in range(self.n_latent)]
        return [m.to(self.w_avg.device) for m in maps[:self.layers_in_use]]

    def synthesis(self, latent: Tensor, noise: str | Sequence[Tensor | None] | None = None) -> Tensor:
        """Images at the current resolution from per-layer latents (N, n_latent, D) (the layers above the stage
        ignore theirs); ``noise``: None (fresh), or a list of maps per layer (``"const"``: :meth:`constant_noise`)."""
        if isinstance(noise, str):
            noise = self.constant_noise()
        noise = noise or [None] * self.n_latent
        x = lower = self.input(latent.shape[0])
        used = self.layers_in_use
        for i, (layer, n) in enumerate(zip(self.layers[:used], noise)):
            if i == used - 2:
                lower = x  # the previous stage's output
            x = layer(x, latent[:, i], n)
        rgb = self.to_rgbs[self.stage - self.stages](x)
        return self.fade_in(rgb, self.to_rgbs[self.stage - self.stages - 1](lower)) if self.fading else rgb
