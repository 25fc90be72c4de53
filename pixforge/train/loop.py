"""The one training loop: every pixforge trainer (GANs, feed-forward style nets, AdaIN decoders, ...) runs here.

A trainer is a :class:`Task`: it owns its modules and optimisers and does one optimisation step per call of
``train_step(step)``, returning its losses as tensors. :func:`fit` does the rest, the same way for every task:

* run folder: training into a folder that holds another run is refused unless ``resume`` or ``overwrite``;
* resume: reloads modules, optimisers, schedulers, task state, every RNG state and the step, so an interrupted
  and resumed run ends with exactly the weights of an uninterrupted one. Changed optimiser settings (a lower
  learning rate after a divergence) are applied to the restored optimisers; changed model, loss or data
  settings are refused unless ``force``;
* learning-rate schedules (constant, linear, step, cosine, inverse; with warm-up) built here from the loop
  config for every optimiser of the task, stepped once per step and checkpointed;
* losses stay on the device and reach the host once per log interval (one transfer), where NaN/Inf and
  exploding values (above ``max_loss``) stop the run with a clear message. Every checkpoint write is preceded
  by that check, so ``last.pt`` is always a good one;
* checkpoints: ``OUT/checkpoints/last.pt`` every ``ckpt_every`` steps and at the end (atomic writes), and
  ``best.pt`` whenever ``task.validate()`` (every ``val_every`` steps) improves ``best_metric``;
* logging: a tqdm bar, ``OUT/metrics.csv``, TensorBoard scalars, a loss plot; ``OUT/config.yaml``;
* samples: ``task.sample(path)`` every ``sample_every`` steps (PNG grids);
* data parallel: under ``torchrun`` every rank runs the loop, rank 0 alone writes files (see distributed.py).

Data order is a function of the step (see :mod:`pixforge.train.data`), which is what makes resuming exact.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable

import torch
from torch import nn

from ..config import check, to_dict
from ..errors import ConfigError
from ..utils import atomic_path, default_device, seed_everything
from . import distributed as dist_utils
from .checkpoint import check_finite, load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from .data import ImageBatches
from .logging import RunLogger, plot_losses

LR_SCHEDULES = ("constant", "linear", "step", "cosine", "inverse")


@dataclass
class LoopConfig:
    """Options every training run shares (a task's own config embeds this as ``loop``)."""

    steps: int = 1000  # optimisation steps in all (a resumed run continues up to this)
    out: str = "runs/run"  # run folder: checkpoints/, samples/, metrics.csv, config.yaml
    seed: int = 0
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:1, ...
    log_every: int = 10  # steps between log rows; losses reach the host only then
    sample_every: int = 500  # steps between sample grids in OUT/samples (0 = none)
    ckpt_every: int = 500  # steps between writes of checkpoints/last.pt (and at the end)
    val_every: int = 0  # steps between validations (0 = none); best.pt keeps the best one
    best_metric: str = ""  # validation metric that chooses best.pt ("" = the first one reported)
    best_mode: str = "min"  # min or max: which way best_metric improves
    lr_schedule: str = "constant"  # constant, linear, step, cosine or inverse, for every optimiser
    lr_warmup: int = 0  # steps of linear warm-up to the base rate
    lr_decay_start: int = 0  # linear/cosine: the step where the decay to lr_final starts
    lr_final: float = 0.0  # linear/cosine: the rate at the last step, as a fraction of the base rate
    lr_step: int = 1000  # step: multiply the rate by lr_gamma every lr_step steps
    lr_gamma: float = 0.1  # step: that factor; inverse: k in rate / (1 + k * step)
    max_loss: float = 1e12  # a loss larger than this in magnitude stops the run as diverged (0 = no bound)
    workers: int = 2  # DataLoader processes that decode image folders (0 = in the training process)
    amp: bool = False  # bfloat16 autocast (CUDA, and CPUs with AVX-512 BF16); numerics differ slightly
    resume: bool = False  # continue from OUT/checkpoints/last.pt
    overwrite: bool = False  # train into a folder holding another run, deleting its checkpoints and logs
    force: bool = False  # resume even though the model, loss or data settings changed
    progress: bool = True  # show a progress bar
    tensorboard: bool = True  # write TensorBoard event files to OUT/tb

    def __post_init__(self) -> None:
        check(self, positive=("steps", "log_every", "ckpt_every", "lr_step"),
              non_negative=("sample_every", "val_every", "lr_warmup", "lr_decay_start", "lr_final", "lr_gamma",
                            "max_loss", "workers"),
              choices={"lr_schedule": LR_SCHEDULES, "best_mode": ("min", "max")})


class Task:
    """What a trainer provides to :func:`fit`. Subclasses fill ``modules`` and ``optimizers`` (fit adds a
    learning-rate scheduler for each optimiser) and implement ``train_step``; the rest is optional."""

    Config: ClassVar[type | None] = None  # the task's config dataclass (with a ``loop: LoopConfig`` field)
    cfg: Any = None

    def __init__(self) -> None:
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}

    def lr_scale(self, step: int) -> float:
        """A factor of the task's own on every learning rate at ``step``, times the loop's schedule (1 here;
        StyleGAN: its rate per resolution)."""
        return 1.0

    @classmethod
    def default_config(cls, values: dict[str, Any]) -> Path | None:
        """The YAML file ``pixforge train`` starts from when the command line names none, given the command
        line's ``{dotted key: value}`` (e.g. a shipped recipe for the chosen data); None: the config's defaults."""
        return None

    @classmethod
    def from_config(cls, cfg: Any, device: torch.device, **kwargs: Any) -> "Task":
        """Build the task for a (validated) config: load data and networks."""
        return cls(cfg, device, **kwargs)

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        """One optimisation step (step counts from 0). Return the losses as tensors: fit syncs them to the
        host only every ``log_every`` steps (``.item()`` here would stall the GPU every step)."""
        raise NotImplementedError

    def sample(self, path: Path, step: int) -> None:
        """Write a picture of the current model to ``path`` (a PNG); optional."""

    def validate(self, step: int) -> dict[str, float]:
        """Metrics of the current model (run under ``torch.no_grad()`` every ``val_every`` steps); optional."""
        return {}

    def finish(self, result: "FitResult") -> list[str]:
        """Write the final artefacts (e.g. OUT/model.safetensors) after training; return lines to print."""
        return []

    def close(self) -> None:
        """Release what training holds beyond memory: the worker processes of streamed image data."""
        for value in vars(self).values():
            if isinstance(value, ImageBatches):
                value.close()

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

    def load_state_dict(self, state: dict[str, Any]) -> list[str]:
        """Restore a checkpoint's state. Optimiser settings that this task was built with and that differ from
        the checkpoint's (``lr_g=...`` on a resume) win; returns one line per setting so changed."""
        for k, m in self.modules.items():
            dist_utils.unwrap(m).load_state_dict(state["modules"][k])
        wanted = {k: [hyper_parameters(g) for g in o.param_groups] for k, o in self.optimizers.items()}
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            if k in state.get("schedulers", {}):
                s.load_state_dict(state["schedulers"][k])
        self.load_extra_state(state.get("extra", {}))
        return [line for k, o in self.optimizers.items()
                for line in apply_hyper_parameters(k, o, wanted[k], self.schedulers.get(k))]


