"""Semantic style transfer, "neural doodle" (Champandard 2016), on the CNNMRF patch loss (Li & Wand 2016).

The user paints two annotation maps in flat colours: one over the style image (which colour is sky, which
is tree, ...) and one for the picture to make (the doodle). Each colour becomes a class channel; the
optimised image's VGG feature patches are matched only to style patches of the same class
(:mod:`pixforge.style.mrf`), so the doodle's regions are filled with the matching parts of the style.

Optimisation is coarse to fine: L-BFGS at a small size first (global layout, fast), then the result is
upsampled and refined at each larger scale. An optional content image adds a content loss (and can be the
starting point), giving semantic style transfer of a photo.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Optional

import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import BadInputError, ConfigError
from ..io import resize, to_tensor
from ..nn.vgg import VGGFeatures, create_vgg
from ..utils import default_device, seed_everything
from ..losses.perceptual import content_loss
from ..losses.pixel import total_variation
from .methods import MIN_SIDE, announce_backbone, check_image, check_vgg_layers, require_all
from .mrf import StylePatches, mrf_loss, style_patches
from .optimise import check_scales, coarse_to_fine, schedule


@dataclass
class DoodleConfig:
    """Options of :func:`doodle` (the CLI flags of ``pixforge doodle`` map one to one)."""

    size: int = 256                      # long side of the output (the target map is resized to it)
    steps: int = 100                     # L-BFGS iterations per scale
    scales: int = 3                      # coarse-to-fine levels, each half the size of the next
    style_scale: float = 1.0             # style image's long side relative to ``size``
    mrf_weight: float = 1.0
    content_weight: float = 1.0          # used only with a content image
    tv_weight: float = 1e-2
    semantic_weight: float = 1.0         # 1: an annotation weighs as much as a patch's features in matching
    # relu3_1 + relu4_1 is the paper's choice; without relu2_1 colours come out muddy (Starry Night demo, vgg16-hed)
    layers: list[str] = field(default_factory=lambda: ["relu2_1", "relu3_1", "relu4_1"])
    content_layer: str = "relu4_2"
    patch_size: int = 3
    stride: int = 1                      # stride of the style patches (2 quarters the matching cost)
    init: str = "auto"                   # auto (content if given, else noise) | noise | content
    seed: int = 0
    max_classes: int = 16                # most annotation colours taken from the style map
    vgg_weights: str = "auto"
    pool: str = "max"
    device: str = "auto"
    progress: bool = True


ImageLike = torch.Tensor | Image.Image


def _as_image(image: ImageLike, name: str) -> torch.Tensor:
    t = to_tensor(image) if isinstance(image, Image.Image) else image.detach().float()
    t = t[0] if t.dim() == 4 and t.shape[0] == 1 else t
    if t.dim() != 3 or t.shape[0] != 3:
        raise BadInputError(f"{name}: expected an RGB image (3, H, W), got shape {tuple(t.shape)}")
    check_image(t, name)
    return t.cpu()


# --- annotation maps ---------------------------------------------------------------------------------------

def map_palette(style_map: torch.Tensor, max_classes: int = 16, min_fraction: float = 0.002,
                merge: float = 0.2) -> torch.Tensor:
    """The annotation colours (K, 3) of a style map, most frequent first.

    Colours are binned at 5 bits per channel; bins covering >= ``min_fraction`` of the map, taken by
    frequency, become classes unless within ``merge`` (RGB distance) of a class already taken, so JPEG
    noise and anti-aliased edges make no new classes. Each class colour is then the mean of its pixels.
    """
    pixels = style_map.reshape(3, -1).t()
    keys = (pixels * 31).round().long()
    keys = keys[:, 0] * 1024 + keys[:, 1] * 32 + keys[:, 2]
    unique, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
    means = torch.zeros(unique.numel(), 3).index_add_(0, inverse, pixels) / counts[:, None].float()
    palette: list[torch.Tensor] = []
    for i in torch.argsort(counts, descending=True, stable=True).tolist():
        if counts[i] < min_fraction * keys.numel() or len(palette) == max_classes:
            break
        if all((means[i] - p).norm() > merge for p in palette):
            palette.append(means[i])
    if not palette:
        raise BadInputError("the style map has no flat colour areas; paint it in a few flat colours (save as PNG)")
    centres = torch.stack(palette)
    index = torch.cdist(pixels, centres).argmin(1)  # one k-means step: each class colour = mean of its pixels
    sums = torch.zeros_like(centres).index_add_(0, index, pixels)
    return sums / torch.bincount(index, minlength=len(palette))[:, None].clamp_min(1).float()


def assign_classes(annotation: torch.Tensor, palette: torch.Tensor, name: str = "map") -> torch.Tensor:
    """One-hot class channels (K, H, W) of a colour map: each pixel goes to the nearest palette colour."""
    pixels = annotation.reshape(3, -1).t()
    dist = torch.cdist(pixels, palette)
    nearest, index = dist.min(dim=1)
    far = (nearest > 0.25).float().mean().item()
    if far > 0.01:
        warnings.warn(f"{name}: {far:.0%} of its pixels have a colour far from every style-map colour; "
                      "they are given the nearest one", stacklevel=3)
    onehot = F.one_hot(index, palette.shape[0]).t().float()
    return onehot.reshape(palette.shape[0], *annotation.shape[-2:])


def annotation_classes(style_map: torch.Tensor, target_map: torch.Tensor,
                       max_classes: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(style one-hot (K, H, W), target one-hot (K, H', W'), palette (K, 3)) from two colour maps."""
    palette = map_palette(style_map, max_classes)
    return assign_classes(style_map, palette, "style map"), assign_classes(target_map, palette, "target map"), palette


