"""``pixforge translate``: image-to-image translation with a trained generator (pix2pix, CycleGAN, pix2pixHD), and
multimodal / multi-domain translation (MUNIT, UNIT, StarGAN, StarGAN v2, U-GAT-IT, BicycleGAN, FUNIT:
:mod:`pixforge.multimodal`)."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
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
@click.option("--style-image", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              help="MUNIT / StarGAN v2 / BicycleGAN: translate to the style of this reference image (repeated: one "
                   "output each); FUNIT: an example image of the target class (repeated: K shots, averaged).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="MUNIT / StarGAN v2: seed of the random style codes.")
@click.option("--n", "n", type=int, default=1, show_default=True,
              help="MUNIT / StarGAN v2: number of random styles; more than 1 writes a grid (input | outputs).")
@click.option("--target-domain", default=None,
              help="StarGAN / StarGAN v2: target domain, an index or a name (StarGAN attributes: 1,0,0,1,1).")
@click.option("--device", default="auto", show_default=True)
def translate(source: Path, output: Path, model: str, direction: str, tile: int | None, random_weights: bool,
              eval_mode: bool | None, style_image: tuple[Path, ...], seed: int, n: int, target_domain: str | None,
              device: str) -> None:
    """Translate SOURCE (an image, a folder of images or a video, frame by frame) with a trained generator; any
    image size.

    \b
    Examples:
      pixforge translate photo.jpg -o vintage.jpg --model cyclegan-vintage
      pixforge translate clip.mp4 -o vintage.mp4 --model cyclegan-vintage      (or -o frames/ for PNGs)
      pixforge translate photos/ -o out/ --model checkpoints/horse2zebra --direction BtoA
      pixforge translate facade.png -o out.png --model latest_net_G.pth --tile 512
      pixforge translate edges.png -o photo.png --model runs/p2p
      pixforge translate edges.png -o shoes.png --model runs/munit --seed 0 --n 8
      pixforge translate digit.png -o red.png --model runs/stargan2 --target-domain red --style-image ref.png
    """
    import torch

    from ..io import image_grid, list_images, read_image, resize, save_image
    from ..multimodal import NotGuided, load_model
    from ..style.video import is_video_file, map_frames
    from ..translate import Translator, load_generator

    try:
        guided = load_model(model, device)
    except NotGuided:
        guided = None
        if style_image or target_domain is not None or n != 1:
            raise ConfigError(f"{model}: --style-image, --n and --target-domain need a MUNIT, StarGAN, StarGAN v2, "
                              "U-GAT-IT, BicycleGAN or FUNIT checkpoint or run folder") from None
    if guided is not None:
        if tile or random_weights:
            raise ConfigError(f"--tile and --random-weights do not apply to {guided.kind} models")
        style = None
        if style_image:  # one batch, at the first reference's size
            refs = [read_image(p) for p in style_image]
            style = torch.stack([resize(r, tuple(refs[0].shape[-2:])) for r in refs])

        def run(batch, tile):  # (1, C, H, W) -> the output, or input | outputs as one grid
            outs = guided(batch, direction, style, seed, n, target_domain)[0]
            return outs if len(outs) == 1 else image_grid([batch[0].to(outs), *outs], nrow=len(outs) + 1)[None]
    else:
        run = Translator(load_generator(model, direction, random_weights), device, eval_mode)
    if is_video_file(source):
        click.echo(f"wrote {map_frames(source, output, lambda frame: run(frame[None], tile)[0])} frames to {output}")
        return
    if source.is_dir():
        files = list_images(source)
        targets = [output / f.relative_to(source) for f in files]
    else:
        files, targets = [source], [output / source.name if output.is_dir() else output]
    for file, target in zip(files, targets):
        save_image(run(read_image(file)[None], tile)[0], target)
        click.echo(f"wrote {target}")
