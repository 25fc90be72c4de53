"""Training the digit classifier (:mod:`pixforge.models.classifier`): domain features for FID/KID/PR on digit
data, and Stacked-MNIST mode counting.

``train_classifier`` runs through the shared training loop and writes ``OUT/classifier.safetensors``
(its config in the file's metadata) and ``OUT/classifier.json`` (held-out accuracy and run details).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import BadInputError
from ..models.classifier import WEIGHTS_FILE, ClassifierConfig, DigitClassifier, save_classifier
from ..utils import atomic_path

REPORT_FILE = "classifier.json"


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
