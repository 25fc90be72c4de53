"""BicycleGAN (Zhu et al. 2017, "Toward Multimodal Image-to-Image Translation") in the layout of
junyanz/BicycleGAN, so that its ``latest_net_G.pth`` / ``latest_net_E.pth`` load by key
(:func:`generator_from_state_dict`, :func:`encoder_from_state_dict`):

* ``bicyclegan-generator`` (``G_Unet_add_all``): a U-Net whose every downsampling block sees the latent code
  ``z`` tiled over the image and concatenated to its input (``UnetBlock_with_z``: ``down`` = LeakyReLU(0.2),
  4x4 stride-2 conv, norm; ``up`` = ReLU, 4x4 stride-2 transposed conv, norm, dropout in the 8·ngf blocks; the
  outermost block ends in tanh). Widths ngf, 2, 4, 8, 8, ... x ngf from the outside in; ``num_downs`` halvings
  (8 for 256 px: the reference's ``unet_256``; fewer than 6, which the reference cannot build, continue the
  same rule). ``where_add="input"`` (``G_Unet_add_input``) tiles ``z`` over the input image only: the same
  levels, none of the inner ones seeing ``z``; this module's key layout, into which the reference's ``UnetBlock``
  files are renamed on loading (:func:`unet_block_keys`).
* ``bicyclegan-encoder`` (``E_ResNet``): a 4x4 stride-2 conv, ``n_blocks - 1`` residual blocks that halve the
  size (``BasicBlock``: norm, LeakyReLU, 3x3 conv, norm, LeakyReLU, 3x3 conv + 2x2 average pool; shortcut 2x2
  average pool + 1x1 conv), LeakyReLU, an 8x8 average pool, then ``fc`` (the mean) and ``fcVar`` (the log
  variance) of ``z``. The pool fixes the input size to ``8 * 2^n_blocks`` (5 blocks: 256 px, ``resnet_256``).
* ``bicyclegan-discriminator`` (``D_NLayersMulti``): ``num_D`` PatchGANs (3 layers, bias everywhere) on the image
  and its 2x average-pooled versions, the i-th with ``ndf / 2^i`` filters; a list of outputs (LSGAN).

Defaults are the reference's edges2shoes settings (nz 8, ngf/nef/ndf 64, instance norm without affine
parameters, ReLU in G and LeakyReLU in E/D, transposed-conv upsampling, dropout, Xavier-normal initialisation
with gain 0.02).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import WeightsError
from ..registry import ARCHS
from ..weights import load_strict
from .pix2pix import init_weights, patch_layers, reference_norm

Tensor = torch.Tensor
WHERE_ADD = ("all", "input")  # the reference's --where_add: z at every U-Net level, or with the input only


def _norm(norm: str, channels: int) -> list[nn.Module]:
    return [] if norm == "none" else [reference_norm(norm, channels)]


def tile(z: Tensor, x: Tensor) -> Tensor:
    """``x`` with ``z`` (N, nz) tiled over its positions as extra channels."""
    return torch.cat([x, z[:, :, None, None].expand(-1, -1, *x.shape[-2:])], 1)


class UnetBlockWithZ(nn.Module):
    """One U-Net level with ``z`` concatenated to its input (the reference's ``UnetBlock_with_z``)."""

    def __init__(self, input_nc: int, outer_nc: int, inner_nc: int, nz: int = 0, submodule: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, norm: str = "instance", use_dropout: bool = False):
        super().__init__()
        self.outermost, self.innermost, self.nz = outermost, innermost, nz
        downconv = nn.Conv2d(input_nc + nz, inner_nc, 4, 2, 1)
        if outermost:
            down = [downconv]
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1), nn.Tanh()]
        elif innermost:
            down = [nn.LeakyReLU(0.2, True), downconv]
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1), *_norm(norm, outer_nc)]
        else:
            down = [nn.LeakyReLU(0.2, True), downconv, *_norm(norm, inner_nc)]
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1), *_norm(norm, outer_nc)]
            up += [nn.Dropout(0.5)] if use_dropout else []
        self.down = nn.Sequential(*down)
        self.submodule = submodule
        self.up = nn.Sequential(*up)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        h = self.down(tile(z, x) if self.nz > 0 else x)
        h = self.up(h if self.innermost else self.submodule(h, z))
        return h if self.outermost else torch.cat([h, x], 1)


@ARCHS.register("bicyclegan-generator", family="translation", guided=True, input=((3, 256, 256), (8,)),
                description="BicycleGAN G_Unet_add_all: U-Net with the latent code (nz 8) added at every level")
