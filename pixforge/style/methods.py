"""Stylisation methods on one registry (``pixforge.registry.METHODS``), shared by ``pixforge stylize``,
``pixforge video``, the demo and the Python API.

Every method is a *builder*, ``build(styles, opts) -> stylizer``, where ``styles`` is a list of float RGB tensors
(3, H, W) in [0, 1] and ``stylizer(content)`` maps a content batch (N, 3, H, W) in [0, 1] to a stylised batch
of the same size. Feed-forward methods load their networks once in ``build`` so a video stylises frame after
frame without reloading; Gatys optimises inside the stylizer.

A method registers itself beside its code, declaring the options it reads and how many style images it takes::

    @methods.register("mine", options=("alpha", "decoder"), styles=(1, None))
    def build_mine(styles, opts): ...

An option of :class:`StylizeOptions` that the chosen method does not read is an error, never silently
ignored; :func:`validate` checks every option in one place before anything is loaded or written.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import torch

from ..errors import BadInputError, ConfigError, WeightsError
from ..registry import METHODS

Stylizer = Callable[[torch.Tensor], torch.Tensor]

#: Smallest image side (px) pixforge stylises: VGG's deepest layers would be smaller than one pixel.
MIN_SIDE = 16


@dataclass
class StylizeOptions:
    """Every stylisation option; a method declares which of them it reads (see :func:`register`)."""

    method: str = "gatys"
    size: Optional[int] = 512               # long side of the output in pixels (None: keep the content's size)
    style_blend: Optional[list[float]] = None  # one weight per style image (normalised to sum 1)
    masks: Optional[list[torch.Tensor]] = None  # one (1, H, W) mask in [0, 1] per style: where that style goes
    preserve_color: Optional[str] = None    # None, "luminance" (YIQ luminance-only transfer) or "histogram"
    seed: Optional[int] = None              # seeds every random generator (noise init, random-weight networks)
    device: str = "auto"
    progress: bool = True
    tile: Optional[int] = None              # feed-forward methods: tiled inference with this tile size (px)
    bf16: bool = False                      # networks under bfloat16 autocast (losses/statistics in fp32)

    # Gatys optimisation
    steps: int = 500
    # weights of mean-squared losses on Grams normalised by C*H*W (see losses.py and docs/gatys.md)
    content_weight: float = 1.0
    style_weight: float = 100.0
    tv_weight: float = 1e3
    style_scale: float = 1.0                # style image resized to style_scale x the output size
    content_layer: str = "relu4_2"
    style_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    layer_weights: Optional[list[float]] = None
    init: str = "content"                   # content | style | noise
    optimizer: str = "lbfgs"                # lbfgs | adam
    lr: float = 0.02                        # adam, in [0, 1] pixel units (L-BFGS always uses 1)
    scales: int = 1                         # coarse-to-fine levels (each one halves the size below the last)
    save_every: int = 0                     # write intermediate results every N steps (0: never)
    save_prefix: Optional[str] = None
    on_step: Optional[Callable[[int, torch.Tensor], None]] = None  # on_step(pass, image (3, H, W)) after each pass
    vgg_weights: str = "auto"               # a weights registry name, a file, "auto" or "random"
    pool: str = "max"

    # feed-forward and arbitrary-style methods
    model: Optional[str] = None             # fast / cin / magenta: registry name or path of the transformation network
    style_index: Optional[int] = None       # cin: which of the network's styles (or use style_blend)
    alpha: float = 1.0                      # content-style trade-off of AdaIN/WCT/swap/magenta (1 = full style)
    decoder: Optional[str] = None           # adain/wct/photowct/swap: registry name or path of the decoder(s)
    random_weights: bool = False            # adain/wct/photowct/swap: run with random decoders when none is trained
    smooth: bool = True                     # photowct: closed-form smoothing step
    patch_size: int = 3                     # swap: patch size of the style-swap layer


_FIELDS = [f.name for f in dataclasses.fields(StylizeOptions)]
#: Options every method reads.
COMMON = ("method", "size", "seed", "device", "progress", "bf16")
#: What the methods that take style images share: several styles blended or routed by masks, colour control.
STYLE_OPTIONS = ("style_blend", "masks", "preserve_color")
#: The encoder/decoder methods (AdaIN, WCT, PhotoWCT, style-swap).
DECODER_OPTIONS = STYLE_OPTIONS + ("alpha", "vgg_weights", "decoder", "random_weights")
#: CLI spelling of options whose flag is not ``--`` + the name with dashes.
FLAGS = {"vgg_weights": "--vgg", "smooth": "--no-smooth", "masks": "--mask", "progress": "--quiet"}


def flag(name: str) -> str:
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def register(name: str, *, options: Sequence[str], styles: tuple[int, Optional[int]] = (1, None),
             check: Optional[Callable[["StylizeOptions", int, Optional[tuple[int, int]]], None]] = None,
             summary: str = "") -> Callable:
    """Decorator registering a builder as method ``name``.

    Args:
        options: the :class:`StylizeOptions` fields it reads besides :data:`COMMON`.
        styles: (fewest, most) style images it takes (most None: any number).
        check: ``check(opts, n_styles, content_hw)`` raising ConfigError for bad values of its own options
            (``content_hw`` is None when the content is not known yet).
    """
    unknown = sorted(set(options) - set(_FIELDS))
    if unknown:
        raise ValueError(f"method {name!r}: {unknown} are not StylizeOptions fields")
    return METHODS.register(name, options=tuple(options), styles=styles, check=check, summary=summary)


def available() -> list[str]:
    return METHODS.list()


def options_of(method: str) -> tuple[str, ...]:
    """The options ``method`` reads besides :data:`COMMON` (raises for an unknown method)."""
    return METHODS.meta(method)["options"]


def changed_options(opts: StylizeOptions) -> list[str]:
    """Fields of ``opts`` that differ from their defaults (what a Python caller set)."""
    out = []
    for f in dataclasses.fields(opts):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        value = getattr(opts, f.name)
        try:
            same = value is default or bool(value == default)
        except (TypeError, RuntimeError):  # tensors
            same = False
        if not same:
            out.append(f.name)
    return out


# --------------------------------------------------------------------------------------------- validation
def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def require_all(checks: Iterable[tuple[bool, str]]) -> None:
    """ConfigError with the message of the first failed ``(ok, message)`` check."""
    for ok, message in checks:
        _require(ok, message)


def check_vgg_layers(layers: Iterable[str], flag: str) -> None:
    """Every name must be a VGG layer (VGG19's, the deepest; a vgg16 backbone's are checked when it is built)."""
    from ..nn.vgg import layer_names

    names = layer_names("vgg19")
    for layer in layers:
        _require(layer in names, f"{flag}: unknown VGG layer {layer!r}; use names like relu1_1, relu4_2, conv5_1")


def check_image(image: torch.Tensor, what: str) -> None:
    """Refuse an image whose short side is under :data:`MIN_SIDE` (it would be silently upscaled)."""
    h, w = image.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise BadInputError(f"{what}: {w}x{h} px is too small; images need at least {MIN_SIDE} px on each side")


def output_hw(hw: Sequence[int], size: Optional[int]) -> tuple[int, int]:
    """The (H, W) an image of size ``hw`` has after resizing its long side to ``size`` (None: unchanged)."""
    h, w = int(hw[0]), int(hw[1])
    if not size:
        return h, w
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def validate(opts: StylizeOptions, n_styles: int, content_hw: Optional[Sequence[int]] = None,
             given: Optional[Iterable[str]] = None) -> None:
    """Check every option of ``opts`` for ``n_styles`` style images, before anything is loaded or written.

    ``given``: the options the user set (the CLI's explicitly given flags); default: those that differ from
    their defaults. Each must be one the method reads. ``content_hw``: the content's size, when known.
    """
    from ..utils import default_device

    meta = METHODS.meta(opts.method)
    own = set(COMMON) | set(meta["options"])
    for name in (given if given is not None else changed_options(opts)):
        if name not in own:
            theirs = ", ".join(flag(o) for o in meta["options"] if o != "save_prefix") or "none"
            raise ConfigError(f"{flag(name)} is not an option of --method {opts.method} (its options: {theirs})")
    fewest, most = meta["styles"]
    blend, masks = opts.style_blend, opts.masks
    require_all([
        (most is None or n_styles <= most, f"--method {opts.method} takes "
                                           f"{'no' if most == 0 else f'at most {most}'} STYLE image"),
        (n_styles >= fewest, f"--method {opts.method} needs at least {fewest} STYLE image{'s' * (fewest > 1)}"),
        (opts.size is None or opts.size >= MIN_SIDE, f"--size must be at least {MIN_SIDE} px, not {opts.size}"),
        (blend is None or (all(math.isfinite(b) and b >= 0 for b in blend) and sum(blend) > 0),
         f"--style-blend weights must be >= 0 with a positive sum, not {','.join(map(str, blend or []))}"),
        (blend is None or n_styles == 0 or len(blend) == n_styles,
         f"--style-blend has {len(blend or [])} weights for {n_styles} style images"),
        (masks is None or len(masks) == n_styles, f"{len(masks or [])} masks (--mask) for {n_styles} style images"),
        (opts.preserve_color in (None, "luminance", "histogram"),
         f"--preserve-color must be luminance or histogram, not {opts.preserve_color!r}"),
        (opts.tile is None or opts.tile >= MIN_SIDE, f"--tile must be at least {MIN_SIDE} px, not {opts.tile}"),
        (0.0 <= opts.alpha <= 1.0, f"--alpha must be in [0, 1], not {opts.alpha}"),
        (opts.patch_size >= 1, f"--patch-size must be at least 1, not {opts.patch_size}"),
        (opts.style_index is None or opts.style_index >= 0, f"--style-index must be >= 0, not {opts.style_index}")])
    if content_hw is not None:
        h, w = output_hw(content_hw, opts.size)
        _require(min(h, w) >= MIN_SIDE, f"the output would be {w}x{h} px; its short side must be at least "
                                        f"{MIN_SIDE} px (raise --size)")
    default_device(opts.device)
    if meta["check"] is not None:
        meta["check"](opts, n_styles, None if content_hw is None else output_hw(content_hw, opts.size))


def no_tile_with_masks(opts: StylizeOptions, n_styles: int, hw: Optional[tuple[int, int]]) -> None:
    """A ``check``: tiles are stylised one by one, so per-region styles (masks) cannot be combined with them."""
    _require(not (opts.tile and opts.masks is not None), f"{opts.method}: --tile and --mask cannot be combined")


def needs_model(opts: StylizeOptions, n_styles: int, hw: Optional[tuple[int, int]]) -> None:
    """A ``check``: the method has no default network."""
    _require(bool(opts.model), f"--method {opts.method} needs --model: a registry name (e.g. fast-candy, see "
                               f"`pixforge weights list`) or a weights file")


# --------------------------------------------------------------------------------------------- helpers
def require_trained(opts: StylizeOptions, source: Optional[str], what: str, how: str) -> Optional[str]:
    """``source`` when there are trained weights; None (the loader then makes random ones, with a warning) under
    ``opts.random_weights``; else a WeightsError naming what is missing and ``how`` to get it."""
    if source is not None or opts.random_weights:
        return source
    raise WeightsError(f"--method {opts.method} has no trained {what}: {how}; or pass --random-weights to run it "
                       f"with random weights (noise-like output)")


def announce_backbone(method: str, vgg: torch.nn.Module, progress: bool) -> None:
    """Say which VGG a method runs on (a warning when its weights are random)."""
    backbone = str(getattr(vgg, "backbone", "?"))
    if backbone.startswith("random"):
        warnings.warn(f"{method}: the VGG has RANDOM weights, so the result is a texture-like colour shift, not a "
                      "painting-like stylisation; run `pixforge weights fetch vgg16-hed`", stacklevel=3)
    elif progress:
        from tqdm import tqdm

        arch = getattr(vgg, "arch", "vgg19, normalised")
        tqdm.write(f"{method}: VGG backbone {backbone} ({arch})", file=sys.stderr)


def read_checked(path: str | os.PathLike, size: Optional[int] = None) -> torch.Tensor:
    """An image file as (3, H, W) in [0, 1], refused when under :data:`MIN_SIDE`, then (optionally) resized
    to long side ``size``."""
    from ..io import read_image, resize_long_side

    image = read_image(path)
    check_image(image, str(path))
    return resize_long_side(image, size) if size else image


def load_masks(paths: Sequence[str | os.PathLike], hw: Sequence[int]) -> list[torch.Tensor]:
    """Mask images (white = this style goes here) as (1, H, W) tensors in [0, 1] at the content's size."""
    from ..io import read_image, resize

    return [resize(read_image(p).mean(0, keepdim=True), tuple(hw)) for p in paths]


# --------------------------------------------------------------------------------------------- running
def build(styles: list[torch.Tensor], opts: StylizeOptions) -> Stylizer:
    """Validate ``opts``, load the method's networks and return ``stylizer(content_batch) -> stylised_batch``."""
    validate(opts, len(styles))
    if opts.seed is not None:
        from ..utils import seed_everything

        seed_everything(opts.seed)  # before any network is built, so that random weights repeat too
    return METHODS.get(opts.method)(styles, opts)


def _with(opts: StylizeOptions | None, overrides: dict) -> StylizeOptions:
    opts = dataclasses.replace(opts) if opts is not None else StylizeOptions()
    for key, value in overrides.items():
        if key not in _FIELDS:
            raise ConfigError(f"unknown stylize option {key!r}")
        setattr(opts, key, value)
    return opts


def stylize(content: torch.Tensor, styles: list[torch.Tensor], opts: StylizeOptions | None = None,
            given: Optional[Iterable[str]] = None, **overrides) -> torch.Tensor:
    """Stylise one content image (3, H, W) in [0, 1]; returns (3, H, W) in [0, 1] (Gatys resizes to long side
    ``opts.size``, the one-pass methods keep the content's size). Keyword arguments override fields of ``opts``;
    ``given`` names the options the user set (default: those that differ from their defaults), each of which
    the method must read."""
    opts = _with(opts, overrides)
    check_image(content, "content image")
    for i, style in enumerate(styles):
        check_image(style, f"style image {i + 1}")
    validate(opts, len(styles), content.shape[-2:], given)
    return build(styles, opts)(content.unsqueeze(0))[0].float().clamp(0, 1)


def stylize_file(content: str | os.PathLike, styles: Sequence[str | os.PathLike], output: str | os.PathLike,
                 opts: StylizeOptions, masks: Sequence[str | os.PathLike] = (),
                 given: Optional[Iterable[str]] = None) -> torch.Tensor:
    """Read, validate, stylise and write ``output`` (atomically); returns the result (3, H, W).

    The output's folder is checked for writing before any work; masks are image files, one per style; the
    style images are read with their long side at ``opts.size``."""
    from ..io import image_format, resize, save_image
    from ..utils import check_writable

    validate(opts, len(styles), given=given)  # the option values first, then the files
    image_format(check_writable(output))
    content_img = read_checked(content, opts.size)
    style_imgs = [read_checked(p, opts.size) for p in styles]
    if masks:
        opts = dataclasses.replace(opts, masks=load_masks(masks, output_hw(content_img.shape[-2:], opts.size)))
        given = None if given is None else [*given, "masks"]
    if opts.save_every and opts.save_prefix is None:
        opts = dataclasses.replace(opts, save_prefix=str(Path(output).with_suffix("")))
    result = stylize(content_img, style_imgs, opts, given=given)
    if result.shape[-2:] != content_img.shape[-2:]:
        result = resize(result, content_img.shape[-2:])
    save_image(result, output)
    return result
