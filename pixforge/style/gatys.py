"""Optimisation-based neural style transfer (Gatys, Ecker & Bethge, CVPR 2016).

The output image itself is optimised (L-BFGS or Adam) so that its VGG features match the content image at
``content_layer`` and its normalised Gram matrices match the style image(s) at ``style_layers``, plus a
total-variation smoothness term. Extras:

* several styles blended by averaging their Grams (``style_blend``), or routed to regions by per-style masks
  (style k's Gram is computed on the features weighted by mask k, downsampled to each layer);
* ``style_scale``: the style image is resized to ``style_scale`` x the output size before its Grams are taken;
* coarse-to-fine ``scales``: optimise at 1/2^k size first, upsample, continue (a cheap warm start; the pixel
  optimiser and its schedule, shared with neural doodle, are in ``optimise.py``);
* colour preservation (``preserve_color``): luminance-only transfer or colour histogram matching (``color.py``).

Speed: targets are computed once per resolution under ``no_grad``, the VGG runs only up to the deepest layer
needed, and VGG and image use the channels_last memory layout (faster convolutions on CPU and GPU).
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..io import resize as _resize  # antialiased, clamped to [0, 1]
from ..nn.vgg import VGGFeatures, create_vgg
from ..utils import default_device, seed_everything
from . import color, methods
from ..losses.perceptual import blend_grams, content_loss, gram, style_loss
from ..losses.pixel import total_variation
from .methods import StylizeOptions, Stylizer
from .optimise import check_scales, coarse_to_fine, schedule


def _layer_weights(opts: StylizeOptions) -> dict[str, float]:
    if opts.layer_weights is None:
        return {name: 1.0 for name in opts.style_layers}
    if len(opts.layer_weights) != len(opts.style_layers):
        raise ConfigError(f"--layer-weights: {len(opts.layer_weights)} weights for {len(opts.style_layers)} "
                          f"style layers")
    return dict(zip(opts.style_layers, opts.layer_weights))


class Objective:
    """Content + style + TV loss at one resolution; all targets are computed once, here.

    Args:
        vgg: the feature extractor (built for every layer used).
        content: (1, 3, H, W) content image at this level's size.
        styles: style images (1, 3, h, w), already at the size their Grams should be taken at.
        masks: None, or one (1, 1, H, W) mask per style at the content's size.
    """

    def __init__(self, vgg: VGGFeatures, content: torch.Tensor, styles: list[torch.Tensor], opts: StylizeOptions,
                 masks: list[torch.Tensor] | None = None):
        self.vgg = vgg
        self.cw, self.sw, self.tw = opts.content_weight, opts.style_weight, opts.tv_weight
        self.content_layer = opts.content_layer
        self.bf16 = opts.bf16
        self.layer_weights = _layer_weights(opts)
        self.layers = ([opts.content_layer] if self.cw else []) + (list(opts.style_layers) if self.sw else [])
        blend = opts.style_blend or [1.0] * len(styles)
        if len(blend) != len(styles):
            raise ConfigError(f"{len(blend)} style blend weights for {len(styles)} style images")
        with torch.no_grad():
            feats = vgg(content, self.layers + list(opts.style_layers))
            self.content_target = feats[self.content_layer].detach() if self.cw else None
            grams = []
            for style in styles:
                sf = vgg(style, opts.style_layers)
                grams.append({name: gram(sf[name]) for name in opts.style_layers})
        self.masked: list[tuple[float, dict, dict]] = []  # (weight, target grams, masks per layer)
        if masks is None:
            self.targets = blend_grams(grams, blend)
        else:
            if len(masks) != len(styles):
                raise ConfigError(f"{len(masks)} masks for {len(styles)} style images")
            self.targets = None
            for g, weight, mask in zip(grams, blend, masks):
                per_layer = {name: F.interpolate(mask, size=feats[name].shape[-2:], mode="area")
                             for name in opts.style_layers}
                self.masked.append((weight, g, per_layer))

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        # the pixels stay contiguous NCHW (L-BFGS flattens them); the VGG runs channels_last
        with torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            feats = self.vgg(image.contiguous(memory_format=torch.channels_last), self.layers) if self.layers else {}
        feats = {name: f.float() for name, f in feats.items()}  # Grams and losses in fp32
        total = image.new_zeros(())
        parts: dict[str, float] = {}
        if self.cw:
            c = content_loss(feats[self.content_layer], self.content_target)
            total = total + self.cw * c
            parts["content"] = float(c.detach())
        if self.sw:
            if self.targets is not None:
                s = style_loss(feats, self.targets, self.layer_weights)
            else:
                s = sum(w * style_loss(feats, g, self.layer_weights, m) for w, g, m in self.masked)
            total = total + self.sw * s
            parts["style"] = float(s.detach())
        if self.tw:
            t = total_variation(image)
            total = total + self.tw * t
            parts["tv"] = float(t.detach())
        parts["total"] = float(total.detach())
        return total, parts


def _init_image(kind: str, content: torch.Tensor, styles: list[torch.Tensor], gen: torch.Generator) -> torch.Tensor:
    if kind == "content":
        return content.clone()
    if kind == "style":
        return _resize(styles[0], content.shape[-2:])
    if kind == "noise":
        return torch.rand(content.shape, generator=gen).to(content.device)
    raise ConfigError(f"init must be 'content', 'style' or 'noise', not {kind!r}")


def _style_at(style: torch.Tensor, hw: Sequence[int], scale: float) -> torch.Tensor:
    """Style (1, 3, h, w) resized so its long side is ``scale`` x the long side of ``hw`` (aspect kept)."""
    long = max(16, round(scale * max(hw)))
    h, w = style.shape[-2:]
    return _resize(style, (max(16, round(h * long / max(h, w))), max(16, round(w * long / max(h, w)))))


def check_gatys(opts: StylizeOptions, n_styles: int, hw: Optional[tuple[int, int]]) -> None:
    """Gatys's own options, checked before the VGG is built (``hw``: the output size, when known)."""
    methods.check_vgg_layers([opts.content_layer], "--content-layer")
    methods.check_vgg_layers(opts.style_layers, "--style-layers")
    _layer_weights(opts)
    methods.require_all([
        (bool(opts.style_layers), "--style-layers: give at least one layer"),
        (opts.steps >= 1, f"--steps must be at least 1, not {opts.steps}"),
        (opts.scales >= 1, f"--scales must be at least 1, not {opts.scales}"),
        (opts.style_scale > 0, f"--style-scale must be positive, not {opts.style_scale}"),
        (opts.save_every >= 0, f"--save-every must be >= 0 (0: never), not {opts.save_every}"),
        (opts.lr > 0, f"--lr must be positive, not {opts.lr}"),
        (min(opts.content_weight, opts.style_weight, opts.tv_weight) >= 0, "loss weights must be >= 0"),
        (all(w >= 0 for w in opts.layer_weights or []), "--layer-weights must be >= 0"),
        (opts.init in ("content", "style", "noise"), f"--init must be content, style or noise, not {opts.init!r}"),
        (opts.optimizer in ("lbfgs", "adam"), f"--optimizer must be lbfgs or adam, not {opts.optimizer!r}"),
        (opts.pool in ("max", "avg"), f"--pool must be max or avg, not {opts.pool!r}")])
    if hw is not None:
        check_scales(hw, opts.scales)


