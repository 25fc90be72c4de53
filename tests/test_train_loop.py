"""The shared training loop: exact resume, divergence guard, step-indexed batches, logging."""
from __future__ import annotations

import csv
import math

import pytest
import torch
from torch import nn

from pixforge.errors import ConfigError, DivergenceError
from pixforge.train import LoopConfig, StepBatches, Task, fit, load_checkpoint, lr_factor, make_scheduler, setup


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
        self.optimizers["opt"].step()  # fit steps the schedulers
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


# ------------------------------------------------------------------------------------------ schedules
def test_lr_factors_match_hand_computed_values():
    # warm-up: (step + 1) / warmup, then linear from 1 at step 4 down to lr_final=0.1 at step 14
    assert [lr_factor(s, "linear", 14, warmup=4, final=0.1) for s in (0, 3, 4, 9, 14, 20)] == \
        pytest.approx([0.25, 1.0, 1.0, 0.55, 0.1, 0.1])
    assert lr_factor(5, "cosine", 10) == pytest.approx(0.5) and lr_factor(10, "cosine", 10) == pytest.approx(0.0)
    assert lr_factor(5, "cosine", 10, decay_start=5) == 1.0 and lr_factor(10, "cosine", 10, final=0.2) == 0.2
    assert [lr_factor(s, "step", 100, step_size=3, gamma=0.5) for s in (0, 2, 3, 7)] == [1, 1, 0.5, 0.25]
    assert lr_factor(1000, "inverse", 1, gamma=5e-5) == pytest.approx(1 / 1.05)  # the AdaIN reference decay
    with pytest.raises(ConfigError, match="lr_schedule: 'bogus' is not one of constant, linear"):
        LoopConfig(lr_schedule="bogus")


class Killed(Exception):
    pass


class Scheduled(NoisyRegression):
    """NoisyRegression whose learning rate comes from the loop config (fit builds the scheduler)."""

    def __init__(self, kill_at=None):
        super().__init__()
        self.schedulers = {}
        self.kill_at = kill_at

    def train_step(self, step):
        if step == self.kill_at:
            raise Killed  # like kill -9 after the checkpoint at step 10
        return super().train_step(step)


def test_scheduled_lr_resumes_exactly_after_a_kill(tmp_path):
    def run_scheduled(name, kill_at=None, resume=False):
        cfg = LoopConfig(steps=30, out=str(tmp_path / name), seed=1, log_every=5, sample_every=0, ckpt_every=10,
                         lr_schedule="cosine", lr_warmup=4, lr_final=0.1, resume=resume, progress=False,
                         tensorboard=False)
        setup(cfg)
        task = Scheduled(kill_at)
        fit(task, cfg)
        return task

    full = run_scheduled("full")
    assert full.optimizers["opt"].param_groups[0]["lr"] == pytest.approx(1e-2 * 0.1)  # the schedule ran
    with pytest.raises(Killed):
        run_scheduled("split", kill_at=17)
    resumed = run_scheduled("split", resume=True)
    for a, b in zip(full.net.parameters(), resumed.net.parameters()):
        assert torch.equal(a, b)
    state = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["task"]
    assert state["schedulers"]["opt"]["last_epoch"] == 30


# ------------------------------------------------------------------------------------------ host syncs
def test_losses_reach_the_host_once_per_log_interval(tmp_path, monkeypatch):
    from pixforge.train import loop

    calls = []
    real = loop.host_losses
    monkeypatch.setattr(loop, "host_losses", lambda pending: calls.append(len(pending)) or real(pending))
    task = run(tmp_path, "sync", 20)  # log every 5, sample at 7 and 14, checkpoint every 10 (and at the end)
    assert calls == [5, 2, 3, 4, 1, 5]  # one transfer at 5, 7, 10, 14, 15, 20 for all steps since the last
    assert all(torch.is_tensor(v) for v in task.train_step(20).values())


