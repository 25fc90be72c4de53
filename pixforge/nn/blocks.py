"""Blocks the image networks are built from: residual (Johnson et al.), inverted residual (MobileNetV2), the
recursive U-Net skip block (pix2pix), the norm-free residual block of EDSR/SRResNet and ESRGAN's
residual-in-residual dense block.

Attribute names follow the reference implementations (pytorch/examples, pix2pix, BasicSR), so their state
dicts load unchanged.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .conv import ConvLayer, tf_same_pad
from .norms import make_norm

NormFactory = Callable[[int], nn.Module]


def instance_norm(channels: int) -> nn.Module:
    """Instance normalisation with a learned scale and shift (Ulyanov et al. 2016)."""
    return make_norm("instance", channels)


class ResidualBlock(nn.Module):
    """conv-norm-relu-conv-norm plus the identity (He et al. 2016; no ReLU after the sum, as Johnson et al.).

    Extra ``forward`` arguments go to both norms (a style embedding for :class:`~pixforge.nn.norms.AdaIN`).
    """

    def __init__(self, channels: int, norm: NormFactory = instance_norm):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = norm(channels)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = norm(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor, *cond: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.in1(self.conv1(x), *cond))
        return self.in2(self.conv2(out), *cond) + x


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (ReLU6), 3x3 depthwise (ReLU6), 1x1 linear projection, skip if shapes match.

    The depthwise conv pads like TensorFlow ('SAME'), as the released MobileNets were trained.
    """

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.stride = stride
        self.expand = nn.Conv2d(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Conv2d(hidden, cout, 1)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.expand(x)) if self.expand is not None else x
        h = F.relu6(self.depthwise(tf_same_pad(h, 3, self.stride)))
        h = self.project(h)
        return x + h if self.skip else h


class UnetSkipBlock(nn.Module):
    """pix2pix's ``UnetSkipConnectionBlock``: down (4x4 stride-2 conv), the ``submodule`` inside, up (4x4
    stride-2 transposed conv), and the input concatenated to the output (except for the outermost block).

    Nest blocks from the innermost out to build a U-Net (:func:`unet`). ``norm`` is a name for
    :func:`~pixforge.nn.norms.make_norm` or a factory ``channels -> layer``; as in pix2pix, convs have biases
    unless the norm is batch norm.
    """

    def __init__(self, outer: int, inner: int, in_channels: int | None = None, submodule: nn.Module | None = None,
                 outermost: bool = False, norm: str | NormFactory = "batch", dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        in_channels = outer if in_channels is None else in_channels
        make = norm if callable(norm) else partial(make_norm, norm)
        down_norm, up_norm = make(inner), make(outer)
        bias = not isinstance(up_norm, nn.BatchNorm2d)
        down = nn.Conv2d(in_channels, inner, 4, 2, 1, bias=bias)
        if outermost:
            layers = [down, submodule, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif submodule is None:  # innermost
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias),
                      up_norm]
        else:
            layers = [nn.LeakyReLU(0.2, True), down, down_norm, submodule, nn.ReLU(True),
                      nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias), up_norm]
            layers += [nn.Dropout(0.5)] if dropout else []
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def unet(in_channels: int, out_channels: int, downs: int = 8, width: int = 64, norm: str | NormFactory = "batch",
         dropout: bool = False) -> UnetSkipBlock:
    """pix2pix's ``UnetGenerator``: ``downs`` halvings (8 for 256 px: ``unet_256``), widths 64..512."""
    block = UnetSkipBlock(width * 8, width * 8, norm=norm)
    for _ in range(downs - 5):
        block = UnetSkipBlock(width * 8, width * 8, submodule=block, norm=norm, dropout=dropout)
    for mult in (4, 2, 1):
        block = UnetSkipBlock(width * mult, width * mult * 2, submodule=block, norm=norm)
    return UnetSkipBlock(out_channels, width, in_channels, submodule=block, outermost=True, norm=norm)


def scaled_kaiming_(*convs: nn.Module, scale: float = 0.1) -> None:
    """BasicSR's ``default_init_weights``: Kaiming-normal weights times ``scale``, zero biases, so that deep
    residual networks without normalisation start close to the identity."""
    with torch.no_grad():
        for conv in convs:
            nn.init.kaiming_normal_(conv.weight).mul_(scale)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)


class ResidualBlockNoBN(nn.Module):
    """conv-ReLU-conv plus the identity, no normalisation, the branch scaled by ``res_scale`` (EDSR, Lim et al.
    2017; SRResNet as BasicSR's MSRResNet). ``pytorch_init=False`` uses :func:`scaled_kaiming_` (BasicSR)."""

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0, pytorch_init: bool = False):
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        if not pytorch_init:
            scaled_kaiming_(self.conv1, self.conv2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


class ResidualDenseBlock(nn.Module):
    """ESRGAN's dense block: five 3x3 convs, each seeing the input and every earlier output (growth ``gc``),
    LeakyReLU(0.2) after the first four; the result is scaled by 0.2 and added to the input."""

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        for i in range(5):
            conv = nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, 1, 1)
            scaled_kaiming_(conv)
            setattr(self, f"conv{i + 1}", conv)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(1, 5):
            feats.append(self.lrelu(getattr(self, f"conv{i}")(torch.cat(feats, 1))))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual in residual dense block (Wang et al. 2018): three dense blocks, scaled by 0.2, plus the input."""

    def __init__(self, nf: int = 64, gc: int = 32):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (ResidualDenseBlock(nf, gc) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x
