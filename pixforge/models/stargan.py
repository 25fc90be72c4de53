"""StarGAN (Choi et al. 2018) in the layout of yunjey/stargan, so that its checkpoints (``{iters}-G.ckpt``,
``{iters}-D.ckpt``: bare state dicts) load by key (:func:`load_stargan`).

* ``stargan-generator``: the target-domain label (N, c_dim) is tiled over the image and concatenated to it; 7x7
  conv, two 4x4 stride-2 convs, ``repeat_num`` (6) residual blocks, two 4x4 stride-2 transposed convs, 7x7 conv,
  tanh; affine instance norm, no conv biases. Defaults: the CelebA model (conv_dim 64, c_dim 5).
* ``stargan-discriminator``: ``repeat_num`` (6) 4x4 stride-2 convs (64..2048, LeakyReLU 0.01), then two heads: a
  3x3 conv to one PatchGAN map (real/fake, WGAN-GP) and a conv over the whole remaining map to ``c_dim`` domain
  logits (the auxiliary classifier). Defaults: 128 px.

The reference's instance norms track running statistics but its test script never calls ``eval()``: images
are always normalised with their own statistics (:class:`InstanceNormKeepingStats`, which keeps the buffers so
the checkpoints load).
"""
from __future__ import annotations

import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ..registry import ARCHS
from ..weights import load_strict, torch_load

Tensor = torch.Tensor


class InstanceNormKeepingStats(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d(affine=True, track_running_stats=True)`` (same parameters and buffers; the buffers
    still update while training) that normalises with each image's own statistics in ``eval()`` mode too."""

    def __init__(self, num_features: int):
        super().__init__(num_features, affine=True, track_running_stats=True)

    def forward(self, x: Tensor) -> Tensor:
        return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, True,
                               self.momentum if self.training else 0.0, self.eps)


class ResidualBlock(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim_in, dim_out, 3, 1, 1, bias=False), InstanceNormKeepingStats(dim_out), nn.ReLU(True),
            nn.Conv2d(dim_out, dim_out, 3, 1, 1, bias=False), InstanceNormKeepingStats(dim_out))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.main(x)


def tile_labels(x: Tensor, c: Tensor) -> Tensor:
    """``x`` (N, C, H, W) with the labels ``c`` (N, c_dim) appended as constant channels."""
    return torch.cat([x, c.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)


@ARCHS.register("stargan-generator", family="translation", guided=True, input=((3, 128, 128), (5,)),
                description="StarGAN generator: image + tiled domain label, 2 downsamplings, 6 residual blocks")
class Generator(nn.Module):
    """``forward(x, c)``: x (N, channels, H, W) in [-1, 1], c (N, c_dim) target-domain labels (one-hot, or
    multi-hot attributes) -> (N, channels, H, W). H, W: multiples of 4."""

    size_multiple = 4

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6, channels: int = 3):
        super().__init__()
        self.c_dim, self.in_channels = c_dim, channels
        layers = [nn.Conv2d(channels + c_dim, conv_dim, 7, 1, 3, bias=False), InstanceNormKeepingStats(conv_dim),
                  nn.ReLU(True)]
        dim = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), InstanceNormKeepingStats(dim * 2), nn.ReLU(True)]
            dim *= 2
        layers += [ResidualBlock(dim, dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False), InstanceNormKeepingStats(dim // 2),
                       nn.ReLU(True)]
            dim //= 2
        layers += [nn.Conv2d(dim, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.main(tile_labels(x, c))


@ARCHS.register("stargan-discriminator", family="translation", guided=True, input=(3, 128, 128),
                description="StarGAN discriminator: 6 stride-2 convs, PatchGAN real/fake map + domain classifier")
class Discriminator(nn.Module):
    """``forward(x)`` -> (real/fake map (N, 1, H/64, W/64), domain logits (N, c_dim)); x must be
    ``image_size`` square (the classifier's kernel covers the whole last feature map)."""

    def __init__(self, image_size: int = 128, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6,
                 channels: int = 3):
        super().__init__()
        layers = [nn.Conv2d(channels, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(dim, c_dim, image_size // 2 ** repeat_num, bias=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.main(x)
        return self.conv1(h), self.conv2(h).flatten(1)


# ------------------------------------------------------------------------------------------------------
# Loading the reference's checkpoints
# ------------------------------------------------------------------------------------------------------

def network_from_state_dict(state: dict[str, Tensor], what: str = "checkpoint") -> Generator | Discriminator:
    """The StarGAN generator or discriminator whose sizes ``state`` (the reference's ``*-G.ckpt`` /
    ``*-D.ckpt``) implies, weights loaded."""
    try:
        if "conv2.weight" in state:
            convs = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"main\.(\d+)\.weight", k)))
            first, head = state["main.0.weight"], state["conv2.weight"]
            net = Discriminator(head.shape[-1] * 2 ** len(convs), first.shape[0], head.shape[0], len(convs),
                                first.shape[1])
        else:
            first = state["main.0.weight"]
            blocks = {m.group(1) for k in state if (m := re.fullmatch(r"main\.(\d+)\.main\.0\.weight", k))}
            last = max(int(m.group(1)) for k in state if (m := re.fullmatch(r"main\.(\d+)\.weight", k)))
            channels = state[f"main.{last}.weight"].shape[0]
            net = Generator(first.shape[0], first.shape[1] - channels, len(blocks), channels)
    except (KeyError, ValueError) as exc:
        raise WeightsError(f"{what}: not a StarGAN generator or discriminator ({exc})") from None
    return load_strict(net, state, what).eval()


def load_stargan(path: str | os.PathLike) -> Generator | Discriminator:
    """A network from yunjey/stargan's ``{iters}-G.ckpt`` or ``{iters}-D.ckpt`` (``torch.load(weights_only=True)``)."""
    state = torch_load(path, "a StarGAN checkpoint (*-G.ckpt)")
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a StarGAN state dict")
    return network_from_state_dict(state, str(path))
