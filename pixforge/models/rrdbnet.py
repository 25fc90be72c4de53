"""ESRGAN's generator (Wang et al. 2018), in BasicSR's layout and key names (``conv_first``, ``body.N.rdb1.conv1``,
``conv_body``, ``conv_up1/2``, ``conv_hr``, ``conv_last``), so BasicSR / Real-ESRGAN x4 state dicts load as they are.

A 3x3 conv to ``num_feat`` channels, ``num_block`` residual-in-residual dense blocks plus a long skip, then two
nearest-upsampling convs (x4) and two more convs. For x2 and x1 the input is pixel-unshuffled first (as
Real-ESRGAN does), so the trunk always runs at a quarter of the output resolution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.blocks import RRDB
from ..registry import ARCHS


@ARCHS.register("rrdbnet", family="sr", input=(3, 32, 32),
                description="ESRGAN RRDBNet x4 super-resolution generator (23 RRDBs, 64 features)")
class RRDBNet(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, not {scale}")
        self.scale = scale
        self.conv_first = nn.Conv2d(in_channels * (4 // scale) ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(F.pixel_unshuffle(x, 4 // self.scale) if self.scale < 4 else x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
