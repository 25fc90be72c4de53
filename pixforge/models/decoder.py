"""Decoders that mirror a VGG encoder back to pixels (AdaIN, WCT, PhotoWCT, style-swap).

A decoder mirrors the encoder up to a ``reluK_1`` layer: every conv reversed (in/out swapped), every pool
replaced by nearest 2x upsampling (AdaIN, WCT) or by max-unpooling with the encoder's pool indices (PhotoWCT).
For VGG19 up to relu4_1 the layout (and the ``1.weight`` ... ``28.bias`` keys) is exactly AdaIN's ``decoder.pth``
(registry name ``adain-decoder``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .. import weights as weights_mod
from ..nn.vgg import PoolIndices, VGGFeatures
from ..registry import ARCHS
from ..weights import WeightSpec


class Decoder(nn.Sequential):
    """Mirror of an encoder up to one layer; ``forward(features, pools=None)``.

    ``unpool=False``: nearest 2x upsampling where the encoder pooled (AdaIN/WCT). ``unpool=True``: max-unpooling
    with the encoder's pool indices (PhotoWCT); ``pools`` is then what ``encoder.encode(..., pool_indices=True)``
    returned. Upsampling and unpooling carry no parameters, so both kinds share one key layout.
    """

    def __init__(self, convs: Sequence[tuple[int, int] | str], unpool: bool = False):
        modules: list[nn.Module] = []
        for i, item in enumerate(convs):
            if item == "M":
                modules.append(nn.MaxUnpool2d(2, 2) if unpool else nn.Upsample(scale_factor=2, mode="nearest"))
                continue
            in_ch, out_ch = item
            modules += [nn.ReflectionPad2d(1), nn.Conv2d(in_ch, out_ch, 3)]
            if i < len(convs) - 1:
                modules.append(nn.ReLU())
        super().__init__(*modules)
        self.unpool = unpool

    def forward(self, x: torch.Tensor, pools: PoolIndices | None = None) -> torch.Tensor:
        pending = list(pools or [])
        for module in self:
            if isinstance(module, nn.MaxUnpool2d):
                if not pending:
                    raise ValueError("a max-unpooling decoder needs the encoder's pool indices")
                idx, size = pending.pop()
                x = module(x, idx, output_size=size[-2:])
            else:
                x = module(x)
        return x


def decoder_layout(encoder: VGGFeatures, layer: str) -> list[tuple[int, int] | str]:
    """The decoder's (in, out) convs and "M" upsampling points, mirroring ``encoder`` up to ``layer``."""
    items: list[tuple[int, int] | str] = []
    for name, module in zip(encoder.names, encoder.features):
        if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
            items.append((module.out_channels, module.in_channels))
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            items.append("M")
        if name == layer:
            return items[::-1]
    raise ValueError(f"encoder has no layer {layer!r}")


def make_decoder(encoder: VGGFeatures, layer: str, unpool: bool = False) -> Decoder:
    return Decoder(decoder_layout(encoder, layer), unpool=unpool)


@ARCHS.register("vgg-decoder", family="decoder", input=(512, 32, 32),
                description="VGG mirror decoder (AdaIN/WCT); default: AdaIN's relu4_1 decoder for normalised VGG19")
def vgg_decoder(layer: str = "relu4_1", arch: str = "vgg19", normalization: str = "normalised",
                unpool: bool = False) -> Decoder:
    """The decoder mirroring ``arch`` up to ``layer`` (built without instantiating the encoder's weights)."""
    with torch.device("meta"):
        encoder = VGGFeatures(arch, [layer], normalization=normalization)
    return make_decoder(encoder, layer, unpool)


def convert_adain_decoder(path: Path) -> dict[str, torch.Tensor]:
    """``decoder.pth`` -> Decoder state dict (the keys are kept as they are; checked for shape)."""
    return weights_mod.load_strict(vgg_decoder(), weights_mod.load_file(path), str(path), ignore_extra=True).state_dict()


weights_mod.register(WeightSpec(
    name="adain-decoder",
    filename="decoder.pth",
    url="https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/decoder.pth",
    sha256=None,  # not published: pinned on first import
    size=None,
    format="torch",
    converter="pixforge.models.decoder:convert_adain_decoder",
    description="AdaIN relu4_1 decoder for adain-vgg-normalised (naoto0804/pytorch-AdaIN release)",
    license="MIT (pytorch-AdaIN)",
    meta={"arch": "vgg-decoder", "encoder": "adain-vgg-normalised"},
))
