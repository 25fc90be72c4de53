"""Super-resolution metrics exactly as BasicSR computes them, and MATLAB's bicubic ``imresize``.

Images are (C, H, W) or (H, W) arrays or tensors, float in [0, 1] or uint8 (8-bit images as uint8 give BasicSR's
numbers exactly); everything is computed in float64 on the 0-255 scale:

- ``y_channel``: Y = 16 + 65.481 R + 128.553 G + 24.966 B with RGB in [0, 1], not rounded (ITU-R BT.601, as
  BasicSR's ``bgr2ycbcr``); ``crop_border`` pixels are removed on every side first;
- :func:`psnr`: 10 log10(255^2 / MSE), ``inf`` for identical images;
- :func:`ssim`: Wang et al. 2004 with an 11-tap Gaussian window (sigma 1.5), the valid region only,
  C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, averaged over the map, then over the channels;
- :func:`imresize`: MATLAB's ``imresize(img, scale)`` with its default bicubic kernel (Keys, a = -0.5),
  antialiasing when shrinking (the kernel stretched by 1/scale), symmetric border handling and output size
  ceil(scale * size), as BasicSR's ``matlab_functions.imresize`` (used to make LR test images).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import METRICS

Y_WEIGHTS = (65.481, 128.553, 24.966)


def _as_float64(image) -> torch.Tensor:
    """(C, H, W) float64 in [0, 1] from a float image in [0, 1] or an 8-bit one (uint8, 0-255)."""
    t = torch.as_tensor(np.asarray(image) if not torch.is_tensor(image) else image).detach().cpu()
    t = t.double() / 255 if t.dtype == torch.uint8 else t.double()
    return t[None] if t.dim() == 2 else t


def _prepare(a, b, crop_border: int, y_channel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Both images as (C, H, W) float64 on the 0-255 scale, cropped, optionally reduced to Y."""
    a, b = _as_float64(a), _as_float64(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if crop_border:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    if y_channel and a.shape[0] >= 3:
        return rgb_to_y(a[:3]), rgb_to_y(b[:3])
    return a * 255, b * 255


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] -> (1, H, W) BT.601 luma in [16, 235], unrounded."""
    w = torch.tensor(Y_WEIGHTS, dtype=rgb.dtype).view(3, 1, 1)
    return 16.0 + (rgb * w).sum(0, keepdim=True)


@METRICS.register("psnr", inputs=2, pairs=True, summary="PSNR in dB of image pairs (BasicSR's)")
def psnr(a, b, crop_border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB (BasicSR's ``calculate_psnr``)."""
    a, b = _prepare(a, b, crop_border, y_channel)
    mse = torch.mean((a - b) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """OpenCV's ``getGaussianKernel(size, sigma)`` outer product: (size, size), float64, summing to 1."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-x ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    return torch.outer(k, k)


@METRICS.register("ssim", inputs=2, pairs=True, summary="SSIM of image pairs (BasicSR's)")
def ssim(a, b, crop_border: int = 0, y_channel: bool = False) -> float:
    """Structural similarity (BasicSR's ``calculate_ssim``): the mean of the per-channel SSIM maps."""
    a, b = _prepare(a, b, crop_border, y_channel)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    window = gaussian_window()[None, None]

    def filt(x: torch.Tensor) -> torch.Tensor:  # valid region, per channel
        return F.conv2d(x[:, None], window)[:, 0]

    mu1, mu2 = filt(a), filt(b)
    var1, var2, cov = filt(a * a) - mu1 ** 2, filt(b * b) - mu2 ** 2, filt(a * b) - mu1 * mu2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * cov + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (var1 + var2 + c2))
    return ssim_map.mean((1, 2)).mean().item()


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    ax = x.abs()
    return ((1.5 * ax ** 3 - 2.5 * ax ** 2 + 1) * (ax <= 1)
            + (-0.5 * ax ** 3 + 2.5 * ax ** 2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> torch.Tensor:
    """(out_len, in_len) float64 matrix of MATLAB's bicubic resampling along one axis (symmetric borders)."""
    shrink = scale < 1 and antialias
    width = 4.0 / scale if shrink else 4.0
    u = torch.arange(1, out_len + 1, dtype=torch.float64) / scale + 0.5 * (1 - 1 / scale)  # 1-based source
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None]
    dist = u[:, None] - idx
    w = scale * cubic(dist * scale) if shrink else cubic(dist)
    w = w / w.sum(1, keepdim=True)
    src = idx.long() - 1  # 0-based, then mirrored into range (MATLAB's symmetric padding repeats the edge)
    period = 2 * in_len
    src = src % period
    src = torch.where(src >= in_len, period - 1 - src, src)
    m = torch.zeros(out_len, in_len, dtype=torch.float64)
    m.scatter_add_(1, src, w)
    return m


def imresize(image, scale: float, antialias: bool = True) -> torch.Tensor:
    """MATLAB ``imresize(image, scale)`` (bicubic) of a (C, H, W) or (H, W) image: float64, not clipped or
    rounded (quantise to 8 bits yourself, as BasicSR's LR scripts do)."""
    x = _as_float64(image)
    h, w = x.shape[-2:]
    oh, ow = math.ceil(h * scale), math.ceil(w * scale)
    out = resize_matrix(h, oh, scale, antialias) @ x @ resize_matrix(w, ow, scale, antialias).T
    return out if np.ndim(image) == 3 else out[0]


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels in [0, 1] (what saving as PNG does)."""
    return (image.clamp(0, 1) * 255).round() / 255
