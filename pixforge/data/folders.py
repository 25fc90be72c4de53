"""Image folders as training data: square crops in [-1, 1], optionally one class per subfolder.

Every image is read with :func:`pixforge.io.read_image` (any mode: grey, palette, RGBA on white, 16-bit,
CMYK; EXIF orientation applied), resized so its *short* side is ``size`` and centre-cropped to
``size`` x ``size``. ``labelled=True`` treats each (non-hidden) subfolder as a class: sorted folder names
give class indices 0, 1, ...; images anywhere below a class folder belong to it.

Bad files: :func:`load_folder` skips unreadable images with one warning that counts them and names the
first few (``on_error="raise"`` raises :class:`BadInputError` naming the file instead); if nothing readable
is left it raises. The lazy :class:`ImageFolderDataset` lists files only and always raises
:class:`BadInputError` naming the file when one turns out unreadable mid-training.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ..errors import BadInputError
from ..io import list_images, read_image, resize
from .builtin import to_channels

#: load_folder refuses to build tensors larger than this (bytes); use ImageFolderDataset for such folders.
MAX_IN_MEMORY_BYTES = 8 << 30


def resize_short_side(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (C, H, W) so its short side is ``size`` (aspect kept)."""
    h, w = image.shape[-2:]
    scale = size / min(h, w)
    return resize(image, (max(size, round(h * scale)), max(size, round(w * scale))))


def resize_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """(C, H, W) -> (C, size, size): scale so the short side is ``size``, then crop the centre."""
    image = resize_short_side(image, size)
    top, left = (image.shape[-2] - size) // 2, (image.shape[-1] - size) // 2
    return image[..., top:top + size, left:left + size]


def prepare(path: str | os.PathLike, size: int, channels: int = 3) -> torch.Tensor:
    """Read one file as a (channels, size, size) float32 tensor in [-1, 1]."""
    image = resize_crop(read_image(path), size)
    return to_channels(image[None], channels)[0] * 2 - 1


def list_classes(folder: str | os.PathLike) -> tuple[list[Path], list[int], list[str]]:
    """Files, their class indices and the class names of a folder with one subfolder per class."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(f"{folder}: not a folder")
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise BadInputError(f"{folder}: a labelled dataset needs one subfolder per class, found none")
    files, labels = [], []
    for index, name in enumerate(names):
        try:
            found = list_images(folder / name)
        except BadInputError:
            raise BadInputError(f"{folder / name}: class folder {name!r} contains no images") from None
        files += found
        labels += [index] * len(found)
    return files, labels, names


def _scan(folder: str | os.PathLike, labelled: bool) -> tuple[list[Path], list[int] | None, list[str]]:
    if labelled:
        return list_classes(folder)
    return list_images(folder), None, []


def load_folder(path: str | os.PathLike, size: int, labelled: bool = False, channels: int = 3,
                on_error: str = "skip", workers: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """Load a whole folder into memory: (images (N, channels, size, size) in [-1, 1], labels or None, class names).

    ``on_error``: "skip" (warn once with the count) or "raise" (BadInputError naming the bad file).
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', not {on_error!r}")
    if channels not in (1, 3):
        raise BadInputError(f"channels must be 1 or 3, got {channels}")
    files, labels, names = _scan(path, labelled)
    need = len(files) * channels * size * size * 4
    if need > MAX_IN_MEMORY_BYTES:
        raise BadInputError(f"{path}: {len(files)} images at {size}px need {need / 2**30:.1f} GiB in memory; "
                            f"use ImageFolderDataset (lazy loading) instead")

    def one(file: Path) -> torch.Tensor | BadInputError:
        try:
            return prepare(file, size, channels)
        except BadInputError as exc:
            if on_error == "raise":
                raise
            return exc

    workers = workers or min(4, os.cpu_count() or 1)  # decoding releases the GIL
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, files))
    bad = [r for r in results if isinstance(r, BadInputError)]
    keep = [k for k, r in enumerate(results) if not isinstance(r, BadInputError)]
    if not keep:
        raise BadInputError(f"{path}: none of its {len(files)} images could be read (first: {bad[0]})")
    if bad:
        shown = "; ".join(str(e) for e in bad[:3])
        warnings.warn(f"{path}: skipped {len(bad)} unreadable image(s) of {len(files)}: {shown}"
                      + (" ..." if len(bad) > 3 else ""), stacklevel=2)
    images = torch.stack([results[k] for k in keep])
    label_tensor = torch.tensor([labels[k] for k in keep], dtype=torch.int64) if labels is not None else None
    return images, label_tensor, names


class ImageFolderDataset(torch.utils.data.Dataset):
    """A folder read lazily, one file per item: for folders too large to hold in memory.

    ``dataset[i]`` is ``(image (channels, size, size) in [-1, 1], label)`` with label -1 when unlabelled (so
    the default DataLoader collation works); :meth:`batch` takes the index tensors of
    :class:`pixforge.train.StepBatches` and returns ``(images, labels or None)``.
    """

    def __init__(self, path: str | os.PathLike, size: int, labelled: bool = False, channels: int = 3):
        if channels not in (1, 3):
            raise BadInputError(f"channels must be 1 or 3, got {channels}")
        self.root, self.size, self.channels, self.labelled = Path(path), size, channels, labelled
        self.files, labels, self.class_names = _scan(path, labelled)
        self.labels = torch.tensor(labels if labels is not None else [-1] * len(self.files), dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return prepare(self.files[index], self.size, self.channels), int(self.labels[index])

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.as_tensor(indices, dtype=torch.int64)
        images = torch.stack([prepare(self.files[i], self.size, self.channels) for i in idx.tolist()])
        return images, (self.labels[idx] if self.labelled else None)
