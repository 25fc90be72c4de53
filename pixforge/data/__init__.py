"""Datasets for GAN training, the digit classifier and image-to-image models, all as tensors in [-1, 1].

``load_dataset(name, **kw)`` is the one entry point: a registered name (:data:`pixforge.registry.DATASETS`:
built-in sets and 2D mixtures from :mod:`.builtin`, no download; downloadable ones from :mod:`.downloads`,
fetched and checksum-verified on first use) or an image folder path (:mod:`.folders`, needs ``size=``). It
returns ``(images (N, C, H, W) or points (N, 2), labels or None)``.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path

import torch

from ..errors import BadInputError
from ..registry import DATASETS
from .downloads import fetch_dataset, load_download
from .folders import ImageFolderDataset, load_folder

__all__ = ["DATASETS", "ImageFolderDataset", "fetch_dataset", "load_dataset", "load_download", "load_folder"]


def load_dataset(name: str | os.PathLike, **kw) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Load a registered dataset by name, or an image folder by path (keyword options pass through)."""
    key = str(name)
    if Path(key).is_dir():
        if "size" not in kw:
            raise BadInputError(f"{key}: an image folder needs size= (images are resized and centre-cropped to it)")
        images, labels, _ = load_folder(key, **kw)
        return images, labels
    try:
        loader = DATASETS.get(key)
    except BadInputError as exc:  # "unknown dataset 'x'; known: ..."
        raise BadInputError(f"{exc}; or give an image folder") from None
    accepted = list(inspect.signature(loader).parameters)
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise BadInputError(f"dataset {key!r} has no option {', '.join(unknown)}; it takes: {', '.join(accepted)}")
    return loader(**kw)
