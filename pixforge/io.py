"""Image I/O: every image pixforge reads or writes goes through here.

Reads anything Pillow reads (JPEG, PNG, WebP, TIFF, BMP, GIF...), applies EXIF orientation, and turns
grey, palette, RGBA, 16-bit, float and CMYK images into float RGB tensors in [0, 1], shape (3, H, W).
A missing, truncated or non-image file raises :class:`BadInputError` with a one-line message naming it.
Writes are atomic (temporary file + rename), so an interrupted save never leaves half an image.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadInputError
from .utils import atomic_path

#: Largest image (in pixels) pixforge decodes. Larger files are refused with this limit in the message;
#: tile or downscale them first. 178 megapixels is Pillow's own decompression-bomb error threshold.
MAX_PIXELS = 178_956_970
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".pgm")


def open_image(path: str | os.PathLike, alpha: str = "white", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``path`` as an 8-bit RGB PIL image (or RGBA with ``alpha='keep'``), EXIF orientation applied.

    ``alpha``: 'white' composites transparent pixels on white, 'black' on black, 'keep' returns RGBA.
    16-bit and float images are scaled to 8 bit; use :func:`read_image` to keep their full precision.
    """
    return to_pil(read_image(path, alpha=alpha, max_pixels=max_pixels))


def read_image(
    path: str | os.PathLike,
    size: int | None = None,
    alpha: str = "white",
    max_pixels: int = MAX_PIXELS,
) -> torch.Tensor:
    """Read an image file as a float tensor (3, H, W) in [0, 1] (4 channels with ``alpha='keep'``).

    ``size`` resizes so that the long side is ``size`` pixels (Lanczos, aspect kept).
    """
    if alpha not in ("white", "black", "keep"):
        raise ValueError(f"alpha must be 'white', 'black' or 'keep', not {alpha!r}")
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    if path.is_dir():
        raise BadInputError(f"{path}: is a folder, not an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise BadInputError(
                        f"{path}: {w}x{h} = {w * h / 1e6:.0f} megapixels is over the limit of "
                        f"{max_pixels / 1e6:.0f} megapixels; downscale it or use tiled processing"
                    )
                img.load()
                img = ImageOps.exif_transpose(img)
                array = _to_float_array(img)
    except BadInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadInputError(f"{path}: too large to decode safely ({exc})") from None
    except UnidentifiedImageError:
        raise BadInputError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{path}: cannot read image ({reason})") from None

    tensor = torch.from_numpy(array).permute(2, 0, 1).contiguous()
    if tensor.shape[0] == 4 and alpha != "keep":
        rgb, a = tensor[:3], tensor[3:]
        background = 1.0 if alpha == "white" else 0.0
        tensor = rgb * a + background * (1 - a)
    if size is not None:
        tensor = resize_long_side(tensor, size)
    return tensor


