"""InceptionV3 as TensorFlow's FID code runs it (the 2015-12-05 graph), in torchvision's key layout.

This is the network of pytorch-fid (``FIDInceptionA/C/E_1/E_2``): torchvision's Inception3 with 1008 output
classes, no auxiliary classifier, and the three places where the TF graph differs from torchvision's model:
average pools in the Mixed blocks ignore zero padding (``count_include_pad=False``), and the last block
(Mixed_7c) max-pools its pool branch. Its state-dict keys and shapes are those of pytorch-fid's weights file
``pt_inception-2015-12-05-6726825d.pth`` (registry name ``inception-fid``), so that file loads as it is.

Input: RGB images in [-1, 1] (the range the TF graph expects; pytorch-fid scales its [0, 1] input by 2x-1
before the network, which commutes with its bilinear resize, so results are the same), any size; they
are resized bilinearly to 299x299 (``align_corners=False``) as pytorch-fid does. Grey images are repeated
to 3 channels. Outputs: the 2048-d pool3 features (FID, KID, precision/recall) and the 1008-way logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights as weights_mod
from ..registry import ARCHS
from ..weights import WeightSpec

WEIGHTS_NAME = "inception-fid"
INPUT_SIZE = 299
NUM_CLASSES = 1008  # the TF graph's softmax has 1008 outputs: the 1000 ImageNet classes plus 8 unused ones


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3, as TF) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """TF's 3x3 stride-1 'SAME' average pool: padded zeros are not counted in the mean."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_tf_avg_pool(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_tf_avg_pool(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """``pool='avg'`` for Mixed_7b (TF avg pool), ``'max'`` for Mixed_7c (the FID graph's quirk)."""

    def __init__(self, cin: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        pooled = _tf_avg_pool(x) if self.pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)


@ARCHS.register("fid-inception-v3", family="metric", input=(3, 299, 299),
                description="InceptionV3 of TensorFlow's FID code (pytorch-fid port): pool3 features and logits")
class FIDInceptionV3(nn.Module):
    """The FID Inception network; ``forward`` returns (pool3 features (N, 2048), logits (N, 1008)).

    The logits are ``pool3 @ fc.weight.T`` *without* the bias, as the original Inception Score code
    (Salimans et al. 2016, openai/improved-gan) takes them from the graph's ``softmax/logits/MatMul``.
    """

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, c7=128)
        self.Mixed_6c = InceptionC(768, c7=160)
        self.Mixed_6d = InceptionC(768, c7=160)
        self.Mixed_6e = InceptionC(768, c7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(2048, NUM_CLASSES)
        self.backbone = "random (untrained)"
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        pool3 = x.mean(dim=(2, 3))
        return pool3, pool3 @ self.fc.weight.T

    def load_fid_weights(self, state: dict[str, torch.Tensor], backbone: str = WEIGHTS_NAME) -> "FIDInceptionV3":
        """Load a pytorch-fid state dict strictly: exactly our keys and shapes (BN step counters optional)."""
        weights_mod.load_strict(self, state, backbone)
        self.backbone = backbone
        return self


def create_inception(weights: str | None = WEIGHTS_NAME, download: bool = True) -> FIDInceptionV3:
    """The FID Inception network with ``weights`` (a registry name or a file; None: random, for tests only).

    Offline without the file this raises :class:`WeightsError` naming the URL and where to put the file.
    """
    model = FIDInceptionV3()
    if weights is not None:
        model.load_fid_weights(weights_mod.resolve(weights, "Inception weights", download=download, prefix="inception-"), weights)
    return model


weights_mod.register(WeightSpec(
    name="inception-fid",
    filename="pt_inception-2015-12-05-6726825d.pth",
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    # torch.hub naming: the file name carries the first 8 hex digits of the file's sha256. The full digest
    # and the size are not published, so only that prefix is checked.
    sha256="6726825d",
    size=None,
    format="torch",
    description="InceptionV3 of TensorFlow's FID code (2015-12-05 graph, ported by pytorch-fid): FID/KID/IS",
    license="Apache-2.0 (pytorch-fid; TensorFlow inception-2015-12-05)",
    meta={"arch": "fid-inception-v3", "input": "[-1, 1], resized to 299"},
))
