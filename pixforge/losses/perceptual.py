"""Perceptual losses: distances between VGG features, written once for style transfer (Gatys, fast nets, AdaIN)
and for image restoration (SRGAN, ESRGAN, pix2pixHD).

Conventions (Gatys et al. 2016; Johnson et al. 2016):
* ``gram(F)`` of features (N, C, H, W) is ``F F^T / (C H W)`` (N, C, C): normalised so layers of different sizes
  weigh alike and the loss does not depend on the image size.
* content loss is the mean squared feature difference; Gram style loss the mean squared Gram difference and
  mean/std style loss (AdaIN) the squared difference of channel means and of channel standard deviations,
  both summed over layers.
* :class:`VGGPerceptualLoss` is BasicSR's ``PerceptualLoss``: per-layer weights, features before (``conv*``)
  or after (``relu*``) the activation, an L1/L2/Charbonnier criterion, an optional Gram style term.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..registry import LOSSES


def gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised Gram matrix (N, C, C) of features (N, C, H, W).

    With ``mask`` (N or 1, 1, H, W) in [0, 1], the features are weighted by the mask and normalised by
    the mask's total weight instead of H*W, so the Gram describes only the masked region.
    """
    n, c, h, w = features.shape
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        f = features.permute(0, 2, 3, 1).reshape(n, h * w, c).transpose(1, 2)  # a view, no copy
    else:
        f = features.reshape(n, c, h * w)
    if mask is None:
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)
    m = mask.reshape(mask.shape[0], 1, h * w).to(f.dtype)
    fm = f * m
    return torch.bmm(fm, fm.transpose(1, 2)) / (c * (m * m).sum((1, 2)).clamp_min(1e-8)[:, None, None])


@LOSSES.register("content", family="perceptual")
def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared feature difference."""
    return F.mse_loss(features, target)


@LOSSES.register("gram-style", family="perceptual")
def style_loss(features: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
               layer_weights: Mapping[str, float] | None = None,
               masks: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Weighted sum over layers of the mean squared difference of Gram matrices.

    ``masks`` (one (N or 1, 1, H, W) mask per layer, at that layer's size) restricts each Gram to a region.
    """
    total = 0.0
    for name, target in target_grams.items():
        weight = 1.0 if layer_weights is None else layer_weights[name]
        g = gram(features[name], None if masks is None else masks[name])
        total = total + weight * F.mse_loss(g, target.expand_as(g))
    return total


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (N, C, 1, 1) of features (N, C, H, W) (AdaIN statistics)."""
    n, c = features.shape[:2]
    flat = features.reshape(n, c, -1)
    return flat.mean(-1)[..., None, None], (flat.var(-1, unbiased=False) + eps).sqrt()[..., None, None]


@LOSSES.register("mean-std-style", family="perceptual")
def style_stat_loss(feats: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the squared-error between channel means and between channel stds (the AdaIN loss)."""
    total = 0.0
    for name, target in targets.items():
        mg, sg = mean_std(feats[name])
        mt, st = mean_std(target)
        total = total + F.mse_loss(mg, mt) + F.mse_loss(sg, st)
    return total


