"""The one training loop: every pixforge trainer (GANs, feed-forward style nets, AdaIN decoders, ...) runs here.

A trainer is a :class:`Task`: it owns its modules and optimisers and does one optimisation step per call of
``train_step(step)``. :func:`fit` does the rest, the same way for every task:

* resume: ``--resume`` reloads modules, optimisers, schedulers, task state, every RNG state and the step,
  so an interrupted and resumed run ends with exactly the weights of an uninterrupted one;
* checkpoints: ``OUT/checkpoints/last.pt``, written atomically every ``ckpt_every`` steps and at the end;
* divergence guard: a NaN/Inf loss stops the run with a clear message, and ``last.pt`` stays the last good one;
* logging: a tqdm bar (step, losses, it/s, ETA), ``OUT/metrics.csv`` and TensorBoard scalars, a loss plot;
* samples: ``task.sample(path)`` every ``sample_every`` steps (PNG grids);
* data parallel: under ``torchrun`` every rank runs the loop, rank 0 alone writes files (see distributed.py).

Data order must be a function of the step (see :class:`StepBatches`), never of an iterator's hidden state,
which is what makes resuming exact.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from ..utils import default_device, seed_everything
from . import distributed as dist_utils
from .checkpoint import check_finite, load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from .logging import RunLogger, plot_losses


@dataclass
class LoopConfig:
    """Options every training run shares (a task's own config embeds this as ``loop``)."""

    steps: int = 1000
    out: str = "runs/run"
    seed: int = 0
    device: str = "auto"
    log_every: int = 10
    sample_every: int = 500
    ckpt_every: int = 500
    amp: bool = False  # bfloat16 autocast (CUDA, and CPUs with AVX-512 BF16); numerics differ slightly
    resume: bool = False
    progress: bool = True
    tensorboard: bool = True


class Task:
    """What a trainer provides to :func:`fit`. Subclasses set the three dicts and implement ``train_step``."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any]

    def __init__(self) -> None:
        self.modules, self.optimizers, self.schedulers = {}, {}, {}

    def train_step(self, step: int) -> dict[str, float | torch.Tensor]:
        """One optimisation step (step counts from 0); return the losses to log and to check for NaN."""
        raise NotImplementedError

    def sample(self, path: Path, step: int) -> None:
        """Write a picture of the current model to ``path`` (a PNG); optional."""

    def extra_state(self) -> dict[str, Any]:
        """Anything else to checkpoint (plain numbers/tensors only)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {
            "modules": {k: dist_utils.unwrap(m).state_dict() for k, m in self.modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, m in self.modules.items():
            dist_utils.unwrap(m).load_state_dict(state["modules"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        self.load_extra_state(state.get("extra", {}))


class StepBatches:
    """Batch indices as a pure function of the step: epoch ``e`` is a permutation seeded by (seed, e).

    Exact resume needs no iterator state, and under data parallelism each rank takes its own slice of the
    global batch. ``batch(step)`` returns the indices of this rank's part of global batch number ``step``.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        if n_items <= 0:
            raise ValueError("the dataset is empty")
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.n, self.batch_size, self.seed = n_items, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self._cache: tuple[int, torch.Tensor] | None = None

    def _epoch(self, epoch: int) -> torch.Tensor:
        if self._cache is None or self._cache[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._cache = (epoch, torch.randperm(self.n, generator=g))
        return self._cache[1]

    def batch(self, step: int) -> torch.Tensor:
        start = step * self.batch_size
        parts, pos = [], start
        while pos < start + self.batch_size:
            epoch, offset = divmod(pos, self.n)
            take = min(self.n - offset, start + self.batch_size - pos)
            parts.append(self._epoch(epoch)[offset: offset + take])
            pos += take
        idx = torch.cat(parts)
        return idx[self.rank:: self.world_size]


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for the forward pass where asked for (no grad scaler needed with bf16)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str, steps: int, warmup: int = 0):
    """'constant', 'linear' (decay to 0, as pix2pix/CycleGAN do in their second half) or 'cosine'."""
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, steps - warmup))
        if kind == "constant":
            return 1.0
        if kind == "linear":
            return 1.0 - t
        if kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * t))
        raise ValueError(f"unknown schedule {kind!r}: constant, linear or cosine")

    factor(0)  # validate kind early
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class FitResult:
    out: Path
    step: int
    checkpoint: Path
    seconds: float
    last_losses: dict[str, float] = field(default_factory=dict)


def checkpoint_path(out: str | Path) -> Path:
    return Path(out) / "checkpoints" / "last.pt"


def fit(task: Task, cfg: LoopConfig, config_dict: dict[str, Any] | None = None) -> FitResult:
    """Train ``task`` for ``cfg.steps`` steps (continuing from ``last.pt`` with ``cfg.resume``)."""
    out = Path(cfg.out)
    ckpt = checkpoint_path(out)
    is_main = dist_utils.is_main_process()
    start = 0
    if cfg.resume and ckpt.is_file():
        state = load_checkpoint(ckpt, map_location="cpu")
        task.load_state_dict(state["task"])
        restore_rng_state(state["rng"])
        start = int(state["step"])
    elif cfg.resume and is_main:
        print(f"pixforge: no checkpoint at {ckpt}; starting from step 0")

    logger = RunLogger(out, resume_step=start if start else None, tensorboard=cfg.tensorboard) if is_main else None

    def save(step: int) -> Path:
        if is_main:
            save_checkpoint(ckpt, {"step": step, "task": task.state_dict(), "rng": rng_state(),
                                   "config": config_dict or {}})
        dist_utils.barrier()
        return ckpt

    last_good = ckpt if ckpt.is_file() else None
    losses: dict[str, float] = {}
    t0 = time.perf_counter()
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.steps, initial=start, disable=not (cfg.progress and is_main), unit="step", dynamic_ncols=True)
    try:
        for step in range(start, cfg.steps):
            raw = task.train_step(step)
            losses = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in raw.items()}
            check_finite(step + 1, losses, last_good)
            done = step + 1
            if logger and (done % cfg.log_every == 0 or done == cfg.steps):
                logger.log(done, losses)
            if done % max(1, cfg.log_every) == 0 or done == cfg.steps:
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(losses.items())[:4]}, refresh=False)
            bar.update(1)
            if is_main and cfg.sample_every and (done % cfg.sample_every == 0 or done == cfg.steps):
                saved = rng_state()  # sampling must not shift the training's random stream
                task.sample(out / "samples" / f"step{done:07d}.png", done)
                restore_rng_state(saved)
            if done % cfg.ckpt_every == 0 or done == cfg.steps:
                last_good = save(done)
    finally:
        bar.close()
        if logger:
            logger.close()
    if is_main and logger and logger.rows:
        plot_losses(logger.csv_path, out / "losses.png")
    return FitResult(out=out, step=cfg.steps, checkpoint=ckpt, seconds=time.perf_counter() - t0, last_losses=losses)


def setup(cfg: LoopConfig) -> torch.device:
    """Seed, pick the device, and join the process group under torchrun. Call before building the task."""
    device = dist_utils.init(default_device(cfg.device))
    seed_everything(cfg.seed + dist_utils.rank())
    return device


def infinite(iterable_factory) -> Iterator:
    """Cycle forever through freshly created iterables (for tasks that stream data)."""
    while True:
        yield from iterable_factory()
