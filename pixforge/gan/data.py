"""Training data for GANs: a built-in dataset name (pixforge.data.builtin) or a folder of images.

Returns ``(samples, labels)``: float32 samples in [-1, 1], (N, C, H, W) for images or (N, 2) for the 2D
toys, and int64 labels or None.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import BadInputError


def load_builtin(name: str, **kw):
    """Indirection so tests can substitute tiny data (pixforge.data.builtin is imported only when used)."""
    from ..data.builtin import load_builtin as load

    return load(name, **kw)


def load_folder(folder: Path, size: int) -> torch.Tensor:
    """Every image in ``folder``, centre-cropped to a square and resized to ``size`` (64 when 0), in [-1, 1]."""
    from ..io import list_images, read_image, resize

    paths = list_images(folder)
    if not paths:
        raise BadInputError(f"{folder}: no images found")
    out = []
    for p in paths:
        img = read_image(p)
        h, w = img.shape[-2:]
        s = min(h, w)
        img = img[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(resize(img, (size or 64, size or 64)))
    return torch.stack(out) * 2 - 1


def load_gan_data(data: str, size: int = 0, max_items: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``data``: an image folder or a built-in dataset name; ``size`` (0 = native) resizes images."""
    path = Path(data)
    if path.is_dir():
        x, y = load_folder(path, size), None
    else:
        x, y = load_builtin(data, **({"size": size} if size else {}))
        x = torch.as_tensor(x, dtype=torch.float32)
        y = None if y is None else torch.as_tensor(y, dtype=torch.int64)
    if max_items:
        x, y = x[:max_items], (None if y is None else y[:max_items])
    if len(x) == 0:
        raise BadInputError(f"{data}: the dataset is empty")
    return x, y
