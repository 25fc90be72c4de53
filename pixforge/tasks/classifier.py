"""Training the digit classifier (domain features for FID/KID/PR on digit data, Stacked-MNIST mode counting).

Trains on a random ``1 - holdout`` part of a labelled dataset with small random shifts, validates on the rest
(``val_accuracy``; ``checkpoints/best.pt`` keeps the best), and writes ``OUT/classifier.safetensors`` (its
config in the file's metadata) and ``OUT/classifier.json`` (held-out accuracy and run details).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..config import check
from ..errors import BadInputError, ConfigError
from ..models.classifier import REPORT_FILE, WEIGHTS_FILE, ClassifierConfig, DigitClassifier, save_classifier
from ..registry import TASKS
from ..train import LoopConfig, Task, TensorBatches, run
from ..utils import atomic_path


@dataclass
class ClassifierTrainConfig:
    data: str = ""  # labelled image dataset: digits, mnist5k, mnist, fashion-mnist (see `pixforge data list`)
    holdout: float = 0.2  # share of the images held out for validation
    batch_size: int = 64
    lr: float = 2e-3
    width: int = 16  # channels of the first conv stage
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=1000, out="runs/classifier", log_every=50, sample_every=0, ckpt_every=1000, val_every=250,
        best_metric="val_accuracy", best_mode="max", lr_schedule="cosine", tensorboard=False))

    resume_may_change: ClassVar[tuple[str, ...]] = ("lr",)

    def __post_init__(self) -> None:
        check(self, positive=("batch_size", "lr", "width"), ranges={"holdout": (0.01, 1)})


def shift_augment(x: torch.Tensor, max_shift: int) -> torch.Tensor:
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


@TASKS.register("classifier", examples=(
    "pixforge train classifier --data mnist5k --out runs/mnist-classifier",
    "pixforge eval fid real.npy fake.npy --features classifier:runs/mnist-classifier",
))
class ClassifierTask(Task):
    """Train a small digit classifier (domain features for FID/KID/PR; Stacked-MNIST mode counting).

    Writes OUT/classifier.safetensors and OUT/classifier.json (held-out accuracy); use it as
    `--features classifier:OUT` in `pixforge eval`.
    """

    Config = ClassifierTrainConfig

    def __init__(self, cfg: ClassifierTrainConfig, device: torch.device, images: torch.Tensor, labels: torch.Tensor):
        super().__init__()
        if images.ndim != 4 or images.shape[-1] != images.shape[-2] or len(images) != len(labels):
            raise BadInputError(f"classifier data must be square images (N, C, H, W) with N labels, got "
                                f"{tuple(images.shape)} and {tuple(labels.shape)}")
        self.cfg, self.device = cfg, device
        self.images, self.labels = images, labels.long()
        self.train_idx, self.test_idx = split_holdout(len(images), cfg.holdout, cfg.loop.seed)
        net = ClassifierConfig(in_channels=images.shape[1], image_size=images.shape[-1],
                               num_classes=int(self.labels.max()) + 1, width=cfg.width)
        self.model = DigitClassifier(net).to(device)
        self.max_shift = max(1, net.image_size // 14)
        self.batches = TensorBatches(images[self.train_idx], self.labels[self.train_idx], cfg.batch_size,
                                     cfg.loop.seed, device)
        self.modules = {"classifier": self.model}
        self.optimizers = {"opt": torch.optim.Adam(self.model.parameters(), lr=cfg.lr)}

    @classmethod
    def from_config(cls, cfg: ClassifierTrainConfig, device: torch.device, images: torch.Tensor | None = None,
                    labels: torch.Tensor | None = None) -> "ClassifierTask":
        if images is None:
            from ..data import load_dataset

            if not cfg.data:
                raise ConfigError("data: name a labelled dataset (--data digits, mnist5k, mnist, fashion-mnist)")
            images, labels = load_dataset(cfg.data)
            if labels is None or images.ndim != 4:
                raise BadInputError(f"{cfg.data}: the classifier needs labelled images (e.g. digits, mnist5k, mnist)")
        return cls(cfg, device, images, labels)

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        self.model.train()
        x, y = self.batches.batch(step)
        loss = F.cross_entropy(self.model(shift_augment(x, self.max_shift))[1], y)
        opt = self.optimizers["opt"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    def validate(self, step: int) -> dict[str, float]:
        return {"val_accuracy": accuracy(self.model, self.images[self.test_idx], self.labels[self.test_idx])}

    def finish(self, result) -> list[str]:
        """The weights and a JSON report with the held-out accuracy."""
        cfg, out = self.cfg, result.out
        self.report = {
            "data": cfg.data, "heldout_accuracy": self.validate(result.step)["val_accuracy"],
            "train_accuracy": accuracy(self.model, self.images[self.train_idx], self.labels[self.train_idx]),
            "train_size": len(self.train_idx), "heldout_size": len(self.test_idx), "steps": result.step,
            "batch_size": cfg.batch_size, "seconds": round(result.seconds, 2), "device": str(self.device),
            "config": asdict(self.model.cfg),
        }
        save_classifier(self.model, out / WEIGHTS_FILE)
        with atomic_path(out / REPORT_FILE) as tmp:
            tmp.write_text(json.dumps(self.report, indent=2) + "\n")
        return [f"held-out accuracy {100 * self.report['heldout_accuracy']:.2f}% on {len(self.test_idx)} "
                f"{cfg.data or 'held-out'} images; wrote {out / WEIGHTS_FILE}"]


def train_classifier(images: torch.Tensor, labels: torch.Tensor, out: str | os.PathLike, steps: int = 1000,
                     batch_size: int = 64, lr: float = 2e-3, holdout: float = 0.2, seed: int = 0,
                     width: int = 16, data_name: str = "", device: str = "auto", progress: bool = True) -> dict:
    """Train on a random (1 - holdout) part, report accuracy on the rest, save weights + JSON report in ``out``."""
    cfg = ClassifierTrainConfig(data=data_name, holdout=holdout, batch_size=batch_size, lr=lr, width=width)
    cfg.loop = dataclasses.replace(cfg.loop, steps=steps, out=str(out), seed=seed, device=device, progress=progress)
    task, _ = run(ClassifierTask, cfg, images=images, labels=labels)
    return task.report
