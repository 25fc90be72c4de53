"""Mode-collapse metrics: 2D Gaussian mixtures (ring8, grid25) and Stacked MNIST (1000 modes).

2D mixtures, counted as in VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018; their released
code, ``pacgan/extensions.py: MetricLogger``): each sample is assigned to the nearest mode centre; it is
*high quality* if it lies within 3 standard deviations of that centre; a mode is *covered* if at least one
high-quality sample is assigned to it (``min_count=1``, PacGAN's rule). Also reported: the fraction of
high-quality samples and KL(mode histogram of the high-quality samples || uniform), PacGAN's "reverse KL".

* ring8: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02;
* grid25: 25 Gaussians on the 5x5 grid {-4, -2, 0, 2, 4}^2, std 0.05
  (defined with the datasets, :mod:`pixforge.data.builtin`).

Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN): each of the 3 channels of a sample is classified by a
digit classifier; the three digits make one of 1000 modes. Reported: modes covered (at least one sample)
and KL(mode histogram || uniform over 1000).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..data.builtin import Mixture
from ..errors import BadInputError


def get_mixture(name: str) -> Mixture:
    """A 2D Gaussian mixture of :data:`pixforge.registry.DATASETS` (``kind="mixture"``) by name."""
    from ..registry import DATASETS

    if DATASETS.meta(name)["kind"] != "mixture":
        raise BadInputError(f"dataset {name!r} is not a 2D Gaussian mixture; mixtures: "
                            f"{', '.join(DATASETS.list(kind='mixture'))}")
    return DATASETS.get(name)


def kl_to_uniform(counts: np.ndarray) -> float:
    """KL(counts / sum || uniform) in nats; inf when the histogram is empty."""
    total = counts.sum()
    if total == 0:
        return math.inf
    p = counts[counts > 0] / total
    return float((p * np.log(p * len(counts))).sum())


def mixture_modes(samples, mixture: str | Mixture, threshold: float = 3.0, min_count: int = 1) -> dict:
    """Modes covered, high-quality fraction and reverse KL of 2D ``samples`` (N, 2) against ``mixture``."""
    mix = get_mixture(mixture) if isinstance(mixture, str) else mixture
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise BadInputError(f"2D mode metrics need samples of shape (N, 2), got {x.shape}")
    d = np.linalg.norm(x[:, None, :] - mix.centres[None], axis=2)
    nearest = d.argmin(1)
    hq = d[np.arange(len(x)), nearest] < threshold * mix.std
    counts = np.bincount(nearest[hq], minlength=len(mix.centres))
    return {
        "data": mix.name, "modes": int((counts >= min_count).sum()), "total_modes": len(mix.centres),
        "high_quality": float(hq.mean()), "kl": kl_to_uniform(counts), "samples": len(x),
        "counts": counts.tolist(),
    }


@torch.no_grad()
def stacked_mnist_modes(samples, classifier, batch_size: int = 500, progress: bool = True) -> dict:
    """Modes covered (of 1000) and KL to uniform for Stacked-MNIST samples (N, 3, H, W) in [-1, 1]."""
    from tqdm.auto import tqdm

    if samples.ndim != 4 or samples.shape[1] != 3:
        raise BadInputError(f"Stacked-MNIST samples must be (N, 3, H, W), got shape {tuple(samples.shape)}")
    if classifier.cfg.in_channels != 1 or classifier.cfg.num_classes != 10:
        raise BadInputError("Stacked-MNIST mode counting needs a 1-channel, 10-class digit classifier")
    device = next(classifier.parameters()).device
    modes = []
    for start in tqdm(range(0, len(samples), batch_size), desc="stacked-mnist", disable=None if progress else True,
                      leave=False):
        part = samples[start:start + batch_size]
        x = part.float() if torch.is_tensor(part) else torch.from_numpy(np.array(part, dtype=np.float32))
        n = len(x)
        digits = classifier(x.reshape(n * 3, 1, *x.shape[-2:]).to(device))[1].argmax(1).view(n, 3).cpu()
        modes.append(digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
    counts = np.bincount(torch.cat(modes).numpy(), minlength=1000)
    return {"data": "stacked-mnist", "modes": int((counts > 0).sum()), "total_modes": 1000,
            "kl": kl_to_uniform(counts), "samples": int(len(samples))}