class UnetGenerator(nn.Module):
    """``forward(x, z)``: (N, input_nc, H, W) and (N, nz) -> (N, output_nc, H, W) in [-1, 1]."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, nz: int = 8, num_downs: int = 8, ngf: int = 64,
                 norm: str = "instance", use_dropout: bool = False, where_add: str = "all"):
        super().__init__()
        if where_add not in WHERE_ADD:
            raise ValueError(f"where_add must be one of {', '.join(WHERE_ADD)}, got {where_add!r}")
        self.in_channels, self.nz, self.num_downs, self.where_add = input_nc, nz, num_downs, where_add
        self.size_multiple = 2 ** num_downs
        widths = [ngf * min(2 ** i, 8) for i in range(num_downs)]  # inner width of each level, outermost first
        block = None
        for level in reversed(range(num_downs)):
            inner, outer = widths[level], widths[level - 1] if level else output_nc
            block = UnetBlockWithZ(widths[level - 1] if level else input_nc, outer, inner,
                                   nz if where_add == "all" or level == 0 else 0, block,
                                   outermost=level == 0, innermost=level == num_downs - 1, norm=norm,
                                   use_dropout=use_dropout and 0 < level < num_downs - 1 and outer == inner == 8 * ngf)
        self.model = block
        init_weights(self, 0.02, "xavier")

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.model(x, z)


class BasicBlock(nn.Module):
    """The encoder's residual block: halves the size, ``inplanes -> outplanes`` channels."""

    def __init__(self, inplanes: int, outplanes: int, norm: str = "instance"):
        super().__init__()
        self.conv = nn.Sequential(
            *_norm(norm, inplanes), nn.LeakyReLU(0.2, True), nn.Conv2d(inplanes, inplanes, 3, 1, 1),
            *_norm(norm, inplanes), nn.LeakyReLU(0.2, True),
            nn.Sequential(nn.Conv2d(inplanes, outplanes, 3, 1, 1), nn.AvgPool2d(2, 2)))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(inplanes, outplanes, 1, 1, 0))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) + self.shortcut(x)


@ARCHS.register("bicyclegan-encoder", family="translation", guided=True, input=(3, 256, 256),
                description="BicycleGAN E_ResNet: residual encoder of B to the mean and log variance of z")
class ResNetEncoder(nn.Module):
    """``forward(b) -> (mu, logvar)``, each (N, nz); ``b`` must be ``input_size`` px square."""

    def __init__(self, input_nc: int = 3, nz: int = 8, nef: int = 64, n_blocks: int = 5, norm: str = "instance"):
        super().__init__()
        if n_blocks < 2:
            raise ValueError("n_blocks must be at least 2 (the reference's smallest, resnet_128, has 4)")
        self.in_channels, self.nz, self.input_size = input_nc, nz, 8 * 2 ** n_blocks
        layers: list[nn.Module] = [nn.Conv2d(input_nc, nef, 4, 2, 1)]
        for n in range(1, n_blocks):
            layers.append(BasicBlock(nef * min(4, n), nef * min(4, n + 1), norm))
        layers += [nn.LeakyReLU(0.2, True), nn.AvgPool2d(8)]
        self.conv = nn.Sequential(*layers)
        width = nef * min(4, n_blocks)
        self.fc = nn.Sequential(nn.Linear(width, nz))
        self.fcVar = nn.Sequential(nn.Linear(width, nz))  # noqa: N815 (the reference's name)
        init_weights(self, 0.02, "xavier")

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        flat = self.conv(x).flatten(1)
        return self.fc(flat), self.fcVar(flat)


@ARCHS.register("bicyclegan-discriminator", family="translation", guided=True, input=(3, 256, 256),
                description="BicycleGAN D_NLayersMulti: 2 PatchGANs at 1x and 1/2 scale, LSGAN")
class MultiscaleDiscriminator(nn.Module):
    """``forward(x)`` -> one patch map per scale (a tensor when ``num_D`` is 1, as the reference)."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance", num_D: int = 2):
        super().__init__()
        self.num_D = num_D

        def layers(width: int) -> nn.Sequential:
            return nn.Sequential(*(m for group in patch_layers(input_nc, width, n_layers, norm, bias=True)
                                   for m in group))

        if num_D == 1:
            self.model = layers(ndf)
        else:
            self.add_module("model_0", layers(ndf))
            self.down = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)
            for i in range(1, num_D):
                self.add_module(f"model_{i}", layers(int(round(ndf / 2 ** i))))
        init_weights(self, 0.02, "xavier")

    def forward(self, x: Tensor) -> Tensor | list[Tensor]:
        if self.num_D == 1:
            return self.model(x)
        outputs = []
        for i in range(self.num_D):
            outputs.append(getattr(self, f"model_{i}")(x))
            if i != self.num_D - 1:
                x = self.down(x)
        return outputs


def as_list(outputs: Tensor | list[Tensor]) -> list[Tensor]:
    return outputs if isinstance(outputs, list) else [outputs]


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """``-0.5 * sum(1 + logvar - mu^2 - exp(logvar))``: KL(N(mu, exp(logvar)) || N(0, I)) summed over the batch
    and the code (the reference sums; its weight 0.01 assumes that)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """``z = mu + eps * exp(logvar / 2)``, ``eps`` ~ N(0, I) from the global RNG."""
    return torch.randn_like(mu) * logvar.mul(0.5).exp() + mu


