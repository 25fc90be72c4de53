"""Checkpoints: atomic writes, safe loads (``weights_only=True``), and every RNG state for exact resumes."""
from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..errors import DivergenceError, PixforgeError
from ..utils import atomic_path
from ..weights import torch_load


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA RNG states as tensors/tuples that ``weights_only`` loading accepts."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` (state dicts, numbers, strings, RNG states) atomically: old file stays until done."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise PixforgeError(f"{path}: no such checkpoint")
    return torch_load(path, "a pixforge checkpoint", PixforgeError, map_location)


def check_finite(step: int, losses: Mapping[str, float | torch.Tensor], last_good: str | os.PathLike | None,
                 bound: float = 0.0) -> None:
    """Raise DivergenceError if any loss is NaN/Inf, or (with ``bound`` > 0) larger than ``bound`` in magnitude,
    naming the step and the last good checkpoint kept."""
    values = {k: float(v) for k, v in losses.items()}
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    exploding = {k: v for k, v in values.items() if bound and math.isfinite(v) and abs(v) > bound}
    if bad or exploding:
        where = f"the last good checkpoint is {last_good}" if last_good else "no checkpoint had been written yet"
        names = ", ".join([f"{k}={v}" for k, v in bad.items()] + [f"{k}={v:.3g}" for k, v in exploding.items()])
        limit = f", above loop.max_loss={bound:g}" if exploding else ""
        raise DivergenceError(f"training diverged at step {step} ({names}{limit}); {where}. "
                              "Lower the learning rate or change the loss, then --resume.")
