"""Optimisation-based neural style transfer (Gatys, Ecker & Bethge, CVPR 2016).

The output image itself is optimised (L-BFGS or Adam) so that its VGG features match the content image at
``content_layer`` and its normalised Gram matrices match the style image(s) at ``style_layers``, plus a
total-variation smoothness term. Extras:

* several styles blended by averaging their Grams (``style_blend``), or routed to regions by per-style masks
  (style k's Gram is computed on the features weighted by mask k, downsampled to each layer);
* ``style_scale``: the style image is resized to ``style_scale`` x the output size before its Grams are taken;
* coarse-to-fine ``scales``: optimise at 1/2^k size first, upsample, continue (a cheap warm start);
* colour preservation (``preserve_color``): luminance-only transfer or colour histogram matching (``color.py``).

Speed: targets are computed once per resolution under ``no_grad``, the VGG runs only up to the deepest layer
needed, and VGG and image use the channels_last memory layout (faster convolutions on CPU and GPU).
"""
from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import ConfigError, DivergenceError
from ..io import resize as _resize  # antialiased, clamped to [0, 1]
from ..nn.vgg import VGGFeatures, create_vgg
from ..utils import default_device, seed_everything
from . import color
from ..losses.perceptual import blend_grams, content_loss, gram, style_loss
from ..losses.pixel import total_variation
from .methods import StylizeOptions, Stylizer

MIN_LEVEL_SIDE = 32  # coarse-to-fine never goes below this short side (relu5_1 would be 2x2)


@dataclass
class Level:
    """One resolution of the coarse-to-fine schedule."""

    hw: tuple[int, int]
    steps: int


def schedule(hw: Sequence[int], scales: int, steps: int) -> list[Level]:
    """Levels from coarse to fine: sizes hw / 2^k, k = scales-1 ... 0, steps split evenly (rest to the finest).

    Levels whose short side would fall below ``MIN_LEVEL_SIDE`` pixels are dropped.
    """
    h, w = int(hw[0]), int(hw[1])
    n = 1
    while n < max(1, scales) and min(h, w) / 2**n >= MIN_LEVEL_SIDE:
        n += 1
    per, rest = divmod(steps, n)
    return [Level((max(1, round(h / 2**k)), max(1, round(w / 2**k))), per + (rest if k == 0 else 0))
            for k in reversed(range(n))]


def _layer_weights(opts: StylizeOptions) -> dict[str, float]:
    if opts.layer_weights is None:
        return {name: 1.0 for name in opts.style_layers}
    if len(opts.layer_weights) != len(opts.style_layers):
        raise ConfigError(f"{len(opts.layer_weights)} layer weights for {len(opts.style_layers)} style layers")
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


