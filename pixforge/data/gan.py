"""Training data for GANs through :func:`pixforge.data.load_dataset`: a dataset name or an image folder.

Returns ``(samples, labels)``: float32 samples in [-1, 1], (N, C, H, W) for images or (N, 2) for the 2D
toys, and int64 labels or None.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import BadInputError


def load_dataset(name: str, **kw):
    """Indirection so tests can substitute tiny data."""
    from ..data import load_dataset as load

    return load(name, **kw)


def load_gan_data(data: str, size: int = 0, max_items: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``data``: a dataset name or an image folder; ``size`` (0 = native; 64 for folders) resizes images."""
    if Path(data).is_dir():
        size = size or 64
    x, y = load_dataset(data, **({"size": size} if size else {}))
    x = torch.as_tensor(x, dtype=torch.float32)
    y = None if y is None else torch.as_tensor(y, dtype=torch.int64)
    if max_items:
        x, y = x[:max_items], (None if y is None else y[:max_items])
    if len(x) == 0:
        raise BadInputError(f"{data}: the dataset is empty")
    return x, y
