"""The small CNN digit classifier: domain features for FID/KID/PR on digit data, and Stacked-MNIST mode counting.

Inception features mean little on 8x8 or 28x28 grey digits; the usual remedy (e.g. VEEGAN, PacGAN,
Unrolled GAN for Stacked MNIST) is a classifier trained on the data itself. Its penultimate layer (a
``feature_dim``-d ReLU layer) plays the role of Inception's pool3, its logits that of Inception's softmax.

Input, like every metric here: images (N, C, H, W) in [-1, 1]; other sizes are resized bilinearly to the
training size, RGB is averaged to grey for a 1-channel model (and grey repeated for a 3-channel one).
A trained classifier is one safetensors file with its :class:`ClassifierConfig` in the metadata
(``pixforge train classifier`` writes ``OUT/classifier.safetensors``).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights as weights_mod
from ..errors import WeightsError
from ..registry import ARCHS

WEIGHTS_FILE = "classifier.safetensors"
REPORT_FILE = "classifier.json"


@dataclass
class ClassifierConfig:
    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    width: int = 16
    feature_dim: int = 128


@ARCHS.register("digit-classifier", family="classifier", input=(1, 28, 28),
                description="small CNN digit classifier: domain features for FID/KID and mode counting")
class DigitClassifier(nn.Module):
    """Two conv-conv-pool stages, a ``feature_dim`` ReLU layer, a linear classifier.

    ``forward`` returns (features (N, feature_dim), logits (N, num_classes)), the same protocol as the
    FID Inception network, so the two are interchangeable as feature extractors.
    """

    def __init__(self, cfg: ClassifierConfig = ClassifierConfig(), **overrides):
        super().__init__()
        self.cfg = cfg = ClassifierConfig(**{**asdict(cfg), **overrides})
        w = cfg.width

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.body = nn.Sequential(*block(cfg.in_channels, w), *block(w, w), nn.MaxPool2d(2),
                                  *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),
                                  nn.AdaptiveAvgPool2d(3), nn.Flatten())
        self.embed = nn.Sequential(nn.Linear(2 * w * 9, cfg.feature_dim), nn.ReLU())
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(cfg.feature_dim, cfg.num_classes)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Match channels and size to what the network was trained on."""
        c, size = self.cfg.in_channels, self.cfg.image_size
        if x.shape[1] != c:
            x = x.mean(1, keepdim=True) if c == 1 else x.expand(-1, c, -1, -1)
        if tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.embed(self.body(self.prepare(x)))
        return feats, self.head(self.dropout(feats))


def save_classifier(model: DigitClassifier, path: str | os.PathLike) -> Path:
    return weights_mod.save_state_dict(model.state_dict(), path,
                                       metadata={"pixforge_classifier": json.dumps(asdict(model.cfg))})


def load_classifier(path: str | os.PathLike) -> DigitClassifier:
    """Load ``classifier.safetensors`` (or the run folder holding it) written by ``pixforge train classifier``."""
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsError(f"{path}: no classifier here; train one with `pixforge train classifier --out DIR`")
    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
        cfg = ClassifierConfig(**json.loads(meta["pixforge_classifier"]))
    except Exception:
        raise WeightsError(f"{path}: not a pixforge classifier (safetensors with classifier metadata)") from None
    model = weights_mod.load_strict(DigitClassifier(cfg), weights_mod.load_file(path), str(path))
    model.requires_grad_(False)
    return model.eval()
