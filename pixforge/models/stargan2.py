"""StarGAN v2 (Choi et al. 2020) in the layout of clovaai/stargan-v2, so that its checkpoints
(``{step:06d}_nets_ema.ckpt`` = ``{module name: state dict}``) load by key (:func:`load_nets`).

* ``stargan2-generator``: 3x3 conv from RGB, down-sampling residual blocks with instance norm (widths
  2^14 / img_size doubling up to 512), two bottleneck blocks, then mirrored AdaIN residual blocks whose scale
  and shift come from the style code (``1 + gamma``), nearest upsampling, and IN + LeakyReLU + 1x1 conv to RGB.
  Residual sums are divided by sqrt(2). ``w_hpf > 0`` (CelebA-HQ) adds one more down/up level, drops the AdaIN
  blocks' shortcuts and, given face masks, adds high-pass-filtered encoder features (the masks come from a
  face-alignment network, FAN, that pixforge does not ship: without masks that path is skipped).
* ``stargan2-mapping``: latent z (16) -> 4 shared linear layers (512, ReLU) -> one 4-layer head per domain -> style
  (64).
* ``stargan2-style-encoder``: the discriminator's trunk (down-sampling residual blocks without norm, 4x4 conv)
  -> one linear head per domain -> style (64).
* ``stargan2-discriminator``: the same trunk, then a 1x1 conv to one real/fake logit per domain (multi-task D).

``y`` (the domain index, (N,) int64) selects each sample's head; without ``y`` the mapping network, style encoder
and discriminator return every domain's output, (N, num_domains, ...). Defaults: the reference's defaults
(256 px, style 64, latent 16, 2 domains: CelebA-HQ; AFHQ uses ``num_domains=3, w_hpf=0``).
"""
from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ..registry import ARCHS
from ..weights import load_strict, torch_load

Tensor = torch.Tensor
MODULES = ("generator", "mapping_network", "style_encoder", "discriminator")


def _pick(out: Tensor, y: Tensor | None) -> Tensor:
    """(N, domains, ...) -> each sample's domain entry, or all of them when ``y`` is None."""
    return out if y is None else out[torch.arange(len(y), device=out.device), y]


