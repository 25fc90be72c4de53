"""``pixforge stylize``: every stylisation method behind one command (``--method``)."""
from __future__ import annotations

from pathlib import Path

import click

from .app import CONTEXT, main


def _floats(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}") from None


def _names(text: str | None) -> list[str] | None:
    return [v.strip() for v in text.split(",") if v.strip()] if text else None


@main.command(context_settings=CONTEXT)
@click.argument("content", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("styles", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output image (.png or .jpg), written atomically.")
@click.option("--method", default="gatys", show_default=True,
              type=click.Choice(["gatys", "fast", "cin", "adain", "wct", "photowct", "swap", "magenta"]),
              help="gatys: optimisation; fast/cin: trained feed-forward net (--model); adain/wct/photowct/swap: "
                   "arbitrary style in one pass; magenta: arbitrary style with a style-prediction network "
                   "(fastest, pretrained weights offline).")
@click.option("--size", type=int, default=512, show_default=True, help="Long side of the output in pixels.")
@click.option("--steps", type=int, default=500, show_default=True, help="Optimisation steps (gatys).")
@click.option("--seed", type=int, default=None, help="Random seed (noise init, reproducible runs).")
@click.option("--style-blend", default=None, help="Blend weights, one per style image, e.g. 0.7,0.3.")
@click.option("--mask", "masks", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="One mask image per style (white = this style goes here). Repeat per style.")
@click.option("--preserve-color", type=click.Choice(["luminance", "histogram"]), default=None,
              help="Keep the content's colours: luminance-only transfer, or match the style's colour histogram.")
@click.option("--content-weight", type=float, default=1.0, show_default=True)
@click.option("--style-weight", type=float, default=100.0, show_default=True)
@click.option("--tv-weight", type=float, default=1e3, show_default=True, help="Total-variation weight.")
@click.option("--style-scale", type=float, default=1.0, show_default=True,
              help="Style image size relative to the output (bigger = larger brush strokes).")
@click.option("--content-layer", default="relu4_2", show_default=True)
@click.option("--style-layers", default="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", show_default=True)
@click.option("--layer-weights", default=None, help="One weight per style layer (default: equal).")
@click.option("--init", type=click.Choice(["content", "style", "noise"]), default="content", show_default=True)
@click.option("--optimizer", type=click.Choice(["lbfgs", "adam"]), default="lbfgs", show_default=True)
@click.option("--lr", type=float, default=0.02, show_default=True, help="Learning rate (adam, pixels in [0, 1]).")
@click.option("--scales", type=int, default=1, show_default=True,
              help="Coarse-to-fine levels: optimise at half size first, upsample, continue.")
@click.option("--save-every", type=int, default=0, help="Also write OUT_stepN.png every N steps.")
@click.option("--vgg", "vgg_weights", default="auto", show_default=True,
              help="VGG weights: a registry name (see `pixforge weights list`), 'auto' or 'random'.")
@click.option("--pool", type=click.Choice(["max", "avg"]), default="max", show_default=True)
@click.option("--bf16", is_flag=True, help="Run the networks under bfloat16 autocast (about 2x faster on CPUs with "
                                          "AVX512-BF16/AMX and on GPUs); losses and feature statistics stay fp32.")
@click.option("--model", default=None, help="fast/cin: transformation network, registry name or file "
                                            "(cin default: the pretrained 26-style cin-lite26).")
@click.option("--style-index", type=int, default=None, help="cin: which of the network's styles.")
@click.option("--alpha", type=float, default=1.0, show_default=True,
              help="adain/wct/swap: content-style trade-off (0 = content, 1 = full style).")
@click.option("--decoder", default=None, help="adain/wct/swap: decoder weights, registry name or file.")
@click.option("--no-smooth", is_flag=True, help="photowct: skip the closed-form smoothing step.")
@click.option("--patch-size", type=int, default=3, show_default=True, help="swap: style-swap patch size.")
@click.option("--tile", type=int, default=None, help="Feed-forward methods: tiled inference, tile size in px.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, ...")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def stylize(content: Path, styles: tuple[Path, ...], output: Path, method: str, size: int, masks, style_blend,
            style_layers, layer_weights, no_smooth: bool, quiet: bool, **options) -> None:
    """Stylise CONTENT with one or more STYLE images and write the result to -o OUT.

    \b
    Examples:
      pixforge stylize photo.jpg starry.jpg -o out.png --size 512 --steps 300
      pixforge stylize photo.jpg a.jpg b.jpg --style-blend 0.7,0.3 -o blend.png
      pixforge stylize photo.jpg starry.jpg --preserve-color luminance -o lum.png
      pixforge stylize photo.jpg starry.jpg --method adain --alpha 0.8 -o adain.png
      pixforge stylize photo.jpg starry.jpg --method magenta -o fast_any_style.png
      pixforge stylize photo.jpg --method cin --style-index 7 -o style7.png
      pixforge stylize photo.jpg --method fast --model fast-candy -o candy.png
    """
    from ..io import read_image, resize, save_image
    from ..style import methods

    needs_style = method not in ("fast", "cin")
    if needs_style and not styles:
        raise click.UsageError(f"--method {method} needs at least one STYLE image")
    content_img = read_image(content, size=size)
    style_imgs = [read_image(p, size=size) for p in styles]
    blend = _floats(style_blend)
    if blend is not None and method != "cin" and len(blend) != len(style_imgs):
        raise click.BadParameter(f"{len(blend)} blend weights for {len(style_imgs)} style images",
                                 param_hint="--style-blend")
    mask_imgs = None
    if masks:
        if len(masks) != len(style_imgs):
            raise click.BadParameter(f"{len(masks)} masks for {len(style_imgs)} style images", param_hint="--mask")
        mask_imgs = [resize(read_image(m).mean(0, keepdim=True), content_img.shape[-2:]) for m in masks]
    opts = methods.StylizeOptions(
        method=method, size=size, style_blend=blend, masks=mask_imgs, style_layers=_names(style_layers),
        layer_weights=_floats(layer_weights), smooth=not no_smooth, progress=not quiet,
        save_prefix=str(output.with_suffix("")), **options,
    )
    result = methods.build(style_imgs, opts)(content_img.unsqueeze(0))[0].clamp(0, 1)
    if tuple(result.shape[-2:]) != tuple(content_img.shape[-2:]):
        result = resize(result, content_img.shape[-2:])
    save_image(result, output)
    click.echo(f"wrote {output}")
