"""What the arbitrary-style methods (AdaIN, WCT, PhotoWCT, style-swap) share: encoder and decoder loading,
feature transforms with blending/masks/alpha, colour handling, training images.

All four encode content and style with a VGG (:class:`~pixforge.nn.vgg.VGGFeatures`), transform the content
features so they carry the style, and decode back to pixels with a decoder mirroring the encoder
(:mod:`pixforge.models.decoder`). The encoder is the "normalised VGG19" of Huang & Belongie's AdaIN release
(``vgg_normalised.pth``, registry name ``adain-vgg-normalised``); without that file the pixforge VGG
(:func:`~pixforge.nn.vgg.create_vgg`, offline the VGG16 of HED) stands in, with a warning.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .. import weights as weights_mod
from ..errors import ConfigError
from ..models.decoder import Decoder, make_decoder
from ..nn.vgg import VGGFeatures, create_vgg
from ..utils import default_device
from .color import grey_rgb, match_color, match_luminance, recombine_luminance

ENCODER_WEIGHTS = "adain-vgg-normalised"
ADAIN_DECODER_WEIGHTS = "adain-decoder"


def load_encoder(last: str = "relu5_1", weights: str | None = "auto") -> VGGFeatures:
    """The encoder up to ``last``: AdaIN's normalised VGG19 when its weights are cached (``weights="auto"``);
    else a registry name or a file (the normalised or the torchvision layout, see :func:`create_vgg`), or None
    (random weights, normalised layout). "auto" without AdaIN's file takes the pixforge VGG "auto" picks, with a
    warning: decoders must match the encoder they were trained on."""
    if weights == "auto":
        if not weights_mod.is_present(ENCODER_WEIGHTS):
            warnings.warn(f"AdaIN's VGG19 ({ENCODER_WEIGHTS}) is not in the cache, so pixforge's VGG stands in as "
                          f"the encoder; decoders must have been trained on the same encoder", stacklevel=2)
            return create_vgg([last], weights="auto")
        weights = ENCODER_WEIGHTS
    if weights is None:
        return VGGFeatures("vgg19", [last], normalization="normalised")
    return create_vgg([last], weights=weights)


def load_decoder(encoder: VGGFeatures, layer: str, source: str | None, unpool: bool = False,
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
    weights_mod.load_strict(decoder, state, f"{source} ({layer} decoder)", ignore_extra=True)
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


# ------------------------------------------------------------------------------------------------------
# The common stylizer: preprocess styles, encode, transform, decode
# ------------------------------------------------------------------------------------------------------

@dataclass
class Prepared:
    encoder: VGGFeatures
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
            # colour handling in float32, outside autocast: only the networks run in bf16
            if mode == "histogram":
                inputs = img, [match_color(s, img) for s in styles]
            elif mode == "luminance":
                inputs = grey_rgb(img), [match_luminance(s, img) for s in styles]
            else:
                inputs = img, styles
            with torch.autocast(img.device.type, dtype=torch.bfloat16, enabled=bool(getattr(opts, "bf16", False))):
                out = run(*inputs)
            out = out.float()
            if out.shape[-2:] != img.shape[-2:]:
                out = F.interpolate(out, size=img.shape[-2:], mode="bilinear", align_corners=False)
            out = out.clamp(0, 1)
            outs.append(recombine_luminance(out, img) if mode == "luminance" else out)
        return torch.cat(outs)

    return stylizer


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
