"""Projection of a real image into a StyleGAN or StyleGAN2 generator's W (or W+): the latent, and noise maps,
whose image is closest to it (any :class:`~pixforge.models.stylegan2.StyleBasedGenerator`: StyleGAN2's noise
maps per conv, StyleGAN v1's per layer; a v1 generator still growing is fitted at the resolution it has
reached). The recipe of StyleGAN2's projector (Karras et al. 2020, appendix D; NVIDIA's ``projector.py``,
rosinality's ``projector.py``):

* start at the mean w of ``mean_samples`` random z; Adam (betas 0.9, 0.999) on w and on every noise map;
* the learning rate ramps up over the first ``lr_rampup`` of the steps and down (cosine) over the last
  ``lr_rampdown``;
* Gaussian noise of ``noise`` x the spread of W is added to w, decaying quadratically to 0 by ``noise_ramp``
  of the steps, so the start explores;
* the loss is ``perceptual`` x the VGG feature distance (:class:`~pixforge.losses.perceptual.VGGDistance`: the
  LPIPS-style distance without LPIPS's learned heads; NVIDIA uses LPIPS proper) + ``pixel`` x the pixel MSE +
  ``noise_regularize`` x :func:`noise_regularization`, and the noise maps are renormalised to zero mean and
  unit variance after every step, so that they cannot carry the image.

The VGG sees both images at 64 to 256 px: larger ones are area-downsampled to 256 px as NVIDIA does, smaller
ones (MNIST-sized generators) bilinearly upsampled to 64 px so that VGG16's deepest layer has more than one
pixel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import check
from .errors import BadInputError

Tensor = torch.Tensor
LATENT_SUFFIXES = (".npy", ".safetensors")


@dataclass
class ProjectConfig:
    """StyleGAN2's projector settings (its defaults)."""

    steps: int = 1000  # optimisation steps
    w_plus: bool = False  # one w per layer (W+): closer fits, latents less like the generator's own
    lr: float = 0.1  # Adam's peak learning rate
    lr_rampup: float = 0.05  # share of the steps over which the learning rate rises from 0
    lr_rampdown: float = 0.25  # share of the last steps over which it falls to 0 (cosine)
    noise: float = 0.05  # latent noise at the start, times the spread of W
    noise_ramp: float = 0.75  # share of the steps over which that noise decays (quadratically) to 0
    noise_regularize: float = 1e5  # weight of the noise-map regulariser
    perceptual: float = 1.0  # weight of the VGG feature distance
    pixel: float = 0.0  # weight of the pixel MSE (images in [-1, 1])
    mean_samples: int = 10000  # random z for the mean and the spread of W
    seed: int = 0

    def __post_init__(self) -> None:
        check(self, positive=("steps", "lr", "lr_rampup", "lr_rampdown", "noise_ramp", "mean_samples"),
              non_negative=("noise", "noise_regularize", "perceptual", "pixel"))
        if not self.perceptual and not self.pixel:
            raise BadInputError("projection needs a distance: --perceptual or --pixel must be above 0")


def learning_rate(t: float, cfg: ProjectConfig) -> float:
    """The learning rate at progress ``t`` in [0, 1): linear ramp up, cosine ramp down."""
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return cfg.lr * ramp * min(1.0, t / cfg.lr_rampup)


def noise_regularization(noises: list[Tensor]) -> Tensor:
    """Σ over noise maps and over their 2x-average-pooled pyramids down to 8 px of the squared mean products of
    each map with itself shifted by one pixel, horizontally and vertically: the spatial autocorrelation that
    would let a noise map carry the image's structure (StyleGAN2 appendix D)."""
    total = torch.zeros((), device=noises[0].device)
    for noise in noises:
        while True:
            total = total + (noise * noise.roll(1, 3)).mean().square() + (noise * noise.roll(1, 2)).mean().square()
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, 2)
    return total


@torch.no_grad()
def normalize_noise_(noises: list[Tensor]) -> None:
    """Each map to zero mean and unit variance, in place."""
    for noise in noises:
        noise -= noise.mean()
        noise *= noise.square().mean().rsqrt()


