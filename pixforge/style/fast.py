"""Feed-forward style transfer: the ``fast`` and ``cin`` methods, which run a trained
:class:`~pixforge.models.transformer_net.TransformerNet` (Johnson et al. 2016; Dumoulin et al. 2017 for the
multi-style ``cin`` networks).

The network takes and returns RGB in the 0-255 range; :class:`FastStylizer` takes [0, 1] images and does the
scaling, the padding to a multiple of 4 and optional tiling.
"""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch

from .. import weights as weights_mod
from ..errors import ConfigError
from ..models.transformer_net import TransformerNet, net_from_state_dict
from ..nn.conv import pad_to_multiple
from ..utils import default_device
from . import methods
from .tiling import default_overlap

#: The network ``--method cin`` uses when no ``--model`` is given (pretrained, fetched with pip like the VGG).
DEFAULT_CIN_MODEL = "cin-lite26"


def load_transformer(model: str | Path | None) -> TransformerNet:
    """A TransformerNet from a registry name (``fast-candy``) or a .pth/.safetensors file, in eval mode."""
    if not model:
        raise ConfigError("--method fast needs --model: a registry name (e.g. fast-candy) or a weights file")
    name = str(model)
    state = weights_mod.resolve(name, "fast-style model", prefix="fast-")
    return net_from_state_dict(state, name).eval()


# --- inference ---------------------------------------------------------------------------------------
class FastStylizer:
    """Apply a TransformerNet to [0, 1] batches: scaling to 0-255, padding to a multiple of 4, optional tiling.

    Inference runs under ``torch.inference_mode``; ``bf16=True`` adds bfloat16 autocast (about 2x faster on
    CPUs/GPUs with native bf16). Channels-last memory format is off by default: on the quiet 2-core CPU it was
    15-20 % slower than NCHW in fp32 for both layouts and no faster in bf16 (``benchmarks/stylize_speed.py``).
    """

    def __init__(self, net: TransformerNet, device: torch.device, tile: int | None = None,
                 overlap: int | None = None, bf16: bool = False, channels_last: bool = False):
        self.net = net.to(device).eval()
        self.device, self.tile, self.bf16, self.channels_last = device, tile, bf16, channels_last
        self.overlap = overlap if overlap is not None else (default_overlap(tile) if tile else 0)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x.to(self.device) * 255.0, 4)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else nullcontext()
        with ctx:
            y = self.net(x)
        return (y.float()[..., :h, :w] / 255.0).clamp(0, 1).contiguous()

    def __call__(self, content: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if self.tile:
                from .tiling import tiled

                out = tiled(self._run, content, self.tile, self.overlap)
            else:
                out = self._run(content)
        return out.cpu()


@methods.register("fast", styles=(0, 0), options=("model", "tile"), check=methods.needs_model,
                  summary="a trained feed-forward network, one per style (--model)")
def build_fast(styles: list[torch.Tensor], opts) -> FastStylizer:
    """Method ``fast``: one pretrained network per style (``opts.model``); style images are not used."""
    net = load_transformer(opts.model)
    if net.num_styles > 1:
        _select_style(net, opts)
    return FastStylizer(net, default_device(opts.device), tile=opts.tile, bf16=opts.bf16)


@methods.register("cin", styles=(0, 0), options=("model", "style_index", "style_blend", "tile"),
                  summary="a multi-style network with conditional instance norm (default: the pretrained cin-lite26)")
def build_cin(styles: list[torch.Tensor], opts) -> FastStylizer:
    """Method ``cin``: a multi-style network (default: the pretrained ``cin-lite26``); ``opts.style_index``
    picks a style, ``opts.style_blend`` mixes."""
    model = opts.model or DEFAULT_CIN_MODEL
    net = load_transformer(model)
    if net.num_styles == 1 and (opts.style_index or opts.style_blend):
        raise ConfigError(f"{model} holds a single style; --style-index/--style-blend need a CIN network")
    _select_style(net, opts)
    return FastStylizer(net, default_device(opts.device), tile=opts.tile, bf16=opts.bf16)


def _select_style(net: TransformerNet, opts) -> None:
    if net.num_styles == 1:
        return
    if opts.style_blend is not None:
        net.set_style(opts.style_blend)
    else:
        net.set_style(int(opts.style_index or 0))
