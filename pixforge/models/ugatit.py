"""U-GAT-IT (Kim et al. 2020) in the layout of znxlwm/UGATIT-pytorch (the authors' PyTorch port), so that its
checkpoints (``{dataset}_params_{step:07d}.pt`` = ``{"genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB"}``)
load by key (:func:`load_ugatit`).

* ``ugatit-generator``: reflection-padded 7x7 conv, two stride-2 convs, ``n_blocks`` residual blocks (instance
  norm without affine); then the CAM attention: global average- and max-pooled features through bias-free
  linear layers ``gap_fc`` / ``gmp_fc`` give two logits of the auxiliary "is this the source domain?" classifier,
  and the features weighted channel-wise by those layers' weights, concatenated and fused by a 1x1 conv, are
  what the decoder sees (their channel sum is the attention heatmap). An MLP ``FC`` of the fused features gives
  ``gamma`` and ``beta`` for ``n_blocks`` AdaLIN residual blocks (rho starts at 0.9 and is clipped to [0, 1]
  after every generator step); nearest 2x upsampling + conv + LIN, 7x7 conv, tanh. ``forward`` returns
  (image, CAM logits (N, 2), heatmap (N, 1, h, w)). Defaults: the training script's (ngf 64, 4 blocks, 256 px).
  The full model's ``FC`` reads the whole flattened feature map, so it takes ``img_size`` inputs only (and holds
  most of the parameters); ``ugatit-generator-light`` pools the map first (any size, a multiple of 4).
* ``ugatit-discriminator-global`` (n_layers 7) / ``-local`` (n_layers 5): spectrally normalised 4x4 convs
  (LeakyReLU 0.2), the same CAM (here the unnormalised weights weight the features: they are the layers' first
  parameters, as the reference reads them), a 1x1 conv, and a 4x4 conv to a patch map; returns (map, CAM
  logits, heatmap).

AdaLIN/LIN variances are unbiased and taken over (H, W) and (C, H, W) as in the current reference (the
repository's first version took a variance of variances; checkpoints trained with it normalise differently).
"""
from __future__ import annotations

import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ..nn.norms import LIN, AdaLIN
from ..registry import ARCHS
from ..weights import load_strict, torch_load

Tensor = torch.Tensor
NETWORKS = ("genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB")


def _raw_weight(linear: nn.Linear) -> Tensor:
    """A linear layer's weight as stored: the unnormalised one under spectral norm."""
    if torch.nn.utils.parametrize.is_parametrized(linear, "weight"):
        return linear.parametrizations.weight.original
    return linear.weight


