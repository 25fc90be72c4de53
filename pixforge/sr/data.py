"""Training pairs for super-resolution: HR crops with their LR, as BasicSR's paired and degradation datasets.

* ``sr-photos``: an offline HR set from photos that installed packages ship (:data:`TRAIN_PHOTOS`), with
  :data:`VAL_PHOTOS` held out for validation; the six photos of ``benchmarks/sr_quality.py`` (and the right
  view of its stereo pair) are in neither;
* a folder of HR images (LR made on the fly: MATLAB bicubic ``imresize``, 8-bit, as the benchmarks make it;
  or the Real-ESRGAN degradation pipeline of :mod:`pixforge.sr.degradations`);
* a folder with ``HR/`` and ``LR/`` subfolders of images matched by name (LR exactly ``scale`` times smaller).

Items are addressed by the ``(index, seed)`` keys of :mod:`pixforge.train.data`: the seed picks the random crop,
flips/rotation and degradation, so batch N is a function of (seed, N) and resuming is exact.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import BadInputError
from ..metrics.sr import imresize, quantize

#: offline HR training photos: (package, name); skimage.data's loaders, or a file inside the package
TRAIN_PHOTOS = (("skimage", "retina"), ("skimage", "immunohistochemistry"), ("skimage", "camera"),
                ("skimage", "moon"), ("skimage", "brick"), ("skimage", "grass"), ("skimage", "gravel"),
                ("skimage", "cell"), ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
                ("sklearn", "datasets/images/china.jpg"))
VAL_PHOTOS = (("sklearn", "datasets/images/flower.jpg"), ("skimage", "coins"))
BUILTIN = "sr-photos"


def package_photo(package: str, name: str) -> torch.Tensor:
    """One shipped photo as 8-bit-valued RGB (3, H, W) float32 in [0, 1] (grey repeated to RGB)."""
    import importlib

    if package == "skimage":
        import skimage.data

        array = np.asarray(getattr(skimage.data, name)())
    else:
        from PIL import Image

        path = Path(importlib.import_module(package).__file__).parent / name
        array = np.array(Image.open(path).convert("RGB"))
    t = torch.from_numpy(np.ascontiguousarray(array)).float() / 255
    return t.expand(3, *t.shape).contiguous() if t.dim() == 2 else t[..., :3].permute(2, 0, 1).contiguous()


def photo_name(entry: tuple[str, str]) -> str:
    return Path(entry[1]).stem


def val_images(data: str, scale: int, size: int = 192, val_data: str = "") -> list[tuple[str, torch.Tensor]]:
    """Held-out HR images for validation: ``val_data`` (a folder of HR images, or of ``HR/``), else for the
    built-in set the central ``size`` px of :data:`VAL_PHOTOS`; [] when there are none."""
    if val_data:
        from ..io import list_images, read_image

        folder = Path(val_data) / "HR" if (Path(val_data) / "HR").is_dir() else Path(val_data)
        if not folder.is_dir():
            raise BadInputError(f"val_data {val_data}: no such folder")
        return [(p.name, read_image(p)) for p in list_images(folder)]
    if data != BUILTIN:
        return []
    out = []
    for entry in VAL_PHOTOS:
        image = package_photo(*entry)
        h, w = image.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        out.append((photo_name(entry), image[:, top:top + size, left:left + size]))
    return out


def augment(images: list[torch.Tensor], g: torch.Generator) -> list[torch.Tensor]:
    """BasicSR's ``augment``: the same random horizontal flip, vertical flip and transpose (90° rotation) of
    every image."""
    hflip, vflip, rot = (bool(torch.rand(1, generator=g) < 0.5) for _ in range(3))
    out = []
    for x in images:
        x = x.flip(-1) if hflip else x
        x = x.flip(-2) if vflip else x
        out.append((x.transpose(-1, -2) if rot else x).contiguous())
    return out


class SRPairs(torch.utils.data.Dataset):
    """(LR, HR) training crops. ``data``: :data:`BUILTIN`, a folder of HR images, or a folder with ``HR/`` and
    ``LR/``. Item ``(index, seed)`` -> {"lr": (3, g/s, g/s), "hr": (3, g, g), "target": HR or its USM-sharpened
    version (Real-ESRGAN's L1/perceptual target)} in [0, 1], g = ``gt_size``, s = ``scale``. Without an LR
    folder, LR is ``degrade(hr, generator)`` if given, else the 8-bit MATLAB bicubic downscale of the crop."""

    def __init__(self, data: str, scale: int, gt_size: int, augment: bool = True,
                 degrade: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                 usm: bool = False):
        from ..io import list_images

        if gt_size % scale:
            raise BadInputError(f"gt_size {gt_size} is not a multiple of scale {scale}")
        self.scale, self.gt_size, self.flip, self.degrade, self.usm = scale, gt_size, augment, degrade, usm
        self.images: list[torch.Tensor] = []
        self.hr_files: list[Path] = []
        self.lr_files: list[Path] | None = None
        root = Path(data)
        if data == BUILTIN:
            self.images = [package_photo(*entry) for entry in TRAIN_PHOTOS]
        elif (root / "HR").is_dir() and (root / "LR").is_dir():
            self.hr_files = list_images(root / "HR")
            lr = {p.stem: p for p in list_images(root / "LR")}
            missing = [p.name for p in self.hr_files if p.stem not in lr]
            if missing:
                raise BadInputError(f"{root / 'LR'}: no LR image for {', '.join(missing[:3])}")
            self.lr_files = [lr[p.stem] for p in self.hr_files]
        elif root.is_dir():
            self.hr_files = list_images(root)
        else:
            raise BadInputError(f"unknown SR training data {data!r}: give {BUILTIN} (built-in photos), a folder of "
                                "HR images, or a folder with HR/ and LR/")
        if not len(self):
            raise BadInputError(f"{data}: no images")

    def __len__(self) -> int:
        return len(self.images) or len(self.hr_files)

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.images:
            return self.images[index], None
        from ..io import read_image

        hr = read_image(self.hr_files[index])
        return hr, (read_image(self.lr_files[index]) if self.lr_files else None)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor] | BadInputError:
        index, seed = key
        try:
            hr, lr = self._load(index)
            return self.pair(hr, lr, torch.Generator().manual_seed(seed), str(index))
        except BadInputError as exc:
            return exc

    def pair(self, hr: torch.Tensor, lr: torch.Tensor | None, g: torch.Generator, name: str) -> dict[str, torch.Tensor]:
        s, size = self.scale, self.gt_size // self.scale
        if lr is not None and tuple(lr.shape[-2:]) != (hr.shape[-2] // s, hr.shape[-1] // s):
            raise BadInputError(f"{self.hr_files[int(name)].name}: LR is {tuple(lr.shape[-2:])}, expected HR / {s}")
        h, w = hr.shape[-2] // s, hr.shape[-1] // s
        if min(h, w) < size:
            raise BadInputError(f"HR image {name} is smaller than gt_size {self.gt_size}")
        y = int(torch.randint(0, h - size + 1, (1,), generator=g))
        x = int(torch.randint(0, w - size + 1, (1,), generator=g))
        crops = [hr[:, s * y:s * (y + size), s * x:s * (x + size)]]
        if lr is not None:
            crops.append(lr[:, y:y + size, x:x + size])
        if self.flip:
            crops = augment(crops, g)
        hr = crops[0].float()
        if lr is not None:
            lr = crops[1].float()
        elif self.degrade is not None:
            lr = self.degrade(hr, g)
        else:
            lr = quantize(imresize(hr, 1 / s)).float()
        from .degradations import usm_sharp

        return {"lr": lr.contiguous(), "hr": hr, "target": usm_sharp(hr) if self.usm else hr}