def blend_grams(grams: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Weighted average of several styles' Gram matrices (weights normalised to sum 1)."""
    if len(grams) != len(weights):
        raise ValueError(f"{len(weights)} weights for {len(grams)} styles")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("style blend weights must sum to a positive number")
    return {k: sum(w / total * g[k] for g, w in zip(grams, weights)) for k in grams[0]}


@LOSSES.register("vgg-perceptual", family="perceptual")
class VGGPerceptualLoss(nn.Module):
    """Distance between the VGG features of an image and of its target (SRGAN, ESRGAN, pix2pixHD):
    ``perceptual_weight · Σ w_l·d(φ_l(x), φ_l(y)) + style_weight · Σ w_l·d(gram φ_l(x), gram φ_l(y))``.

    Args:
        layer_weights: {layer: weight}; ``conv5_4`` is a feature before its activation (ESRGAN), ``relu5_4``
            after it (SRGAN's VGG54); pix2pixHD: relu1_1 ... relu5_1 weighted 1/32, 1/16, 1/8, 1/4, 1.
        criterion: the distance d: "l1" (BasicSR's default), "l2" or "charbonnier" (the pixel losses).
        perceptual_weight, style_weight: weights of the feature and Gram terms (0 leaves a term out).
        arch, weights: the VGG (:func:`pixforge.nn.vgg.create_vgg`; weights None = random, for tests).

    Images are RGB in [0, 1]; the target's features are computed without gradient. :meth:`terms` gives the
    weighted terms by name ("perceptual", "style") for logging; calling the module gives their sum.
    """

    CRITERIA = ("l1", "l2", "charbonnier")

    def __init__(self, layer_weights: Mapping[str, float], criterion: str = "l1", perceptual_weight: float = 1.0,
                 style_weight: float = 0.0, arch: str = "vgg19", weights: str | None = "auto"):
        super().__init__()
        if criterion not in self.CRITERIA:
            raise ConfigError(f"unknown perceptual criterion {criterion!r}; known: {', '.join(self.CRITERIA)}")
        from ..nn.vgg import create_vgg

        self.layer_weights = dict(layer_weights)
        self.criterion = LOSSES.get(criterion)
        self.perceptual_weight, self.style_weight = perceptual_weight, style_weight
        self.vgg = create_vgg(list(self.layer_weights), arch=arch, weights=weights)

    def _weighted_sum(self, feats, targets, transform=lambda f: f) -> torch.Tensor:
        return sum(w * self.criterion(transform(feats[k]), transform(targets[k]))
                   for k, w in self.layer_weights.items())

    def terms(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.vgg(x)
        with torch.no_grad():
            targets = self.vgg(target)
        out = {}
        if self.perceptual_weight:
            out["perceptual"] = self.perceptual_weight * self._weighted_sum(feats, targets)
        if self.style_weight:
            out["style"] = self.style_weight * self._weighted_sum(feats, targets, gram)
        return out

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(self.terms(x, target).values())


@LOSSES.register("vgg-distance", family="perceptual")
class VGGDistance(nn.Module):
    """An LPIPS-style image distance on the one VGG, and not LPIPS itself: LPIPS (Zhang et al. 2018) weighs
    every channel with linear heads trained on human judgements, which pixforge does not have. This is the
    unweighted form (the LPIPS code's ``lpips=False`` "baseline"): at VGG16's relu1_2, relu2_2, relu3_3,
    relu4_3 and relu5_3, features unit-normalised over channels at every position, squared differences summed
    over channels and averaged over positions, summed over layers.

    Images in [-1, 1], grey ones taken as RGB; :meth:`features` once for a fixed target, then :meth:`compare`;
    calling the module gives the distances (N,). ``weights`` as :func:`pixforge.nn.vgg.create_vgg` (None =
    random, for tests).
    """

    LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")

    def __init__(self, weights: str | None = "auto", layers: Sequence[str] = LAYERS):
        super().__init__()
        from ..nn.vgg import create_vgg

        self.layers = tuple(layers)
        self.vgg = create_vgg(self.layers, arch="vgg16", weights=weights)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self.vgg((x.expand(-1, 3, -1, -1) + 1) / 2)
        return [f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10) for f in (feats[name] for name in self.layers)]

    @staticmethod
    def compare(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
        return sum((fa - fb).pow(2).sum(1).mean((1, 2)) for fa, fb in zip(a, b))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.compare(self.features(x), self.features(y))


@LOSSES.register("vgg-domain-invariant", family="perceptual")
class DomainInvariantVGGLoss(nn.Module):
    """MUNIT's domain-invariant perceptual loss (Huang et al. 2018, ``compute_vgg_loss``): the mean squared
    difference of the *instance-normalised* VGG16 features of a translation and of its source image, so that
    content is compared without the domain's feature statistics. The features are those of the MUNIT release's
    ``Vgg16``: relu5_3 of a VGG16 without its fourth max pool (conv5 runs on relu4_3, at 1/8 of the image size).

    Images in [-1, 1] (grey ones taken as RGB); the target's features are computed without gradient.
    ``weights`` as :func:`pixforge.nn.vgg.create_vgg` (None = random, for tests).
    """

    def __init__(self, weights: str | None = "auto"):
        super().__init__()
        from ..nn.vgg import create_vgg

        self.vgg = create_vgg(["relu4_3", "relu5_3"], arch="vgg16", weights=weights)
        names = self.vgg.names
        self.conv5 = self.vgg.features[names.index("pool4") + 1:names.index("relu5_3") + 1]  # (shared modules)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Instance-normalised relu5_3 (without pool4) of images in [-1, 1]."""
        h = self.vgg((x.expand(-1, 3, -1, -1) + 1) / 2, ["relu4_3"])["relu4_3"]
        return F.instance_norm(self.conv5(h))

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            goal = self.features(target)
        return (self.features(x) - goal).pow(2).mean()
