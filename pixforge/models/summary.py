"""What ``pixforge models list/info`` print: parameter counts, input/output shapes and weights of registered networks.

Networks are built on the ``meta`` device (shapes without memory or compute), so listing every architecture,
VGG19 and Inception included, takes well under a second; a network whose forward does not run on ``meta``
falls back to the CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import parameter_count
from ..registry import ARCHS


@dataclass
class ArchSummary:
    name: str
    family: str
    description: str
    parameters: int
    inputs: list[tuple[int, ...]]
    outputs: dict[str, tuple[int, ...]]  # output name ("" for a single tensor) -> shape
    weights: list[tuple[str, bool, str]]  # (registry name, present locally, description)


def build(name: str, device: str = "meta") -> nn.Module:
    """The registered network ``name`` with its default arguments, on ``device``."""
    with torch.device(device):
        return ARCHS.create(name)


def example_inputs(name: str, model: nn.Module, device: str = "meta") -> list[torch.Tensor]:
    """A batch of one for each input of the network, from the ``input`` shape(s) in its registry entry
    (a string entry names a model attribute, e.g. ``z_dim``)."""
    spec = ARCHS.meta(name)["input"]
    shapes = spec if isinstance(spec[0], tuple) else (spec,)
    return [torch.randn(1, *(getattr(model, d) if isinstance(d, str) else d for d in shape), device=device)
            for shape in shapes]


def _shapes(out, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """Output name -> shape; nested outputs (a multi-scale discriminator's features per scale) get dotted names."""
    if torch.is_tensor(out):
        return {prefix: tuple(out.shape)}
    items = out.items() if isinstance(out, dict) else enumerate(out)
    return {k: v for i, o in items for k, v in _shapes(o, f"{prefix}.{i}" if prefix else str(i)).items()}


def summarize(name: str, shapes: bool = True) -> ArchSummary:
    """Family, description, parameter count, (with ``shapes``) the output shapes for the default input, and the
    registered weights for ``name``."""
    from .. import weights as weights_mod

    meta = ARCHS.meta(name)
    model = build(name)
    inputs, outputs = [], {}
    if shapes:
        with torch.no_grad():
            try:
                x = example_inputs(name, model)
                outputs = _shapes(model.eval()(*x))
            except (NotImplementedError, RuntimeError):  # an op without a meta kernel: run it for real
                model = build(name, "cpu").eval()
                x = example_inputs(name, model, "cpu")
                outputs = _shapes(model(*x))
        inputs = [tuple(t.shape) for t in x]
    weights = [(w, weights_mod.is_present(w), weights_mod.get_spec(w).description)
               for w in weights_mod.WEIGHTS.list(arch=name)]
    return ArchSummary(name, meta.get("family", ""), meta.get("description", ""), parameter_count(model),
                       inputs, outputs, weights)
