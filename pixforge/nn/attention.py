"""Self-attention for convolutional feature maps."""
from __future__ import annotations

import torch
from torch import nn


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): x + γ·v(softmax(f(x)ᵀg(x)) h(x)), C̄ = C/8, γ initialised to 0.

    ``forward(x, y=None)``: the label is ignored, so the layer sits in class-conditional stacks unchanged.
    """

    def __init__(self, channels: int, value_channels: int | None = None):
        super().__init__()
        inner = max(1, channels // 8)
        value = value_channels or inner  # BigGAN's attention uses C/2 for the values
        self.f = nn.Conv2d(channels, inner, 1, bias=False)
        self.g = nn.Conv2d(channels, inner, 1, bias=False)
        self.h = nn.Conv2d(channels, value, 1, bias=False)
        self.v = nn.Conv2d(value, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        n, c, hh, ww = x.shape
        q, k, val = self.f(x).flatten(2), self.g(x).flatten(2), self.h(x).flatten(2)  # (N, C̄, HW)
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (N, HW, HW): row i attends over positions j
        out = (val @ attn.transpose(1, 2)).view(n, -1, hh, ww)
        return x + self.gamma * self.v(out)
