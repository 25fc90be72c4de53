"""Shared training machinery: checkpoints, run logging, divergence guard."""
from .checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from .logging import RunLogger, plot_losses

__all__ = ["save_checkpoint", "load_checkpoint", "rng_state", "restore_rng_state", "RunLogger", "plot_losses"]
