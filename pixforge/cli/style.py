"""``pixforge stylize`` and ``pixforge video``: every stylisation method behind one set of options (``--method``).
The CLI only parses: reading, checking and stylising are in :mod:`pixforge.style.methods` and ``.video``."""
from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from ..style.methods import StylizeOptions
from .app import CONTEXT, main, output_option

DEFAULTS = StylizeOptions()


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}") from None


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


#: CLI parameter -> (StylizeOptions field, conversion of the parsed value)
_FIELD = {"style_blend": ("style_blend", _floats), "layer_weights": ("layer_weights", _floats),
          "style_layers": ("style_layers", _names), "no_smooth": ("smooth", lambda v: not v),
          "quiet": ("progress", lambda v: not v)}


class MethodName(click.ParamType):
    """A registered stylisation method (listed from the registry only when help is shown)."""

    name = "method"

    def get_metavar(self, param, ctx=None) -> str:
        from ..registry import METHODS

        return "[" + "|".join(METHODS.list()) + "]"

    def convert(self, value, param, ctx):
        from ..registry import METHODS

        METHODS.entry(value)  # "unknown style method 'x'; known: ..."
        return value


def style_options(method_default: str):
    """The options of ``stylize`` and ``video`` (defaults shown are StylizeOptions' own)."""
    d = DEFAULTS
    decorators = [
        click.option("--method", type=MethodName(), default=method_default, show_default=True,
                     help="gatys: optimisation (best quality, slow); magenta: arbitrary style in one pass with a "
                          "pretrained network (fastest); fast/cin: trained feed-forward network (--model); "
                          "adain/wct/photowct/swap: arbitrary style with trained decoders (--decoder)."),
        click.option("--size", type=int, default=d.size, show_default=True,
                     help="Long side of the output in pixels (at least 16)."),
        click.option("--steps", type=int, default=d.steps, show_default=True,
                     help="gatys: optimisation steps (VGG passes), split over --scales."),
        click.option("--seed", type=int, default=None, help="Random seed (noise init, random-weight networks)."),
        click.option("--style-blend", default=None,
                     help="Blend weights, one per style image (cin: one per network style), e.g. 0.7,0.3."),
        click.option("--preserve-color", type=click.Choice(["luminance", "histogram"]), default=None,
                     help="Keep the content's colours: luminance-only transfer, or match the style's colour "
                          "histogram (not fast/cin)."),
        click.option("--content-weight", type=float, default=d.content_weight, show_default=True, help="gatys."),
        click.option("--style-weight", type=float, default=d.style_weight, show_default=True, help="gatys."),
        click.option("--tv-weight", type=float, default=d.tv_weight, show_default=True,
                     help="gatys: total-variation weight."),
        click.option("--style-scale", type=float, default=d.style_scale, show_default=True,
                     help="gatys: style image size relative to the output (bigger = larger brush strokes)."),
        click.option("--content-layer", default=d.content_layer, show_default=True, help="gatys."),
        click.option("--style-layers", default=",".join(d.style_layers), show_default=True, help="gatys."),
        click.option("--layer-weights", default=None, help="gatys: one weight per style layer (default: equal)."),
        click.option("--init", type=click.Choice(["content", "style", "noise"]), default=d.init, show_default=True,
                     help="gatys: start image."),
        click.option("--optimizer", type=click.Choice(["lbfgs", "adam"]), default=d.optimizer, show_default=True,
                     help="gatys."),
        click.option("--lr", type=float, default=d.lr, show_default=True,
                     help="gatys: Adam's learning rate (pixels in [0, 1])."),
        click.option("--scales", type=int, default=d.scales, show_default=True,
                     help="gatys: coarse-to-fine levels (optimise at half size first, upsample, continue)."),
        click.option("--save-every", type=int, default=d.save_every, help="gatys: also write OUT_stepN.png every "
                                                                           "N steps."),
        click.option("--vgg", "vgg_weights", default=d.vgg_weights, show_default=True,
                     help="VGG weights (gatys, adain, wct, photowct, swap): a registry name (see `pixforge weights "
                          "list`), a .pth/.safetensors file, 'auto' or 'random'."),
        click.option("--pool", type=click.Choice(["max", "avg"]), default=d.pool, show_default=True, help="gatys."),
        click.option("--bf16", is_flag=True, help="Run the networks under bfloat16 autocast (about 2x faster on "
                                                  "CPUs with AVX512-BF16/AMX and on GPUs); losses and feature "
                                                  "statistics stay fp32."),
        click.option("--model", default=None, help="fast/cin/magenta: transformation network, registry name or file "
                                                   "(cin default: the pretrained 26-style cin-lite26)."),
        click.option("--style-index", type=int, default=None, help="cin: which of the network's styles."),
        click.option("--alpha", type=float, default=d.alpha, show_default=True,
                     help="adain/wct/photowct/swap/magenta: content-style trade-off (0 = content, 1 = full style)."),
        click.option("--decoder", default=None, help="adain/wct/photowct/swap: trained decoder(s), registry name or "
                                                     "file (see `pixforge train adain|wct-decoders`)."),
        click.option("--random-weights", is_flag=True,
                     help="adain/wct/photowct/swap: run with random decoders when none is trained (noise-like "
                          "output; for tests)."),
        click.option("--no-smooth", is_flag=True, help="photowct: skip the closed-form smoothing step."),
        click.option("--patch-size", type=int, default=d.patch_size, show_default=True,
                     help="swap: style-swap patch size."),
        click.option("--tile", type=int, default=None,
                     help="fast/cin/adain/magenta: tiled inference, tile size in px (bounded memory)."),
        click.option("--device", default=d.device, show_default=True, help="auto, cpu, cuda, cuda:1, ..."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]

    def apply(f):
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


def parse_options(ctx: click.Context, method: str, options: dict) -> tuple[StylizeOptions, list[str]]:
    """StylizeOptions from the parsed options, and the fields the user set (options left at their defaults are
    not passed on, so StylizeOptions' defaults apply and only what was asked for is checked against the method)."""
    fields = {}
    for name, value in options.items():
        if ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            continue
        field, convert = _FIELD.get(name, (name, lambda v: v))
        fields[field] = convert(value)
    return StylizeOptions(method=method, **fields), list(fields)


@main.command(context_settings=CONTEXT)
@click.argument("content", type=click.Path(path_type=Path))
@click.argument("styles", nargs=-1, type=click.Path(path_type=Path))
@output_option("Output image (.png or .jpg), written atomically.", type=click.Path(path_type=Path), required=True)
@click.option("--mask", "masks", multiple=True, type=click.Path(path_type=Path),
              help="One mask image per style (white = this style goes here). Repeat per style.")
@style_options("gatys")
@click.pass_context
def stylize(ctx: click.Context, content: Path, styles: tuple[Path, ...], output: Path, method: str, masks,
            **options) -> None:
    """Stylise CONTENT with one or more STYLE images and write the result to -o OUT.

    Each method reads only its own options; giving another is an error (`--tile` with gatys, say).

    \b
    Examples:
      pixforge stylize photo.jpg starry.jpg -o out.png --size 512 --steps 300
      pixforge stylize photo.jpg a.jpg b.jpg --style-blend 0.7,0.3 -o blend.png
      pixforge stylize photo.jpg starry.jpg --preserve-color luminance -o lum.png
      pixforge stylize photo.jpg sky.jpg sea.jpg --mask sky_mask.png --mask sea_mask.png -o regions.png
      pixforge stylize photo.jpg starry.jpg --method magenta -o fast_any_style.png
      pixforge stylize photo.jpg starry.jpg --method magenta --alpha 0.6 --tile 512 -o big.png
      pixforge stylize photo.jpg --method cin --style-index 7 -o style7.png
      pixforge stylize photo.jpg --method fast --model fast-candy -o candy.png
      pixforge stylize photo.jpg starry.jpg --method adain --decoder runs/adain/decoder.safetensors -o adain.png
    """
    from ..style.methods import stylize_file

    opts, given = parse_options(ctx, method, options)
    result = stylize_file(content, styles, output, opts, masks=masks, given=given)
    click.echo(f"wrote {output} ({result.shape[-1]}x{result.shape[-2]})")


@main.command(context_settings=CONTEXT)
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--style", "styles", multiple=True, type=click.Path(path_type=Path),
              help="Style image (methods that take one; repeat for several).")
