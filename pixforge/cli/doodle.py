"""``pixforge doodle``: semantic style transfer / neural doodle (Champandard 2016) on the CNNMRF loss."""
from __future__ import annotations

from pathlib import Path

import click

from .app import CONTEXT, main, output_option


@main.command(context_settings=CONTEXT)
@click.argument("style", type=click.Path(path_type=Path))
@click.argument("style_map", type=click.Path(path_type=Path))
@click.argument("target_map", type=click.Path(path_type=Path))
@output_option("Output image (.png or .jpg), written atomically.", type=click.Path(path_type=Path), required=True)
@click.option("--content", type=click.Path(path_type=Path), default=None,
              help="Optional content photo (same layout as TARGET_MAP): adds a content loss and is the start image.")
@click.option("--size", type=int, default=256, show_default=True, help="Long side of the output in pixels (>= 16).")
@click.option("--steps", type=int, default=100, show_default=True, help="L-BFGS iterations per scale.")
@click.option("--scales", type=int, default=3, show_default=True, help="Coarse-to-fine levels (each doubles the size).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--semantic-weight", type=float, default=1.0, show_default=True,
              help="Weight of the annotation in patch matching (1: as much as the features; higher: stricter).")
@click.option("--mrf-weight", type=float, default=1.0, show_default=True)
@click.option("--content-weight", type=float, default=1.0, show_default=True, help="Used only with --content.")
@click.option("--tv-weight", type=float, default=1e-2, show_default=True, help="Total-variation (smoothness) weight.")
@click.option("--layers", default="relu2_1,relu3_1,relu4_1", show_default=True,
              help="VGG layers of the MRF loss (relu3_1,relu4_1 as in the paper: half the time, muddier colours).")
@click.option("--content-layer", default="relu4_2", show_default=True)
@click.option("--patch-size", type=int, default=3, show_default=True)
@click.option("--stride", type=int, default=1, show_default=True, help="Style patch stride (2: 4x faster matching).")
@click.option("--style-scale", type=float, default=1.0, show_default=True,
              help="Style image size relative to the output (bigger = larger features).")
@click.option("--init", type=click.Choice(["auto", "noise", "content"]), default="auto", show_default=True)
@click.option("--vgg", "vgg_weights", default="auto", show_default=True,
              help="VGG weights: a registry name (see `pixforge weights list`), a .pth/.safetensors file, "
                   "'auto' or 'random'.")
@click.option("--pool", type=click.Choice(["max", "avg"]), default="max", show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def doodle(style: Path, style_map: Path, target_map: Path, output: Path, content: Path | None, layers: str,
           quiet: bool, **options) -> None:
    """Paint TARGET_MAP with the parts of STYLE that STYLE_MAP annotates in the same colours.

    STYLE_MAP annotates STYLE in a few flat colours (PNG); TARGET_MAP is the doodle, drawn in the same colours.

    \b
    Examples:
      pixforge doodle monet.jpg monet_sem.png my_doodle.png -o out.png --size 256
      pixforge doodle style.jpg style_sem.png photo_sem.png --content photo.jpg -o out.png
    """
    from ..io import image_format, save_image
    from ..style.doodle import doodle_config, doodle as run_doodle
    from ..style.methods import read_checked
    from ..utils import check_writable

    cfg = doodle_config(layers=[v.strip() for v in layers.split(",") if v.strip()], progress=not quiet, **options)
    image_format(check_writable(output))
    result = run_doodle(read_checked(style), read_checked(style_map), read_checked(target_map),
                        read_checked(content) if content is not None else None, cfg)
    save_image(result, output)
    click.echo(f"wrote {output} ({result.shape[-1]}x{result.shape[-2]})")
