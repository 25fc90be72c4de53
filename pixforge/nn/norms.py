"""Normalisation layers, chosen by name with :func:`make_norm`, and the conditional ones that take their scale and
shift from a label, a style or a segmentation map.

* ``make_norm("batch" | "instance" | "group" | "layer" | "none", channels)``: the plain norms. "group" is
  Wu & He (2018), 32 groups (or the largest divisor of the channel count below that); "layer" normalises each
  sample over (C, H, W) with a per-channel affine, as MUNIT's LayerNorm (GroupNorm with one group).
* :class:`ConditionalInstanceNorm2d` (Dumoulin et al. 2017): one (gamma, beta) per style, blended by weights.
* :class:`ConditionalBatchNorm2d` (de Vries et al. 2017) and :class:`Norm2d` (BN, or CBN when class-conditional);
  :class:`LinearConditionalBatchNorm2d` (BigGAN): the scale and shift are linear maps of a condition vector.
* :func:`adain` (Huang & Belongie 2017): the AdaIN operation on features; :class:`AdaIN`: instance norm whose
  scale and shift are linear maps of a style vector (MUNIT, StyleGAN, Magenta's style-predicted norm).
* :class:`AdaLIN` (U-GAT-IT, Kim et al. 2020): a learned mix rho of instance and layer norm, then AdaIN's affine;
  :class:`LIN` the same mix with its own affine; :func:`clip_rho_` keeps rho in [0, 1] after an optimiser step.
* :class:`SPADE` (Park et al. 2019): parameter-free norm, then a per-pixel scale and shift from the
  segmentation map.
* :class:`PixelNorm` (Karras et al. 2018): each position's feature vector scaled to unit RMS.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses.perceptual import mean_std

Tensor = torch.Tensor

NORMS = ("batch", "instance", "group", "layer", "none")
GROUPS = 32  # Wu & He's default


def group_count(channels: int, groups: int = GROUPS) -> int:
    """``groups`` if it divides ``channels``, else the largest divisor of ``channels`` below it."""
    return next(g for g in range(min(groups, channels), 0, -1) if channels % g == 0)


def make_norm(name: str, channels: int, **kw) -> nn.Module:
    """A 2-D normalisation layer by name; ``kw`` go to the layer (``affine=False``, ``eps``, ``groups`` ...).

    Instance norm has a learned affine by default (the style-transfer convention), unlike torch's default.
    """
    if name == "batch":
        return nn.BatchNorm2d(channels, **kw)
    if name == "instance":
        return nn.InstanceNorm2d(channels, **{"affine": True, **kw})
    if name == "group":
        return nn.GroupNorm(group_count(channels, kw.pop("groups", GROUPS)), channels, **kw)
    if name == "layer":
        return nn.GroupNorm(1, channels, **kw)
    if name == "none":
        return nn.Identity()
    raise ConfigError(f"unknown norm {name!r}; known: {', '.join(NORMS)}")


# ------------------------------------------------------------------------------------------------ AdaIN
def adain(content: Tensor, style: Tensor | tuple[Tensor, Tensor], eps: float = 1e-5,
          content_stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Adaptive instance normalisation: ``(c - mean(c)) / std(c) * std(s) + mean(s)`` per sample and channel.

    ``content`` is features (N, C, H, W); ``style`` features (N or 1, C, h, w) or their (mean, std).
    ``content_stats`` replaces the content's own (mean, std) (e.g. those of the whole image when decoding
    tile by tile).
    """
    mc, sc = content_stats if content_stats is not None else mean_std(content, eps)
    ms, ss = style if isinstance(style, tuple) else mean_std(style, eps)
    return (content - mc) / sc * ss + ms


class AdaIN(nn.Module):
    """Instance norm whose per-channel scale and shift are linear maps of a style vector (N, D) or (N, D, 1, 1).

    The maps are 1x1 convolutions (``gamma``, ``beta``; Magenta's ``StyleNorm`` layout); the scale's bias starts
    at 1, so a fresh layer is plain instance norm.
    """

    def __init__(self, channels: int, style_dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Conv2d(style_dim, channels, 1)
        self.beta = nn.Conv2d(style_dim, channels, 1)
        nn.init.ones_(self.gamma.bias)
        nn.init.zeros_(self.beta.bias)

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        s = style.reshape(style.shape[0], -1, 1, 1)
        return F.instance_norm(x, eps=self.eps) * self.gamma(s) + self.beta(s)


class AdaLIN(nn.Module):
    """U-GAT-IT's adaptive layer-instance norm: ``rho * IN(x) + (1 - rho) * LN(x)``, then ``* gamma + beta``.

    ``rho`` (per channel, starting at 0.9 as in the reference) is learned and kept in [0, 1] (clamped where it is
    used; :func:`clip_rho_` clips the parameter itself after an optimiser step, as the reference's RhoClipper);
    ``gamma`` and ``beta`` (N, C) come from the style. Variances are unbiased, as in the reference code.
    """

    def __init__(self, channels: int, eps: float = 1e-5, rho: float = 0.9):
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.full((1, channels, 1, 1), rho))

    def mix(self, x: Tensor) -> Tensor:
        """``rho * IN(x) + (1 - rho) * LN(x)``, before any affine."""
        inst = (x - x.mean((2, 3), keepdim=True)) / (x.var((2, 3), keepdim=True) + self.eps).sqrt()
        layer = (x - x.mean((1, 2, 3), keepdim=True)) / (x.var((1, 2, 3), keepdim=True) + self.eps).sqrt()
        rho = self.rho.clamp(0, 1)
        return rho * inst + (1 - rho) * layer

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        return self.mix(x) * gamma[:, :, None, None] + beta[:, :, None, None]


