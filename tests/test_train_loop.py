"""The shared training loop: exact resume, divergence guard, step-indexed batches, logging."""
from __future__ import annotations

import csv
import math

import pytest
import torch
from torch import nn

from pixforge.errors import DivergenceError
from pixforge.train import LoopConfig, StepBatches, Task, fit, load_checkpoint, make_scheduler, setup


class NoisyRegression(Task):
    """y = Xw on a fixed dataset; random batches, random noise and dropout: every RNG matters."""

    def __init__(self, poison_at: int | None = None):
        super().__init__()
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(64, 8, generator=g)
        self.y = self.x @ torch.randn(8, 1, generator=g)
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 1))
        self.modules = {"net": self.net}
        opt = torch.optim.Adam(self.net.parameters(), lr=1e-2)
        self.optimizers = {"opt": opt}
        self.schedulers = {"opt": make_scheduler(opt, "cosine", 40)}
        self.batches = StepBatches(64, 16, seed=5)
        self.poison_at = poison_at

    def train_step(self, step):
        idx = self.batches.batch(step)
        x = self.x[idx] + 0.01 * torch.randn(len(idx), 8)
        loss = nn.functional.mse_loss(self.net(x), self.y[idx])
        if self.poison_at is not None and step >= self.poison_at:
            loss = loss * float("nan")
        self.optimizers["opt"].zero_grad()
        loss.backward()
        self.optimizers["opt"].step()
        self.schedulers["opt"].step()
        return {"loss": loss}

    def sample(self, path, step):
        torch.randn(100)  # consumes RNG: the loop must shield the training stream from it


def run(tmp_path, name, steps, resume=False, poison_at=None):
    cfg = LoopConfig(steps=steps, out=str(tmp_path / name), seed=1, log_every=5, sample_every=7, ckpt_every=10,
                     resume=resume, progress=False, tensorboard=False)
    setup(cfg)
    task = NoisyRegression(poison_at)
    fit(task, cfg)  # with resume=True the loop itself restores every state from last.pt
    return task


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path):
    full = run(tmp_path, "full", 40)
    run(tmp_path, "split", 17)  # "interrupted" after step 17 (checkpoint at 17 = end of that run)
    resumed = run(tmp_path, "split", 40, resume=True)
    for a, b in zip(full.net.parameters(), resumed.net.parameters()):
        assert torch.equal(a, b)
    # and a run that did NOT resume from the same start differs (the test can fail)
    fresh = run(tmp_path, "other", 23)
    assert not all(torch.equal(a, b) for a, b in zip(full.net.parameters(), fresh.net.parameters()))


def test_divergence_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(DivergenceError, match=r"diverged at step 13 .*last good checkpoint is .*last\.pt"):
        run(tmp_path, "div", 40, poison_at=12)
    state = load_checkpoint(tmp_path / "div" / "checkpoints" / "last.pt")
    assert state["step"] == 10
    assert all(torch.isfinite(v).all() for v in state["task"]["modules"]["net"].values())


def test_metrics_csv_and_plot(tmp_path):
    run(tmp_path, "log", 20)
    rows = list(csv.DictReader(open(tmp_path / "log" / "metrics.csv")))
    assert [int(float(r["step"])) for r in rows] == [5, 10, 15, 20]
    assert all(math.isfinite(float(r["loss"])) for r in rows)
    assert (tmp_path / "log" / "losses.png").stat().st_size > 1000
    assert not (tmp_path / "log" / "samples").exists()  # sample() wrote nothing


def test_step_batches_cover_each_epoch_once_and_split_across_ranks():
    sb = StepBatches(10, 4, seed=0)
    seen = torch.cat([sb.batch(s) for s in range(5)])  # 20 indices = 2 epochs
    assert sorted(seen[:10].tolist()) == list(range(10)) and sorted(seen[10:].tolist()) == list(range(10))
    ranks = [StepBatches(10, 4, seed=0, rank=r, world_size=2).batch(3) for r in range(2)]
    assert sorted(torch.cat(ranks).tolist()) == sorted(sb.batch(3).tolist())