@methods.register("gatys", styles=(1, None), check=check_gatys, summary="optimisation (Gatys et al. 2016)", options=(
    *methods.STYLE_OPTIONS, "steps", "content_weight", "style_weight", "tv_weight", "style_scale", "content_layer",
    "style_layers", "layer_weights", "init", "optimizer", "lr", "scales", "save_every", "save_prefix", "on_step",
    "vgg_weights", "pool"))
def build_gatys(styles: list[torch.Tensor], opts: StylizeOptions) -> Stylizer:
    """Gatys stylizer: ``stylizer(content (N, 3, H, W)) -> (N, 3, H, W)``; each image is optimised on its own."""
    device = default_device(opts.device)
    if opts.seed is not None:
        seed_everything(opts.seed)  # the random VGG (vgg_weights="random") repeats too
    layers = list(dict.fromkeys([opts.content_layer, *opts.style_layers]))
    try:
        vgg = create_vgg(layers, weights=opts.vgg_weights, pool=opts.pool, device=device)
    except ValueError as exc:  # a vgg19-only layer on a vgg16 backbone
        raise ConfigError(str(exc)) from None
    methods.announce_backbone("gatys", vgg, opts.progress)
    vgg = vgg.to(memory_format=torch.channels_last)
    style_batch = [s.to(device).unsqueeze(0) if s.dim() == 3 else s.to(device) for s in styles]

    def stylize_one(content: torch.Tensor) -> torch.Tensor:
        content = content.to(device).unsqueeze(0)
        if opts.size and max(content.shape[-2:]) != opts.size:
            h, w = content.shape[-2:]
            content = _resize(content, (round(h * opts.size / max(h, w)), round(w * opts.size / max(h, w))))
        full_hw = tuple(content.shape[-2:])
        check_scales(full_hw, opts.scales)
        target_content, target_styles = content, style_batch
        if opts.preserve_color == "luminance":
            target_content = color.grey_rgb(content)
            target_styles = [color.match_luminance(s, content) for s in style_batch]
        elif opts.preserve_color == "histogram":
            target_styles = [color.match_color(s, content) for s in style_batch]

        def finish(image: torch.Tensor) -> torch.Tensor:
            image = _resize(image.clamp(0, 1), full_hw)
            if opts.preserve_color == "luminance":
                image = color.recombine_luminance(image, content)
            return image

        gen = seed_everything(opts.seed) if opts.seed is not None else torch.Generator()
        count = [0]

        def snapshot(image: torch.Tensor, parts: dict) -> None:
            count[0] += 1
            if opts.on_step is not None:
                opts.on_step(count[0], finish(image)[0].detach())
            if opts.save_every and count[0] % opts.save_every == 0:
                from ..io import save_image

                save_image(finish(image)[0], f"{opts.save_prefix or 'gatys'}_step{count[0]}.png")

        def level_inputs(hw):
            level_content = _resize(target_content, hw).contiguous(memory_format=torch.channels_last)
            return level_content, [_style_at(s, hw, opts.style_scale).contiguous(memory_format=torch.channels_last)
                                   for s in target_styles]

        def objective_at(hw) -> Objective:
            masks = None
            if opts.masks is not None:
                masks = [_resize(m.to(device).reshape(1, 1, *m.shape[-2:]).float(), hw) for m in opts.masks]
            return Objective(vgg, *level_inputs(hw), opts, masks)

        image = coarse_to_fine(schedule(full_hw, opts.scales, opts.steps), objective_at,
                               lambda hw: _init_image(opts.init, *level_inputs(hw), gen), opts.optimizer, opts.lr,
                               progress=opts.progress, name="gatys", on_step=snapshot)
        return finish(image)[0].contiguous()

    def stylizer(content_batch: torch.Tensor) -> torch.Tensor:
        if content_batch.dim() == 3:
            content_batch = content_batch.unsqueeze(0)
        return torch.stack([stylize_one(c) for c in content_batch]).cpu()

    return stylizer


def _as_tensor(image) -> torch.Tensor:
    from ..io import read_image, to_tensor

    if torch.is_tensor(image):
        return image.float()
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    return to_tensor(image)


def stylize_gatys(content, styles, **options):
    """Python API: stylise ``content`` (path, PIL image or (3, H, W) tensor in [0, 1]) with one style or a list;
    keyword arguments are :class:`StylizeOptions` fields. Returns a PIL image.

    >>> stylize_gatys("photo.jpg", "starry_night.jpg", size=384, steps=300).save("out.png")  # doctest: +SKIP
    """
    from ..io import to_pil
    from .methods import stylize

    style_list = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    options.setdefault("method", "gatys")
    result = stylize(_as_tensor(content), [_as_tensor(s) for s in style_list], **options)
    return to_pil(result)
