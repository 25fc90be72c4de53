"""Network architectures, each file registering its networks in ``ARCHS`` and declaring beside them the
pretrained weights they can load (``pixforge models list``, ``pixforge weights list``)."""
from __future__ import annotations

from torch import nn


def parameter_count(model: nn.Module) -> int:
    """Number of learned parameters (buffers such as BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters())
