"""The pixel optimiser of the optimisation-based methods (Gatys, neural doodle / CNNMRF).

The output image itself is the parameter: :func:`optimise` minimises ``objective(image)`` over its pixels with
L-BFGS (or Adam) in exactly ``steps`` network passes, and :func:`coarse_to_fine` runs it over the levels of a
:func:`schedule` (a small size first for the global layout, then upsampled and refined at each larger size).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..errors import ConfigError, DivergenceError

#: An objective maps the image (1, 3, H, W) to (loss, {name: float} parts shown in the progress bar).
Objective = Callable[[torch.Tensor], "tuple[torch.Tensor, dict[str, float]]"]
MIN_LEVEL_SIDE = 32  # Gatys: coarse levels never go below this short side (relu5_1 would be 2x2)


@dataclass
class Level:
    """One resolution of the coarse-to-fine schedule."""

    hw: tuple[int, int]
    steps: int


def schedule(hw: Sequence[int], scales: int, steps: int, min_side: int = MIN_LEVEL_SIDE,
             per_level: bool = False) -> list[Level]:
    """Levels from coarse to fine: sizes hw / 2^k, k = scales-1 ... 0.

    Coarse levels whose short side would fall below ``min_side`` pixels are dropped (the full size is always
    kept). ``steps`` is split evenly over the levels, the rest going to the finest (Gatys), or run at every
    level with ``per_level`` (doodle).
    """
    h, w = int(hw[0]), int(hw[1])
    sizes = [(max(1, round(h / 2**k)), max(1, round(w / 2**k))) for k in reversed(range(max(1, scales)))]
    sizes = [s for s in sizes[:-1] if min(s) >= min_side] + sizes[-1:]
    if per_level:
        return [Level(s, steps) for s in sizes]
    per, rest = divmod(steps, len(sizes))
    return [Level(s, per + (rest if i == len(sizes) - 1 else 0)) for i, s in enumerate(sizes)]


def check_scales(hw: Sequence[int], scales: int, min_side: int = MIN_LEVEL_SIDE) -> None:
    """ConfigError unless all ``scales`` levels of an output of size ``hw`` keep a short side >= ``min_side``."""
    if scales < 1:
        raise ConfigError(f"--scales must be at least 1, not {scales}")
    fits = len(schedule(hw, scales, 0, min_side))
    if fits < scales:
        raise ConfigError(f"--scales {scales} is too many for a {hw[1]}x{hw[0]} px output: every level halves the "
                          f"size and none may go below {min_side} px, so at most {fits} fit (or raise --size)")


class _Budget(Exception):
    """The pass budget is spent (raised inside an L-BFGS line search)."""


def optimise(objective: Objective, image: torch.Tensor, steps: int, optimizer: str = "lbfgs", lr: float = 0.02,
             line_search: bool = True, on_step: Callable[[torch.Tensor, dict], None] | None = None,
             name: str = "optimise") -> torch.Tensor:
    """Minimise ``objective(image)`` over the pixels in exactly ``steps`` forward/backward passes.

    L-BFGS (history 100): with ``line_search`` a strong-Wolfe search (without one PyTorch's L-BFGS takes unit
    steps that overshoot by orders of magnitude on the Gram loss and then crawl, see benchmarks/RESULTS.md);
    a search that would run past the budget is cut there and the best image evaluated is kept. Without a line
    search (doodle: the nearest-patch matches change every step, so a search mostly spends extra passes) each
    pass is one step. Adam clamps the image to [0, 1] after each step. ``on_step`` runs once per pass.
    """
    image = image.detach().contiguous().clone().requires_grad_(True)
    if optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam([image], lr=lr)
    elif optimizer == "lbfgs":
        # without a search the last step is taken after the last pass, so one more evaluation is never asked for
        opt = torch.optim.LBFGS([image], lr=1.0, max_iter=steps, max_eval=steps + (0 if line_search else 1),
                                history_size=100, tolerance_grad=0.0, tolerance_change=0.0,
                                line_search_fn="strong_wolfe" if line_search else None)
    else:
        raise ConfigError(f"optimizer must be 'lbfgs' or 'adam', not {optimizer!r}")
    passes, scale = 0, []
    best: list = [math.inf, None]

    def closure() -> torch.Tensor:
        nonlocal passes
        if passes == steps:
            raise _Budget
        opt.zero_grad(set_to_none=True)
        loss, parts = objective(image)
        if not torch.isfinite(loss):
            raise DivergenceError(f"{name}: the loss became {float(loss)}; lower the loss weights (or --lr)")
        loss.backward()
        passes += 1
        if on_step is not None:
            on_step(image.detach(), parts)
        if optimizer == "adam":
            return loss
        value = float(loss.detach())
        if line_search and value < best[0]:
            best[:] = [value, image.detach().clone()]
        # torch's L-BFGS skips curvature pairs with y.s < 1e-10 (an absolute threshold), so a loss with tiny
        # gradients (random VGG, small weights) would never build a Hessian estimate. Rescale the objective
        # once so the first gradient has mean magnitude 1; L-BFGS is otherwise invariant to the scale.
        if not scale:
            scale.append(1.0 / max(float(image.grad.abs().mean()), 1e-30))
        image.grad.mul_(scale[0])
        return loss.detach() * scale[0]

    if optimizer == "lbfgs":
        if steps > 0:
            try:
                opt.step(closure)
            except _Budget:
                return best[1]
        return image.detach()
    for _ in range(steps):
        opt.step(closure)
        with torch.no_grad():
            image.clamp_(0, 1)
    return image.detach()


def coarse_to_fine(levels: list[Level], objective_at: Callable[[tuple[int, int]], Objective],
                   start: Callable[[tuple[int, int]], torch.Tensor], optimizer: str = "lbfgs", lr: float = 0.02,
                   line_search: bool = True, progress: bool = True, name: str = "optimise",
                   on_step: Callable[[torch.Tensor, dict], None] | None = None) -> torch.Tensor:
    """Optimise level by level: ``start(hw)`` is the first image, each next level starts from the previous
    result upsampled (bicubic), with ``objective_at(hw)``. One progress bar over every pass; returns
    (1, 3, H, W) (not clamped)."""
    from tqdm import tqdm

    bar = tqdm(total=sum(level.steps for level in levels), disable=not progress, desc=name, file=sys.stderr,
               dynamic_ncols=True, leave=False)

    def step(image: torch.Tensor, parts: dict) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{parts.get('total', float('nan')):.4g}", size="x".join(map(str, image.shape[-2:])))
        if on_step is not None:
            on_step(image, parts)

    image = None
    try:
        for level in levels:
            objective = objective_at(level.hw)
            if image is None:
                image = start(level.hw)
            elif tuple(image.shape[-2:]) != tuple(level.hw):
                image = F.interpolate(image, size=level.hw, mode="bicubic", align_corners=False).clamp(0, 1)
            image = optimise(objective, image, level.steps, optimizer, lr, line_search, step, name)
    finally:
        bar.close()
    return image
