"""Adversarial losses: one registry, one interface, each with the optimiser defaults of its paper.

Every loss takes raw discriminator outputs (logits / critic values, shape (N,)) and returns a scalar:
``d_loss(real, fake)`` is what D minimises, ``g_loss(fake)`` what G minimises. Log-sigmoid terms use
softplus (``-log sigmoid(x) = softplus(-x)``, ``-log(1 - sigmoid(x)) = softplus(x)``), so they stay finite
for any logit. The flags say what else the trainer must do: a gradient penalty, weight clipping, how many
D steps per G step, and which optimiser the paper used.

* ``minimax``: D: -log D(x) - log(1-D(G(z))); G: log(1-D(G(z))) (saturating). Goodfellow et al. 2014
  (who used SGD with momentum; defaults here are DCGAN's Adam 2e-4, betas (0.5, 0.999)).
* ``nonsaturating``: same D; G: -log D(G(z)). Goodfellow et al. 2014, DCGAN's Adam 2e-4, (0.5, 0.999).
* ``lsgan``: D: ½(D(x)-1)² + ½D(G(z))²; G: ½(D(G(z))-1)² (a=0, b=c=1). Mao et al. 2017: Adam 2e-4, β1 0.5.
* ``wgan``: D: D(G(z)) - D(x); G: -D(G(z)); D weights clipped to ±0.01. Arjovsky et al. 2017: RMSProp 5e-5,
  n_critic 5.
* ``wgan-gp``: WGAN + 10·(‖∇D(x̂)‖-1)² at random interpolates x̂. Gulrajani et al. 2017 (Algorithm 1):
  Adam 1e-4, (0, 0.9), n_critic 5 (their released toy code used (0.5, 0.9)).
* ``hinge``: D: relu(1-D(x)) + relu(1+D(G(z))); G: -D(G(z)). Lim & Ye 2017; SAGAN's recipe: Adam (0, 0.9),
  two time-scale learning rates G 1e-4 / D 4e-4.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import ConfigError

Tensor = torch.Tensor


@dataclass(frozen=True)
class GanLoss:
    """An adversarial objective plus the training recipe its paper used."""

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    gp: float = 0.0  # gradient-penalty weight λ (interpolates between real and fake)
    clip: float = 0.0  # clip every D weight to [-clip, clip] after each D step
    optimizer: str = "adam"  # "adam" or "rmsprop"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1  # D steps per G step
    paper: str = ""


def _bce_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean() - real.mean()


def _wasserstein_g(fake: Tensor) -> Tensor:
    return -fake.mean()


LOSSES: dict[str, GanLoss] = {
    "minimax": GanLoss(
        "minimax", _bce_d, lambda fake: -F.softplus(fake).mean(),  # = E log(1 - D(G(z))), saturating
        paper="Goodfellow et al. 2014"),
    "nonsaturating": GanLoss(
        "nonsaturating", _bce_d, lambda fake: F.softplus(-fake).mean(), paper="Goodfellow et al. 2014; DCGAN"),
    "lsgan": GanLoss(
        "lsgan", lambda real, fake: 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean(),
        lambda fake: 0.5 * ((fake - 1) ** 2).mean(), paper="Mao et al. 2017"),
    "wgan": GanLoss(
        "wgan", _wasserstein_d, _wasserstein_g, clip=0.01, optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5,
        n_critic=5, paper="Arjovsky et al. 2017"),
    "wgan-gp": GanLoss(
        "wgan-gp", _wasserstein_d, _wasserstein_g, gp=10.0, lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9),
        n_critic=5, paper="Gulrajani et al. 2017"),
    "hinge": GanLoss(
        "hinge", lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(), _wasserstein_g,
        lr_g=1e-4, lr_d=4e-4, betas=(0.0, 0.9), paper="Lim & Ye 2017; SAGAN (Zhang et al. 2019)"),
}


def get_loss(name: str) -> GanLoss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(f"unknown GAN loss {name!r}; known: {', '.join(LOSSES)}") from None
