"""Exponential moving average of a network's weights (the G_ema of ProGAN, StyleGAN, BigGAN, StarGAN v2, FUNIT)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Exponential moving average of a generator's weights (Karras et al.; BigGAN's G_ema).

    Before ``start`` the average just copies the live weights (so it does not remember the random init),
    afterwards ``ema = decay·ema + (1-decay)·weights``. With ``warmup`` the decay at ``step`` is
    ``min(decay, (1 + step) / (10 + step))`` (TensorFlow's ExponentialMovingAverage with ``num_updates``): about
    an average over the steps so far early on, the full decay from step ``(10·decay - 1) / (1 - decay)`` (8,990
    for 0.999) on, so a short run's average is not mostly its initial weights (0.999^k of them after k steps).
    Buffers (BN statistics) are copied as they are.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, start: int = 0, warmup: bool = False):
        self.decay, self.start, self.warmup = decay, start, warmup
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The decay that :meth:`update` uses at ``step``."""
        if step < self.start:
            return 0.0
        return min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = self.decay_at(step)
        for e, p in zip(self.module.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1.0 - decay)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)