@torch.no_grad()
def w_statistics(g, n: int, seed: int = 0) -> tuple[Tensor, float]:
    """The mean w of ``n`` random z and the spread of W, √(E‖w - mean‖²)."""
    z = torch.randn(n, g.style_dim, generator=torch.Generator().manual_seed(seed)).to(g.w_avg.device)
    w = torch.cat([g.mapping(part) for part in z.split(2500)])
    mean = w.mean(0)
    return mean, float((w - mean).square().sum(1).mean().sqrt())


def vgg_view(x: Tensor) -> Tensor:
    """What the VGG sees: the image at 64 to 256 px (see the module docstring)."""
    side = x.shape[-1]
    if side > 256:
        return F.interpolate(x, size=(256, 256), mode="area")
    if side < 64:
        return F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
    return x


@dataclass
class Projection:
    """A projection's result: ``latent`` (1, D) in W or (1, n_latent, D) in W+, the noise maps, the image in
    [-1, 1], the loss terms at every step, and the images at the steps in ``frame_steps``."""

    latent: Tensor
    noises: list[Tensor]
    image: Tensor
    history: dict[str, list[float]] = field(default_factory=dict)
    frames: list[Tensor] = field(default_factory=list)
    frame_steps: list[int] = field(default_factory=list)


def project(g, target: Tensor, cfg: ProjectConfig = ProjectConfig(), distance=None, frames: int = 0,
            progress: bool = False) -> Projection:
    """Project ``target`` (1, C, H, W) in [-1, 1], the generator's output size, into the StyleGAN generator ``g``
    (whose weights stay fixed); ``distance``: the :class:`~pixforge.losses.perceptual.VGGDistance` (built when None and
    ``cfg.perceptual`` > 0); ``frames`` > 0 keeps that many images along the way (the last one final)."""
    from tqdm import tqdm

    if cfg.perceptual and distance is None:
        from .losses.perceptual import VGGDistance

        distance = VGGDistance()
    device = g.w_avg.device
    g.eval().requires_grad_(False)
    if distance is not None:
        distance.to(device)
    target = target.to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    w_mean, w_spread = w_statistics(g, cfg.mean_samples, cfg.seed)
    w = w_mean.view(1, 1, -1).repeat(1, g.n_latent if cfg.w_plus else 1, 1).requires_grad_(True)
    noises = [torch.randn(n.shape, generator=gen).to(device).requires_grad_(True) for n in g.constant_noise()]
    opt = torch.optim.Adam([w, *noises], lr=0.0, betas=(0.9, 0.999))
    target_features = None
    if cfg.perceptual:
        with torch.no_grad():
            target_features = distance.features(vgg_view(target))
    keep = sorted({round(k * (cfg.steps - 1) / max(1, frames - 1)) for k in range(frames)}) if frames else []
    result = Projection(latent=w, noises=noises, image=target, frame_steps=keep)
    history = result.history
    for step in tqdm(range(cfg.steps), desc="project", disable=not progress, leave=False):
        t = step / cfg.steps
        for group in opt.param_groups:
            group["lr"] = learning_rate(t, cfg)
        strength = w_spread * cfg.noise * max(0.0, 1.0 - t / cfg.noise_ramp) ** 2
        latent = w + torch.randn(w.shape, generator=gen).to(device) * strength
        image = g.synthesis(latent.expand(-1, g.n_latent, -1), noises)
        terms = {"noise_reg": noise_regularization(noises)}
        if cfg.perceptual:
            terms["vgg_distance"] = distance.compare(distance.features(vgg_view(image)), target_features).sum()
        if cfg.pixel:
            terms["pixel_mse"] = F.mse_loss(image, target)
        loss = cfg.noise_regularize * terms["noise_reg"] + cfg.perceptual * terms.get("vgg_distance", 0) + \
            cfg.pixel * terms.get("pixel_mse", 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        normalize_noise_(noises)
        for name, value in terms.items():
            history.setdefault(name, []).append(value.item())
        if step in keep:
            with torch.no_grad():
                result.frames.append(g.synthesis(w.expand(-1, g.n_latent, -1), noises).float().cpu())
    with torch.no_grad():
        result.image = g.synthesis(w.expand(-1, g.n_latent, -1), noises).float().cpu()
    result.latent = w.detach().cpu().reshape(1, -1) if not cfg.w_plus else w.detach().cpu()
    result.noises = [n.detach().cpu() for n in noises]
    return result


# ------------------------------------------------------------------------------------------------ files
def load_target(path: str | Path, size: int, channels: int) -> Tensor:
    """The image at ``path`` as (1, channels, size, size) in [-1, 1]: the short side scaled to ``size`` and
    the centre cropped, grey <-> RGB as the generator needs (grey: ITU-R 601 luma)."""
    from .data.folders import resize_crop
    from .io import read_image
    from .translate import _fit_channels

    return _fit_channels(resize_crop(read_image(path), size)[None], channels) * 2 - 1


def check_outputs(output: str | Path, latent: str | Path, strip: str | Path | None) -> None:
    """Refuse unwritable or wrongly named outputs before any work."""
    from .io import image_format
    from .utils import check_writable

    for path in (output, strip):
        if path is not None:
            image_format(check_writable(path))
    if Path(latent).suffix not in LATENT_SUFFIXES:
        raise BadInputError(f"{latent}: the latent is written as .npy (w only) or .safetensors (w and noise maps)")
    check_writable(latent)


def save_latent(result: Projection, path: str | Path, source: str) -> Path:
    """``.npy``: the latent as float32; ``.safetensors``: ``w`` and the noise maps ``noise_i``, with the
    generator's name in the metadata."""
    import numpy as np

    from .utils import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, result.latent.numpy().astype(np.float32))
        else:
            from safetensors.torch import save_file

            tensors = {"w": result.latent.contiguous(), **{f"noise_{i}": n.contiguous()
                                                            for i, n in enumerate(result.noises)}}
            save_file(tensors, str(tmp), metadata={"generator": source, "space": "W+" if result.latent.dim() == 3
                                                   else "W"})
    return path


