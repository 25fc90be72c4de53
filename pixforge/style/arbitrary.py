"""What the arbitrary-style methods (AdaIN, WCT, PhotoWCT, style-swap) share: encoder, mirrored decoders, loading.

All four encode content and style with a VGG, transform the content features so they carry the style, and
decode back to pixels. The encoder is the "normalised VGG19" of Huang & Belongie's AdaIN release
(``vgg_normalised.pth``: an ``nn.Sequential`` whose first 1x1 conv turns [0, 1] RGB into Caffe BGR minus mean,
then reflection-padded 3x3 convs and ceil-mode max pools). :class:`NormalisedVGG` reproduces that Sequential
module for module, so the released file loads key for key and its border handling is exact. Without that
file the pixforge VGG (:func:`~pixforge.nn.vgg.create_vgg`, offline the VGG16 of HED) stands in, with a warning.

A decoder mirrors the encoder up to a ``reluK_1`` layer: every conv reversed (in/out swapped), every pool
replaced by nearest 2x upsampling (AdaIN, WCT) or by max-unpooling with the encoder's pool indices (PhotoWCT).
For VGG19 up to relu4_1 the layout (and the ``1.weight`` ... ``28.bias`` keys) is exactly AdaIN's ``decoder.pth``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights as weights_mod
from ..errors import ConfigError, WeightsError
from ..nn.vgg import CFGS, create_vgg
from ..utils import default_device
from .color import grey_rgb, match_color, match_luminance, recombine_luminance
from ..losses.perceptual import mean_std

ENCODER_WEIGHTS = "adain-vgg-normalised"
ADAIN_DECODER_WEIGHTS = "adain-decoder"


def _vgg19_normalised_names() -> list[str]:
    names, block, idx = ["preprocess"], 1, 1
    for v in CFGS["vgg19"]:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += [f"pad{block}_{idx}", f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


class NormalisedVGG(nn.Sequential):
    """The ``vgg_normalised.pth`` Sequential (keys ``0.weight`` = the 1x1 RGB->BGR conv, ``2.weight`` = conv1_1, ...).

    Input is RGB in [0, 1]; cut after ``last`` (e.g. "relu4_1": 31 modules, as the AdaIN encoder).
    """

    ALL_NAMES = _vgg19_normalised_names()

    def __init__(self, last: str = "relu5_1"):
        if last not in self.ALL_NAMES:
            raise ValueError(f"unknown layer {last!r}")
        depth = self.ALL_NAMES.index(last) + 1
        modules: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
        in_ch = 3
        for v in CFGS["vgg19"]:
            if v == "M":
                modules.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                modules += [nn.ReflectionPad2d(1), nn.Conv2d(in_ch, v, 3), nn.ReLU()]
                in_ch = v
        super().__init__(*modules[:depth])
        self.names = self.ALL_NAMES[:depth]
        self.backbone = "random (untrained)"
        self.requires_grad_(False)
        self.eval()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x  # the first 1x1 conv does it

    @property
    def features(self) -> nn.Sequential:
        return self

    def forward(self, x: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        return encode(self, x, layers or [self.names[-1]])[0]


def _modules(encoder: nn.Module) -> list[tuple[str, nn.Module]]:
    return list(zip(encoder.names, encoder.features))


def encode(encoder: nn.Module, x: torch.Tensor, layers: Iterable[str],
           pool_indices: bool = False) -> tuple[dict[str, torch.Tensor], list[tuple[torch.Tensor, torch.Size]]]:
    """Activations at ``layers`` of a NormalisedVGG or VGGFeatures, and (optionally) each max pool's
    (indices, input size) for max-unpooling decoders, shallowest pool first."""
    wanted = set(layers)
    out: dict[str, torch.Tensor] = {}
    pools: list[tuple[torch.Tensor, torch.Size]] = []
    h = encoder.normalize(x)
    for name, module in _modules(encoder):
        if pool_indices and isinstance(module, nn.MaxPool2d):
            size = h.shape
            h, idx = F.max_pool2d(h, 2, 2, ceil_mode=module.ceil_mode, return_indices=True)
            pools.append((idx, size))
        else:
            h = module(h)
        if name in wanted:
            out[name] = h.float()  # statistics (AdaIN, WCT, patch matching) in fp32 even under bf16 autocast
            if len(out) == len(wanted):
                break
    missing = wanted - set(out)
    if missing:
        raise ValueError(f"layers {sorted(missing)} are deeper than this encoder")
    return out, pools


class Decoder(nn.Sequential):
    """Mirror of an encoder up to one layer; ``forward(features, pools=None)``.

    ``unpool=False``: nearest 2x upsampling where the encoder pooled (AdaIN/WCT). ``unpool=True``: max-unpooling
    with the encoder's pool indices (PhotoWCT); ``pools`` is then the list :func:`encode` returned. Upsampling
    and unpooling carry no parameters, so both kinds share one key layout.
    """

    def __init__(self, convs: Sequence[tuple[int, int] | str], unpool: bool = False):
        modules: list[nn.Module] = []
        for i, item in enumerate(convs):
            if item == "M":
                modules.append(nn.MaxUnpool2d(2, 2) if unpool else nn.Upsample(scale_factor=2, mode="nearest"))
                continue
            in_ch, out_ch = item
            modules += [nn.ReflectionPad2d(1), nn.Conv2d(in_ch, out_ch, 3)]
            if i < len(convs) - 1:
                modules.append(nn.ReLU())
        super().__init__(*modules)
        self.unpool = unpool

    def forward(self, x: torch.Tensor, pools: list[tuple[torch.Tensor, torch.Size]] | None = None) -> torch.Tensor:
        pending = list(pools or [])
        for module in self:
            if isinstance(module, nn.MaxUnpool2d):
                if not pending:
                    raise ValueError("a max-unpooling decoder needs the encoder's pool indices")
                idx, size = pending.pop()
                x = module(x, idx, output_size=size[-2:])
            else:
                x = module(x)
        return x


def decoder_layout(encoder: nn.Module, layer: str) -> list[tuple[int, int] | str]:
    """The decoder's (in, out) convs and "M" upsampling points, mirroring ``encoder`` up to ``layer``."""
    items: list[tuple[int, int] | str] = []
    for name, module in _modules(encoder):
        if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
            items.append((module.out_channels, module.in_channels))
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            items.append("M")
        if name == layer:
            return items[::-1]
    raise ValueError(f"encoder has no layer {layer!r}")