# ------------------------------------------------------------------------------------------------------
# Released checkpoints
# ------------------------------------------------------------------------------------------------------

def _depth(state: dict[str, Tensor], prefix: str = "model.") -> int:
    """The U-Net's levels: how deep ``submodule.`` nests."""
    return 1 + max(k[len(prefix):].count("submodule.") for k in state if k.startswith(prefix))


def unet_block_keys(num_downs: int) -> dict[str, str]:
    """This module's ``where_add="input"`` generator key -> the reference's ``G_Unet_add_input`` key (instance
    norm, transposed-conv upsampling). The reference nests ``UnetBlock``s whose ``model`` Sequential holds, outermost:
    conv 0, submodule 1, ReLU, transposed conv 3, tanh; inner levels: LeakyReLU, conv 1, norm, submodule 3, ReLU,
    transposed conv 5, norm (, dropout); innermost: LeakyReLU, conv 1, ReLU, transposed conv 3, norm."""
    keys = {}
    for level in range(num_downs):
        ours = "model." + "submodule." * level
        ref = "model.model." + "1.model." * (level > 0) + "3.model." * max(level - 1, 0)
        inner = 0 < level < num_downs - 1
        for a, b in ((f"down.{int(level > 0)}", str(int(level > 0))), ("up.1", "5" if inner else "3")):
            keys.update({f"{ours}{a}.{p}": f"{ref}{b}.{p}" for p in ("weight", "bias")})
    return keys


def from_unet_block_layout(state: dict[str, Tensor], what: str) -> dict[str, Tensor]:
    """The reference's ``G_Unet_add_input`` state dict renamed to this module's layout; every key must be used."""
    depth = 1
    while f"model.model.1.model.{'3.model.' * (depth - 1)}1.weight" in state:  # level `depth`'s down conv
        depth += 1
    keys = unet_block_keys(depth)
    unused = sorted(set(state) - set(keys.values()))
    missing = [k for k in keys.values() if k not in state]
    if unused or missing:
        detail = f"unexpected {', '.join(unused[:3])}" if unused else f"lacks {missing[0]}"
        raise WeightsError(f"{what}: not a G_Unet_add_input with instance norm and transposed convs ({detail})")
    return {ours: state[ref] for ours, ref in keys.items()}


def generator_from_state_dict(state: dict[str, Tensor], what: str = "checkpoint", nz: int | None = None
                              ) -> UnetGenerator:
    """A G_Unet_add_all sized from the reference's ``latest_net_G.pth`` keys and shapes (eval mode); a generator
    whose inner levels take no code is a ``where_add="input"`` one (in this module's layout or the reference's
    ``UnetBlock`` one), whose code length ``nz`` (the encoder's output) must be given."""
    if "model.model.0.weight" in state:
        state = from_unet_block_layout(state, what)
    try:
        first, last = state["model.down.0.weight"], state["model.up.1.weight"]
        ngf = first.shape[0]
        inner_nz = state["model.submodule.down.1.weight"].shape[1] - ngf
    except KeyError as exc:
        raise WeightsError(f"{what}: not a BicycleGAN generator (no {exc.args[0]})") from None
    if not inner_nz and nz is None:
        raise WeightsError(f"{what}: a generator taking z with its input only (where_add=input); its code length "
                           "comes from the encoder: give the run folder (or put latest_net_E.pth beside the file)")
    nz = inner_nz or nz
    norm = "instance"  # the released models' (no parameters, nothing in the state dict)
    net = UnetGenerator(first.shape[1] - nz, last.shape[1], nz, _depth(state), ngf, norm,
                        where_add="all" if inner_nz else "input")
    return load_strict(net, state, what).eval()


def encoder_from_state_dict(state: dict[str, Tensor], what: str = "checkpoint") -> ResNetEncoder:
    """An E_ResNet sized from the reference's ``latest_net_E.pth`` (eval mode)."""
    try:
        first, fc = state["conv.0.weight"], state["fc.0.weight"]
        blocks = 1 + len({k.split(".")[1] for k in state if k.startswith("conv.") and ".shortcut." in k})
        net = ResNetEncoder(first.shape[1], fc.shape[0], first.shape[0], blocks)
    except (KeyError, ValueError) as exc:
        raise WeightsError(f"{what}: not a BicycleGAN encoder ({exc})") from None
    return load_strict(net, state, what).eval()


def num_downs_for(size: int) -> int:
    """U-Net halvings that take ``size`` px to 1 (the reference: 8 for 256 px)."""
    return int(math.log2(size))
