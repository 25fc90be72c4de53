"""The standard SR benchmark protocol (BasicSR / the papers): HR cropped to a multiple of the scale, LR made with
MATLAB's bicubic ``imresize`` and stored as 8 bits, the upscaled result stored as 8 bits, PSNR and SSIM on Y with
``crop_border = scale``; bicubic upscaling (MATLAB ``imresize``) is the baseline."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from ..errors import BadInputError
from ..io import list_images, read_image
from ..metrics.sr import imresize, psnr, quantize, ssim
from .upscale import upscale


def make_lr(hr: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(HR cropped to a multiple of ``scale``, its 8-bit MATLAB-bicubic downscale), both (3, H, W) in [0, 1]."""
    h, w = hr.shape[-2:]
    hr = quantize(hr[..., :h - h % scale, :w - w % scale].double())
    return hr, quantize(imresize(hr, 1 / scale))


def evaluate_images(net: nn.Module | None, images: Iterable[tuple[str, torch.Tensor]], scale: int, crop: int,
                    tile: int | None = None) -> list[dict]:
    """One row per (name, HR image): PSNR/SSIM (Y) of ``net`` (None: bicubic only) and of bicubic; then the mean."""
    rows = []
    for name, image in images:
        hr, lr = make_lr(image, scale)
        row = {"image": name}
        outputs = {"bicubic_": quantize(imresize(lr, scale))}
        if net is not None:
            outputs[""] = quantize(upscale(lr.float(), net, tile=tile, scale=scale).double())
        for prefix, out in outputs.items():
            row[f"{prefix}psnr"] = psnr(out, hr, crop, y_channel=True)
            row[f"{prefix}ssim"] = ssim(out, hr, crop, y_channel=True)
        rows.append(row)
    keys = [k for k in rows[0] if k != "image"]
    rows.append({"image": f"mean ({len(rows)})", **{k: sum(r[k] for r in rows) / len(rows) for k in keys}})
    return rows


def evaluate_folder(net: nn.Module | None, folder: str | Path, scale: int, crop: int,
                    tile: int | None = None) -> list[dict]:
    """:func:`evaluate_images` on every image of ``folder`` (named by relative path)."""
    folder = Path(folder)
    return evaluate_images(net, ((str(p.relative_to(folder)), read_image(p)) for p in list_images(folder)),
                           scale, crop, tile)


def hr_folder(data: str | Path) -> Path:
    """The HR images of ``data``: a folder, or the name of a registered SR test set (``set5``, ``div2k-valid``,
    ...; fetched and checked on first use, or an error saying where to put the file offline)."""
    from ..registry import DATASETS

    if Path(data).is_dir():
        return Path(data)
    names = DATASETS.list(family="sr")
    if str(data) not in names:
        raise BadInputError(f"--data {data}: neither a folder nor an SR test set ({', '.join(names)})")
    return DATASETS.get(str(data)).hr()
