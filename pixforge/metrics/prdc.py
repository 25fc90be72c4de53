"""Improved precision and recall (Kynkäänniemi et al. 2019), with density and coverage (Naeem et al. 2020).

Each set's manifold is the union of balls around its samples, the radius of a ball being the distance to
that sample's k-th nearest neighbour in its own set (k = 3 by default, as in the paper).

* precision: fraction of fake samples inside the real manifold (quality);
* recall: fraction of real samples inside the fake manifold (diversity);
* density: how many real balls contain each fake sample, divided by k (can exceed 1);
* coverage: fraction of real samples whose own ball contains at least one fake sample.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import BadInputError


def _distances(a: torch.Tensor, b: torch.Tensor, chunk: int = 4096):
    """Yield (start, pairwise distances of rows a[start:start+chunk] to all of b)."""
    for start in range(0, len(a), chunk):
        yield start, torch.cdist(a[start:start + chunk], b)


def knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row."""
    radii = torch.empty(len(feats), dtype=feats.dtype)
    for start, d in _distances(feats, feats):
        radii[start:start + len(d)] = d.kthvalue(k + 1, dim=1).values  # k+1: the row itself is at distance 0
    return radii


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, how many balls (centres, radii) contain it."""
    counts = torch.empty(len(points), dtype=torch.long)
    for start, d in _distances(points, centres):
        counts[start:start + len(d)] = (d <= radii[None]).sum(1)
    return counts


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` (both (N, D) feature arrays)."""
    x = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise BadInputError(f"precision/recall needs two (N, D) arrays of the same D, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(len(x), len(y)) <= k:
        raise BadInputError(f"precision/recall with k={k} needs more than {k} samples per set")
    real_radii, fake_radii = knn_radii(x, k), knn_radii(y, k)
    in_real = _inside(y, x, real_radii)
    in_fake = _inside(x, y, fake_radii)
    # coverage: the nearest fake sample of each real sample lies within that real sample's radius
    nearest_fake = torch.cat([d.min(1).values for _, d in _distances(x, y)])
    return {
        "precision": float((in_real > 0).double().mean()),
        "recall": float((in_fake > 0).double().mean()),
        "density": float(in_real.double().sum() / (k * len(y))),
        "coverage": float((nearest_fake <= real_radii).double().mean()),
    }
