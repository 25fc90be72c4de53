"""``pixforge stylemix``: StyleGAN style-mixing grids (``pixforge sample`` takes StyleGAN runs too)."""
from __future__ import annotations

import click

from .app import main, output_option


@main.command()
@click.argument("run")
@output_option(".png grid or .npy (the images in [-1, 1])", required=True)
@click.option("--rows", type=click.IntRange(1), default=3, show_default=True, help="row sources (coarse styles)")
@click.option("--cols", type=click.IntRange(1), default=4, show_default=True, help="column sources (fine styles)")
@click.option("--crossover", type=int, default=None,
              help="first layer whose style comes from the column (default: after the 4-8 px layers)")
@click.option("--truncation", type=float, default=1.0, show_default=True, help="psi in W")
@click.option("--ema/--no-ema", default=None, help="use the EMA generator (default: when the run has one)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default=None)
def stylemix(run, output, rows, cols, crossover, truncation, ema, seed, device):
    """Style-mixing grid of a StyleGAN2 run or released generator (.pkl / .pt): each cell takes its row's
    coarse styles and its column's fine styles; the top row and left column show the sources.

    \b
    Examples:
      pixforge stylemix runs/sg2-mnist -o mix.png
      pixforge stylemix stylegan2-ffhq-256x256.pkl --rows 5 --cols 6 --truncation 0.7 -o mix.png
    """
    from ..tasks.gan import check_sample_output
    from ..tasks.stylegan2 import stylemix_run
    from ..utils import default_device

    check_sample_output(output)
    stylemix_run(run, output, rows, cols, crossover, truncation, seed, ema, default_device(device))
    click.echo(f"wrote a {rows} x {cols} style-mixing grid to {output}")