def test_finite_but_exploding_loss_stops_and_keeps_last_good(tmp_path):
    class Exploding(NoisyRegression):
        def train_step(self, step):
            losses = super().train_step(step)
            return {"loss": losses["loss"] * (1e30 if step >= 12 else 1.0)}

    cfg = LoopConfig(steps=40, out=str(tmp_path / "x"), seed=1, log_every=100, sample_every=0, ckpt_every=10,
                     progress=False, tensorboard=False)
    setup(cfg)
    with pytest.raises(DivergenceError, match=r"diverged at step 13 \(loss=\S+e\+30, above loop.max_loss=1e\+12\)"):
        fit(Exploding(), cfg)  # the log interval is 100: the check before the step-20 checkpoint finds step 13
    assert load_checkpoint(tmp_path / "x" / "checkpoints" / "last.pt")["step"] == 10
    cfg = LoopConfig(**{**cfg.__dict__, "out": str(tmp_path / "y"), "max_loss": 0.0, "steps": 15})
    fit(Exploding(), cfg)  # max_loss=0: no bound


# ------------------------------------------------------------------------------------------ validation
class Validated(NoisyRegression):
    SCORES = [3.0, 1.0, 2.0, 0.5, 4.0]

    def validate(self, step):
        torch.randn(10)  # consumes RNG: the loop must shield the training stream from it
        return {"score": self.SCORES[step // 4 - 1]}


@pytest.mark.parametrize("mode, best_step", [("min", 16), ("max", 20)])
def test_validation_keeps_best_checkpoint(tmp_path, mode, best_step):
    cfg = LoopConfig(steps=20, out=str(tmp_path / mode), seed=1, log_every=5, sample_every=7, ckpt_every=10,
                     val_every=4, best_mode=mode, progress=False, tensorboard=False)
    setup(cfg)
    validated = Validated()
    result = fit(validated, cfg)
    best = load_checkpoint(tmp_path / mode / "checkpoints" / "best.pt")
    assert best["step"] == best_step == result.best["step"]
    assert best["best"] == {"metric": "score", "value": Validated.SCORES[best_step // 4 - 1], "step": best_step}
    rows = list(csv.DictReader(open(tmp_path / mode / "metrics.csv")))
    assert [float(r["score"]) for r in rows if r["score"]] == Validated.SCORES
    plain = run(tmp_path, "plain", 20)  # same seed and settings, no validation: the same weights
    assert all(torch.equal(a, b) for a, b in zip(plain.net.parameters(), validated.net.parameters()))


# ------------------------------------------------------------------------------------------ run folders
def test_existing_run_folder_needs_resume_or_overwrite(tmp_path):
    run(tmp_path, "r", 14)  # writes samples/step0000007.png, step0000014.png (sample_every=7)
    with pytest.raises(ConfigError, match=r"already holds a training run .*--resume .*--overwrite"):
        run(tmp_path, "r", 8)
    assert load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")["step"] == 14  # untouched
    (tmp_path / "r" / "notes.txt").write_text("mine")
    cfg = LoopConfig(steps=8, out=str(tmp_path / "r"), seed=1, log_every=5, sample_every=7, ckpt_every=10,
                     overwrite=True, progress=False, tensorboard=False)
    setup(cfg)
    fit(NoisyRegression(), cfg)
    assert load_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")["step"] == 8
    rows = list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))
    assert [int(float(r["step"])) for r in rows] == [5, 8]
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"  # only the run's own files go


def test_resume_applies_changed_learning_rate(tmp_path, capsys):
    run(tmp_path, "lr", 10)

    class Slower(NoisyRegression):
        def __init__(self):
            super().__init__()
            for group in self.optimizers["opt"].param_groups:
                group["initial_lr"] = group["lr"] = 1e-3  # the task built with a new rate, as lr=... would
    cfg = LoopConfig(steps=12, out=str(tmp_path / "lr"), seed=1, resume=True, progress=False, tensorboard=False)
    task = Slower()
    fit(task, cfg)
    out = capsys.readouterr().out
    assert "resumed from step 10" in out and "resume: opt lr 0.01 -> 0.001" in out
    factor = lr_factor(12, "cosine", 40)  # the task's own cosine schedule, now around the new base rate
    assert task.optimizers["opt"].param_groups[0]["lr"] == pytest.approx(1e-3 * factor)
