"""CoGAN (Liu & Tuzel 2016, "Coupled Generative Adversarial Networks") in the layout of the authors' PyTorch
release (mingyuliutw/CoGAN, ``cogan_pytorch/src/net_cogan_mnistedge.py``): two GANs, one per domain, whose
generators share every layer but the last (the high-level structure of an image) and whose discriminators share
every layer but the first, so that one latent code gives a *pair* of corresponding images without paired data.

* ``cogan-generator`` (``CoGen28x28``): z (100) -> 4x4 transposed conv to 1024, then 3x3 stride-2 transposed
  convs to 512, 256, 128 (batch norm without affine parameters, PReLU), all shared; then per domain a 6x6
  transposed conv (``dconv4_a`` / ``dconv4_b``) and a sigmoid: two 28x28 images in [0, 1].
* ``cogan-discriminator`` (``CoDis28x28``): per domain a 5x5 conv to 20 (``conv0_a`` / ``conv0_b``) and a 2x2 max
  pool, then shared: 5x5 conv to 50, max pool, 4x4 conv to 500, PReLU, 1x1 conv to 2 logits (fake, real); the
  two domains' batches go through the shared layers concatenated (A first).

``channels`` (1 in the reference) lets the same networks make colour images. Initialisation as the reference's
``xavier_weights_init``: every conv Xavier-uniform with gain sqrt(2), biases 0.1.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..registry import ARCHS

Tensor = torch.Tensor


def xavier_init(net: nn.Module) -> nn.Module:
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight, gain=math.sqrt(2))
            nn.init.constant_(m.bias, 0.1)
    return net


@ARCHS.register("cogan-generator", family="translation", input=(100,),
                description="CoGAN CoGen28x28: shared transposed convs, one output layer per domain (28 px pair)")
class CoupledGenerator(nn.Module):
    """``forward(z)`` (N, latent_dims) -> (images of A, images of B), each (N, channels, 28, 28) in [0, 1]."""

    def __init__(self, latent_dims: int = 100, channels: int = 1):
        super().__init__()
        self.latent_dims = latent_dims
        self.dconv0 = nn.ConvTranspose2d(latent_dims, 1024, kernel_size=4, stride=1)
        self.bn0 = nn.BatchNorm2d(1024, affine=False)
        self.prelu0 = nn.PReLU()
        self.dconv1 = nn.ConvTranspose2d(1024, 512, kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(512, affine=False)
        self.prelu1 = nn.PReLU()
        self.dconv2 = nn.ConvTranspose2d(512, 256, kernel_size=3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(256, affine=False)
        self.prelu2 = nn.PReLU()
        self.dconv3 = nn.ConvTranspose2d(256, 128, kernel_size=3, stride=2, padding=1)
        self.bn3 = nn.BatchNorm2d(128, affine=False)
        self.prelu3 = nn.PReLU()
        self.dconv4_a = nn.ConvTranspose2d(128, channels, kernel_size=6, stride=1, padding=1)
        self.dconv4_b = nn.ConvTranspose2d(128, channels, kernel_size=6, stride=1, padding=1)
        self.sig4_a = nn.Sigmoid()
        self.sig4_b = nn.Sigmoid()
        xavier_init(self)

    def shared(self, z: Tensor) -> Tensor:
        h = self.prelu0(self.bn0(self.dconv0(z.view(len(z), -1, 1, 1))))
        h = self.prelu1(self.bn1(self.dconv1(h)))
        h = self.prelu2(self.bn2(self.dconv2(h)))
        return self.prelu3(self.bn3(self.dconv3(h)))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        h = self.shared(z)
        return self.sig4_a(self.dconv4_a(h)), self.sig4_b(self.dconv4_b(h))


@ARCHS.register("cogan-discriminator", family="translation", input=((1, 28, 28), (1, 28, 28)),
                description="CoGAN CoDis28x28: one first conv per domain, shared layers, 2 logits")
class CoupledDiscriminator(nn.Module):
    """``forward(x_a, x_b)`` (each (N, channels, 28, 28) in [0, 1]) -> (2N, 2) logits (fake, real), A first."""

    def __init__(self, channels: int = 1):
        super().__init__()
        self.conv0_a = nn.Conv2d(channels, 20, kernel_size=5, stride=1, padding=0)
        self.conv0_b = nn.Conv2d(channels, 20, kernel_size=5, stride=1, padding=0)
        self.pool0 = nn.MaxPool2d(kernel_size=2)
        self.conv1 = nn.Conv2d(20, 50, kernel_size=5, stride=1, padding=0)
        self.pool1 = nn.MaxPool2d(kernel_size=2)
        self.conv2 = nn.Conv2d(50, 500, kernel_size=4, stride=1, padding=0)
        self.prelu2 = nn.PReLU()
        self.conv3 = nn.Conv2d(500, 2, kernel_size=1, stride=1, padding=0)
        xavier_init(self)

    def forward(self, x_a: Tensor, x_b: Tensor) -> Tensor:
        h = torch.cat([self.pool0(self.conv0_a(x_a)), self.pool0(self.conv0_b(x_b))], 0)
        h = self.prelu2(self.conv2(self.pool1(self.conv1(h))))
        return self.conv3(h).flatten(1)
