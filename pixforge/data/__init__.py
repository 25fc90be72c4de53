"""Datasets for GAN training, the digit classifier and image-to-image models, all as tensors in [-1, 1].

``load_dataset(name, **kw)`` is the one entry point: a built-in name (:mod:`.builtin`, no download), a
downloadable one (:mod:`.downloads`, fetched and checksum-verified on first use) or an image folder path
(:mod:`.folders`, needs ``size=``). It returns ``(images (N, C, H, W) or points (N, 2), labels or None)``.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import BadInputError
from .builtin import BUILTIN, list_builtin, load_builtin
from .downloads import DOWNLOADS, fetch_dataset, load_download
from .folders import ImageFolderDataset, load_folder

__all__ = ["BUILTIN", "DOWNLOADS", "ImageFolderDataset", "fetch_dataset", "list_builtin", "load_builtin",
           "load_dataset", "load_download", "load_folder"]


def load_dataset(name: str | os.PathLike, **kw) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Load a built-in, downloadable or folder dataset by name or path (keyword options pass through)."""
    key = str(name)
    if key in BUILTIN:
        return load_builtin(key, **kw)
    if key in DOWNLOADS:
        return load_download(key, **kw)
    if Path(key).is_dir():
        if "size" not in kw:
            raise BadInputError(f"{key}: an image folder needs size= (images are resized and centre-cropped to it)")
        images, labels, _ = load_folder(key, **kw)
        return images, labels
    known = ", ".join([*BUILTIN, *DOWNLOADS])
    raise BadInputError(f"{key!r} is neither a dataset name ({known}) nor an image folder")
