"""Colour control for style transfer (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer").

Two ways to keep the content's colours, both pure tensor functions so every method can use them:

* **luminance-only transfer**: stylise the luminance channel only (YIQ's Y, fed to VGG as three equal
  channels), then put the content's chroma (I, Q) back. :func:`recombine_luminance` keeps the content's
  I and Q *exactly* by clamping Y, pixel by pixel, to the range where the RGB result stays in [0, 1].
* **colour histogram matching**: recolour the *style* image so its pixel mean and covariance equal the
  content's (an affine map x -> A (x - mu_s) + mu_c with A A^T-consistent covariances), then stylise as usual.

Tensors are RGB in [0, 1], shape (3, H, W) or (N, 3, H, W).
"""
from __future__ import annotations

import torch

# NTSC YIQ (FCC 1953 coefficients); the inverse is computed, so RGB -> YIQ -> RGB is exact to float precision.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.595716, -0.274453, -0.321263],
                            [0.211456, -0.522591, 0.311135]], dtype=torch.float64)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Multiply every pixel's 3-vector by ``matrix`` (channel axis -3)."""
    m = matrix.to(image.device, image.dtype)
    return torch.einsum("ij,...jhw->...ihw", m, image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    return _apply(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return _apply(_YIQ_TO_RGB, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The Y channel, shape (..., 1, H, W)."""
    return rgb_to_yiq(image)[..., :1, :, :]


def grey_rgb(image: torch.Tensor) -> torch.Tensor:
    """The luminance as a three-channel grey image (what VGG sees in luminance-only transfer)."""
    y = luminance(image)
    return y.expand(*y.shape[:-3], 3, *y.shape[-2:]).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Shift and scale the style's luminance to the content's mean and standard deviation (Gatys 2017, eq. 8);
    returns a grey three-channel image. Chroma is dropped (luminance-only transfer ignores it)."""
    ys, yc = luminance(style), luminance(content)
    ys = (ys - ys.mean()) / (ys.std(unbiased=False) + eps) * yc.std(unbiased=False) + yc.mean()
    ys = ys.clamp(0, 1)
    return ys.expand(*ys.shape[:-3], 3, *ys.shape[-2:]).contiguous()


def recombine_luminance(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylised image's luminance with the content's chroma, in RGB [0, 1].

    In YIQ every RGB channel is Y plus a chroma term d_c(I, Q), so with the content's (I, Q) the result is in
    gamut exactly when max_c(-d_c) <= Y <= min_c(1 - d_c); Y is clamped to that interval (which contains the
    content's own Y), never the RGB values, so the output's I and Q equal the content's.
    """
    y = luminance(stylised)
    iq = rgb_to_yiq(content)[..., 1:, :, :]
    chroma = yiq_to_rgb(torch.cat([torch.zeros_like(y), iq], dim=-3))  # d_c per channel
    low = (-chroma).amax(dim=-3, keepdim=True)
    high = (1 - chroma).amin(dim=-3, keepdim=True)
    y = torch.maximum(torch.minimum(y, high), low)
    return yiq_to_rgb(torch.cat([y, iq], dim=-3))


def _mean_cov(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel colour mean (3, 1) and covariance (3, 3) of one image (3, H, W), in float64."""
    x = image.reshape(3, -1).double()
    mu = x.mean(1, keepdim=True)
    xc = x - mu
    return mu, xc @ xc.T / x.shape[1]


def _sqrtm(cov: torch.Tensor, inverse: bool = False, eps: float = 1e-5) -> torch.Tensor:
    """Symmetric (inverse) square root of a covariance via its eigen-decomposition."""
    vals, vecs = torch.linalg.eigh(cov + eps * torch.eye(3, dtype=cov.dtype, device=cov.device))
    vals = vals.clamp_min(eps)
    power = -0.5 if inverse else 0.5
    return vecs @ torch.diag(vals**power) @ vecs.T


def match_color(style: torch.Tensor, content: torch.Tensor, mode: str = "pca", clamp: bool = True,
                eps: float = 1e-5) -> torch.Tensor:
    """Recolour ``style`` so its colour mean and covariance equal ``content``'s (Gatys 2017, section 5.2).

    ``mode``: "chol" (A = L_c L_s^-1 with Cholesky factors) or "pca" (A = C_c^1/2 C_s^-1/2, symmetric square
    roots: the eigen-value variant, which rotates colours least). ``clamp`` keeps the result in [0, 1]
    (which can move the moments slightly when the map leaves the gamut).
    """
    if style.dim() == 4:
        return torch.stack([match_color(s, content[min(i, content.shape[0] - 1)], mode, clamp, eps)
                            for i, s in enumerate(style)])
    mu_s, cov_s = _mean_cov(style)
    mu_c, cov_c = _mean_cov(content)
    eye = eps * torch.eye(3, dtype=cov_s.dtype, device=cov_s.device)
    if mode == "chol":
        a = torch.linalg.cholesky(cov_c + eye) @ torch.linalg.inv(torch.linalg.cholesky(cov_s + eye))
    elif mode == "pca":
        a = _sqrtm(cov_c, eps=eps) @ _sqrtm(cov_s, inverse=True, eps=eps)
    else:
        raise ValueError(f"mode must be 'chol' or 'pca', not {mode!r}")
    x = style.reshape(3, -1).double()
    out = (a @ (x - mu_s) + mu_c).reshape(style.shape).to(style.dtype)
    return out.clamp(0, 1) if clamp else out