def _to_float_array(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> float32 array (H, W, 3 or 4) in [0, 1]."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img).astype(np.float64)
        if mode == "F":
            peak = 1.0 if a.max(initial=0) <= 1.0 else 255.0
        elif mode == "I" and a.max(initial=0) <= 255:
            peak = 255.0
        else:
            peak = 65535.0
        a = np.clip(a / peak, 0, 1).astype(np.float32)
        return np.repeat(a[..., None], 3, axis=2)
    if mode == "CMYK":
        img = img.convert("RGB")
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
    elif mode == "RGBa":
        img = img.convert("RGBA")
    elif mode != "RGB":
        img = img.convert("RGB")
    a = np.asarray(img)
    if a.dtype == np.uint16:
        return (a.astype(np.float32) / 65535.0)
    return a.astype(np.float32) / 255.0


def resize_long_side(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a (C, H, W) or (N, C, H, W) tensor so its long side is ``size`` (antialiased bicubic)."""
    h, w = image.shape[-2:]
    scale = size / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    return resize(image, (new_h, new_w))


def resize(image: torch.Tensor, hw: Sequence[int]) -> torch.Tensor:
    """Resize a (C, H, W) or (N, C, H, W) tensor to ``hw`` with antialiased bicubic, clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(hw):
        return image
    batched = image.dim() == 4
    x = image if batched else image[None]
    mode = "bicubic" if min(x.shape[-2:]) > 1 else "bilinear"
    out = torch.nn.functional.interpolate(x, size=tuple(hw), mode=mode, antialias=True, align_corners=False)
    out = out.clamp(0, 1)
    return out if batched else out[0]


def to_pil(image: torch.Tensor | np.ndarray | Image.Image) -> Image.Image:
    """A (C, H, W) / (1, C, H, W) / (H, W) tensor in [0, 1] -> 8-bit PIL image (rounded, clamped; C = 1, 2, 3, 4
    gives L, LA, RGB, RGBA)."""
    if isinstance(image, Image.Image):
        return image
    t = torch.as_tensor(image).detach().float().cpu()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() == 2:
        t = t[None]
    array = (t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)  # L, LA, RGB or RGBA


#: Pillow modes of grey images (kept one channel, or grey + alpha, by ``to_tensor(..., keep_alpha=True)``).
GREY_MODES = ("L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def to_tensor(image: Image.Image, keep_alpha: bool = False) -> torch.Tensor:
    """PIL image -> float tensor (3, H, W) in [0, 1], RGBA composited on white; with ``keep_alpha`` the channels
    as they are: grey (1), grey + alpha (2), RGB (3) or RGBA (4)."""
    t = torch.from_numpy(_to_float_array(ImageOps.exif_transpose(image))).permute(2, 0, 1).contiguous()
    if not keep_alpha:
        return rgb(t)
    return torch.cat([t[:1], t[3:]]) if image.mode in GREY_MODES else t


def rgb(image: torch.Tensor) -> torch.Tensor:
    """(…, C, H, W) with C = 1 (grey), 2 (grey + alpha), 3 or 4 (RGBA) -> RGB, transparency composited on white."""
    channels = image.shape[-3]
    if channels in (2, 4):
        colour, alpha = image[..., :-1, :, :], image[..., -1:, :, :]
        image = colour * alpha + (1 - alpha)
    if channels in (1, 2):
        return image.expand(*image.shape[:-3], 3, *image.shape[-2:])
    if channels not in (3, 4):
        raise BadInputError(f"expected images with 1 to 4 channels (grey, grey+alpha, RGB, RGBA), got {channels}")
    return image


# ------------------------------------------------------------------- any kind of image in, the same kind out
@dataclass(frozen=True)
class ImageKind:
    """How an image came in, so that a result goes back the same way (:func:`as_batch`, :func:`restore`).
    A file path counts as a PIL image: what comes back is a PIL image."""

    type: str                  # "pil", "numpy" or "tensor"
    batched: bool = False      # (N, ...) rather than one image
    dtype: Any = None          # of arrays and tensors: integer types mean 0..255 (uint8) or 0..65535 (uint16)
    squeeze: bool = False      # a NumPy (H, W) grey image
    device: Any = None         # of tensors


_INT_PEAKS = {"uint8": 255.0, "uint16": 65535.0}


def as_batch(image: Any, keep_alpha: bool = False) -> tuple[torch.Tensor, ImageKind]:
    """Any image as a float batch (N, C, H, W) in [0, 1], with the :class:`ImageKind` to :func:`restore` results.

    Takes a file path, a PIL image, a NumPy array ((H, W), (H, W, C) or (N, H, W, C)) or a tensor ((C, H, W) or
    (N, C, H, W)), uint8 (0-255), uint16 (0-65535) or float in [0, 1]. The batch is RGB (grey expanded,
    transparency composited on white) unless ``keep_alpha``, which keeps grey and alpha channels.
    """
    if isinstance(image, (str, os.PathLike)):
        return read_image(image, alpha="keep" if keep_alpha else "white")[None], ImageKind("pil")
    if isinstance(image, Image.Image):
        return to_tensor(image, keep_alpha)[None], ImageKind("pil")
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3, 4) or (image.ndim > 2 and image.shape[-1] not in (1, 2, 3, 4)):
            raise BadInputError(f"expected a NumPy image (H, W), (H, W, C) or (N, H, W, C) with C <= 4, got an "
                                f"array of shape {image.shape}")
        kind = ImageKind("numpy", image.ndim == 4, image.dtype, image.ndim == 2)
        array = torch.from_numpy(np.ascontiguousarray(image[..., None] if kind.squeeze else image))
        batch = (array if kind.batched else array[None]).permute(0, 3, 1, 2)
    elif torch.is_tensor(image):
        if image.dim() not in (3, 4):
            raise BadInputError(f"expected an image tensor (C, H, W) or a batch (N, C, H, W), got shape "
                                f"{tuple(image.shape)}")
        kind = ImageKind("tensor", image.dim() == 4, image.dtype, device=image.device)
        batch = (image if kind.batched else image[None]).detach().cpu()
    else:
        raise BadInputError(f"expected an image file, a PIL image, a NumPy array or a tensor, not "
                            f"{type(image).__name__}")
    peak = _INT_PEAKS.get(str(batch.dtype).removeprefix("torch."))
    if peak is None and not batch.is_floating_point():
        raise BadInputError(f"image values of type {batch.dtype} are not supported: use uint8, uint16 or float")
    batch = batch.float() / peak if peak else batch.float()
    return (batch if keep_alpha else rgb(batch)).contiguous(), kind


def restore(batch: torch.Tensor, kind: ImageKind) -> Any:
    """A result batch (N, C, H, W) in [0, 1] given back as ``kind``: PIL images (a list for a batch), arrays
    (H, W, C) / (N, H, W, C) or tensors, in the input's dtype and device."""
    batch = batch.detach().float().clamp(0, 1)
    if kind.type == "pil":
        images = [to_pil(b) for b in batch.cpu()]
        return images if kind.batched else images[0]
    name = str(kind.dtype).removeprefix("torch.") if kind.dtype is not None else "float32"
    peak = _INT_PEAKS.get(name)
    scaled = (batch * peak).round() if peak else batch
    if kind.type == "numpy":
        array = scaled.permute(0, 2, 3, 1).cpu().numpy().astype(kind.dtype or np.float32)
        if kind.squeeze and array.shape[-1] == 1:
            array = array[..., 0]
        return array if kind.batched else array[0]
    out = scaled.to(kind.device or "cpu", kind.dtype or torch.float32)
    return out if kind.batched else out[0]


def image_format(path: str | os.PathLike) -> str:
    """Pillow's format for the suffix of ``path`` ("PNG", "JPEG", ...); BadInputError for an unknown suffix,
    so that commands can refuse an output name before they start working."""
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise BadInputError(f"{path}: unknown image suffix {Path(path).suffix!r}; use .png or .jpg")
    return fmt


def save_image(image: torch.Tensor | np.ndarray | Image.Image, path: str | os.PathLike, quality: int = 95) -> Path:
    """Save atomically as PNG/JPEG/WebP/TIFF chosen by the suffix of ``path``; return the path."""
    path = Path(path)
    pil = to_pil(image)
    fmt = image_format(path)
    if fmt == "JPEG" and pil.mode == "RGBA":
        pil = pil.convert("RGB")
    with atomic_path(path) as tmp:
        pil.save(tmp, format=fmt, **({"quality": quality} if fmt in ("JPEG", "WEBP") else {}))
    return path


def image_grid(images: torch.Tensor | Sequence[torch.Tensor], nrow: int | None = None, padding: int = 2,
               pad_value: float = 1.0) -> torch.Tensor:
    """Tile images (N, C, H, W) in [0, 1] (or a list of differently sized (C, H, W)) into one (C, H', W').

    Images of different sizes are placed top-aligned in cells as large as the largest image.
    """
    items = list(images) if not torch.is_tensor(images) else list(images.unbind(0))
    if not items:
        raise ValueError("image_grid needs at least one image")
    items = [i.expand(3, *i.shape[-2:]) if i.shape[0] == 1 else i for i in items]
    c = max(i.shape[0] for i in items)
    cell_h = max(i.shape[-2] for i in items)
    cell_w = max(i.shape[-1] for i in items)
    nrow = nrow or int(np.ceil(np.sqrt(len(items))))
    ncol_rows = int(np.ceil(len(items) / nrow))
    grid = torch.full((c, ncol_rows * (cell_h + padding) + padding, nrow * (cell_w + padding) + padding), pad_value)
    for k, img in enumerate(items):
        r, col = divmod(k, nrow)
        y, x = padding + r * (cell_h + padding), padding + col * (cell_w + padding)
        grid[: img.shape[0], y : y + img.shape[-2], x : x + img.shape[-1]] = img.detach().float().cpu()
    return grid


def side_by_side(images: Iterable[torch.Tensor], height: int = 384, padding: int = 4, pad_value: float = 1.0) -> torch.Tensor:
    """Resize each (3, H, W) image to a common height and lay them out left to right (content | style | result)."""
    panels = []
    for img in images:
        img = img.detach().float().cpu()
        img = img.expand(3, *img.shape[-2:]) if img.shape[0] == 1 else img[:3]
        h, w = img.shape[-2:]
        panels.append(resize(img, (height, max(1, round(w * height / h)))))
    gap = torch.full((3, height, padding), pad_value)
    row = torch.cat([p for panel in panels for p in (gap, panel)] + [gap], dim=2)
    border = torch.full((3, padding, row.shape[2]), pad_value)
    return torch.cat([border, row, border], dim=1)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files in ``folder`` (recursively), sorted; raises if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise BadInputError(f"{folder}: contains no images ({', '.join(IMAGE_SUFFIXES)})")
    return files
