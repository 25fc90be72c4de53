"""One Python API across the families: thin wrappers over the library that take any kind of image and give
the same kind back (:func:`pixforge.io.as_batch` / :func:`pixforge.io.restore`: a file path or a PIL image gives
a PIL image, a NumPy array an array of the same dtype and layout, a tensor a tensor; a batch gives a batch).

    import pixforge
    art = pixforge.stylize("photo.jpg", "starry_night.jpg", method="magenta")      # PIL image
    big = pixforge.upscale(array, model="realesr-animevideov3")                  # (H, W, 3) uint8 -> (4H, 4W, 3)
    old = pixforge.translate(tensor, model="cyclegan-vintage")                   # (3, H, W) -> (3, H, W)
    faces = pixforge.sample("dcgan-faces64", n=16, seed=0)                      # 16 PIL images
    pixforge.evaluate(outputs, references, metrics=("psnr", "ssim"))            # {"psnr": 31.2, "ssim": 0.91}

``pixforge.translate`` is the module :mod:`pixforge.translate`, callable as its ``translate`` function.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch

from .errors import BadInputError
from .io import ImageKind, as_batch, restore


def _images(images: Any) -> list[torch.Tensor]:
    """RGB images (3, H, W) in [0, 1] from one image of any kind, a batch, a list of them, or a folder."""
    if isinstance(images, (str, os.PathLike)) and Path(images).is_dir():
        from .io import list_images

        images = list_images(images)
    items = images if isinstance(images, (list, tuple)) else [images]
    return [image for item in items for image in as_batch(item)[0]]


def stylize(content: Any, style: Any = None, method: str = "magenta", **options: Any) -> Any:
    """Stylise ``content`` (one image or a batch) with ``style`` (an image or a list of images, blended by
    ``style_blend``; none for ``fast``/``cin``) by ``method`` (``pixforge.registry.METHODS``); ``options`` are
    :class:`~pixforge.style.StylizeOptions` fields. As ``pixforge stylize`` does, content and styles are first
    resized to long side ``size`` (default 512; None keeps them)."""
    from .io import resize_long_side
    from .style.methods import StylizeOptions, check_image, stylize as run

    size = options.get("size", StylizeOptions.size)
    batch, kind = as_batch(content)
    styles = [] if style is None else _images(style)
    for i, image in enumerate(styles):
        check_image(image, f"style image {i + 1}")
    if size:
        batch, styles = resize_long_side(batch, size), [resize_long_side(s, size) for s in styles]
    out = torch.stack([run(image, styles, method=method, **options) for image in batch])
    return restore(out, kind)


def upscale(image: Any, model: str | torch.nn.Module = "realesrgan-x4plus", tile: int | None = 256,
            denoise: int | None = None, scale: float | None = None, device: str | None = None,
            random_weights: bool = False, **kwargs: Any) -> Any:
    """Super-resolve ``image`` (grey and alpha kept) with ``model``: an SR weights name (``pixforge weights
    list``), a file, or a loaded network; ``denoise`` picks waifu2x's ``-denoiseN`` variant. Other keywords go to
    :func:`pixforge.sr.upscale` (``overlap``, ``bf16``)."""
    from .sr import load_model, upscale as run, with_denoise

    if not isinstance(model, torch.nn.Module):
        model = load_model(with_denoise(str(model), denoise), device, random_weights=random_weights)
    batch, kind = as_batch(image, keep_alpha=True)
    return restore(run(batch, model, tile=tile or None, scale=scale, **kwargs), kind)


def sample(model: str | os.PathLike, n: int = 16, seed: int = 0, truncation: float | None = None,
           label: int | None = None, ema: bool | None = None, device: str | None = None,
           kind: str = "pil") -> Any:
    """``n`` samples of a GAN: a run folder, a checkpoint or a pretrained generator (``dcgan-faces64``), as
    ``kind`` "pil" (a list of PIL images), "numpy" ((N, H, W, C) uint8) or "tensor" ((N, C, H, W) in [0, 1]).
    ``truncation``: ψ in W for StyleGAN generators, else the |z| threshold. GANs of 2D points give (N, 2)."""
    from .tasks.gan import sample_run
    from .utils import default_device

    if kind not in ("pil", "numpy", "tensor"):
        raise BadInputError(f"kind must be 'pil', 'numpy' or 'tensor', not {kind!r}")
    x, _ = sample_run(model, n, ema, truncation, label, seed, default_device(device))
    if x.dim() != 4:
        return x.numpy() if kind == "numpy" else x
    dtype = {"numpy": "uint8", "tensor": torch.float32}.get(kind)
    return restore((x + 1) / 2, ImageKind(kind, batched=True, dtype=dtype))


def evaluate(a: Any, b: Any = None, metrics: Sequence[str] = ("psnr", "ssim"), **kwargs: Any) -> dict[str, float]:
    """Metrics (``pixforge.registry.METRICS``) between image sets ``a`` and ``b`` (each an image, a batch, a
    list of images or a folder): pair metrics (PSNR, SSIM) are averaged over the pairs in order, set metrics
    (FID, KID, precision/recall) compare the sets, one-set metrics (IS) score ``a``. Returns name -> number
    (``kid_std`` and the like for metrics that give a spread); ``kwargs`` go to every metric."""
    from .registry import METRICS

    out: dict[str, float] = {}
    for name in metrics:
        meta = METRICS.meta(name)
        if meta.get("pairs"):
            xs, ys = _images(a), _images(b)
            if len(xs) != len(ys):
                raise BadInputError(f"{name}: {len(xs)} images against {len(ys)}; pair metrics need as many")
            shapes = [(tuple(x.shape), tuple(y.shape)) for x, y in zip(xs, ys) if x.shape != y.shape]
            if shapes:
                raise BadInputError(f"{name}: images of different sizes {shapes[0][0]} and {shapes[0][1]}")
            value = sum(METRICS.get(name)(x, y, **kwargs) for x, y in zip(xs, ys)) / len(xs)
        else:
            sets = [_image_set(s) for s in ((a,) if meta.get("inputs") == 1 else (a, b))]
            value = METRICS.get(name)(*sets, progress=False, **kwargs)
        out.update(_numbers(name, value))
    return out


def _image_set(images: Any) -> Any:
    """A metric's image set: folders and ``.npy``/``.npz`` files as they are, images as (N, 3, H, W) in [-1, 1]
    (resized to 299 x 299, the Inception input, when their sizes differ)."""
    if images is None:
        raise BadInputError("this metric compares two image sets; give b")
    if isinstance(images, (str, os.PathLike)) and (Path(images).is_dir() or Path(images).suffix in (".npy", ".npz")):
        return str(images)
    from .io import resize

    items = _images(images)
    if len({tuple(x.shape) for x in items}) > 1:
        items = [resize(x, (299, 299)) for x in items]
    return torch.stack(items) * 2 - 1


def _numbers(name: str, value: Any) -> dict[str, float]:
    """A metric's result as name -> float: a number, (mean, std), or a dict of numbers."""
    if isinstance(value, dict):
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(value, tuple) and len(value) == 2:
        return {name: float(value[0]), f"{name}_std": float(value[1])}
    try:
        return {name: float(value)}
    except (TypeError, ValueError):
        raise BadInputError(f"metric {name!r} does not give numbers ({type(value).__name__})") from None

