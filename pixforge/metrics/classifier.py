"""A small CNN digit classifier: domain features for FID/KID/PR on digit data, and Stacked-MNIST mode counting.

Inception features mean little on 8x8 or 28x28 grey digits; the usual remedy (e.g. VEEGAN, PacGAN,
Unrolled GAN for Stacked MNIST) is a classifier trained on the data itself. Its penultimate layer (a
``feature_dim``-d ReLU layer) plays the role of Inception's pool3, its logits that of Inception's softmax.

Input, like every metric here: images (N, C, H, W) in [-1, 1]; other sizes are resized bilinearly to the
training size, RGB is averaged to grey for a 1-channel model (and grey repeated for a 3-channel one).

``train_classifier`` runs through the shared training loop and writes ``OUT/classifier.safetensors``
(its config in the file's metadata) and ``OUT/classifier.json`` (held-out accuracy and run details).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BadInputError, WeightsError
from ..utils import atomic_path

WEIGHTS_FILE = "classifier.safetensors"
REPORT_FILE = "classifier.json"


@dataclass
class ClassifierConfig:
    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    width: int = 16
    feature_dim: int = 128


class DigitClassifier(nn.Module):
    """Two conv-conv-pool stages, a ``feature_dim`` ReLU layer, a linear classifier.

    ``forward`` returns (features (N, feature_dim), logits (N, num_classes)), the same protocol as the
    FID Inception network, so the two are interchangeable as feature extractors.
    """

    def __init__(self, cfg: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.cfg = cfg
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


def _shift_augment(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Random translations by up to ``max_shift`` pixels (background -1), one offset per image."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, [max_shift] * 4, value=-1.0)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n)).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def split_holdout(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic (train indices, held-out indices)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(n * fraction)))
    return perm[n_test:], perm[:n_test]


@torch.no_grad()
def accuracy(model: DigitClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = model(images[start:start + batch_size].to(device))[1]
        correct += int((logits.argmax(1).cpu() == labels[start:start + batch_size]).sum())
    return correct / len(images)


def train_classifier(images: torch.Tensor, labels: torch.Tensor, out: str | os.PathLike, steps: int = 1000,
                     batch_size: int = 64, lr: float = 2e-3, holdout: float = 0.2, seed: int = 0,
                     width: int = 16, data_name: str = "", device: str = "auto", progress: bool = True) -> dict:
    """Train on a random (1 - holdout) part, report accuracy on the rest, save weights + JSON report in ``out``."""
    from ..train import LoopConfig, StepBatches, Task, fit, make_scheduler, setup

    if images.ndim != 4 or images.shape[-1] != images.shape[-2] or len(images) != len(labels):
        raise BadInputError(f"classifier data must be square images (N, C, H, W) with N labels, got "
                            f"{tuple(images.shape)} and {tuple(labels.shape)}")
    labels = labels.long()
    cfg = ClassifierConfig(in_channels=images.shape[1], image_size=images.shape[-1],
                           num_classes=int(labels.max()) + 1, width=width)
    loop = LoopConfig(steps=steps, out=str(out), seed=seed, device=device, sample_every=0,
                      ckpt_every=max(steps, 1), progress=progress, tensorboard=False, log_every=50)
    dev = setup(loop)
    train_idx, test_idx = split_holdout(len(images), holdout, seed)
    model = DigitClassifier(cfg).to(dev)
    max_shift = max(1, cfg.image_size // 14)

    class _Task(Task):
        def __init__(self):
            super().__init__()
            self.opt = torch.optim.Adam(model.parameters(), lr=lr)
            self.modules, self.optimizers = {"classifier": model}, {"opt": self.opt}
            self.schedulers = {"opt": make_scheduler(self.opt, "cosine", steps)}
            self.batches = StepBatches(len(train_idx), batch_size, seed=seed)

        def train_step(self, step):
            model.train()
            idx = train_idx[self.batches.batch(step)]
            x = _shift_augment(images[idx], max_shift).to(dev)
            loss = F.cross_entropy(model(x)[1], labels[idx].to(dev))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.schedulers["opt"].step()
            return {"loss": loss}

    t0 = time.perf_counter()
    fit(_Task(), loop, {"classifier": asdict(cfg)})
    seconds = time.perf_counter() - t0
    report = {
        "data": data_name, "heldout_accuracy": accuracy(model, images[test_idx], labels[test_idx]),
        "train_accuracy": accuracy(model, images[train_idx], labels[train_idx]),
        "train_size": len(train_idx), "heldout_size": len(test_idx), "steps": steps, "batch_size": batch_size,
        "seconds": round(seconds, 2), "device": str(dev), "config": asdict(cfg),
    }
    save_classifier(model, Path(out) / WEIGHTS_FILE)
    with atomic_path(Path(out) / REPORT_FILE) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    return report


def save_classifier(model: DigitClassifier, path: str | os.PathLike) -> Path:
    from ..weights import save_state_dict

    return save_state_dict(model.state_dict(), path, metadata={"pixforge_classifier": json.dumps(asdict(model.cfg))})


def load_classifier(path: str | os.PathLike) -> DigitClassifier:
    """Load ``classifier.safetensors`` (or the run folder holding it) written by :func:`train_classifier`."""
    from safetensors import safe_open

    from ..weights import load_file

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
    model = DigitClassifier(cfg)
    try:
        model.load_state_dict(load_file(path))
    except RuntimeError as exc:
        raise WeightsError(f"{path}: weights do not fit the classifier config ({str(exc).splitlines()[0]})") from None
    model.requires_grad_(False)
    return model.eval()