class ResBlk(nn.Module):
    """``(shortcut(x) + residual(x)) / sqrt(2)``; residual = [IN] act conv [avgpool] [IN] act conv."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False):
        super().__init__()
        self.normalize, self.downsample = normalize, downsample
        self.learned_sc = dim_in != dim_out
        self.actv = nn.LeakyReLU(0.2)
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: Tensor) -> Tensor:
        x = self.conv1x1(x) if self.learned_sc else x
        return F.avg_pool2d(x, 2) if self.downsample else x

    def _residual(self, x: Tensor) -> Tensor:
        x = self.conv1(self.actv(self.norm1(x) if self.normalize else x))
        x = F.avg_pool2d(x, 2) if self.downsample else x
        return self.conv2(self.actv(self.norm2(x) if self.normalize else x))

    def forward(self, x: Tensor) -> Tensor:
        return (self._shortcut(x) + self._residual(x)) / math.sqrt(2)


class AdaIN(nn.Module):
    """Instance norm, then ``(1 + gamma) * x + beta`` with (gamma, beta) = ``fc(style)``."""

    def __init__(self, style_dim: int, num_features: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, style_dim: int = 64, w_hpf: float = 0, upsample: bool = False):
        super().__init__()
        self.w_hpf, self.upsample = w_hpf, upsample
        self.learned_sc = dim_in != dim_out
        self.actv = nn.LeakyReLU(0.2)
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x
        return self.conv1x1(x) if self.learned_sc else x

    def _residual(self, x: Tensor, s: Tensor) -> Tensor:
        x = self.actv(self.norm1(x, s))
        x = F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x
        return self.conv2(self.actv(self.norm2(self.conv1(x), s)))

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        out = self._residual(x, s)
        return (out + self._shortcut(x)) / math.sqrt(2) if self.w_hpf == 0 else out


class HighPass(nn.Module):
    """A depthwise 3x3 Laplacian-like filter divided by ``w_hpf``."""

    def __init__(self, w_hpf: float):
        super().__init__()
        kernel = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]) / w_hpf
        self.register_buffer("filter", kernel, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.filter.to(x.dtype).expand(x.shape[1], 1, 3, 3), padding=1, groups=x.shape[1])


@ARCHS.register("stargan2-generator", family="translation", guided=True, input=((3, 256, 256), (64,)),
                description="StarGAN v2 generator: IN residual encoder, AdaIN residual decoder (style 64)")
class Generator(nn.Module):
    """``forward(x, s, masks=None)``: x (N, 3, H, W) in [-1, 1], s (N, style_dim) -> (N, 3, H, W)."""

    def __init__(self, img_size: int = 256, style_dim: int = 64, max_conv_dim: int = 512, w_hpf: float = 1,
                 channels: int = 3, dim_in: int = 0):
        super().__init__()
        dim_in = dim_in or 2 ** 14 // img_size
        self.img_size, self.style_dim, self.in_channels = img_size, style_dim, channels
        self.from_rgb = nn.Conv2d(channels, dim_in, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(nn.InstanceNorm2d(dim_in, affine=True), nn.LeakyReLU(0.2),
                                    nn.Conv2d(dim_in, channels, 1, 1, 0))
        repeat_num = int(math.log2(img_size)) - 4 + (1 if w_hpf > 0 else 0)
        self.size_multiple = 2 ** repeat_num
        dim_out = dim_in
        for _ in range(repeat_num):
            dim_out = min(dim_in * 2, max_conv_dim)
            self.encode.append(ResBlk(dim_in, dim_out, normalize=True, downsample=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_in, style_dim, w_hpf, upsample=True))
            dim_in = dim_out
        for _ in range(2):
            self.encode.append(ResBlk(dim_out, dim_out, normalize=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_out, style_dim, w_hpf))
        if w_hpf > 0:
            self.hpf = HighPass(w_hpf)

    def forward(self, x: Tensor, s: Tensor, masks: tuple[Tensor, Tensor] | None = None) -> Tensor:
        x = self.from_rgb(x)
        cache = {}
        for block in self.encode:
            if masks is not None and x.shape[2] in (32, 64, 128):
                cache[x.shape[2]] = x
            x = block(x)
        for block in self.decode:
            x = block(x, s)
            if masks is not None and x.shape[2] in (32, 64, 128):
                mask = F.interpolate(masks[0] if x.shape[2] == 32 else masks[1], size=x.shape[2], mode="bilinear")
                x = x + self.hpf(mask * cache[x.shape[2]])
        return self.to_rgb(x)


@ARCHS.register("stargan2-mapping", family="translation", guided=True, input=(16,),
                description="StarGAN v2 mapping network: latent 16 -> style 64 per domain (4 shared + 4 per domain)")
class MappingNetwork(nn.Module):
    def __init__(self, latent_dim: int = 16, style_dim: int = 64, num_domains: int = 2, hidden: int = 512):
        super().__init__()
        self.latent_dim, self.style_dim, self.num_domains = latent_dim, style_dim, num_domains
        layers: list[nn.Module] = [nn.Linear(latent_dim, hidden), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, style_dim))
            for _ in range(num_domains))

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.shared(z)
        return _pick(torch.stack([head(h) for head in self.unshared], 1), y)


def _trunk(img_size: int, max_conv_dim: int, channels: int, dim_in: int) -> tuple[list[nn.Module], int]:
    """The style encoder's and discriminator's shared layers: conv, down-sampling ResBlks to 4x4, act, 4x4 conv, act."""
    dim_in = dim_in or 2 ** 14 // img_size
    blocks: list[nn.Module] = [nn.Conv2d(channels, dim_in, 3, 1, 1)]
    dim_out = dim_in
    for _ in range(int(math.log2(img_size)) - 2):
        dim_out = min(dim_in * 2, max_conv_dim)
        blocks.append(ResBlk(dim_in, dim_out, downsample=True))
        dim_in = dim_out
    blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(0.2)]
    return blocks, dim_out


@ARCHS.register("stargan2-style-encoder", family="translation", guided=True, input=(3, 256, 256),
                description="StarGAN v2 style encoder: residual trunk -> style 64 per domain")
class StyleEncoder(nn.Module):
    def __init__(self, img_size: int = 256, style_dim: int = 64, num_domains: int = 2, max_conv_dim: int = 512,
                 channels: int = 3, dim_in: int = 0):
        super().__init__()
        blocks, dim = _trunk(img_size, max_conv_dim, channels, dim_in)
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList(nn.Linear(dim, style_dim) for _ in range(num_domains))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.shared(x).flatten(1)
        return _pick(torch.stack([head(h) for head in self.unshared], 1), y)


@ARCHS.register("stargan2-discriminator", family="translation", guided=True, input=(3, 256, 256),
                description="StarGAN v2 multi-task discriminator: residual trunk -> one logit per domain")
class Discriminator(nn.Module):
    def __init__(self, img_size: int = 256, num_domains: int = 2, max_conv_dim: int = 512, channels: int = 3,
                 dim_in: int = 0):
        super().__init__()
        blocks, dim = _trunk(img_size, max_conv_dim, channels, dim_in)
        self.main = nn.Sequential(*blocks, nn.Conv2d(dim, num_domains, 1, 1, 0))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return _pick(self.main(x).flatten(1), y)


# ------------------------------------------------------------------------------------------------------
# Loading the reference's checkpoints
# ------------------------------------------------------------------------------------------------------

def _strip_module(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Keys without DataParallel's ``module.`` prefix."""
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _count(state: dict, prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def networks_from_state_dicts(states: dict[str, dict[str, Tensor]], what: str = "checkpoint",
                              w_hpf: float | None = None) -> dict[str, nn.Module]:
    """The networks of a ``{module name: state dict}`` checkpoint, sized from the tensors, weights loaded.

    Widths and depths are read off the tensors. The generator's high-pass option leaves no trace in its keys:
    with ``w_hpf`` None, the reference's rule (first width = 2^14 / img_size) says whether the file has the extra
    level of w_hpf > 0, whose value (the filter's scale) is not stored either: 1, CelebA-HQ's, is used then.
    Give ``w_hpf`` (0 for the AFHQ models and pixforge's own runs) for generators of other widths.
    """
    nets: dict[str, nn.Module] = {}
    try:
        for name, s in states.items():
            s = _strip_module(s)
            if name == "generator":
                first = s["from_rgb.weight"]
                levels = _count(s, "encode.") - 2
                if w_hpf is None:  # the reference's widths: img_size = 2^14 / the first width
                    hpf = levels > int(math.log2(2 ** 14 // first.shape[0])) - 4
                    w = 1 if hpf else 0
                else:
                    w = w_hpf
                img = 2 ** (levels + 4 - (1 if w > 0 else 0))
                widths = [s[f"encode.{i}.conv2.weight"].shape[0] for i in range(levels + 2)]
                nets[name] = Generator(img, s["decode.0.norm1.fc.weight"].shape[1], max(widths), w, first.shape[1],
                                       first.shape[0])
            elif name == "mapping_network":
                nets[name] = MappingNetwork(s["shared.0.weight"].shape[1], s["unshared.0.6.weight"].shape[0],
                                            _count(s, "unshared."), s["shared.0.weight"].shape[0])
            elif name in ("style_encoder", "discriminator"):
                trunk = "shared." if name == "style_encoder" else "main."
                first = s[trunk + "0.weight"]
                img = 2 ** (sum(1 for k in s if k.startswith(trunk) and k.endswith(".conv2.weight")) + 2)
                width = max(v.shape[0] for k, v in s.items() if k.endswith("conv2.weight"))
                if name == "style_encoder":
                    nets[name] = StyleEncoder(img, s["unshared.0.weight"].shape[0], _count(s, "unshared."), width,
                                              first.shape[1], first.shape[0])
                else:
                    last = max(int(k.split(".")[1]) for k in s if k.startswith("main."))
                    nets[name] = Discriminator(img, s[f"main.{last}.weight"].shape[0], width, first.shape[1],
                                               first.shape[0])
    except KeyError as exc:
        raise WeightsError(f"{what}: not a StarGAN v2 checkpoint (no {exc.args[0]})") from None
    for name, net in nets.items():
        load_strict(net, _strip_module(states[name]), f"{what} ({name})").eval()
    return nets


def load_nets(path: str | os.PathLike, w_hpf: float | None = None) -> dict[str, nn.Module]:
    """The networks of clovaai/stargan-v2's ``*_nets_ema.ckpt`` (or ``*_nets.ckpt``): ``{"generator",
    "mapping_network", "style_encoder"[, "discriminator"]}``, read with ``torch.load(weights_only=True)``; the
    face-alignment network (``fan``) of CelebA-HQ files is not loaded."""
    obj = torch_load(path, "a StarGAN v2 checkpoint (*_nets_ema.ckpt)")
    if not (isinstance(obj, dict) and any(isinstance(obj.get(m), dict) for m in MODULES)):
        raise WeightsError(f"{path}: not a StarGAN v2 checkpoint (a dict of {', '.join(MODULES)} state dicts)")
    return networks_from_state_dicts({k: v for k, v in obj.items() if k in MODULES}, str(path), w_hpf)
