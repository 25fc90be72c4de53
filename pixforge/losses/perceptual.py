"""The perceptual losses of neural style transfer, written once for every method (Gatys, fast nets, AdaIN, ...).

Conventions (Gatys et al. 2016; Johnson et al. 2016):
* ``gram(F)`` of features (N, C, H, W) is ``F F^T / (C H W)`` (N, C, C): normalised so layers of different sizes
  weigh alike and the loss does not depend on the image size.
* content loss is the mean squared feature difference; style loss the mean squared Gram difference
  (summed over layers with per-layer weights); total variation the mean absolute (L1) or squared (L2)
  difference of neighbouring pixels.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F


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


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared feature difference."""
    return F.mse_loss(features, target)


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


def total_variation(image: torch.Tensor, power: int = 1) -> torch.Tensor:
    """Mean |x[i+1]-x[i]|^power over both image axes (power 1: anisotropic L1 TV, 2: squared)."""
    dh = image[..., 1:, :] - image[..., :-1, :]
    dw = image[..., :, 1:] - image[..., :, :-1]
    if power == 1:
        return dh.abs().mean() + dw.abs().mean()
    return dh.pow(power).mean() + dw.pow(power).mean()


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (N, C, 1, 1) of features (N, C, H, W) (AdaIN statistics)."""
    n, c = features.shape[:2]
    flat = features.reshape(n, c, -1)
    return flat.mean(-1)[..., None, None], (flat.var(-1, unbiased=False) + eps).sqrt()[..., None, None]


def blend_grams(grams: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """Weighted average of several styles' Gram matrices (weights normalised to sum 1)."""
    if len(grams) != len(weights):
        raise ValueError(f"{len(weights)} weights for {len(grams)} styles")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("style blend weights must sum to a positive number")
    return {k: sum(w / total * g[k] for g, w in zip(grams, weights)) for k in grams[0]}
