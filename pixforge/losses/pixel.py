"""Pixel losses: L1, L2 (mean squared error), Charbonnier, total variation. Each is the mean over elements."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import LOSSES

l1_loss = LOSSES.register("l1", F.l1_loss, family="pixel")
l2_loss = LOSSES.register("l2", F.mse_loss, family="pixel")


@LOSSES.register("charbonnier", family="pixel")
def charbonnier_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean of sqrt((pred - target)² + eps²): a differentiable L1 (Charbonnier et al. 1994; LapSRN, EDVR).

    ``eps`` is the length under which the loss turns quadratic. BasicSR writes sqrt(d² + eps) with eps = 1e-12,
    which is this default (1e-6); LapSRN uses eps = 1e-3.
    """
    return ((pred - target) ** 2 + eps * eps).sqrt().mean()


@LOSSES.register("tv", family="pixel")
def total_variation(image: torch.Tensor, power: int = 1) -> torch.Tensor:
    """Mean |x[i+1]-x[i]|^power over both image axes (power 1: anisotropic L1 TV, 2: squared)."""
    dh = image[..., 1:, :] - image[..., :-1, :]
    dw = image[..., :, 1:] - image[..., :, :-1]
    if power == 1:
        return dh.abs().mean() + dw.abs().mean()
    return dh.pow(power).mean() + dw.pow(power).mean()
