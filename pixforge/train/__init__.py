"""Shared training machinery: the loop, step-indexed data, checkpoints, run logging, divergence guard, data
parallelism."""
from .checkpoint import check_finite, load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from .data import ImageBatches, StepBatches, TensorBatches, TrainImages, make_batches
from .logging import RunLogger, plot_losses
from .loop import (FitResult, LoopConfig, Task, autocast, checkpoint_path, fit, lr_factor, make_scheduler, run,
                   setup, step_on)

__all__ = [
    "save_checkpoint", "load_checkpoint", "rng_state", "restore_rng_state", "check_finite",
    "StepBatches", "TensorBatches", "TrainImages", "ImageBatches", "make_batches",
    "RunLogger", "plot_losses",
    "LoopConfig", "Task", "FitResult", "fit", "run", "setup", "autocast", "make_scheduler", "lr_factor",
    "checkpoint_path", "step_on",
]
