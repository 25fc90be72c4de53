"""Upscale images of any size with an SR network: padding, tiles with overlap, grey and alpha, other scales.

The network sees RGB in [0, 1]. The image is padded to the network's size multiple and by its ``border`` (the
pixels its unpadded convolutions consume); with ``tile``, it is cut into tiles of that many input pixels, each
run with ``overlap`` pixels of context on every side that are then thrown away, so that the seams vanish: for
networks whose output pixel sees at most ``overlap`` input pixels around it, tiled output equals whole-image
output (networks with squeeze-excitation, which pool over the whole input, differ slightly). Memory is then
bounded by the tile, not the image.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..errors import BadInputError
from ..io import GREY_MODES, read_image, resize, save_image, to_tensor
from ..utils import atomic_path


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _pad(x: torch.Tensor, left: int, right: int, top: int, bottom: int, mode: str) -> torch.Tensor:
    """Pad with ``mode``; reflection falls back to edge replication where the image is too small to reflect."""
    if mode == "reflect" and max(left, right) < x.shape[-1] and max(top, bottom) < x.shape[-2]:
        return F.pad(x, (left, right, top, bottom), mode="reflect")
    return F.pad(x, (left, right, top, bottom), mode="replicate")


def default_overlap(net: nn.Module) -> int:
    """How far an output pixel sees (the network's ``context``), capped at 32 input pixels."""
    return min(getattr(net, "context", 16), 32)


def run_network(net: nn.Module, x: torch.Tensor, tile: int | None = None, overlap: int | None = None) -> torch.Tensor:
    """``net`` on an RGB batch (N, 3, H, W) in [0, 1] of any size -> (N, 3, sH, sW), tiled when ``tile`` is set."""
    s, b, m = net.scale, getattr(net, "border", 0), getattr(net, "multiple", 1)
    pad_mode = getattr(net, "pad_mode", "replicate")
    h, w = x.shape[-2:]
    hh, ww = _round_up(h, m), _round_up(w, m)
    x = _pad(x, b, b + ww - w, b, b + hh - h, pad_mode)
    if not tile or (hh <= tile and ww <= tile):
        return net(x)[..., :s * h, :s * w]
    t, o = _round_up(tile, m), _round_up(default_overlap(net) if overlap is None else overlap, m)
    out = None
    for y0 in range(0, hh, t):
        for x0 in range(0, ww, t):
            y1, x1 = min(y0 + t, h), min(x0 + t, w)  # the output region this tile owns (input px, unpadded)
            wy0, wx0 = max(0, y0 - o), max(0, x0 - o)  # the window it reads, with context
            wy1, wx1 = min(hh, y0 + t + o), min(ww, x0 + t + o)
            patch = net(x[..., wy0:wy1 + 2 * b, wx0:wx1 + 2 * b])
            if out is None:
                out = patch.new_empty(*patch.shape[:2], s * h, s * w)
            out[..., s * y0:s * y1, s * x0:s * x1] = \
                patch[..., s * (y0 - wy0):s * (y1 - wy0), s * (x0 - wx0):s * (x1 - wx0)]
    return out


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


@torch.no_grad()
def upscale(image: torch.Tensor | Image.Image, model: nn.Module | str = "realesrgan-x4plus",
            tile: int | None = None, scale: float | None = None, overlap: int | None = None, bf16: bool = False,
            device: str | torch.device | None = None) -> torch.Tensor:
    """Super-resolve ``image``: a (C, H, W) or (N, C, H, W) tensor in [0, 1] with C = 1 (grey), 2 (grey + alpha),
    3 (RGB) or 4 (RGBA), or a PIL image; returns the same layout, ``scale`` times larger (default: the network's factor).

    ``model``: a network or a name for :func:`pixforge.sr.load_model`. Grey images run as RGB and come back as
    the mean of the three outputs; alpha is upscaled separately (bicubic). A ``scale`` other than the network's
    own is a final antialiased bicubic resize of its output. ``tile``: tile side in input pixels (bounded
    memory); ``overlap``: context per tile side (default: the network's reach, up to 32). ``bf16``: run the
    network under bfloat16 autocast.
    """
    if isinstance(model, str):
        from .load import load_model

        model = load_model(model, device)
    device = next(model.parameters()).device
    x = to_tensor(image, keep_alpha=True) if isinstance(image, Image.Image) else image
    batched = x.dim() == 4
    x = x if batched else x[None]
    if x.dim() != 4 or x.shape[1] not in (1, 2, 3, 4):
        raise BadInputError(f"expected an image with 1 to 4 channels (grey, grey+alpha, RGB, RGBA), "
                            f"got shape {tuple(image.shape)}")
    grey, alpha = x.shape[1] < 3, x.shape[1] in (2, 4)
    rgb = x[:, :1].expand(-1, 3, -1, -1) if grey else x[:, :3]
    with _autocast(device, bf16):
        out = run_network(model, rgb.to(device, torch.float32), tile, overlap).float().clamp_(0, 1).cpu()
    if grey:
        out = out.mean(1, keepdim=True)
    if alpha:
        a = F.interpolate(x[:, -1:].float(), size=out.shape[-2:], mode="bicubic", align_corners=False)
        out = torch.cat([out, a.clamp(0, 1)], 1)
    if scale is not None and scale != model.scale:
        h, w = x.shape[-2:]
        out = resize(out, (max(1, round(h * scale)), max(1, round(w * scale))))
    return out if batched else out[0]


# --- files ---------------------------------------------------------------------------------------------
def read_input(path: str | Path) -> tuple[torch.Tensor, bool]:
    """An image file as (C, H, W) in [0, 1] keeping grey (C = 1 or 2 -> 1 + alpha) and alpha (C = 4), and whether
    it is 16-bit grey (kept 16-bit on output; Pillow reads colour PNGs at 8 bits)."""
    image = read_image(path, alpha="keep")  # checks the file; 16-bit grey at full precision
    with Image.open(path) as im:
        mode = im.mode
    if mode in GREY_MODES:
        image = torch.cat([image[:1], image[3:]])
    return image, mode.startswith("I;16") or mode == "I"


def save_output(image: torch.Tensor, path: str | Path, sixteen: bool = False) -> Path:
    """Save an upscaled (C, H, W) image; 16-bit grey stays 16-bit (PNG/TIFF)."""
    path = Path(path)
    if sixteen and image.shape[0] == 1 and path.suffix.lower() in (".png", ".tif", ".tiff"):
        array = (image[0].clamp(0, 1) * 65535).round().to(torch.int32).numpy().astype(np.uint16)
        with atomic_path(path) as tmp:
            Image.fromarray(array).save(tmp, format="PNG" if path.suffix.lower() == ".png" else "TIFF")
        return path
    return save_image(image, path)