# ------------------------------------------------------------------------------------------------------------
# Optimiser settings and learning-rate schedules
# ------------------------------------------------------------------------------------------------------------

HYPER_PARAMETERS = ("lr", "betas", "eps", "weight_decay", "momentum", "alpha", "dampening")


def hyper_parameters(group: dict[str, Any]) -> dict[str, Any]:
    """A param group's settings, with its base learning rate (before any schedule) as ``lr``."""
    out = {k: group[k] for k in HYPER_PARAMETERS if k in group}
    out["lr"] = group.get("initial_lr", group["lr"])
    return {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in out.items()}


def apply_hyper_parameters(name: str, optimizer: torch.optim.Optimizer, wanted: list[dict[str, Any]],
                           scheduler: Any = None) -> list[str]:
    """Set ``wanted`` settings on a restored optimiser (and its schedule's base rate); lines saying what changed."""
    changes = []
    for i, (group, want) in enumerate(zip(optimizer.param_groups, wanted)):
        have = hyper_parameters(group)
        for key, value in want.items():
            if have.get(key) == value:
                continue
            changes.append(f"{name} {key} {have.get(key)} -> {value}")
            if key != "lr":
                group[key] = value
                continue
            group["initial_lr"] = value
            factor = 1.0
            if scheduler is not None:
                scheduler.base_lrs[i] = value
                factor = scheduler.lr_lambdas[i](scheduler.last_epoch) if hasattr(scheduler, "lr_lambdas") else 1.0
            group["lr"] = value * factor
    return changes


