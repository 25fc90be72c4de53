"""Degradations for super-resolution training: Real-ESRGAN's second-order pipeline and USM sharpening."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel_1d(size: int, sigma: float = 0.0) -> torch.Tensor:
    """OpenCV's ``getGaussianKernel(size, sigma)`` (sigma <= 0: OpenCV's default for the size), summing to 1."""
    sigma = sigma if sigma > 0 else 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return k / k.sum()


def filter2d(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """(C, H, W) or (N, C, H, W) image filtered per channel with a (k, k) kernel, reflect-101 borders (OpenCV's
    default; replicate where the image is smaller than the kernel's reach)."""
    batch = image if image.dim() == 4 else image[None]
    n, c, h, w = batch.shape
    k = kernel.shape[-1]
    p = k // 2
    mode = "reflect" if p < min(h, w) else "replicate"
    x = F.pad(batch.reshape(n * c, 1, h, w), (p, p, p, p), mode=mode)
    out = F.conv2d(x, kernel.to(x.dtype)[None, None]).reshape(n, c, h, w)
    return out if image.dim() == 4 else out[0]


def usm_sharp(image: torch.Tensor, weight: float = 0.5, radius: int = 50, threshold: float = 10) -> torch.Tensor:
    """Unsharp masking as BasicSR's ``usm_sharp`` (Real-ESRGAN's sharpened L1/perceptual targets): image +
    weight·(image - Gaussian blur), clipped to [0, 1], blended in where the residual exceeds ``threshold``/255
    (through a blurred mask)."""
    radius += radius % 2 == 0
    g = gaussian_kernel_1d(radius)
    kernel = torch.outer(g, g)
    residual = image - filter2d(image, kernel)
    mask = ((residual.abs() * 255) > threshold).to(image.dtype)
    soft = filter2d(mask, kernel)
    sharp = (image + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * image


# ------------------------------------------------------------------------------------------------------------
# Real-ESRGAN's second-order degradation (Wang et al. 2021; BasicSR's RealESRGANDataset + RealESRGANModel)
# ------------------------------------------------------------------------------------------------------------

KERNELS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
KERNEL_PROBS = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
KERNEL_SIZES = tuple(range(7, 22, 2))  # 7 ... 21
KERNEL_PAD = 21  # every kernel is zero-padded to this size


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def _choice(g: torch.Generator, options, probs=None):
    p = torch.tensor(probs if probs is not None else [1.0] * len(options), dtype=torch.float64)
    return options[int(torch.multinomial(p, 1, generator=g))]


def _grid(size: int) -> torch.Tensor:
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    return torch.stack([xx, yy], -1)


def anisotropic_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, kind: str = "gaussian",
                       beta: float = 1.0) -> torch.Tensor:
    """A (size, size) kernel of a rotated 2D shape, summing to 1: ``gaussian`` exp(-½ q), ``generalized``
    exp(-½ q^β) or ``plateau`` 1 / (1 + q^β), with q = xᵀ Σ⁻¹ x, Σ = R diag(σx², σy²) Rᵀ (R rotation by θ)."""
    c, s = math.cos(theta), math.sin(theta)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    sigma = rot @ torch.diag(torch.tensor([sigma_x ** 2, sigma_y ** 2], dtype=torch.float64)) @ rot.T
    xy = _grid(size)
    q = ((xy @ torch.linalg.inv(sigma)) * xy).sum(-1)
    k = {"gaussian": lambda: torch.exp(-0.5 * q), "generalized": lambda: torch.exp(-0.5 * q ** beta),
         "plateau": lambda: 1 / (q ** beta + 1)}[kind]()
    return k / k.sum()


def sinc_kernel(cutoff: float, size: int, pad_to: int = 0) -> torch.Tensor:
    """The 2D circular low-pass (sinc) filter with cutoff ω_c (radians per pixel), summing to 1, zero-padded to
    ``pad_to``: ω_c·J₁(ω_c r) / (2π r), ω_c² / 4π at the centre (BasicSR's ``circular_lowpass_kernel``)."""
    r = _grid(size).norm(dim=-1)
    k = cutoff * torch.special.bessel_j1(cutoff * r) / (2 * math.pi * r.clamp_min(1e-12))
    k[(size - 1) // 2, (size - 1) // 2] = cutoff ** 2 / (4 * math.pi)
    return pad_kernel(k / k.sum(), pad_to)


def pad_kernel(kernel: torch.Tensor, size: int) -> torch.Tensor:
    p = (size - kernel.shape[-1]) // 2
    return F.pad(kernel, (p, p, p, p)) if p > 0 else kernel


def random_kernel(g: torch.Generator, sigma: tuple[float, float], sinc_prob: float = 0.1,
                  betag: tuple[float, float] = (0.5, 4.0), betap: tuple[float, float] = (1.0, 2.0)) -> torch.Tensor:
    """One random blur kernel (21 x 21), as BasicSR's ``random_mixed_kernels`` with Real-ESRGAN's options: an odd
    size from 7 to 21; with ``sinc_prob`` a sinc filter (ω_c in [π/3, π], [π/5, π] from size 13), else one of
    :data:`KERNELS` (probabilities :data:`KERNEL_PROBS`), σ in ``sigma``, rotation in [-π, π] (anisotropic),
    β in ``betag`` (generalised) or ``betap`` (plateau), half the time below 1 where the range allows."""
    size = _choice(g, KERNEL_SIZES)
    if _uniform(g, 0, 1) < sinc_prob:
        return sinc_kernel(_uniform(g, math.pi / (3 if size < 13 else 5), math.pi), size, KERNEL_PAD)
    kind = _choice(g, KERNELS, KERNEL_PROBS)
    sx = _uniform(g, *sigma)
    sy, theta = (sx, 0.0) if kind.endswith("iso") and not kind.endswith("aniso") else \
        (_uniform(g, *sigma), _uniform(g, -math.pi, math.pi))
    family = kind.split("_")[0] if "_" in kind else "gaussian"
    beta = 1.0
    if family != "gaussian":
        lo, hi = betag if family == "generalized" else betap
        beta = _uniform(g, lo, 1.0) if lo < 1 and _uniform(g, 0, 1) < 0.5 else _uniform(g, max(lo, 1.0), hi)
    return pad_kernel(anisotropic_kernel(size, sx, sy, theta, family, beta), KERNEL_PAD)


def final_sinc(g: torch.Generator, prob: float = 0.8) -> torch.Tensor:
    """Real-ESRGAN's last filter: with ``prob`` a sinc kernel (size 7-21, ω_c in [π/3, π]), else the identity."""
    if _uniform(g, 0, 1) < prob:
        return sinc_kernel(_uniform(g, math.pi / 3, math.pi), _choice(g, KERNEL_SIZES), KERNEL_PAD)
    pulse = torch.zeros(KERNEL_PAD, KERNEL_PAD, dtype=torch.float64)
    pulse[KERNEL_PAD // 2, KERNEL_PAD // 2] = 1
    return pulse


def gaussian_noise(image: torch.Tensor, g: torch.Generator, sigma: float, grey: bool) -> torch.Tensor:
    """Additive Gaussian noise of standard deviation ``sigma`` (0-255 scale), the same on every channel if ``grey``."""
    shape = (1, *image.shape[1:]) if grey else image.shape
    return image + torch.randn(shape, generator=g, dtype=image.dtype) * sigma / 255


def poisson_noise(image: torch.Tensor, g: torch.Generator, scale: float, grey: bool) -> torch.Tensor:
    """Poisson (shot) noise as BasicSR: counts at 2^ceil(log2(distinct 8-bit levels)) per unit, the deviation
    times ``scale``; of the luma on every channel alike if ``grey``."""
    base = (image.clamp(0, 1) * 255).round() / 255
    if grey:
        base = (base * torch.tensor([0.299, 0.587, 0.114], dtype=image.dtype).view(3, 1, 1)).sum(0, keepdim=True)
    vals = 2 ** math.ceil(math.log2(max(2, len(torch.unique(base)))))
    noisy = torch.poisson(base * vals, generator=g) / vals
    return image + (noisy - base) * scale


def jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG-compress an RGB image in [0, 1] at ``quality`` (PIL; Real-ESRGAN uses a differentiable JPEG)."""
    import io

    import numpy as np
    from PIL import Image

    array = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=int(quality))
    out = np.array(Image.open(buffer).convert("RGB"))
    return torch.from_numpy(out).permute(2, 0, 1).to(image.dtype) / 255


def _resize(image: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    size = (max(1, size[0]), max(1, size[1]))
    kw = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(image[None], size=size, mode=mode, **kw)[0]


class RealESRGANDegradation:
    """HR crop (3, H, W) in [0, 1] -> its LR (3, H/s, W/s), 8-bit levels, by Real-ESRGAN's second-order pipeline
    with the options of ``train_realesrgan_x4plus.yml``, every draw from the item's generator (reproducible):

    twice: blur (a :func:`random_kernel`; the second one with probability 0.8, σ up to 1.5), resize (up/down/keep
    with p 0.2/0.7/0.1 in [0.15, 1.5]; then 0.3/0.4/0.3 in [0.3, 1.2]; area, bilinear or bicubic), noise
    (Gaussian σ 1-30 then 1-25, or Poisson scale 0.05-3 then 0.05-2.5; grey with p 0.4), JPEG (quality 30-95);
    the second round's resize to H/s and the final sinc filter (p 0.8) come before or after its JPEG, half and half.
    """

    def __init__(self, scale: int = 4):
        self.scale = scale
        self.rounds = ({"sigma": (0.2, 3.0), "resize": (0.2, 0.7, 0.1), "range": (0.15, 1.5), "noise": (1, 30),
                        "poisson": (0.05, 3.0), "blur_prob": 1.0},
                       {"sigma": (0.2, 1.5), "resize": (0.3, 0.4, 0.3), "range": (0.3, 1.2), "noise": (1, 25),
                        "poisson": (0.05, 2.5), "blur_prob": 0.8})

    def noise(self, image: torch.Tensor, g: torch.Generator, opts: dict) -> torch.Tensor:
        grey = _uniform(g, 0, 1) < 0.4
        if _uniform(g, 0, 1) < 0.5:
            return gaussian_noise(image, g, _uniform(g, *opts["noise"]), grey).clamp(0, 1)
        return poisson_noise(image, g, _uniform(g, *opts["poisson"]), grey).clamp(0, 1)

    def __call__(self, hr: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        h, w = hr.shape[-2:]
        kernels = [random_kernel(g, r["sigma"]) for r in self.rounds]
        sinc = final_sinc(g)
        out = hr.double()
        for i, opts in enumerate(self.rounds):
            if i == 0 or _uniform(g, 0, 1) < opts["blur_prob"]:
                out = filter2d(out, kernels[i])
            kind = _choice(g, ("up", "down", "keep"), opts["resize"])
            factor = {"up": lambda: _uniform(g, 1, opts["range"][1]), "down": lambda: _uniform(g, opts["range"][0], 1),
                      "keep": lambda: 1.0}[kind]()
            mode = _choice(g, ("area", "bilinear", "bicubic"))
            size = (int(out.shape[-2] * factor), int(out.shape[-1] * factor)) if i == 0 else \
                (int(h / self.scale * factor), int(w / self.scale * factor))
            out = self.noise(_resize(out, size, mode), g, opts)
            if i == 0:
                out = jpeg(out, round(_uniform(g, 30, 95)))
        quality, mode = round(_uniform(g, 30, 95)), _choice(g, ("area", "bilinear", "bicubic"))
        final = lambda x: filter2d(_resize(x, (h // self.scale, w // self.scale), mode), sinc)  # noqa: E731
        out = final(jpeg(out, quality)) if _uniform(g, 0, 1) < 0.5 else jpeg(final(out), quality)
        return ((out.clamp(0, 1) * 255).round() / 255).float()
