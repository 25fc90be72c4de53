"""One registry of stylisation methods, shared by ``pixforge stylize``, ``pixforge video`` and the Python API.

Every method is a *builder*: ``build(styles, opts) -> stylizer`` where ``styles`` is a list of float RGB
tensors (3, H, W) in [0, 1] and ``stylizer(content)`` maps a content batch (N, 3, H, W) in [0, 1] to a
stylised batch of the same size. Feed-forward methods load their networks once in ``build`` so a video
stylises frame after frame without reloading; Gatys optimises inside the stylizer.

Methods live in their own modules and are imported only when used (``_METHODS`` maps name -> "module:function").
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from ..errors import ConfigError

Stylizer = Callable[[torch.Tensor], torch.Tensor]

_METHODS: dict[str, str] = {
    "gatys": "pixforge.style.gatys:build_gatys",
    "fast": "pixforge.style.fast:build_fast",
    "cin": "pixforge.style.fast:build_cin",
    "adain": "pixforge.style.adain:build_adain",
    "wct": "pixforge.style.wct:build_wct",
    "photowct": "pixforge.style.photowct:build_photowct",
    "swap": "pixforge.style.swap:build_swap",
    "magenta": "pixforge.style.magenta:build_magenta",
}


@dataclass
class StylizeOptions:
    """Every stylisation option in one place; a method reads the fields it uses and ignores the rest."""

    method: str = "gatys"
    size: Optional[int] = 512               # long side of the output in pixels (None: keep the content's size)
    style_blend: Optional[list[float]] = None  # one weight per style image (normalised to sum 1)
    masks: Optional[list[torch.Tensor]] = None  # one (1, H, W) mask in [0, 1] per style: where that style goes
    preserve_color: Optional[str] = None    # None, "luminance" (YIQ luminance-only transfer) or "histogram"
    seed: Optional[int] = None
    device: str = "auto"
    progress: bool = True
    tile: Optional[int] = None              # feed-forward methods: tiled inference with this tile size (px)

    # Gatys optimisation
    steps: int = 500
    # weights of mean-squared losses on Grams normalised by C*H*W (see losses.py and docs/gatys.md)
    content_weight: float = 1.0
    style_weight: float = 100.0
    tv_weight: float = 1e3
    style_scale: float = 1.0                # style image resized to style_scale x the output size
    content_layer: str = "relu4_2"
    style_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    layer_weights: Optional[list[float]] = None
    init: str = "content"                   # content | style | noise
    optimizer: str = "lbfgs"                # lbfgs | adam
    lr: float = 0.02                        # adam, in [0, 1] pixel units (L-BFGS always uses 1)
    scales: int = 1                         # coarse-to-fine levels (each one halves the size below the last)
    save_every: int = 0                     # write intermediate results every N steps (0: never)
    save_prefix: Optional[str] = None
    vgg_weights: str = "auto"               # a weights registry name or "auto" / "random"
    pool: str = "max"
    bf16: bool = False                      # networks under bfloat16 autocast (losses/statistics in fp32)

    # feed-forward and arbitrary-style methods
    model: Optional[str] = None             # fast / cin / magenta: registry name or path of the transformation network
    style_index: Optional[int] = None       # cin: which of the network's styles (or use style_blend)
    alpha: float = 1.0                      # content-style trade-off of AdaIN/WCT/swap (1 = full style)
    decoder: Optional[str] = None           # adain/wct/swap: registry name or path of the decoder(s)
    smooth: bool = True                     # photowct: closed-form smoothing step
    patch_size: int = 3                     # swap: patch size of the style-swap layer


def available() -> list[str]:
    return list(_METHODS)


def build(styles: list[torch.Tensor], opts: StylizeOptions) -> Stylizer:
    """Load the method's networks and return ``stylizer(content_batch) -> stylised_batch``."""
    if opts.method not in _METHODS:
        raise ConfigError(f"unknown style method {opts.method!r}; choose one of {', '.join(_METHODS)}")
    module, function = _METHODS[opts.method].split(":")
    builder = getattr(importlib.import_module(module), function)
    return builder(styles, opts)


def stylize(content: torch.Tensor, styles: list[torch.Tensor], opts: StylizeOptions | None = None,
            **overrides) -> torch.Tensor:
    """Stylise one content image (3, H, W) in [0, 1]; returns (3, H, W) in [0, 1]."""
    opts = opts or StylizeOptions()
    for key, value in overrides.items():
        if not hasattr(opts, key):
            raise ConfigError(f"unknown stylize option {key!r}")
        setattr(opts, key, value)
    out = build(styles, opts)(content.unsqueeze(0))
    return out[0].clamp(0, 1)