def project_run(run: str | Path, image: str | Path, output: str | Path, latent: str | Path | None = None,
                strip: str | Path | None = None, frames: int = 8, cfg: ProjectConfig = ProjectConfig(),
                vgg_weights: str | None = "auto", ema: bool | None = None, device: str | torch.device = "cpu",
                progress: bool = True) -> tuple[Projection, Path]:
    """``pixforge project``: project ``image`` into the generator of a StyleGAN or StyleGAN2 run (or a released
    StyleGAN2 .pt/.pkl), write the projected image to ``output``, the latent to ``latent`` (default: ``output``
    with .npy) and optionally a strip (target, then the projection at ``frames`` steps). Returns (result, latent
    path)."""
    from .io import image_grid, save_image
    from .models.stylegan2 import StyleBasedGenerator
    from .tasks.gan import load_generator

    latent = Path(output).with_suffix(".npy") if latent is None else Path(latent)
    check_outputs(output, latent, strip)
    g, _ = load_generator(run, ema, device)
    if not isinstance(g, StyleBasedGenerator):
        raise BadInputError(f"{run}: projection needs a StyleGAN or StyleGAN2 generator, not a {type(g).__name__}")
    target = load_target(image, g.resolution, g.image_channels)
    distance = None
    if cfg.perceptual:
        from .losses.perceptual import VGGDistance

        distance = VGGDistance(vgg_weights)
    result = project(g, target, cfg, distance, frames if strip else 0, progress)

    def as_rgb01(x: Tensor) -> Tensor:
        return (x.clamp(-1, 1).expand(-1, 3, -1, -1) + 1) / 2

    save_image(as_rgb01(result.image)[0], output)
    if strip:
        save_image(image_grid(as_rgb01(torch.cat([target.cpu(), *result.frames])), nrow=len(result.frames) + 1),
                   strip)
    return result, save_latent(result, latent, str(run))
