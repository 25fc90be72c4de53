"""Exponential moving average of a network's weights (the G_ema of ProGAN, StyleGAN, BigGAN)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Exponential moving average of a generator's weights (Karras et al.; BigGAN's G_ema).

    Before ``start`` the average just copies the live weights (so it does not remember the random init),
    afterwards ``ema = decay·ema + (1-decay)·weights``. Buffers (BN statistics) are copied as they are.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, start: int = 0):
        self.decay, self.start = decay, start
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = 0.0 if step < self.start else self.decay
        for e, p in zip(self.module.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1.0 - decay)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)