def class_activation(x: Tensor, gap_fc: nn.Linear, gmp_fc: nn.Linear) -> tuple[Tensor, Tensor]:
    """U-GAT-IT's CAM: (features weighted by ``gap_fc``'s and ``gmp_fc``'s weights, concatenated: (N, 2C, H, W);
    the auxiliary classifier's logits (N, 2) = (gap_fc(avg-pooled x), gmp_fc(max-pooled x)))."""
    gap_logit = gap_fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
    gmp_logit = gmp_fc(F.adaptive_max_pool2d(x, 1).flatten(1))
    gap = x * _raw_weight(gap_fc)[:, :, None, None]
    gmp = x * _raw_weight(gmp_fc)[:, :, None, None]
    return torch.cat([gap, gmp], 1), torch.cat([gap_logit, gmp_logit], 1)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, use_bias: bool = False):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, 1, 0, bias=use_bias), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, 1, 0, bias=use_bias), nn.InstanceNorm2d(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetAdaILNBlock(nn.Module):
    def __init__(self, dim: int, use_bias: bool = False):
        super().__init__()
        self.pad1 = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(dim, dim, 3, 1, 0, bias=use_bias)
        self.norm1 = AdaLIN(dim)
        self.relu1 = nn.ReLU(True)
        self.pad2 = nn.ReflectionPad2d(1)
        self.conv2 = nn.Conv2d(dim, dim, 3, 1, 0, bias=use_bias)
        self.norm2 = AdaLIN(dim)

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        out = self.relu1(self.norm1(self.conv1(self.pad1(x)), gamma, beta))
        return x + self.norm2(self.conv2(self.pad2(out)), gamma, beta)


@ARCHS.register("ugatit-generator", family="translation", guided=True, input=(3, 256, 256),
                description="U-GAT-IT generator: CAM attention + AdaLIN residual decoder (full: 256 px inputs only)")
class ResnetGenerator(nn.Module):
    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 4, img_size: int = 256,
                 light: bool = False):
        super().__init__()
        self.in_channels, self.n_blocks, self.img_size, self.light = input_nc, n_blocks, img_size, light
        self.size_multiple = 4
        n_downsampling = 2
        down = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, 1, 0, bias=False), nn.InstanceNorm2d(ngf),
                nn.ReLU(True)]
        for i in range(n_downsampling):
            c = ngf * 2 ** i
            down += [nn.ReflectionPad2d(1), nn.Conv2d(c, c * 2, 3, 2, 0, bias=False), nn.InstanceNorm2d(c * 2),
                     nn.ReLU(True)]
        c = ngf * 2 ** n_downsampling
        down += [ResnetBlock(c) for _ in range(n_blocks)]
        self.gap_fc = nn.Linear(c, 1, bias=False)
        self.gmp_fc = nn.Linear(c, 1, bias=False)
        self.conv1x1 = nn.Conv2d(c * 2, c, 1, 1)
        self.relu = nn.ReLU(True)
        fc_in = c if light else (img_size // 2 ** n_downsampling) ** 2 * c
        fc = [nn.Linear(fc_in, c, bias=False), nn.ReLU(True), nn.Linear(c, c, bias=False), nn.ReLU(True)]
        self.gamma = nn.Linear(c, c, bias=False)
        self.beta = nn.Linear(c, c, bias=False)
        for i in range(n_blocks):
            setattr(self, f"UpBlock1_{i + 1}", ResnetAdaILNBlock(c))
        up: list[nn.Module] = []
        for i in range(n_downsampling):
            c = ngf * 2 ** (n_downsampling - i)
            up += [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                   nn.Conv2d(c, c // 2, 3, 1, 0, bias=False), LIN(c // 2), nn.ReLU(True)]
        up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, 1, 0, bias=False), nn.Tanh()]
        self.DownBlock = nn.Sequential(*down)
        self.FC = nn.Sequential(*fc)
        self.UpBlock2 = nn.Sequential(*up)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.DownBlock(x)
        x, cam_logit = class_activation(x, self.gap_fc, self.gmp_fc)
        x = self.relu(self.conv1x1(x))
        heatmap = x.sum(1, keepdim=True)
        h = self.FC((F.adaptive_avg_pool2d(x, 1) if self.light else x).flatten(1))
        gamma, beta = self.gamma(h), self.beta(h)
        for i in range(self.n_blocks):
            x = getattr(self, f"UpBlock1_{i + 1}")(x, gamma, beta)
        return self.UpBlock2(x), cam_logit, heatmap


@ARCHS.register("ugatit-generator-light", family="translation", guided=True, input=(3, 256, 256),
                description="U-GAT-IT light generator: the FC layers read the pooled features (any input size)")
def light_generator(**kwargs) -> ResnetGenerator:
    return ResnetGenerator(**{"light": True, **kwargs})


def _sn(layer: nn.Module) -> nn.Module:
    return torch.nn.utils.parametrizations.spectral_norm(layer)


class Discriminator(nn.Module):
    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 5):
        super().__init__()
        model = [nn.ReflectionPad2d(1), _sn(nn.Conv2d(input_nc, ndf, 4, 2, 0)), nn.LeakyReLU(0.2, True)]
        for i in range(1, n_layers - 2):
            c = ndf * 2 ** (i - 1)
            model += [nn.ReflectionPad2d(1), _sn(nn.Conv2d(c, c * 2, 4, 2, 0)), nn.LeakyReLU(0.2, True)]
        c = ndf * 2 ** (n_layers - 3)
        model += [nn.ReflectionPad2d(1), _sn(nn.Conv2d(c, c * 2, 4, 1, 0)), nn.LeakyReLU(0.2, True)]
        c *= 2
        self.gap_fc = _sn(nn.Linear(c, 1, bias=False))
        self.gmp_fc = _sn(nn.Linear(c, 1, bias=False))
        self.conv1x1 = nn.Conv2d(c * 2, c, 1, 1)
        self.leaky_relu = nn.LeakyReLU(0.2, True)
        self.pad = nn.ReflectionPad2d(1)
        self.conv = _sn(nn.Conv2d(c, 1, 4, 1, 0, bias=False))
        self.model = nn.Sequential(*model)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x, cam_logit = class_activation(self.model(x), self.gap_fc, self.gmp_fc)
        x = self.leaky_relu(self.conv1x1(x))
        return self.conv(self.pad(x)), cam_logit, x.sum(1, keepdim=True)


