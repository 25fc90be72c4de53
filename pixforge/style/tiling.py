"""Tiled inference: run an image-to-image function on overlapping tiles and feather the seams.

Memory is bounded by one tile's activations plus the output canvas, so a 4096 px image goes through a
network that could not hold its full-size activations. Overlapping tiles are blended with weights that
ramp from 0 to 1 across the overlap (linear or cosine). The outermost ``margin`` pixels of every
inner tile edge get weight 0: for a network whose receptive-field radius is at most ``margin``
(and that treats every pixel alike, e.g. a conv net in eval mode without instance norm) the tiled result
equals the untiled one. Networks with instance norm normalise each tile with its own statistics, so
their tiles differ slightly in tone; the feathering hides the seams but the result is not identical.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

ImageFn = Callable[[torch.Tensor], torch.Tensor]


def default_overlap(tile: int) -> int:
    """The overlap of ``tile``-pixel tiles when none is given: an eighth of the tile, 16 px at least, and less
    than half the tile."""
    return min(max(16, tile // 8), tile // 2)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile start positions covering [0, length) with tiles of ``tile`` overlapping by at least ``overlap``."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def _ramp(overlap: int, margin: int, mode: str) -> torch.Tensor:
    """Weights rising from 0 to 1 across ``overlap`` pixels, exactly 0 over the first ``margin`` of them."""
    width = max(1, overlap - 2 * margin)
    t = ((torch.arange(overlap, dtype=torch.float32) - margin + 0.5) / width).clamp(0, 1)
    if mode == "cosine":
        return 0.5 - 0.5 * torch.cos(math.pi * t)
    if mode != "linear":
        raise ValueError(f"feather must be 'linear' or 'cosine', not {mode!r}")
    return t


def _edge_weights(length: int, lead: int, trail: int, margin: int, mode: str) -> torch.Tensor:
    """1-D weights of one tile: ramps over its overlaps with the previous (lead) and next (trail) tiles."""
    w = torch.ones(length)
    if lead:
        w[:lead] = torch.minimum(w[:lead], _ramp(lead, margin, mode))
    if trail:
        w[length - trail:] = torch.minimum(w[length - trail:], _ramp(trail, margin, mode).flip(0))
    return w


def tiled(fn: ImageFn, image: torch.Tensor, tile: int, overlap: int = 32, feather: str = "linear",
          margin: int | None = None) -> torch.Tensor:
    """``fn(image)`` computed tile by tile. ``image`` is (N, C, H, W); ``fn`` must keep the spatial size.

    Args:
        tile: tile side in pixels (tiles at the borders are shifted inwards, never padded).
        overlap: minimum overlap of neighbouring tiles in pixels (feathering happens there).
        feather: "linear" or "cosine" weight ramp.
        margin: pixels at each inner tile edge that get no weight (default ``overlap // 4``).
    """
    if tile <= 0 or overlap < 0 or overlap >= tile:
        raise ValueError(f"need 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    margin = overlap // 4 if margin is None else margin
    h, w = image.shape[-2:]
    if h <= tile and w <= tile:
        return fn(image)
    ys, xs = _starts(h, tile, overlap), _starts(w, tile, overlap)
    out = weight = None
    for i, y in enumerate(ys):
        th = min(tile, h)
        for j, x in enumerate(xs):
            tw = min(tile, w)
            result = fn(image[..., y:y + th, x:x + tw])
            if out is None:
                out = torch.zeros(*result.shape[:-2], h, w, dtype=result.dtype, device=result.device)
                weight = torch.zeros(h, w, dtype=result.dtype, device=result.device)
            # Real overlap with each neighbour (tiles at the end can overlap more than asked for).
            lead_y = ys[i - 1] + th - y if i else 0
            trail_y = y + th - ys[i + 1] if i + 1 < len(ys) else 0
            lead_x = xs[j - 1] + tw - x if j else 0
            trail_x = x + tw - xs[j + 1] if j + 1 < len(xs) else 0
            wy = _edge_weights(th, lead_y, trail_y, margin, feather)
            wx = _edge_weights(tw, lead_x, trail_x, margin, feather)
            wt = (wy[:, None] * wx[None, :]).to(result.device, result.dtype)
            out[..., y:y + th, x:x + tw] += result * wt
            weight[y:y + th, x:x + tw] += wt
    return out / weight.clamp_min(1e-8)