def lr_factor(step: int, kind: str, steps: int, warmup: int = 0, decay_start: int = 0, final: float = 0.0,
              step_size: int = 1000, gamma: float = 0.1) -> float:
    """The learning rate at ``step`` as a fraction of the base rate.

    constant: 1; linear / cosine: 1 until ``decay_start``, then down to ``final`` at ``steps`` (pix2pix and
    CycleGAN decay linearly over their second half); step: ``gamma`` every ``step_size`` steps; inverse:
    ``1 / (1 + gamma * step)`` (the AdaIN reference). Every kind starts with ``warmup`` steps rising linearly.
    """
    if step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    if kind == "step":
        return gamma ** (step // step_size)
    if kind == "inverse":
        return 1.0 / (1.0 + gamma * step)
    begin = max(warmup, decay_start)
    t = min(1.0, max(0.0, (step - begin) / max(1, steps - begin)))
    if kind == "linear":
        return final + (1 - final) * (1 - t)
    if kind == "cosine":
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))
    raise ConfigError(f"unknown learning-rate schedule {kind!r}; known: {', '.join(LR_SCHEDULES)}")


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str = "constant", steps: int = 1,
                   scale: Callable[[int], float] | None = None, **options: Any):
    """A LambdaLR following :func:`lr_factor` (options: warmup, decay_start, final, step_size, gamma), times
    ``scale(step)`` when given."""
    lr_factor(0, kind, steps, **options)  # validate kind early
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, kind, steps, **options) * (scale(step) if scale else 1.0))


def build_schedulers(task: Task, cfg: LoopConfig) -> None:
    """The loop config's schedule for every optimiser of the task that has no scheduler of its own."""
    for name, optimizer in task.optimizers.items():
        if name not in task.schedulers:
            task.schedulers[name] = make_scheduler(
                optimizer, cfg.lr_schedule, cfg.steps, task.lr_scale, warmup=cfg.lr_warmup,
                decay_start=cfg.lr_decay_start, final=cfg.lr_final, step_size=cfg.lr_step, gamma=cfg.lr_gamma)


