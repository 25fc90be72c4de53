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


Box = tuple[int, int, int, int]  # y0, y1, x0, x1
BATCH_PIXELS = 1 << 17  # input pixels per network call when tiles are batched: 4 tiles of 128 px with context


def tile_windows(h: int, w: int, tile: int, overlap: int, m: int = 1) -> list[tuple[Box, Box]]:
    """The tiles of an (h, w) image padded to a multiple ``m``, in input pixels: (the region each tile owns in
    the unpadded image, the window it reads with ``overlap`` of context, clipped to the padded image)."""
    hh, ww = _round_up(h, m), _round_up(w, m)
    return [((y0, min(y0 + tile, h), x0, min(x0 + tile, w)),
             (max(0, y0 - overlap), min(hh, y0 + tile + overlap), max(0, x0 - overlap), min(ww, x0 + tile + overlap)))
            for y0 in range(0, hh, tile) for x0 in range(0, ww, tile)]


def run_network(net: nn.Module, x: torch.Tensor, tile: int | None = None, overlap: int | None = None,
                batch: int = 4) -> torch.Tensor:
    """``net`` on an RGB batch (N, 3, H, W) in [0, 1] of any size -> (N, 3, sH, sW), tiled when ``tile`` is set.

    Channels-last layout (what oneDNN and cuDNN run fastest); tiles whose windows have the same size (all but
    the right and bottom edge ones) go through the network up to ``batch`` at a time, and no more than
    :data:`BATCH_PIXELS` input pixels at once, which bounds memory (large tiles run one at a time).
    """
    with _channels_last(net):
        return _run(net, x, tile, overlap, batch)


@contextlib.contextmanager
def _channels_last(net: nn.Module):
    """``net`` in channels-last layout for the duration, then back in the layout it had (a caller that trains or
    saves it, safetensors needs contiguous tensors, sees no change)."""
    convs = [p for p in net.parameters() if p.dim() == 4]
    already = not convs or convs[0].is_contiguous(memory_format=torch.channels_last)
    net.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        if not already:
            net.to(memory_format=torch.contiguous_format)


def _run(net: nn.Module, x: torch.Tensor, tile: int | None, overlap: int | None, batch: int) -> torch.Tensor:
    s, b, m = net.scale, getattr(net, "border", 0), getattr(net, "multiple", 1)
    h, w = x.shape[-2:]
    hh, ww = _round_up(h, m), _round_up(w, m)
    x = _pad(x, b, b + ww - w, b, b + hh - h, getattr(net, "pad_mode", "replicate"))
    x = x.contiguous(memory_format=torch.channels_last)
    if not tile or (hh <= tile and ww <= tile):
        return net(x)[..., :s * h, :s * w]
    t, o = _round_up(tile, m), _round_up(default_overlap(net) if overlap is None else overlap, m)
    groups: dict[tuple[int, int], list] = {}
    for own, win in tile_windows(h, w, t, o, m):
        groups.setdefault((win[1] - win[0], win[3] - win[2]), []).append((own, win))
    out = None
    for (th, tw), tiles in groups.items():
        per = max(1, min(batch, BATCH_PIXELS // (len(x) * (th + 2 * b) * (tw + 2 * b))))
        for k in range(0, len(tiles), per):
            chunk = tiles[k:k + per]
            patches = torch.cat([x[..., wy0:wy1 + 2 * b, wx0:wx1 + 2 * b] for _, (wy0, wy1, wx0, wx1) in chunk])
            result = net(patches).split(len(x))
            if out is None:
                out = result[0].new_empty(len(x), result[0].shape[1], s * h, s * w)
            for ((y0, y1, x0, x1), (wy0, _, wx0, _)), patch in zip(chunk, result):
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