def make_decoder(encoder: nn.Module, layer: str, unpool: bool = False) -> Decoder:
    return Decoder(decoder_layout(encoder, layer), unpool=unpool)


# ------------------------------------------------------------------------------------------------------
# Converters for the AdaIN release (registered in pixforge.weights) and loading
# ------------------------------------------------------------------------------------------------------

def _check_keys(state: dict[str, torch.Tensor], module: nn.Module, what: str) -> dict[str, torch.Tensor]:
    own = module.state_dict()
    missing = sorted(set(own) - set(state), key=lambda k: int(k.split(".")[0]))
    if missing:
        raise WeightsError(f"{what}: state dict lacks {missing[:4]}{'...' if len(missing) > 4 else ''}")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise WeightsError(f"{what}: {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
    return {k: state[k].float() for k in own}


def convert_vgg_normalised(path: Path) -> dict[str, torch.Tensor]:
    """``vgg_normalised.pth`` -> NormalisedVGG state dict (checked up to relu5_1; deeper layers dropped)."""
    return _check_keys(weights_mod.load_file(path), NormalisedVGG("relu5_1"), str(path))


def convert_adain_decoder(path: Path) -> dict[str, torch.Tensor]:
    """``decoder.pth`` -> Decoder state dict (the keys are kept as they are; checked for shape)."""
    return _check_keys(weights_mod.load_file(path), make_decoder(NormalisedVGG("relu4_1"), "relu4_1"), str(path))


def load_encoder(last: str = "relu5_1", weights: str | None = "auto") -> nn.Module:
    """The encoder up to ``last``: AdaIN's normalised VGG19 when its weights are cached (``weights="auto"``),
    named (``"adain-vgg-normalised"`` or a ``vgg_normalised.pth`` file) or None (random weights); for "auto"
    without that file, for any other registry name and for torchvision-layout files, the pixforge VGG of
    :func:`create_vgg` (with a warning for "auto": decoders must match the encoder they were trained on)."""
    if weights == "auto" and not weights_mod.is_present(ENCODER_WEIGHTS):
        warnings.warn(f"AdaIN's VGG19 ({ENCODER_WEIGHTS}) is not in the cache, so pixforge's VGG stands in as the "
                      f"encoder; decoders must have been trained on the same encoder", stacklevel=2)
        return create_vgg([last], weights="auto")
    if weights == "auto":
        weights = ENCODER_WEIGHTS
    if weights is None:
        return NormalisedVGG(last)
    if weights == ENCODER_WEIGHTS:
        state = weights_mod.load_state_dict(weights)
    elif Path(weights).is_file() and not any(k.startswith("features.") for k in weights_mod.load_file(weights)):
        state = convert_vgg_normalised(Path(weights))
    else:  # another registry name, or a torchvision-layout file
        return create_vgg([last], weights=weights)
    encoder = NormalisedVGG(last)
    encoder.load_state_dict({k: v for k, v in state.items() if k in encoder.state_dict()})
    encoder.backbone = str(weights)
    return encoder


def load_decoder(encoder: nn.Module, layer: str, source: str | None, unpool: bool = False,
                 prefix: str = "") -> Decoder:
    """A decoder for ``encoder`` at ``layer`` from a registry name / .pth / .safetensors file (its keys under
    ``prefix`` when it holds several decoders), or random weights with a warning when ``source`` is None."""
    decoder = make_decoder(encoder, layer, unpool)
    if source is None:
        warnings.warn(f"no trained decoder for {layer}: using a RANDOM decoder (the output is noise-like). Train one "
                      f"with `pixforge train adain` / `pixforge train wct-decoders` and pass --decoder", stacklevel=2)
        return decoder.eval().requires_grad_(False)
    state = weights_mod.resolve(source, "decoder")
    if prefix and any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    decoder.load_state_dict(_check_keys(state, decoder, f"{source} ({layer} decoder)"))
    return decoder.eval().requires_grad_(False)


# ------------------------------------------------------------------------------------------------------
# Feature transforms with blending, masks and alpha
# ------------------------------------------------------------------------------------------------------

FlatTransform = Callable[[torch.Tensor, object], torch.Tensor]  # (C, n) content, style representation -> (C, n)


def blend_weights(n_styles: int, weights: Sequence[float] | None) -> list[float]:
    """One weight per style, normalised to sum 1 (equal when none are given)."""
    if weights is None:
        return [1.0 / n_styles] * n_styles
    if len(weights) != n_styles:
        raise ConfigError(f"{len(weights)} blend weights for {n_styles} styles")
    total = float(sum(weights))
    if total <= 0 or any(w < 0 for w in weights):
        raise ConfigError("style blend weights must be non-negative and sum to a positive number")
    return [float(w) / total for w in weights]


def region_labels(masks: Sequence[torch.Tensor], hw: Sequence[int]) -> torch.Tensor:
    """Masks (1, H, W) resized to the feature size ``hw`` -> (h*w,) index of the strongest mask per position."""
    stack = torch.stack([F.interpolate(m.float().reshape(1, 1, *m.shape[-2:]), size=tuple(hw), mode="bilinear",
                                       align_corners=False)[0, 0] for m in masks])
    return stack.argmax(0).reshape(-1)


def transfer(content: torch.Tensor, styles: Sequence, transform: FlatTransform, alpha: float = 1.0,
             weights: Sequence[float] | None = None, masks: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """Apply a statistics transform to content features (N, C, H, W), one style at a time.

    ``styles`` holds what ``transform`` takes for a style: feature tensors (1, C, h, w) are flattened to
    (C, h*w); anything else (e.g. precomputed statistics) is passed as it is.

    Without masks the result is the weighted blend ``sum_k w_k T(c, s_k)``; with one mask per style each
    region is transformed with its own content statistics towards its own style. ``alpha`` mixes the result
    with the content features (0 = content).
    """
    n, c, h, w = content.shape
    out = torch.empty_like(content)
    flat_styles = [s.reshape(c, -1) if torch.is_tensor(s) else s for s in styles]
    labels = region_labels(masks, (h, w)).to(content.device) if masks is not None else None
    for i in range(n):
        fc = content[i].reshape(c, -1)
        if labels is None:
            mixed = sum(wk * transform(fc, fs) for wk, fs in zip(blend_weights(len(styles), weights), flat_styles))
        else:
            mixed = fc.clone()
            for k, fs in enumerate(flat_styles):
                sel = labels == k
                if sel.any():
                    mixed[:, sel] = transform(fc[:, sel], fs)
        out[i] = mixed.reshape(c, h, w)
    return alpha * out + (1 - alpha) * content


def adain_flat(fc: torch.Tensor, fs: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """AdaIN on flattened features (C, n), (C, m): (c - mean_c) / std_c * std_s + mean_s."""
    mc, sc = mean_std(fc[None, :, :, None], eps)
    ms, ss = mean_std(fs[None, :, :, None], eps)
    return (fc - mc[0, :, :, 0]) / sc[0, :, :, 0] * ss[0, :, :, 0] + ms[0, :, :, 0]


# ------------------------------------------------------------------------------------------------------
# The common stylizer: preprocess styles, encode, transform, decode
# ------------------------------------------------------------------------------------------------------

@dataclass
class Prepared:
    encoder: nn.Module
    styles: list[torch.Tensor]           # (1, 3, H, W) on the device
    device: torch.device


def prepare(styles: list[torch.Tensor], opts, last: str) -> Prepared:
    """Device, encoder (up to ``last``) and the style images as batches; validates masks/blend."""
    if not styles:
        raise ConfigError(f"--method {opts.method} needs at least one style image")
    if opts.masks is not None and len(opts.masks) != len(styles):
        raise ConfigError(f"{len(opts.masks)} masks for {len(styles)} styles")
    blend_weights(len(styles), opts.style_blend)
    device = default_device(opts.device)
    weights = None if opts.vgg_weights == "random" else opts.vgg_weights
    encoder = load_encoder(last, weights).to(device)
    from .methods import announce_backbone

    announce_backbone(opts.method, encoder, opts.progress)
    return Prepared(encoder, [s.unsqueeze(0).to(device) if s.dim() == 3 else s.to(device) for s in styles], device)


def color_wrap(run: Callable[[torch.Tensor, list[torch.Tensor]], torch.Tensor], styles: list[torch.Tensor],
               opts) -> Callable[[torch.Tensor], torch.Tensor]:
    """Turn ``run(content_batch, style_batches)`` into a stylizer honouring ``opts.preserve_color``, returning
    images of the content's size in [0, 1]."""
    mode = opts.preserve_color
    if mode not in (None, "luminance", "histogram"):
        raise ConfigError(f"preserve_color must be None, 'luminance' or 'histogram', not {mode!r}")

    @torch.inference_mode()
    def stylizer(content: torch.Tensor) -> torch.Tensor:
        if content.dim() == 3:
            content = content.unsqueeze(0)
        outs = []
        for img in content:
            img = img.unsqueeze(0).to(styles[0].device)
            with torch.autocast(img.device.type, dtype=torch.bfloat16, enabled=bool(getattr(opts, "bf16", False))):
                if mode == "histogram":
                    out = run(img, [match_color(s, img) for s in styles])
                elif mode == "luminance":
                    out = run(grey_rgb(img), [match_luminance(s, img) for s in styles])
                else:
                    out = run(img, styles)
            out = out.float()
            if out.shape[-2:] != img.shape[-2:]:
                out = F.interpolate(out, size=img.shape[-2:], mode="bilinear", align_corners=False)
            out = out.clamp(0, 1)
            outs.append(recombine_luminance(out, img) if mode == "luminance" else out)
        return torch.cat(outs)

    return stylizer


# ------------------------------------------------------------------------------------------------------
# Training images for the decoders
# ------------------------------------------------------------------------------------------------------

_BUILTIN = {
    "content": ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry"),
    "style": ("brick", "grass", "gravel"),
}


class TrainImages:
    """Images held in memory (long side ``load_size``) from a folder, or the built-in scikit-image set
    ("builtin": photos for content, textures for style, so training runs offline); random crops per step."""

    def __init__(self, source: str, kind: str, load_size: int = 512):
        from ..io import list_images, read_image, resize_long_side

        if source == "builtin":
            from ..data.builtin import skimage_images

            self.images = [resize_long_side(img, load_size) for img in skimage_images(_BUILTIN[kind])]
        else:
            paths = list_images(source)
            if not paths:
                raise ConfigError(f"{source}: no images found for the {kind} set")
            self.images = [read_image(p, size=load_size) for p in paths]

    def __len__(self) -> int:
        return len(self.images)

    def crops(self, indices: Sequence[int], size: int, generator: torch.Generator) -> torch.Tensor:
        """One random ``size`` x ``size`` crop per index (images smaller than that are upsampled first)."""
        from ..data.folders import random_crops

        return random_crops(self.images, indices, size, generator)


def tile_boxes(h: int, w: int, tile: int, halo: int) -> list[tuple[slice, slice, slice, slice]]:
    """Cover an h x w image with tiles: per tile (outer rows, outer cols, inner rows, inner cols), where the
    inner regions partition the image and the outer ones add up to ``halo`` pixels of context on every side.
    Positions are multiples of 8 (the encoders' total stride) so features line up across tiles."""
    step = max(8, tile // 8 * 8)
    halo = halo // 8 * 8
    boxes = []
    for y in range(0, h, step):
        for x in range(0, w, step):
            iy, ix = slice(y, min(h, y + step)), slice(x, min(w, x + step))
            oy = slice(max(0, y - halo), min(h, y + step + halo))
            ox = slice(max(0, x - halo), min(w, x + step + halo))
            boxes.append((oy, ox, iy, ix))
    return boxes
