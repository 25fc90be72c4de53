"""Export feed-forward networks to ONNX, checked against PyTorch with onnxruntime.

    from pixforge.export import export
    report = export("realesr-animevideov3", "x4.onnx", dynamic_size=True)

What can be exported is read off the network, so new architectures need no code here: a GAN generator (has
``z_dim``), an upscaler (has ``scale``), a translation generator (has ``size_multiple``), a fast-style / CIN
``TransformerNet`` and Magenta's predictor and transformer (``magenta``: both in one graph, content + style ->
image). A StyleGAN / StyleGAN2 generator takes z and a truncation ψ per sample and uses its fixed noise maps
(see :class:`StyleGenerator`). Every graph takes images in [0, 1] and gives images in [0, 1] (the network's own range, 0-255 or
[-1, 1], is converted inside); sizes must be what the network accepts (``size_multiple``, plus ``border`` pixels
on each side for upscalers with unpadded convolutions), as the ONNX file's metadata says.

After writing, onnxruntime runs the file on random inputs at batch 1 and 2 (with ``dynamic_size`` the second
at a non-square size) and its outputs must match PyTorch's to :data:`TOLERANCE`, else :class:`ExportError` and no
file is left behind.
"""
from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .errors import BadInputError, PixforgeError, WeightsError
from .utils import atomic_path

TOLERANCE = 1e-4
DEFAULT_OPSET = 17


class ExportError(PixforgeError):
    """The exported graph does not reproduce the network (or cannot be written or checked)."""


