"""Regularisers and stabilisers for GAN training: gradient penalties, orthogonal regularisation, EMA, SN."""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

Tensor = torch.Tensor


def _input_grad(outputs: Tensor, inputs: Tensor) -> Tensor:
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP: E[(‖∇D(x̂)‖₂ - 1)²] at x̂ = αx + (1-α)G(z), α ~ U(0, 1) per sample (Gulrajani et al.)."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    return ((_input_grad(critic(x_hat), x_hat).norm(2, dim=1) - 1) ** 2).mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): E‖∇D(x)‖² on real data; the trainer adds γ/2 times this."""
    x = real.detach().requires_grad_(True)
    return _input_grad(critic(x), x).pow(2).sum(1).mean()


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


class EMA:
    """Exponential moving average of a generator's weights (Karras et al.; BigGAN's G_ema).

    Before ``start`` the average just copies the live weights (so it does not remember the random init),
    afterwards ``ema = decay·ema + (1-decay)·weights``. Buffers (BN statistics) are copied as they are.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, start: int = 0):
        self.decay, self.start = decay, start
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = 0.0 if step < self.start else self.decay
        for e, p in zip(self.module.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1.0 - decay)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)


SN_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)


def apply_spectral_norm(module: nn.Module, types: tuple = SN_TYPES) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every conv/linear/embedding weight, in place.

    Uses ``torch.nn.utils.parametrizations.spectral_norm`` (one power iteration per training forward);
    the power-iteration vectors are buffers, so they are checkpointed and a resume is exact.
    """
    for m in list(module.modules()):
        if isinstance(m, types) and not torch.nn.utils.parametrize.is_parametrized(m, "weight"):
            torch.nn.utils.parametrizations.spectral_norm(m)
    return module
