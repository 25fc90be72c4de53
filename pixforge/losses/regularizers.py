"""Regularisers of GAN training: gradient penalties (WGAN-GP, R1, lazily applied), StyleGAN2's path-length
regulariser, BigGAN's orthogonal regularisation and SPADE's VAE KL term. Each returns the unweighted penalty; the
task weighs it."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..registry import LOSSES

Tensor = torch.Tensor


def _input_grad(outputs: Tensor, inputs: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.flatten(1)


@LOSSES.register("gradient-penalty", family="regularizer")
def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP: E[(‖∇D(x̂)‖₂ - 1)²] at x̂ = αx + (1-α)G(z), α ~ U(0, 1) per sample (Gulrajani et al.)."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    return ((_input_grad(critic(x_hat), x_hat).norm(2, dim=1) - 1) ** 2).mean()


@LOSSES.register("r1", family="regularizer")
def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): E‖∇D(x)‖² on real data; the trainer adds γ/2 times this."""
    x = real.detach().requires_grad_(True)
    return _input_grad(critic(x), x).pow(2).sum(1).mean()


def lazy_scale(step: int, every: int) -> int:
    """StyleGAN2's lazy regularisation: a penalty runs only on steps 0, k, 2k, ... (k = ``every``) and is
    multiplied by k there, so its average strength is unchanged. The factor to apply at ``step``: k on a
    regularisation step, 0 on the others (``every`` 1: every step, factor 1)."""
    if every < 1:
        raise ValueError(f"a regularisation interval must be >= 1, not {every}")
    return every if step % every == 0 else 0


def lazy_r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, step: int, every: int = 16) -> Tensor | None:
    """Lazy R1 (StyleGAN2: every 16 D steps): ``every`` · R1 on a regularisation step, None on the others."""
    scale = lazy_scale(step, every)
    return scale * r1_penalty(critic, real) if scale else None


def lazy_adam(lr: float, betas: tuple[float, float], every: int) -> tuple[float, tuple[float, float]]:
    """Adam's (lr, betas) for a network regularised lazily every k steps: lr·c and β^c with c = k/(k+1),
    which keeps the optimiser's time scale per regular step (StyleGAN2, appendix B). ``every`` 0: no lazy
    regulariser (none, or one inside the main loss), the settings unchanged."""
    c = every / (every + 1) if every else 1.0
    return lr * c, (betas[0] ** c, betas[1] ** c)


@LOSSES.register("path-length", family="regularizer")
def path_length_penalty(fake: Tensor, latents: Tensor, mean: Tensor | float, decay: float = 0.01,
                        noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """StyleGAN2's path-length regulariser: E(‖Jᵀy‖ - a)² for J = ∂G(w)/∂w at the ``latents`` that made
    ``fake``, y ~ N(0, I)/√(H·W) (``noise`` before the scaling) and a the running mean of ‖Jᵀy‖, updated with
    ``decay`` before the penalty uses it (as the reference code). Returns (penalty, new running mean).

    ``latents`` (N, D), or (N, L, D) for one w per layer (W+), where the length is the root of the mean over
    layers of the squared norms (rosinality's and NVIDIA's code).
    """
    if noise is None:
        noise = torch.randn_like(fake)
    noise = noise / math.sqrt(math.prod(fake.shape[2:]))
    (grad,) = torch.autograd.grad((fake * noise).sum(), latents, create_graph=True)
    lengths = grad.pow(2).sum(-1).reshape(len(grad), -1).mean(1).sqrt()
    new_mean = mean + decay * (lengths.mean() - mean)
    return (lengths - new_mean).pow(2).mean(), new_mean.detach()


@LOSSES.register("orthogonal", family="regularizer")
def orthogonal_penalty(module: nn.Module, beta: float = 1e-4) -> Tensor:
    """BigGAN's orthogonal regularisation β Σ ‖WWᵀ ⊙ (1 - I)‖²_F over every weight with ≥2 dims.

    W is each weight reshaped to (output units, fan-in), so the penalty pushes filters towards mutual
    orthogonality without constraining their norms (Brock et al. 2019, section 3.1).
    """
    total = None
    for name, p in module.named_parameters():
        if p.dim() < 2 or not p.requires_grad or "embed" in name:
            continue
        w = p.flatten(1)
        gram = w @ w.t()
        off = gram - torch.diag_embed(torch.diagonal(gram))
        term = off.pow(2).sum()
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return beta * total


@LOSSES.register("kl-normal", family="regularizer")
def kl_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, 1)) summed over the code and the batch, -½ Σ(1 + logvar - mu² - exp(logvar)):
    the VAE term of SPADE's style encoder (its ``KLDLoss``, weighted 0.05 there)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