@ARCHS.register("ugatit-discriminator-global", family="translation", guided=True, input=(3, 256, 256),
                description="U-GAT-IT global discriminator: 7 layers, spectral norm, CAM")
def global_discriminator(**kwargs) -> Discriminator:
    return Discriminator(**{"n_layers": 7, **kwargs})


@ARCHS.register("ugatit-discriminator-local", family="translation", guided=True, input=(3, 256, 256),
                description="U-GAT-IT local discriminator: 5 layers, spectral norm, CAM")
def local_discriminator(**kwargs) -> Discriminator:
    return Discriminator(**{"n_layers": 5, **kwargs})


# ------------------------------------------------------------------------------------------------------
# Loading the reference's checkpoints
# ------------------------------------------------------------------------------------------------------

def network_from_state_dict(state: dict[str, Tensor], what: str = "checkpoint") -> ResnetGenerator | Discriminator:
    """The generator or discriminator whose sizes ``state`` implies (``torch.nn.utils.spectral_norm`` keys
    ``weight_orig/_u/_v`` converted), weights loaded."""
    from .spade import convert_spectral_keys

    state = convert_spectral_keys(state)
    try:
        if "DownBlock.1.weight" in state:
            first, fc = state["DownBlock.1.weight"], state["FC.0.weight"]
            c = first.shape[0] * 4
            blocks = len({k.split(".")[0] for k in state if k.startswith("UpBlock1_")})
            light = fc.shape[1] == c
            side = round((fc.shape[1] // c) ** 0.5) * 4
            out = state[f"UpBlock2.{5 * 2 + 1}.weight"].shape[0]
            net = ResnetGenerator(first.shape[1], out, first.shape[0], blocks, 256 if light else side, light)
        else:
            convs = sorted(int(m.group(1)) for k in state
                           if (m := re.fullmatch(r"model\.(\d+)\.parametrizations\.weight\.original", k)))
            first = state["model.1.parametrizations.weight.original"]
            net = Discriminator(first.shape[1], first.shape[0], len(convs) + 1)
    except KeyError as exc:
        raise WeightsError(f"{what}: not a U-GAT-IT generator or discriminator (no {exc.args[0]})") from None
    return load_strict(net, state, what).eval()


def load_ugatit(path: str | os.PathLike) -> dict[str, ResnetGenerator | Discriminator]:
    """The networks of znxlwm/UGATIT-pytorch's ``*_params_*.pt`` (those present of genA2B, genB2A, disGA,
    disGB, disLA, disLB), read with ``torch.load(weights_only=True)``."""
    obj = torch_load(path, "a U-GAT-IT checkpoint (*_params_*.pt)")
    if not (isinstance(obj, dict) and any(isinstance(obj.get(n), dict) for n in NETWORKS)):
        raise WeightsError(f"{path}: not a U-GAT-IT checkpoint (a dict of {', '.join(NETWORKS)} state dicts)")
    return {n: network_from_state_dict(obj[n], f"{path} ({n})") for n in NETWORKS if isinstance(obj.get(n), dict)}
