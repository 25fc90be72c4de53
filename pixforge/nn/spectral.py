"""Spectral normalisation (Miyato et al. 2018) of every weight of a network."""
from __future__ import annotations

import torch
from torch import nn

SN_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)


def apply_spectral_norm(module: nn.Module, types: tuple = SN_TYPES) -> nn.Module:
    """Spectral normalisation on every conv/linear/embedding weight, in place.

    Uses ``torch.nn.utils.parametrizations.spectral_norm`` (one power iteration per training forward);
    the power-iteration vectors are buffers, so they are checkpointed and a resume is exact.
    """
    for m in list(module.modules()):
        if isinstance(m, types) and not torch.nn.utils.parametrize.is_parametrized(m, "weight"):
            torch.nn.utils.parametrizations.spectral_norm(m)
    return module