def _at(onehot: Optional[torch.Tensor], like: torch.Tensor) -> Optional[torch.Tensor]:
    """A class map (K, H, W) averaged down to the spatial size of features ``like`` (1, C, h, w)."""
    if onehot is None:
        return None
    return F.adaptive_avg_pool2d(onehot[None].to(like), like.shape[-2:])


# --- optimisation ------------------------------------------------------------------------------------------

def _downsampling(layer: str) -> int:
    """How many times smaller than the image a VGG layer's feature map is (relu4_1 -> 8)."""
    block = int(layer[4] if layer.startswith("pool") else layer[4:].split("_")[0])
    return 2 ** (block if layer.startswith("pool") else block - 1)


class _Objective:
    """The doodle loss at one scale: MRF terms per layer, optional content term, total variation."""

    def __init__(self, vgg: VGGFeatures, cfg: DoodleConfig, style: torch.Tensor, style_classes, target_classes,
                 content: Optional[torch.Tensor], out_hw: tuple[int, int]):
        self.vgg, self.cfg = vgg, cfg
        with torch.no_grad():
            feats = vgg(style[None], cfg.layers)
        self.style: dict[str, StylePatches] = {}
        self.norm: dict[str, float] = {}
        self.guides: dict[str, Optional[torch.Tensor]] = {}
        for name in cfg.layers:
            f = feats[name]
            self.style[name] = style_patches(f, cfg.patch_size, cfg.stride, _at(style_classes, f), cfg.semantic_weight)
            self.norm[name] = float(f.pow(2).mean().clamp_min(1e-8))  # so each layer's loss is about 1 at start
            h, w = (s // _downsampling(name) for s in out_hw)
            self.guides[name] = _at(target_classes, f.new_empty(1, 1, h, w))
        self.content_target = None
        if content is not None and cfg.content_weight > 0:
            with torch.no_grad():
                self.content_target = vgg(content[None], [cfg.content_layer])[cfg.content_layer]
            self.content_norm = float(self.content_target.pow(2).mean().clamp_min(1e-8))

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        wanted = list(self.cfg.layers) + ([self.cfg.content_layer] if self.content_target is not None else [])
        feats = self.vgg(x, wanted)
        loss = x.new_zeros(())
        for name in self.cfg.layers:
            mrf = mrf_loss(feats[name], self.style[name], self.guides[name]) / self.norm[name]
            loss = loss + self.cfg.mrf_weight * mrf
        if self.content_target is not None:
            c = content_loss(feats[self.cfg.content_layer], self.content_target) / self.content_norm
            loss = loss + self.cfg.content_weight * c
        if self.cfg.tv_weight > 0:
            loss = loss + self.cfg.tv_weight * total_variation(x)
        return loss, {"total": float(loss.detach())}


def doodle_config(config: Optional[DoodleConfig] = None, **overrides) -> DoodleConfig:
    """The options (``config`` with ``overrides``), every one checked here, before any image is read or any
    network built."""
    try:
        cfg = replace(config or DoodleConfig(), **overrides)
    except TypeError as exc:  # an unknown option name
        raise ConfigError(f"doodle: {exc}") from None
    check_vgg_layers(cfg.layers, "--layers")
    check_vgg_layers([cfg.content_layer], "--content-layer")
    require_all([
        (cfg.init in ("auto", "noise", "content"), f"--init must be auto, noise or content, not {cfg.init!r}"),
        (cfg.size >= MIN_SIDE, f"--size must be at least {MIN_SIDE} px, not {cfg.size}"),
        (cfg.steps >= 1, f"--steps must be at least 1, not {cfg.steps}"),
        (cfg.scales >= 1, f"--scales must be at least 1, not {cfg.scales}"),
        (cfg.patch_size >= 1 and cfg.stride >= 1, "--patch-size and --stride must be at least 1"),
        (cfg.style_scale > 0, f"--style-scale must be positive, not {cfg.style_scale}"),
        (min(cfg.mrf_weight, cfg.content_weight, cfg.tv_weight, cfg.semantic_weight) >= 0,
         "loss weights must be >= 0"),
        (bool(cfg.layers), "--layers: give at least one MRF layer"),
        (cfg.pool in ("max", "avg"), f"--pool must be max or avg, not {cfg.pool!r}")])
    default_device(cfg.device)
    return cfg


def doodle(style_image: ImageLike, style_map: Optional[ImageLike], target_map: Optional[ImageLike],
           content: Optional[ImageLike] = None, config: Optional[DoodleConfig] = None, **overrides) -> torch.Tensor:
    """Paint ``target_map`` with the parts of ``style_image`` that ``style_map`` annotates in the same colours.

    Images are (3, H, W) tensors in [0, 1] or PIL images. Without maps (both None) this is plain CNNMRF
    style transfer onto ``content``. The output has the target map's (else the content's) aspect ratio and
    long side ``size``; returns a (3, H, W) tensor in [0, 1]. Options: :class:`DoodleConfig` fields.
    """
    cfg = doodle_config(config, **overrides)
    if (style_map is None) != (target_map is None):
        raise BadInputError("give both a style map and a target map, or neither")
    if target_map is None and content is None:
        raise BadInputError("without annotation maps a content image is needed")
    style = _as_image(style_image, "style image")
    content_t = _as_image(content, "content image") if content is not None else None
    layout = _as_image(target_map, "target map") if target_map is not None else content_t
    scale = cfg.size / max(layout.shape[-2:])
    out_hw = (max(1, round(layout.shape[-2] * scale)), max(1, round(layout.shape[-1] * scale)))
    s_scale = cfg.size * cfg.style_scale / max(style.shape[-2:])
    style_hw = (max(1, round(style.shape[-2] * s_scale)), max(1, round(style.shape[-1] * s_scale)))

    style_classes = target_classes = None
    if style_map is not None:
        smap = F.interpolate(_as_image(style_map, "style map")[None], size=style.shape[-2:], mode="nearest")[0]
        style_classes, target_classes, _ = annotation_classes(smap, layout, cfg.max_classes)

    device = default_device(cfg.device)
    generator = seed_everything(cfg.seed)  # before building the VGG, so that random weights repeat too
    min_side = max(_downsampling(name) for name in cfg.layers) * cfg.patch_size
    if min(out_hw) < min_side:
        raise BadInputError(f"the output ({out_hw[0]}x{out_hw[1]}) is too small for these layers and patches: "
                            f"its short side must be at least {min_side} px")
    check_scales(out_hw, cfg.scales, min_side)
    use_content = content_t is not None and cfg.init in ("auto", "content")
    if cfg.init == "content" and content_t is None:
        raise BadInputError("init 'content' needs a content image")
    wanted = list(cfg.layers) + ([cfg.content_layer] if content_t is not None and cfg.content_weight > 0 else [])
    try:
        vgg = create_vgg(wanted, weights=cfg.vgg_weights, pool=cfg.pool, device=device)
    except ValueError as exc:  # a vgg19-only layer on a vgg16 backbone
        raise ConfigError(str(exc)) from None
    announce_backbone("doodle", vgg, cfg.progress)

    def objective_at(hw: tuple[int, int]) -> _Objective:
        f = hw[0] / out_hw[0]
        s_hw = (max(1, round(style_hw[0] * f)), max(1, round(style_hw[1] * f)))
        if min(s_hw) < min_side:
            raise BadInputError(f"the style image at {s_hw[0]}x{s_hw[1]} px is too small for "
                                f"{cfg.patch_size}x{cfg.patch_size} patches at the deepest layer; "
                                "raise --style-scale or --size")
        return _Objective(vgg, cfg, resize(style, s_hw).to(device), style_classes, target_classes,
                          resize(content_t, hw).to(device) if content_t is not None else None, hw)

    def start(hw: tuple[int, int]) -> torch.Tensor:
        return (resize(content_t, hw) if use_content else _noise(style, hw, generator))[None].to(device)

    # no line search: the nearest-patch matches change from step to step, so a Wolfe search mostly spends
    # extra passes (measured: twice the time for the same losses)
    x = coarse_to_fine(schedule(out_hw, cfg.scales, cfg.steps, min_side, per_level=True), objective_at, start,
                       line_search=False, progress=cfg.progress, name="doodle")
    return x[0].clamp(0, 1).cpu()


def _noise(style: torch.Tensor, hw: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """Start image: the style's mean colour plus smooth noise (uniform noise at a quarter size, upsampled).

    Pixel-level noise is nearly invisible to relu3_1/relu4_1, so it would survive into the result.
    """
    small = torch.rand(3, max(1, hw[0] // 4), max(1, hw[1] // 4), generator=generator)
    noise = F.interpolate(small[None], size=hw, mode="bilinear", align_corners=False)[0]
    return (style.mean((1, 2))[:, None, None] + (noise - 0.5) * 0.6).clamp(0, 1)
