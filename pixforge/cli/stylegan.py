"""``pixforge stylemix`` (StyleGAN style-mixing grids) and ``pixforge project`` (a real image into W);
``pixforge sample`` and ``interpolate`` take StyleGAN runs too."""
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
    """Style-mixing grid of a StyleGAN or StyleGAN2 run or released generator (.pkl / .pt): each cell takes its row's
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


@main.command()
@click.argument("run")
@click.argument("image")
@output_option("the projected image (.png, .jpg)", required=True)
@click.option("--latent", "latent_path", default=None,
              help="where the latent goes: .npy (w) or .safetensors (w and the noise maps) [default: OUTPUT as .npy]")
@click.option("--strip", default=None, help="also write a progress strip: the target, then the projection at "
                                            "--frames steps (.png)")
@click.option("--frames", type=click.IntRange(1), default=8, show_default=True)
@click.option("--steps", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--w-plus", is_flag=True, help="one w per layer (W+): closer fits, less editable latents")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=0.1, show_default=True,
              help="Adam's peak learning rate")
@click.option("--perceptual", type=click.FloatRange(0), default=1.0, show_default=True,
              help="weight of the VGG feature distance (LPIPS-style, without LPIPS's learned heads)")
@click.option("--pixel", type=click.FloatRange(0), default=0.0, show_default=True,
              help="weight of the pixel MSE (images in [-1, 1])")
@click.option("--noise-regularize", type=click.FloatRange(0), default=1e5, show_default=True,
              help="weight of the noise-map autocorrelation penalty")
@click.option("--vgg", "vgg_weights", default="auto", show_default=True,
              help="VGG16 weights: a registry name, a file, 'auto' or 'random'")
@click.option("--ema/--no-ema", default=None, help="use the EMA generator (default: when the run has one)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default=None)
@click.option("--quiet", is_flag=True, help="no progress bar")
def project(run, image, output, latent_path, strip, frames, steps, w_plus, lr, perceptual, pixel, noise_regularize,
            vgg_weights, ema, seed, device, quiet):
    """Project a real IMAGE into the W space (or W+) of a StyleGAN or StyleGAN2 run, or a released StyleGAN2
    generator (.pt / .pkl): StyleGAN2's projector (start at the mean w, Adam with a learning-rate ramp, decaying
    latent noise, noise maps optimised and regularised). Writes the image it finds, its latent, and with --strip
    the way there.

    \b
    Examples:
      pixforge project runs/sg2-mnist digit.png -o projected.png --strip steps.png
      pixforge project stylegan2-ffhq-config-f.pt face.jpg -o face_w.png --latent face_w.safetensors
      pixforge project runs/sg2-mnist digit.png -o p.png --w-plus --steps 300 --pixel 1
      pixforge project runs/sg1-mnist digit.png -o p1.png --steps 300   # StyleGAN v1: its noise per layer
    """
    from ..projector import ProjectConfig, project_run
    from ..utils import default_device

    cfg = ProjectConfig(steps=steps, w_plus=w_plus, lr=lr, perceptual=perceptual, pixel=pixel,
                        noise_regularize=noise_regularize, seed=seed)
    result, latent = project_run(run, image, output, latent_path, strip, frames, cfg,
                                 None if vgg_weights == "random" else vgg_weights, ema, default_device(device),
                                 progress=not quiet)
    name, values = next((k, v) for k, v in result.history.items() if k != "noise_reg")
    click.echo(f"wrote {output} ({name} {values[0]:.4g} -> {values[-1]:.4g} over {steps} steps) and its "
               f"{'W+' if w_plus else 'W'} latent {tuple(result.latent.shape)} to {latent}"
               + (f"; progress strip {strip}" if strip else ""))