# ------------------------------------------------------------------------------------------------ wrappers
class Images(nn.Module):
    """An image-to-image network with [0, 1] images in and out; ``low``..``high`` is the network's own range."""

    def __init__(self, net: nn.Module, low: float = 0.0, high: float = 1.0):
        super().__init__()
        self.net, self.low, self.span = net, low, high - low

    def forward(self, image: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        out = self.net(image * self.span + self.low, *extra)
        return ((out - self.low) / self.span).clamp(0, 1)


class StyleMix(nn.Module):
    """A conditional-instance-norm ``TransformerNet`` with the style blend as an input: (image, weights (N, S))."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.images = net, Images(net, 0, 255)

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        for layer in self.net.cin_layers():
            layer.mix = style / style.sum(-1, keepdim=True)
        return self.images(image)


class Magenta(nn.Module):
    """Magenta's arbitrary stylisation in one graph: content (N, 3, H, W) + style (N, 3, 256, 256) -> image."""

    def __init__(self, predictor: nn.Module, transformer: nn.Module):
        super().__init__()
        self.predictor, self.transformer = predictor, transformer

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.transformer(content, self.predictor(style))


class Generator(nn.Module):
    """A GAN generator: z (N, z_dim) [and class labels (N,)] -> images in [0, 1] (points as they are)."""

    def __init__(self, g: nn.Module, images: bool):
        super().__init__()
        self.g, self.images = g, images

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        out = self.g(z, label)
        return ((out + 1) / 2).clamp(0, 1) if self.images else out


class StyleGenerator(nn.Module):
    """A StyleGAN / StyleGAN2 generator: z (N, z_dim) and truncation ψ (N,) -> images in [0, 1].

    ψ is an input because deployments pick it per request (truncation in W: ``w_avg + ψ (w - w_avg)``, 1 = none;
    on the generator's ``truncation_cutoff`` first layers, StyleGAN v1's 8).
    Noise is the generator's fixed maps (``noise="const"``, NVIDIA's ``noise_mode='const'``), baked in as
    constants, so an image is a function of z and ψ alone. Modulated convs run in their shared-weight form
    (the grouped-conv form's group count is the batch, which ONNX cannot make dynamic): the same numbers."""

    def __init__(self, g: nn.Module):
        from .nn.conv import ModulatedConv2d

        super().__init__()
        self.g = g
        for module in g.modules():
            if isinstance(module, ModulatedConv2d):
                module.fused = False
        self.noise = nn.ParameterList([nn.Parameter(n.detach().clone(), requires_grad=False)
                                       for n in g.constant_noise()])

    def forward(self, z: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        g = self.g
        w = g.mapping(z).unsqueeze(1).expand(-1, g.n_latent, -1)
        w = g.truncate(w, truncation.view(-1, 1, 1).to(w.dtype), g.truncation_cutoff)
        image = g.synthesis(w, list(self.noise))
        return ((image + 1) / 2).clamp(0, 1)


# ------------------------------------------------------------------------------------------------ what to export
@dataclass
class Graph:
    """A wrapped network: its example inputs (random, seeded), which of them are images of free size, metadata."""

    module: nn.Module
    inputs: dict[str, torch.Tensor]
    images: tuple[str, ...]                       # inputs whose height and width may be dynamic
    side: Callable[[int], int]                    # the valid input side nearest above n
    metadata: dict[str, str] = field(default_factory=dict)

    def example(self, hw: tuple[int, int] | None = None, batch: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
        """Random inputs shaped like :attr:`inputs`, images at ``hw`` and ``batch``."""
        gen = torch.Generator().manual_seed(seed)
        out = {}
        for name, x in self.inputs.items():
            shape = (batch, *x.shape[1:-2], *hw) if hw and name in self.images else (batch, *x.shape[1:])
            if not x.is_floating_point():
                out[name] = torch.randint(int(x.max()) + 1, shape, generator=gen)
            elif name in self.images:
                out[name] = torch.rand(shape, generator=gen)
            elif name == "style":  # blend weights
                out[name] = torch.rand(shape, generator=gen) + 0.1
            elif name == "truncation":  # ψ in [0.25, 1.25)
                out[name] = torch.rand(shape, generator=gen) + 0.25
            else:
                out[name] = torch.randn(shape, generator=gen)
        return out


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


IMAGE = "(N, 3, H, W) RGB in [0, 1]"


def describe(net: nn.Module, size: int) -> Graph:
    """The :class:`Graph` of a loaded network, its images ``size`` px (rounded up to what the network takes)."""
    from .models.magenta import StylePredictor, StyleTransformer
    from .models.transformer_net import TransformerNet

    net = net.eval()
    if isinstance(net, Magenta):
        side = _multiple(4)
        return Graph(net, {"content": torch.rand(1, 3, side(size), side(size)), "style": torch.rand(1, 3, 256, 256)},
                     ("content",), side, {"family": "style", "inputs": f"content: {IMAGE}, H and W multiples of 4; "
                                          "style: (N, 3, 256, 256) RGB in [0, 1], a centre crop of the style image",
                                          "size_multiple": "4"})
    if isinstance(net, StylePredictor):
        return Graph(net, {"style": torch.rand(1, 3, 256, 256)}, (), _multiple(1),
                     {"family": "style", "inputs": "style: (N, 3, 256, 256) RGB in [0, 1]",
                      "output": "style embedding (N, 100, 1, 1)", "output_range": "unbounded"})
    if isinstance(net, StyleTransformer):
        side = _multiple(4)
        return Graph(Images(net), {"image": torch.rand(1, 3, side(size), side(size)), "embedding": torch.randn(1, 100, 1, 1)},
                     ("image",), side, {"family": "style", "inputs": f"image: {IMAGE}, H and W multiples of 4; "
                                        "embedding: (N, 100, 1, 1) from magenta-predictor", "size_multiple": "4"})
    if isinstance(net, TransformerNet):
        side, styles = _multiple(4), net.num_styles
        image = {"image": torch.rand(1, 3, side(size), side(size))}
        meta = {"family": "style", "styles": str(styles), "size_multiple": "4",
                "inputs": f"image: {IMAGE}, H and W multiples of 4" + (f"; style: (N, {styles}) blend weights of the "
                                                                     "network's styles (one-hot picks one)"
                                                                     if styles > 1 else "")}
        if styles > 1:
            return Graph(StyleMix(net), {**image, "style": torch.rand(1, styles)}, ("image",), side, meta)
        return Graph(Images(net, 0, 255), image, ("image",), side, meta)
    if hasattr(net, "synthesis"):
        return Graph(StyleGenerator(net), {"z": torch.randn(1, net.z_dim), "truncation": torch.ones(1)}, (),
                     _multiple(1), {"family": "gan", "z_dim": str(net.z_dim), "num_classes": "0",
                                    "image_size": str(net.size), "input_range": "z: standard normal",
                                    "inputs": f"z: (N, {net.z_dim}) standard normal; truncation: (N,) float32 ψ per "
                                              "sample, truncation in W towards the mean w (1: none, 0.5-0.7 typical)",
                                    "noise": "fixed: the generator's constant noise maps (noise='const')",
                                    "output_range": "[0, 1]"})
    if hasattr(net, "z_dim"):
        classes = getattr(net, "num_classes", 0)
        inputs = {"z": torch.randn(1, net.z_dim)}
        if classes:
            inputs["label"] = torch.tensor([classes - 1])
        with torch.no_grad():
            images = net(*inputs.values()).dim() == 4
        return Graph(Generator(net, images), inputs, (), _multiple(1),
                     {"family": "gan", "z_dim": str(net.z_dim), "num_classes": str(classes), "input_range":
                      "z: standard normal", "inputs": f"z: (N, {net.z_dim}) standard normal" +
                      (f"; label: (N,) int64 class in [0, {classes})" if classes else ""),
                      "output_range": "[0, 1]" if images else "data units"})
    if hasattr(net, "scale"):
        m, b = getattr(net, "multiple", 1), getattr(net, "border", 0)

        def side(n: int) -> int:
            return _round_up(max(n - 2 * b, 1), m) + 2 * b

        return Graph(Images(net), {"image": torch.rand(1, 3, side(size), side(size))}, ("image",), side,
                     {"family": "sr", "scale": str(net.scale), "size_multiple": str(m), "border": str(b),
                      "pad_mode": getattr(net, "pad_mode", "replicate"),
                      "inputs": f"image: {IMAGE}; H - 2*border and W - 2*border multiples of size_multiple "
                                f"(pad the image by border px, mode pad_mode; the output is scale x (H - 2*border))"})
    if hasattr(net, "size_multiple"):
        side, channels = _multiple(net.size_multiple), getattr(net, "in_channels", 3)
        return Graph(Images(net, -1, 1), {"image": torch.rand(1, channels, side(size), side(size))}, ("image",),
                     side, {"family": "translation", "size_multiple": str(net.size_multiple),
                            "inputs": f"image: (N, {channels}, H, W) in [0, 1], H and W multiples of "
                                      f"{net.size_multiple}", "mode": "eval (dropout off, batch norm statistics)"})
    raise BadInputError(f"{type(net).__name__}: not a feed-forward network pixforge exports (GAN generators, "
                        "upscalers, translation generators, fast-style/CIN and Magenta networks)")


def _multiple(m: int) -> Callable[[int], int]:
    return lambda n: _round_up(max(n, 1), m)


def frozen(net: nn.Module) -> nn.Module:
    """A float32 CPU copy in eval mode, parametrizations (spectral norm) baked into plain weights."""
    from torch.nn.utils import parametrize

    net = copy.deepcopy(net).cpu().float().eval()
    for module in list(net.modules()):
        if parametrize.is_parametrized(module):  # (not remove_parametrizations: it edits the class the copy shares)
            values = {name: getattr(module, name).detach() for name in module.parametrizations}
            module.__class__ = type(module).__bases__[0]
            del module.parametrizations
            for name, value in values.items():
                module.register_parameter(name, nn.Parameter(value))
        if type(module).get_extra_state is not nn.Module.get_extra_state:  # Python state (PGGAN's stage, alpha):
            module.__class__ = type(type(module).__name__, (type(module),),  # no tensor, and the exporter
                                    {"get_extra_state": nn.Module.get_extra_state})  # reads every state entry
    return net


# ------------------------------------------------------------------------------------------------ loading
def load_network(source: str | Path, random_weights: bool = False) -> nn.Module:
    """The network behind ``source``: ``magenta`` (predictor + transformer), a weights name, an architecture name
    (``random_weights`` only), a GAN run folder / checkpoint, a translation run folder, or a weights file
    (translation generator, upscaler or fast-style network, told apart by its keys)."""
    from . import weights
    from .registry import ARCHS

    name = str(source)
    if name == "magenta":
        from .models.magenta import StylePredictor, StyleTransformer, load_predictor, load_transformer

        return Magenta(StylePredictor(), StyleTransformer()) if random_weights else \
            Magenta(load_predictor(), load_transformer())
    if name in weights.WEIGHTS:
        spec = weights.get_spec(name)
        arch = spec.meta["arch"]
        if ARCHS.meta(arch).get("family") == "translation":  # translation nets are rebuilt from their keys
            from .translate import load_generator

            return load_generator(name)
        net = ARCHS.create(arch, **spec.meta.get("kwargs", {}))
        return net if random_weights else weights.load_strict(net, weights.resolve(name), name)
    if name in ARCHS:
        if not random_weights:
            known = ", ".join(weights.WEIGHTS.list(arch=name)) or "none registered"
            raise WeightsError(f"{name}: an architecture without weights; give weights ({known}) or a file, or "
                               "--random-weights to export it untrained")
        return ARCHS.create(name)
    path = Path(name)
    if not path.exists():
        raise BadInputError(f"{name}: neither a weights name (`pixforge weights list`), an architecture "
                            "(`pixforge models list`), a run folder nor a file")
    if (path / "checkpoints" / "last.pt").is_file() or path.suffix in (".pt", ".pkl"):
        from .tasks.gan import load_generator

        return load_generator(path)[0]
    from .translate import generator_from_state_dict, load_generator

    if path.is_dir():
        return load_generator(path)
    state = weights.resolve(path)
    from .models.transformer_net import net_from_state_dict
    from .sr.load import network_from_state_dict, unwrap

    for build in (lambda: generator_from_state_dict(state, name), lambda: network_from_state_dict(unwrap(state, name), name),
                  lambda: net_from_state_dict(state, name)):
        try:
            return build()
        except WeightsError:
            continue
    raise WeightsError(f"{name}: not a network pixforge exports (translation generator, upscaler or fast-style "
                       "network keys expected)")


# ------------------------------------------------------------------------------------------------ exporting
@dataclass
class Report:
    path: Path
    metadata: dict[str, str]
    max_abs_diff: float
    checked: list[tuple[tuple[int, ...], ...]]  # the input shapes of each run of onnxruntime
    seconds: float


def export(source: str | Path | nn.Module, output: str | Path, opset: int = DEFAULT_OPSET, dynamic_size: bool = False,
           size: int = 256, random_weights: bool = False) -> Report:
    """Write ``source`` (see :func:`load_network`, or a loaded network) as an ONNX file with metadata, after
    checking that onnxruntime reproduces PyTorch to :data:`TOLERANCE` on random inputs."""
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as exc:
        raise ExportError(f"export checks its file with onnxruntime ({exc.name} is missing): "
                          "pip install 'pixforge[export]'") from None
    start = time.perf_counter()
    if not str(output).endswith(".onnx"):
        raise BadInputError(f"{output}: the output must end in .onnx")
    net = source if isinstance(source, nn.Module) else load_network(source, random_weights)
    graph = describe(frozen(net), size)
    graph.module.eval()  # (the exporter restores the wrapper's mode afterwards: train mode would reach the network)
    example = graph.example()
    names = list(graph.inputs)
    axes = {n: {0: "batch", **({2: "height", 3: "width"} if dynamic_size and n in graph.images else {})} for n in names}
    axes["output"] = {0: "batch", **({2: "out_height", 3: "out_width"} if dynamic_size and graph.images else {})}
    h, w = next((tuple(example[n].shape[-2:]) for n in graph.images), (0, 0))
    resized = (graph.side(h + 1), w) if dynamic_size and graph.images else None
    checks = [example, graph.example(resized, batch=2, seed=1)]  # (batch 2: a traced batch size shows)
    metadata = {"source": type(source).__name__ if isinstance(source, nn.Module) else str(source),
                "input_range": "[0, 1]", "output_range": "[0, 1]", "scale": "1", "styles": "0",
                **graph.metadata, "opset": str(opset), "dynamic_size": str(bool(dynamic_size and graph.images)),
                "export_size": f"{h}x{w}" if graph.images else "", "tolerance": str(TOLERANCE)}
    with atomic_path(output) as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(graph.module, tuple(example.values()), str(tmp), dynamo=False, input_names=names,
                                  output_names=["output"], opset_version=opset, dynamic_axes=axes)
            except Exception as exc:  # unsupported operators, opsets ...
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ExportError(f"torch.onnx.export failed for {metadata['source']}: {first[:300]}") from None
            worst = 0.0
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            for inputs in checks:
                expected = graph.module(*inputs.values()).float().numpy()
                got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
                if got.shape != expected.shape:
                    raise ExportError(f"onnxruntime gives shape {got.shape}, PyTorch {expected.shape} for inputs "
                                      f"{[tuple(v.shape) for v in inputs.values()]}")
                worst = max(worst, float(abs(got - expected).max()))
        if not worst <= TOLERANCE:
            raise ExportError(f"onnxruntime's output differs from PyTorch's by {worst:.3g} (> {TOLERANCE:g}) on a "
                              f"random input; {output} not written")
        model = onnx.load(str(tmp))
        onnx.helper.set_model_props(model, {**metadata, "max_abs_diff": f"{worst:.3g}"})
        onnx.save(model, str(tmp))
    return Report(Path(output), {**metadata, "max_abs_diff": f"{worst:.3g}"}, worst,
                  [tuple(tuple(v.shape) for v in c.values()) for c in checks], time.perf_counter() - start)