def step_on(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimiser step on ``loss``: clear the gradients, back-propagate, step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for the forward pass where asked for (no grad scaler needed with bf16)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


# ------------------------------------------------------------------------------------------------------------
# Run folders and resuming
# ------------------------------------------------------------------------------------------------------------

#: what a run writes into its folder (deleted by ``overwrite``)
RUN_FILES = ("checkpoints", "samples", "metrics.csv", "tb", "losses.png", "config.yaml")


def checkpoint_path(out: str | Path, name: str = "last") -> Path:
    return Path(out) / "checkpoints" / f"{name}.pt"


def prepare_run_folder(cfg: LoopConfig) -> None:
    """Refuse to train into a folder that holds another run, unless resuming it or told to overwrite it
    (then its checkpoints, samples and logs are deleted first, so old and new never mix)."""
    out = Path(cfg.out)
    found = [name for name in RUN_FILES if (out / name).exists()]
    if cfg.resume or not found:
        return
    if not cfg.overwrite:
        raise ConfigError(f"{out} already holds a training run ({', '.join(found)}); add --resume to continue it "
                          "or --overwrite to start it again")
    if dist_utils.is_main_process():
        for name in found:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def config_record(config: Any) -> dict[str, Any]:
    """A task config as the plain dict kept in checkpoints and config.yaml (one-shot flags cleared)."""
    if config is None:
        return {}
    record = to_dict(config) if dataclasses.is_dataclass(config) else dict(config)
    if isinstance(record.get("loop"), dict):
        record["loop"].update(resume=False, overwrite=False, force=False)
    return record


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def check_resumable(saved: dict[str, Any], now: dict[str, Any], may_change: Iterable[str], ckpt: Path,
                    force: bool) -> None:
    """Refuse a resume whose settings differ from the run's in anything but ``loop.*`` and ``may_change``
    (optimiser settings): a changed model, loss or data would silently train something else."""
    allowed = {"loop", *may_change}
    old, new = _flatten(saved), _flatten(now)
    differ = [k for k in old if k in new and k.split(".")[0] not in allowed and old[k] != new[k]]
    if differ and not force:
        shown = ", ".join(f"{k} {old[k]} -> {new[k]}" for k in differ)
        raise ConfigError(f"cannot resume {ckpt}: the model, loss or data settings differ from the run's ({shown}); "
                          "start a new run, or add --force to resume anyway")


# ------------------------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------------------------

@dataclass
class FitResult:
    out: Path
    start: int  # the step this run started from (> 0 after a resume)
    step: int  # the step it ended at
    checkpoint: Path
    seconds: float
    last_losses: dict[str, float] = field(default_factory=dict)
    best: dict[str, Any] | None = None  # {"metric", "value", "step"} of best.pt
    outputs: list[str] = field(default_factory=list)  # what the task's finish() reported

    @property
    def steps_trained(self) -> int:
        return self.step - self.start

    def summary(self) -> str:
        """One line: how many steps this run trained (none, after a resume at the end), in what time."""
        if not self.steps_trained:
            return (f"no steps trained: the run is already at step {self.step} "
                    "(raise --steps to train further)")
        losses = "  ".join(f"{k} {v:.4g}" for k, v in self.last_losses.items())
        n = self.steps_trained
        span = "" if not self.start else f" (step {self.step})" if n == 1 else f" (steps {self.start + 1}-{self.step})"
        return f"trained {n} step{'s' * (n != 1)}{span} in {self.seconds:.1f}s  {losses}".rstrip()


def host_losses(pending: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, float]]]:
    """The losses of several steps as floats, in one device-to-host transfer."""
    device = next((v.device for _, losses in pending for v in losses.values() if torch.is_tensor(v)), None)
    vectors = [torch.stack([v.detach().float().reshape(()).to(device) if torch.is_tensor(v)
                            else torch.tensor(float(v), device=device) for v in losses.values()])
               for _, losses in pending]
    flat = torch.cat(vectors).cpu().tolist()
    out, pos = [], 0
    for step, losses in pending:
        out.append((step, dict(zip(losses, flat[pos: pos + len(losses)]))))
        pos += len(losses)
    return out


def _keeping_rng(fn: Callable, *args: Any) -> Any:
    """Call ``fn`` without shifting the training's random stream (samples and validation draw numbers too)."""
    saved = rng_state()
    try:
        return fn(*args)
    finally:
        restore_rng_state(saved)


def _improved(best: dict[str, Any] | None, metrics: dict[str, float], cfg: LoopConfig, step: int):
    """(whether ``metrics`` beat ``best``, the new best record)."""
    name = cfg.best_metric or next(iter(metrics), "")
    if name not in metrics or not math.isfinite(metrics[name]):
        return False, best
    value = float(metrics[name])
    if best is not None and best["metric"] == name:
        if (value >= best["value"]) if cfg.best_mode == "min" else (value <= best["value"]):
            return False, best
    return True, {"metric": name, "value": value, "step": step}


