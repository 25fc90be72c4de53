"""``pixforge translate``: image-to-image translation with a trained generator (pix2pix, CycleGAN, pix2pixHD)."""
from __future__ import annotations

from pathlib import Path

import click

from .app import CONTEXT, main


@main.command(context_settings=CONTEXT)
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output image (for a SOURCE folder: output folder, same file names).")
@click.option("--model", required=True,
              help="Weights name (pixforge weights list), generator checkpoint (.pth/.safetensors, e.g. the "
                   "reference's latest_net_G.pth), CycleGAN run folder, a `pixforge train pix2pix|pix2pixhd|spade` run "
                   "folder (or its checkpoints/*.pt), or with --random-weights an architecture.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB", show_default=True,
              help="For a CycleGAN run folder: latest_net_G_A.pth (AtoB) or latest_net_G_B.pth (BtoA).")
@click.option("--tile", type=int, default=None, help="Tiled inference, tile size in px (bounded memory).")
@click.option("--random-weights", is_flag=True, help="Run an architecture untrained (shapes and speed checks).")
@click.option("--eval", "eval_mode", is_flag=True, default=None,
              help="pix2pix U-Nets: dropout off and batch norm running statistics (default: as the reference's "
                   "test script, dropout on and the image's own statistics).")
@click.option("--device", default="auto", show_default=True)
def translate(source: Path, output: Path, model: str, direction: str, tile: int | None, random_weights: bool,
              eval_mode: bool | None, device: str) -> None:
    """Translate SOURCE (an image, or a folder of images) with a trained generator; any image size.

    \b
    Examples:
      pixforge translate photo.jpg -o vintage.jpg --model cyclegan-vintage
      pixforge translate photos/ -o out/ --model checkpoints/horse2zebra --direction BtoA
      pixforge translate facade.png -o out.png --model latest_net_G.pth --tile 512
      pixforge translate edges.png -o photo.png --model runs/p2p
    """
    from ..io import list_images, read_image, save_image
    from ..translate import Translator, load_generator

    run = Translator(load_generator(model, direction, random_weights), device, eval_mode)
    if source.is_dir():
        files = list_images(source)
        targets = [output / f.relative_to(source) for f in files]
    else:
        files, targets = [source], [output / source.name if output.is_dir() else output]
    for file, target in zip(files, targets):
        save_image(run(read_image(file)[None], tile)[0], target)
        click.echo(f"wrote {target}")
