"""Small unpaired domain-transfer networks: DiscoGAN (Kim et al. 2017) and DTN (Taigman et al. 2017).

* ``discogan-generator`` / ``discogan-discriminator``: SKTBrain/DiscoGAN's 64 px networks with its module names
  (``main.N``; ``conv1``..``conv5``, ``bn2``..``bn4``): a 4x4 stride-2 conv encoder (64..512 channels, BN,
  LeakyReLU 0.2) and a transposed-conv decoder (BN, ReLU) ending in a sigmoid, so images are in [0, 1]; the
  discriminator returns its three hidden activations and the logits (one scale: ``[[f2, f3, f4, logits]]``, the
  feature-matching form of :mod:`pixforge.losses.adversarial`) where the reference returns sigmoid probabilities.
* ``dtn-encoder`` / ``dtn-generator`` / ``dtn-discriminator``: the layer sizes of yunjey/domain-transfer-network
  (SVHN -> MNIST, 32 px; a TensorFlow reference, so no checkpoint mapping): f = 3x3 stride-2 convs 64/128/256 + BN
  + ReLU, a 4x4 valid conv to 128-d, BN, tanh (with a 1x1 classification head ``out`` for pre-training f); g =
  transposed convs 512/256/128 + BN + ReLU to one tanh channel; D = 3x3 stride-2 convs 128/256/512 + BN + ReLU and a
  4x4 valid conv to one logit. Padding follows PyTorch's conventions (TensorFlow's 'SAME' pads asymmetrically).
  The f-constancy loss compares f(x) with f(g(f(x))).
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import ARCHS
from .pix2pix import init_weights

Tensor = torch.Tensor


def _down(cin: int, cout: int, norm: bool = True) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), *([nn.BatchNorm2d(cout)] if norm else []),
            nn.LeakyReLU(0.2, inplace=True)]


def _up(cin: int, cout: int, kernel: int = 4, stride: int = 2, padding: int = 1, output_padding: int = 0,
        bias: bool = False) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding, bias=bias), nn.BatchNorm2d(cout),
            nn.ReLU(True)]


@ARCHS.register("discogan-generator", family="translation", input=(3, 64, 64),
                description="DiscoGAN generator (64 px): 4 conv downsamplings, 4 transposed convs, sigmoid")
class DiscoGANGenerator(nn.Module):
    """(N, 3, 64, 64) in [0, 1] -> same shape in [0, 1]. ``extra_layers`` adds the reference's 4x4 -> 1x1
    bottleneck of 100 channels."""

    def __init__(self, channels: int = 3, ngf: int = 64, extra_layers: bool = False):
        super().__init__()
        self.size_multiple = 64 if extra_layers else 16
        layers = _down(channels, ngf, norm=False) + _down(ngf, ngf * 2) + _down(ngf * 2, ngf * 4)
        layers += _down(ngf * 4, ngf * 8)
        if extra_layers:
            layers += [nn.Conv2d(ngf * 8, 100, 4, 1, 0, bias=False), nn.BatchNorm2d(100),
                       nn.LeakyReLU(0.2, inplace=True), *_up(100, ngf * 8, 4, 1, 0)]
        layers += _up(ngf * 8, ngf * 4) + _up(ngf * 4, ngf * 2) + _up(ngf * 2, ngf)
        layers += [nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x)


@ARCHS.register("discogan-discriminator", family="translation", input=(3, 64, 64),
                description="DiscoGAN discriminator (64 px): 5 convs, hidden features for feature matching")
class DiscoGANDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, ndf: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, ndf, 4, 2, 1, bias=False)
        for i in (2, 3, 4):
            setattr(self, f"conv{i}", nn.Conv2d(ndf * 2 ** (i - 2), ndf * 2 ** (i - 1), 4, 2, 1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm2d(ndf * 2 ** (i - 1)))
        self.conv5 = nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False)
        self.act = nn.LeakyReLU(0.2)
        init_weights(self)

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        h = self.act(self.conv1(x))
        features = []
        for i in (2, 3, 4):
            h = self.act(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h)))
            features.append(h)
        return [features + [self.conv5(h)]]


@ARCHS.register("dtn-encoder", family="translation", input=(3, 32, 32),
                description="DTN content extractor f (32 px -> 128-d, tanh) with a 10-class head for pre-training")
class DTNEncoder(nn.Module):
    """f: (N, 3 or 1, 32, 32) in [-1, 1] -> (N, 128, 1, 1); grey inputs are repeated to 3 channels."""

    def __init__(self, channels: int = 3, features: int = 128, num_classes: int = 10, width: int = 64):
        super().__init__()
        widths = (channels, width, width * 2, width * 4)
        for i, (a, b) in enumerate(zip(widths, widths[1:]), 1):
            setattr(self, f"conv{i}", nn.Conv2d(a, b, 3, 2, 1))
            setattr(self, f"bn{i}", nn.BatchNorm2d(b))
        self.conv4 = nn.Conv2d(width * 4, features, 4)
        self.bn4 = nn.BatchNorm2d(features)
        self.out = nn.Conv2d(features, num_classes, 1) if num_classes else None
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = x.expand(-1, self.conv1.in_channels, -1, -1) if x.shape[1] == 1 else x
        for i in (1, 2, 3):
            x = torch.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
        return torch.tanh(self.bn4(self.conv4(x)))

    def classify(self, x: Tensor) -> Tensor:
        """Class logits (N, num_classes): f's pre-training objective on the source domain."""
        return self.out(self(x)).flatten(1)


@ARCHS.register("dtn-generator", family="translation", input=(128, 1, 1),
                description="DTN generator g (128-d -> 32 px, one tanh channel)")
class DTNGenerator(nn.Module):
    """``width``: the last hidden layer's channels (the reference's 128; the first has 4x)."""

    def __init__(self, features: int = 128, channels: int = 1, width: int = 128):
        super().__init__()
        w = width
        # TF slim's convs keep their biases next to batch norm
        self.main = nn.Sequential(*_up(features, 4 * w, 4, 1, 0, bias=True), *_up(4 * w, 2 * w, 3, 2, 1, 1, bias=True),
                                  *_up(2 * w, w, 3, 2, 1, 1, bias=True),
                                  nn.ConvTranspose2d(w, channels, 3, 2, 1, output_padding=1), nn.Tanh())
        init_weights(self)

    def forward(self, f: Tensor) -> Tensor:
        return self.main(f)


@ARCHS.register("dtn-discriminator", family="translation", input=(1, 32, 32),
                description="DTN discriminator (32 px, one channel -> one logit)")
class DTNDiscriminator(nn.Module):
    """``outputs`` logits per image: 1 (real/fake), or 3 for the paper's ternary D (fake from the source domain,
    fake from the target domain, real target). ``width``: the first layer's channels (the reference's 128)."""

    def __init__(self, channels: int = 1, outputs: int = 1, width: int = 128):
        super().__init__()
        w = width
        layers = [nn.Conv2d(channels, w, 3, 2, 1), nn.ReLU(), nn.BatchNorm2d(w), nn.ReLU()]
        for a, b in ((w, 2 * w), (2 * w, 4 * w)):
            layers += [nn.Conv2d(a, b, 3, 2, 1), nn.BatchNorm2d(b), nn.ReLU()]
        layers += [nn.Conv2d(4 * w, outputs, 4)]
        self.main = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x).flatten(1)
