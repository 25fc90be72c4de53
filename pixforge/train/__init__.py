"""Shared training machinery: the loop, checkpoints, run logging, divergence guard, data parallelism."""
from .checkpoint import check_finite, load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from .logging import RunLogger, plot_losses
from .loop import LoopConfig, StepBatches, Task, autocast, checkpoint_path, fit, make_scheduler, setup

__all__ = [
    "save_checkpoint", "load_checkpoint", "rng_state", "restore_rng_state", "check_finite",
    "RunLogger", "plot_losses",
    "LoopConfig", "Task", "StepBatches", "fit", "setup", "autocast", "make_scheduler", "checkpoint_path",
]