class LIN(AdaLIN):
    """U-GAT-IT's ``ILN`` (in its upsampling layers): AdaLIN's mix with ``rho`` starting at 0 (layer norm) and a
    learned per-channel ``gamma`` (1) and ``beta`` (0) of its own."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__(channels, eps, rho=0.0)
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.mix(x) * self.gamma + self.beta


@torch.no_grad()
def clip_rho_(module: nn.Module, low: float = 0.0, high: float = 1.0) -> nn.Module:
    """Clip the ``rho`` of every :class:`AdaLIN` / :class:`LIN` in ``module`` to [low, high], in place (U-GAT-IT's
    ``RhoClipper``, applied after each generator step)."""
    for m in module.modules():
        if isinstance(m, AdaLIN):
            m.rho.clamp_(low, high)
    return module


# ------------------------------------------------------------------------------------------------ conditional
class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm with one learned (gamma, beta) per style; ``mix`` (N or 1, styles) picks or blends them.

    The output is ``IN(x) * (mix @ weight) + (mix @ bias)``: a one-hot ``mix`` selects a style exactly, any
    other convex weights interpolate the styles' affine parameters.
    """

    def __init__(self, num_features: int, num_styles: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_styles, num_features))
        self.bias = nn.Parameter(torch.zeros(num_styles, num_features))
        self.register_buffer("mix", F.one_hot(torch.tensor([0]), num_styles).float(), persistent=False)

    @property
    def num_styles(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        mix = self.mix.to(x.dtype)
        gamma = (mix @ self.weight.to(x.dtype))[:, :, None, None]
        beta = (mix @ self.bias.to(x.dtype))[:, :, None, None]
        return F.instance_norm(x, eps=self.eps) * gamma + beta

    def add_style(self) -> None:
        """Append one style, initialised to the average of the existing ones."""
        with torch.no_grad():
            self.weight = nn.Parameter(torch.cat([self.weight, self.weight.mean(0, keepdim=True)]))
            self.bias = nn.Parameter(torch.cat([self.bias, self.bias.mean(0, keepdim=True)]))
        self.mix = F.pad(self.mix, (0, 1))


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine part, then per-class γ (initialised 1) and β (initialised 0)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.bn(x) * self.gamma(y)[:, :, None, None] + self.beta(y)[:, :, None, None]


class LinearConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine part, then γ = 1 + W_γ c and β = W_β c from a condition *vector* c
    (BigGAN's ``ccbn``: c is the shared class embedding concatenated with the layer's chunk of z)."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels, bias=False)
        self.bias = nn.Linear(cond_dim, channels, bias=False)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.bn(x) * (1 + self.gain(c))[:, :, None, None] + self.bias(c)[:, :, None, None]


class Norm2d(nn.Module):
    """A norm chosen by name, or conditional BN when the model is class-conditional; ``forward(x, y=None)``."""

    def __init__(self, channels: int, num_classes: int = 0, norm: str = "batch"):
        super().__init__()
        if num_classes and norm != "batch":
            raise ConfigError(f"class-conditional models use conditional batch norm; norm {norm!r} cannot be "
                              "combined with num_classes")
        self.norm = ConditionalBatchNorm2d(channels, num_classes) if num_classes else make_norm(norm, channels)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.norm(x, y) if isinstance(self.norm, ConditionalBatchNorm2d) else self.norm(x)


class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al. 2019): a parameter-free norm of x, then per-pixel
    ``* (1 + gamma(m)) + beta(m)`` from the segmentation map m resized (nearest) to x's size through a shared
    ``hidden``-channel conv + ReLU. Module names follow NVlabs/SPADE."""

    def __init__(self, channels: int, label_channels: int, hidden: int = 128, kernel_size: int = 3,
                 norm: str = "batch"):
        super().__init__()
        pad = kernel_size // 2
        self.param_free_norm = make_norm(norm, channels, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, kernel_size, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(hidden, channels, kernel_size, padding=pad)

    def forward(self, x: Tensor, segmap: Tensor) -> Tensor:
        actv = self.mlp_shared(F.interpolate(segmap.to(x.dtype), size=x.shape[-2:], mode="nearest"))
        return self.param_free_norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class PixelNorm(nn.Module):
    """``x / sqrt(mean(x^2 over channels) + eps)`` (ProGAN / StyleGAN's mapping-network input)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + self.eps)
