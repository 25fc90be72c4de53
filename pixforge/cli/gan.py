"""``pixforge sample`` and ``pixforge interpolate`` (``pixforge train gan`` is in train.py)."""
from __future__ import annotations


import click

from .app import main, output_option


def generator_options(func):
    for option in reversed([
        click.option("--ema/--no-ema", default=None, help="use the EMA generator (default: when the run has one)"),
        click.option("--truncation", type=float, default=None,
                     help="StyleGAN: psi in W (0.7 is common; 1 = none); others: resample latents with |z| above this"),
        click.option("--truncation-cutoff", type=click.IntRange(1), default=None,
                     help="StyleGAN: psi moves only the first N layers' latents [default: the generator's: "
                          "8 for StyleGAN v1, all for StyleGAN2]"),
        click.option("--class", "label", type=int, default=None, help="class to generate (conditional models)"),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--device", default=None),
    ]):
        func = option(func)
    return func


@main.command()
@click.argument("run")
@click.option("-n", "count", type=click.IntRange(1), default=64, show_default=True)
@output_option(".npy (raw samples in [-1, 1]) or .png (grid / 2D scatter)", required=True)
@generator_options
def sample(run, count, output, ema, truncation, truncation_cutoff, label, seed, device):
    """Draw samples from a trained GAN (a run folder or its checkpoints/last.pt) or a pretrained generator; a
    CoGAN run gives a pair per code (.png: domain A over domain B; .npy: (N, 2, C, H, W)).

    \b
    Examples:
      pixforge sample runs/dcgan -n 64 -o grid.png
      pixforge sample dcgan-faces64 -n 16 -o faces.png
      pixforge sample runs/sg2-mnist -n 64 --truncation 0.7 -o grid.png
      pixforge sample runs/sg1-mnist -n 64 --truncation 0.7 --truncation-cutoff 4 -o grid.png
      pixforge sample runs/dcgan -n 5000 -o samples.npy --truncation 1.5
      pixforge sample runs/ring8 -n 2500 -o points.png
      pixforge sample runs/cogan -n 16 -o pairs.png --seed 1
    """
    from ..tasks.gan import check_sample_output, sample_run, write_samples
    from ..utils import default_device

    check_sample_output(output)
    x, cfg = sample_run(run, count, ema, truncation, label, seed, default_device(device), truncation_cutoff)
    write_samples(x, output, cfg.data)
    click.echo(f"wrote {count} samples of shape {tuple(x.shape[1:])} to {output}")


@main.command()
@click.argument("run", type=click.Path(exists=True))
@output_option(".png strip (one row per latent pair) or .npy (the frames in [-1, 1])", required=True)
@click.option("--steps", type=click.IntRange(2), default=8, show_default=True, help="frames per row")
@click.option("--rows", type=click.IntRange(1), default=4, show_default=True)
@generator_options
def interpolate(run, output, steps, rows, ema, truncation, truncation_cutoff, label, seed, device):
    """Latent interpolation strips (spherical interpolation between random latents) of an image GAN.

    \b
    Examples:
      pixforge interpolate runs/dcgan -o strips.png
      pixforge interpolate runs/cgan --class 3 --rows 2 --steps 12 -o threes.png
    """
    from ..tasks.gan import check_sample_output, interpolate_run, write_samples
    from ..utils import default_device

    check_sample_output(output)
    x = interpolate_run(run, steps, rows, ema, truncation, label, seed, default_device(device), truncation_cutoff)
    write_samples(x, output, nrow=steps)
    click.echo(f"wrote {rows} x {steps} interpolation strip to {output}")