def optimise(objective: Callable[[torch.Tensor], tuple[torch.Tensor, dict]], image: torch.Tensor, steps: int,
             optimizer: str = "lbfgs", lr: float = 0.02,
             on_step: Callable[[torch.Tensor, dict], None] | None = None) -> torch.Tensor:
    """Minimise ``objective(image)`` over the pixels with ``steps`` VGG forward/backward passes.

    L-BFGS (history 100) uses a strong-Wolfe line search: without one (neural-style's choice) PyTorch's L-BFGS
    takes unit steps that overshoot by orders of magnitude on the Gram loss and then crawls (see
    benchmarks/RESULTS.md); with it the loss falls ~50x further for the same number of passes. ``steps`` is the
    budget of function evaluations (the last line search may add a few), and ``on_step`` runs once per pass. Adam clamps the
    image to [0, 1] after each step.
    """
    image = image.detach().contiguous().clone().requires_grad_(True)
    last: dict = {}
    if optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam([image], lr=lr)
    elif optimizer == "lbfgs":
        opt = torch.optim.LBFGS([image], lr=1.0, max_iter=steps, max_eval=steps, history_size=100,
                                tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
    else:
        raise ConfigError(f"optimizer must be 'lbfgs' or 'adam', not {optimizer!r}")
    scale: list[float] = []

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss, parts = objective(image)
        if not torch.isfinite(loss):
            raise DivergenceError(f"gatys: the loss became {float(loss)}; lower --lr or the loss weights")
        loss.backward()
        last.update(parts)
        if optimizer == "lbfgs":
            # torch's L-BFGS skips curvature pairs with y.s < 1e-10 (an absolute threshold), so a loss with tiny
            # gradients (random VGG, small weights) would never build a Hessian estimate. Rescale the objective
            # once so the first gradient has mean magnitude 1; L-BFGS is otherwise invariant to the scale.
            if not scale:
                scale.append(1.0 / max(float(image.grad.abs().mean()), 1e-30))
            image.grad.mul_(scale[0])
            if on_step is not None:
                on_step(image.detach(), dict(last))
            return loss.detach() * scale[0]
        return loss

    if optimizer == "lbfgs":
        if steps > 0:
            opt.step(closure)
        return image.detach()
    for _ in range(steps):
        opt.step(closure)
        with torch.no_grad():
            image.clamp_(0, 1)
        if on_step is not None:
            on_step(image.detach(), dict(last))
    return image.detach()


def _announce_backbone(vgg: VGGFeatures, progress: bool) -> None:
    if vgg.backbone.startswith("random"):
        warnings.warn("gatys: the VGG has RANDOM weights, so the result is a texture-like colour shift, not a "
                      "painting-like stylisation; run `pixforge weights fetch vgg16-hed`", stacklevel=3)
    elif progress:
        tqdm.write(f"gatys: VGG backbone {vgg.backbone} ({vgg.arch})", file=sys.stderr)


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


def build_gatys(styles: list[torch.Tensor], opts: StylizeOptions) -> Stylizer:
    """Gatys stylizer: ``stylizer(content (N, 3, H, W)) -> (N, 3, H, W)``; each image is optimised on its own."""
    if not styles:
        raise ConfigError("gatys needs at least one style image")
    if opts.preserve_color not in (None, "luminance", "histogram"):
        raise ConfigError(f"preserve_color must be 'luminance' or 'histogram', not {opts.preserve_color!r}")
    device = default_device(opts.device)
    if opts.seed is not None:
        seed_everything(opts.seed)
    layers = list(dict.fromkeys([opts.content_layer, *opts.style_layers]))
    vgg = create_vgg(layers, weights=opts.vgg_weights, pool=opts.pool, device=device)
    _announce_backbone(vgg, opts.progress)
    vgg = vgg.to(memory_format=torch.channels_last)
    style_batch = [s.to(device).unsqueeze(0) if s.dim() == 3 else s.to(device) for s in styles]

    def stylize_one(content: torch.Tensor) -> torch.Tensor:
        content = content.to(device).unsqueeze(0)
        if opts.size and max(content.shape[-2:]) != opts.size:
            h, w = content.shape[-2:]
            content = _resize(content, (round(h * opts.size / max(h, w)), round(w * opts.size / max(h, w))))
        full_hw = tuple(content.shape[-2:])
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
        levels = schedule(full_hw, opts.scales, opts.steps)
        bar = tqdm(total=sum(level.steps for level in levels), disable=not opts.progress, desc="gatys",
                   file=sys.stderr, dynamic_ncols=True)
        count = [0]

        def on_step(image: torch.Tensor, parts: dict) -> None:
            count[0] += 1
            bar.update(1)
            bar.set_postfix(loss=f"{parts.get('total', float('nan')):.4g}", size="x".join(map(str, image.shape[-2:])))
            if opts.save_every and count[0] % opts.save_every == 0:
                from ..io import save_image

                save_image(finish(image)[0], f"{opts.save_prefix or 'gatys'}_step{count[0]}.png")

        image = None
        for level in levels:
            level_content = _resize(target_content, level.hw).contiguous(memory_format=torch.channels_last)
            level_styles = [_style_at(s, level.hw, opts.style_scale).contiguous(memory_format=torch.channels_last)
                            for s in target_styles]
            masks = None
            if opts.masks is not None:
                masks = [_resize(m.to(device).reshape(1, 1, *m.shape[-2:]).float(), level.hw) for m in opts.masks]
            objective = Objective(vgg, level_content, level_styles, opts, masks)
            if image is None:
                image = _init_image(opts.init, level_content, level_styles, gen)
            else:
                image = F.interpolate(image, size=level.hw, mode="bicubic", align_corners=False).clamp(0, 1)
            image = optimise(objective, image, level.steps, opts.optimizer, opts.lr, on_step)
        bar.close()
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
