"""BigGAN (Brock et al. 2019) at 32, 64 and 128 px: ``biggan-generator`` and ``biggan-discriminator``, with
the channel plans of ajbrock/BigGAN-PyTorch (``width`` is its ``ch``).

Generator: z is split into one chunk per up-block plus one for the 4x4 input (hierarchical latents); every
block's batch norms take their gain and bias from a linear map of [shared class embedding, the block's z chunk]
(:class:`~pixforge.nn.norms.LinearConditionalBatchNorm2d`), the embedding being one table shared by all blocks.
Blocks are SNGAN's up-blocks (:class:`~pixforge.models.gan.UpBlock`); spectral norm on every conv and linear
layer of G, as in the paper. Discriminator: SNGAN down-blocks (the last ones without pooling), global sum
pooling and the projection head; the GAN task puts spectral norm on it. ``attention`` adds self-attention
(values of C/2 channels, as BigGAN's) at half the output resolution in both. Train with ``pixforge train gan --arch biggan --loss hinge
conditional=true ortho=1e-4 ema=0.9999``; sample with ``--truncation`` (BigGAN's resampling of large |z|).
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..nn.attention import SelfAttention
from ..nn.norms import LinearConditionalBatchNorm2d
from ..nn.spectral import apply_spectral_norm
from ..registry import ARCHS
from .gan import DownBlock, ProjectionHead, UpBlock

Tensor = torch.Tensor

#: BigGAN-PyTorch's channel multipliers (times ``width``): G's block inputs and last output; D's block outputs
#: and how many of its blocks downsample
G_PLAN = {32: (4, 4, 4, 4), 64: (16, 16, 8, 4, 2), 128: (16, 16, 8, 4, 2, 1)}
D_PLAN = {32: ((4, 4, 4, 4), 2), 64: ((1, 2, 4, 8, 16), 4), 128: ((1, 2, 4, 8, 16, 16), 5)}


def _plan(plans: dict, size: int):
    if size not in plans:
        raise ConfigError(f"BigGAN is built for {', '.join(map(str, plans))} px images, not {size}; "
                          "resize the data with image_size=32 (or 64, 128)")
    return plans[size]


@ARCHS.register("biggan-generator", family="gan", input=("z_dim",),
                description="BigGAN generator (Brock et al. 2019): hierarchical z and shared class embedding into CBN")
class BigGANGenerator(nn.Module):
    def __init__(self, z_dim: int = 128, channels: int = 3, size: int = 32, width: int = 64, num_classes: int = 0,
                 attention: bool = False, norm: str = "batch", shared_dim: int = 128):
        super().__init__()
        plan = [m * width for m in _plan(G_PLAN, size)]
        blocks = len(plan) - 1
        if z_dim % (blocks + 1):
            raise ConfigError(f"BigGAN at {size} px splits z into {blocks + 1} equal chunks: z_dim must be a multiple "
                              f"of {blocks + 1}, not {z_dim}")
        self.z_dim, self.num_classes, self.chunk = z_dim, num_classes, z_dim // (blocks + 1)
        self.shared = nn.Embedding(num_classes, shared_dim) if num_classes else None
        cond = self.chunk + (shared_dim if num_classes else 0)
        self.linear = nn.Linear(self.chunk, plan[0] * 16)
        self.blocks = nn.ModuleList(UpBlock(a, b, norm=partial(LinearConditionalBatchNorm2d, cond_dim=cond))
                                    for a, b in zip(plan, plan[1:]))
        c = plan[blocks - 1]
        self.attention = nn.ModuleDict({str(blocks - 2): SelfAttention(c, c // 2)} if attention else {})
        self.out_bn = nn.BatchNorm2d(plan[-1])
        self.out = nn.Conv2d(plan[-1], channels, 3, 1, 1)
        apply_spectral_norm(self, (nn.Conv2d, nn.Linear))  # not the shared embedding (as BigGAN)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        chunks = z.split(self.chunk, 1)
        if self.shared is not None and y is None:
            raise ValueError("this model is class-conditional: pass labels y")
        shared = self.shared(y) if self.shared is not None else None
        h = self.linear(chunks[0]).view(z.shape[0], -1, 4, 4)
        for i, (block, zc) in enumerate(zip(self.blocks, chunks[1:])):
            h = block(h, zc if shared is None else torch.cat([shared, zc], 1))
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.out(F.relu(self.out_bn(h))))


@ARCHS.register("biggan-discriminator", family="gan", input=(3, 32, 32),
                description="BigGAN discriminator: residual down-blocks, global sum pooling, projection head")
class BigGANDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, size: int = 32, width: int = 64, num_classes: int = 0,
                 attention: bool = False):
        super().__init__()
        mults, downsampling = _plan(D_PLAN, size)
        outs = [m * width for m in mults]
        blocks: list[nn.Module] = []
        for i, (a, b) in enumerate(zip([channels, *outs], outs)):
            blocks.append(DownBlock(a, b, first=i == 0, downsample=i < downsampling))
            if attention and i == 0:
                blocks.append(SelfAttention(b, b // 2))
        self.blocks = nn.Sequential(*blocks)
        self.head = ProjectionHead(outs[-1], num_classes)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.head(F.relu(self.blocks(x)).sum((2, 3)), y)