@click.option("--temporal", is_flag=True, help="Blend with the flow-warped previous output (less flicker).")
@click.option("--temporal-weight", type=float, default=0.6, show_default=True,
              help="Share of the warped previous output where the flow is reliable (0..1).")
@click.option("--max-frames", type=int, default=None, help="Stop after this many frames.")
@style_options("magenta")
@click.pass_context
def video(ctx: click.Context, source: Path, target: Path, styles, temporal: bool, temporal_weight: float, max_frames,
          method: str, **options) -> None:
    """Stylise a video file (or a folder of frames) SOURCE into TARGET: a video file (.mp4, .mkv, ...) or a
    folder of PNG frames (a name without a suffix). TARGET appears only once every frame is done.

    \b
    Examples:
      pixforge video clip.mp4 out.mp4 --style starry.jpg --size 512
      pixforge video clip.mp4 out.mp4 --method fast --model fast-candy --temporal
      pixforge video frames/ out_frames/ --method magenta --style starry.jpg --alpha 0.8 --max-frames 50
    """
    from ..style.methods import read_checked
    from ..style.video import stylize_video

    opts, given = parse_options(ctx, method, options)
    style_imgs = [read_checked(p, opts.size) for p in styles]
    count = stylize_video(source, target, style_imgs, opts, temporal=temporal, temporal_weight=temporal_weight,
                          max_frames=max_frames, given=given)
    click.echo(f"wrote {count} frames to {target}")
