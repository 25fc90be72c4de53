"""GAN generators and discriminators, and the registry the trainer builds them from.

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
both G and D.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

Tensor = torch.Tensor


# ------------------------------------------------------------------------------------------------ pieces
class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine part, then per-class γ (initialised 1) and β (initialised 0)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.bn(x) * self.gamma(y)[:, :, None, None] + self.beta(y)[:, :, None, None]


class Norm2d(nn.Module):
    """Plain BatchNorm2d, or conditional BN when the model is class-conditional."""

    def __init__(self, channels: int, num_classes: int = 0):
        super().__init__()
        self.norm = ConditionalBatchNorm2d(channels, num_classes) if num_classes else nn.BatchNorm2d(channels)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.norm(x, y) if isinstance(self.norm, ConditionalBatchNorm2d) else self.norm(x)


class SelfAttention(nn.Module):
    """SAGAN self-attention: x + γ·v(softmax(f(x)ᵀg(x)) h(x)), C̄ = C/8, γ initialised to 0."""

    def __init__(self, channels: int):
        super().__init__()
        inner = max(1, channels // 8)
        self.f = nn.Conv2d(channels, inner, 1, bias=False)
        self.g = nn.Conv2d(channels, inner, 1, bias=False)
        self.h = nn.Conv2d(channels, inner, 1, bias=False)
        self.v = nn.Conv2d(inner, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        n, c, hh, ww = x.shape
        q, k, val = self.f(x).flatten(2), self.g(x).flatten(2), self.h(x).flatten(2)  # (N, C̄, HW)
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (N, HW, HW): row i attends over positions j
        out = (val @ attn.transpose(1, 2)).view(n, -1, hh, ww)
        return x + self.gamma * self.v(out)


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
class DCGANGenerator(nn.Module):
    """Radford et al.: z (as a 1x1 map) -> transposed convs doubling the resolution -> tanh."""

    def __init__(self, z_dim: int = 100, channels: int = 3, size: int = 64, width: int = 64, num_classes: int = 0,
                 attention: bool = False):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        base, k = _stages(size)
        ch = width * 2 ** (k - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, ch, base, 1, 0, bias=False), Norm2d(ch, num_classes),
                                   nn.ReLU(True)]
        for i in range(1, k):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), Norm2d(ch // 2, num_classes),
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


class DCGANDiscriminator(nn.Module):
    """Strided convs halving the resolution, LeakyReLU(0.2), BN except at the input; a last conv to 1 logit."""

    def __init__(self, channels: int = 3, size: int = 64, width: int = 64, num_classes: int = 0,
                 attention: bool = False, batch_norm: bool = True):
        super().__init__()
        base, k = _stages(size)
        ch = width
        layers: list[nn.Module] = [nn.Conv2d(channels, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        if attention:
            layers.append(SelfAttention(ch))
        for _ in range(1, k):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False)]
            layers += [nn.BatchNorm2d(ch * 2)] if batch_norm else []
            layers += [nn.LeakyReLU(0.2, True)]
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


def _dcgan_init(m: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02), BN γ ~ N(1, 0.02), β = 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d) and m.affine:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# ------------------------------------------------------------------------------------------------ ResNet
class UpBlock(nn.Module):
    """SNGAN generator block: BN-ReLU-upsample-conv3-BN-ReLU-conv3, plus upsample-conv1 shortcut."""

    def __init__(self, cin: int, cout: int, num_classes: int = 0):
        super().__init__()
        self.n1, self.n2 = Norm2d(cin, num_classes), Norm2d(cout, num_classes)
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = F.interpolate(F.relu(self.n1(x, y)), scale_factor=2)
        h = self.c2(F.relu(self.n2(self.c1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2))


class DownBlock(nn.Module):
    """SNGAN discriminator block: (ReLU)-conv3-ReLU-conv3-avgpool, plus conv1-avgpool shortcut."""

    def __init__(self, cin: int, cout: int, first: bool = False):
        super().__init__()
        self.first = first
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.c2(F.relu(self.c1(h))), 2)
        s = F.avg_pool2d(self.skip(x), 2) if self.first else self.skip(F.avg_pool2d(x, 2))
        return h + s


class ResNetGenerator(nn.Module):
    def __init__(self, z_dim: int = 128, channels: int = 3, size: int = 32, width: int = 64, num_classes: int = 0,
                 attention: bool = False):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.base, k = _stages(size)
        self.ch = width * 4
        self.linear = nn.Linear(z_dim, self.ch * self.base ** 2)
        blocks: list[nn.Module] = []
        for i in range(k):
            blocks.append(UpBlock(self.ch, self.ch, num_classes))
            if attention and i == k - 2:
                blocks.append(SelfAttention(self.ch))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.BatchNorm2d(self.ch)
        self.out = nn.Conv2d(self.ch, channels, 3, 1, 1)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        x = self.linear(z).view(z.shape[0], self.ch, self.base, self.base)
        for block in self.blocks:
            x = _call(block, x, y)
        return torch.tanh(self.out(F.relu(self.norm(x))))


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


# ------------------------------------------------------------------------------------------------ registry
GENERATORS = {"mlp": MLPGenerator, "dcgan": DCGANGenerator, "resnet": ResNetGenerator}
DISCRIMINATORS = {"mlp": MLPDiscriminator, "dcgan": DCGANDiscriminator, "resnet": ResNetDiscriminator}


def _lookup(table: dict, name: str, what: str):
    try:
        return table[name]
    except KeyError:
        raise ConfigError(f"unknown {what} architecture {name!r}; known: {', '.join(table)}") from None


def create_generator(name: str, z_dim: int, shape: tuple[int, ...], width: int = 64, num_classes: int = 0,
                     attention: bool = False, depth: int = 3) -> nn.Module:
    """A generator for samples of ``shape``: (D,) vectors for ``mlp``, (C, H, W) images otherwise."""
    cls = _lookup(GENERATORS, name, "generator")
    if name == "mlp":
        return cls(z_dim, math.prod(shape), width, depth, num_classes)
    _check_square(shape)
    return cls(z_dim, shape[0], shape[1], width, num_classes, attention)


def create_discriminator(name: str, shape: tuple[int, ...], width: int = 64, num_classes: int = 0,
                         attention: bool = False, depth: int = 3) -> nn.Module:
    cls = _lookup(DISCRIMINATORS, name, "discriminator")
    if name == "mlp":
        return cls(math.prod(shape), width, depth, num_classes)
    _check_square(shape)
    return cls(shape[0], shape[1], width, num_classes, attention)


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