def fit(task: Task, cfg: LoopConfig, config: Any = None) -> FitResult:
    """Train ``task`` up to step ``cfg.steps`` (continuing from ``last.pt`` with ``cfg.resume``). ``config``, the
    task's whole config (a dataclass or dict), goes into every checkpoint and into OUT/config.yaml."""
    out = Path(cfg.out)
    ckpt, best_ckpt = checkpoint_path(out), checkpoint_path(out, "best")
    is_main = dist_utils.is_main_process()
    say = print if is_main else (lambda *_: None)
    record = config_record(config)
    prepare_run_folder(cfg)
    dist_utils.barrier()  # every rank has checked the folder before the main one writes into it
    build_schedulers(task, cfg)
    start, best = 0, None
    if cfg.resume and ckpt.is_file():
        state = load_checkpoint(ckpt, map_location="cpu")
        check_resumable(state.get("config") or {}, record, getattr(config, "resume_may_change", ()), ckpt, cfg.force)
        try:
            changes = task.load_state_dict(state["task"])
        except (KeyError, ValueError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"{ckpt}: does not fit this task ({first[:200]})") from None
        restore_rng_state(state["rng"])
        start, best = int(state["step"]), state.get("best")
        say(f"pixforge: resumed from step {start} ({ckpt})")
        for line in changes:
            say(f"pixforge: resume: {line} (applied to the restored optimiser)")
    elif cfg.resume:
        say(f"pixforge: no checkpoint at {ckpt}; starting from step 0")
    if is_main and record:
        import yaml

        with atomic_path(out / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(record, sort_keys=False))

    logger = RunLogger(out, resume_step=start if start else None, tensorboard=cfg.tensorboard) if is_main else None

    def write(path: Path, step: int) -> Path:
        if is_main:
            save_checkpoint(path, {"step": step, "task": task.state_dict(), "rng": rng_state(), "config": record,
                                   "best": best})
        return path

    last_good = ckpt if ckpt.is_file() else None
    pending: list[tuple[int, dict[str, Any]]] = []  # losses still on the device
    losses: dict[str, float] = {}
    t0 = time.perf_counter()
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.steps, initial=start, disable=not (cfg.progress and is_main), unit="step", dynamic_ncols=True)
    try:
        for step in range(start, cfg.steps):
            pending.append((step + 1, task.train_step(step)))
            for scheduler in task.schedulers.values():
                scheduler.step()
            done = step + 1
            final = done == cfg.steps
            log = done % cfg.log_every == 0 or final
            sample = bool(cfg.sample_every) and (done % cfg.sample_every == 0 or final)
            validate = bool(cfg.val_every) and (done % cfg.val_every == 0 or final)
            save = done % cfg.ckpt_every == 0 or final
            if log or sample or validate or save:  # the only host syncs (the same steps on every rank)
                for at, values in host_losses(pending):
                    check_finite(at, values, last_good, cfg.max_loss)
                    losses = values
                pending.clear()
            row = dict(losses) if log else {}
            if sample and is_main:
                _keeping_rng(task.sample, out / "samples" / f"step{done:07d}.png", done)
            improved = False
            if validate and is_main:
                with torch.no_grad():
                    metrics = {k: float(v) for k, v in _keeping_rng(task.validate, done).items()}
                row.update(metrics)
                improved, best = _improved(best, metrics, cfg, done)
            if logger and row:
                logger.log(done, row)
            if log:
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(losses.items())[:4]}, refresh=False)
            bar.update(1)
            if save:
                last_good = write(ckpt, done)
                dist_utils.barrier()
            if improved:
                write(best_ckpt, done)
    finally:
        task.close()
        bar.close()
        if logger:
            logger.close()
    if is_main and logger and logger.rows:
        plot_losses(logger.csv_path, out / "losses.png")
    return FitResult(out=out, start=start, step=max(start, cfg.steps), checkpoint=ckpt,
                     seconds=time.perf_counter() - t0, last_losses=losses, best=best)


def setup(cfg: LoopConfig) -> torch.device:
    """Seed, pick the device, and join the process group under torchrun. Call before building the task."""
    device = dist_utils.init(default_device(cfg.device))
    seed_everything(cfg.seed + dist_utils.rank())
    return device


def run(task_class: type[Task], cfg: Any, **build: Any) -> tuple[Task, FitResult]:
    """Train a task from its config, as ``pixforge train`` does: check the run folder (before anything is
    loaded or written), seed, build the task, :func:`fit`, then let the task write its final artefacts."""
    prepare_run_folder(cfg.loop)
    device = setup(cfg.loop)
    task = task_class.from_config(cfg, device, **build)
    result = fit(task, task.cfg.loop, task.cfg)
    if dist_utils.is_main_process():
        result.outputs = task.finish(result)
    return task, result
