"""``pixforge train gan``, ``pixforge sample`` and ``pixforge interpolate``."""
from __future__ import annotations

from pathlib import Path

import click

from .app import main, output_option, train


@train.command(name="gan", context_settings={"ignore_unknown_options": False})
@click.option("--data", default=None, help="built-in dataset (ring8, grid25, digits, mnist5k, faces, stacked-mnist) "
                                           "or an image folder")
@click.option("--loss", default=None, help="minimax, nonsaturating, lsgan, wgan, wgan-gp, hinge")
@click.option("--arch", default=None, help="mlp, dcgan, resnet (default: mlp for 2D data, dcgan for images)")
@click.option("--steps", type=click.IntRange(1), default=None, help="generator steps")
@click.option("--out", default=None, help="run folder: checkpoints/, samples/, metrics.csv, config.yaml")
@click.option("--seed", type=int, default=None)
@click.option("--batch-size", type=click.IntRange(1), default=None)
@click.option("--device", default=None, help="cuda, cpu, ... (default: CUDA when present)")
@click.option("--config", "config_file", default=None, type=click.Path(dir_okay=False),
              help="YAML config; KEY=VALUE arguments override it")
@click.option("--resume", is_flag=True, help="continue from OUT/checkpoints/last.pt (and OUT/config.yaml)")
@click.argument("overrides", nargs=-1)
def train_gan_cmd(data, loss, arch, steps, out, seed, batch_size, device, config_file, resume, overrides):
    """Train a GAN. Extra KEY=VALUE arguments set any GanConfig field (e.g. ema=0.999 n_critic=2 loop.amp=true).

    Under torchrun every process trains on its slice of each batch (DDP); rank 0 writes the files.
    """
    from ..config import parse_overrides
    from ..tasks.gan import config_from, train_gan
    from ..train import distributed as dist_utils

    opts = {"data": data, "loss": loss, "arch": arch, "batch_size": batch_size, "loop.steps": steps,
            "loop.out": out, "loop.seed": seed, "loop.device": device}
    values = {k: v for k, v in opts.items() if v is not None}
    values.update(parse_overrides(overrides))
    if resume:
        values["loop.resume"] = True
        saved = Path(values.get("loop.out", "")) / "config.yaml"
        if config_file is None and "loop.out" in values and saved.is_file():
            config_file = saved  # the run's own resolved config; options given now still override it
    cfg = config_from(config_file, values)
    try:
        _, result = train_gan(cfg)
    finally:
        dist_utils.cleanup()
    if dist_utils.is_main_process():
        losses = "  ".join(f"{k} {v:.4g}" for k, v in result.last_losses.items())
        click.echo(f"trained {result.step} steps in {result.seconds:.1f}s  {losses}\ncheckpoint: {result.checkpoint}")


def generator_options(func):
    for option in reversed([
        click.option("--ema/--no-ema", default=None, help="use the EMA generator (default: when the run has one)"),
        click.option("--truncation", type=float, default=None, help="resample latent entries with |z| above this"),
        click.option("--class", "label", type=int, default=None, help="class to generate (conditional models)"),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--device", default=None),
    ]):
        func = option(func)
    return func


@main.command()
@click.argument("run", type=click.Path(exists=True))
@click.option("-n", "count", type=click.IntRange(1), default=64, show_default=True)
@output_option(".npy (raw samples in [-1, 1]) or .png (grid / 2D scatter)", required=True)
@generator_options
def sample(run, count, output, ema, truncation, label, seed, device):
    """Draw samples from a trained GAN (a run folder or its checkpoints/last.pt).

    \b
    Examples:
      pixforge sample runs/dcgan -n 64 -o grid.png
      pixforge sample runs/dcgan -n 5000 -o samples.npy --truncation 1.5
      pixforge sample runs/ring8 -n 2500 -o points.png
    """
    from ..tasks.gan import check_sample_output, sample_run, write_samples
    from ..utils import default_device

    check_sample_output(output)
    x, cfg = sample_run(run, count, ema, truncation, label, seed, default_device(device))
    write_samples(x, output, cfg.data)
    click.echo(f"wrote {count} samples of shape {tuple(x.shape[1:])} to {output}")


@main.command()
@click.argument("run", type=click.Path(exists=True))
@output_option(".png strip (one row per latent pair) or .npy (the frames in [-1, 1])", required=True)
@click.option("--steps", type=click.IntRange(2), default=8, show_default=True, help="frames per row")
@click.option("--rows", type=click.IntRange(1), default=4, show_default=True)
@generator_options
def interpolate(run, output, steps, rows, ema, truncation, label, seed, device):
    """Latent interpolation strips (spherical interpolation between random latents) of an image GAN.

    \b
    Examples:
      pixforge interpolate runs/dcgan -o strips.png
      pixforge interpolate runs/cgan --class 3 --rows 2 --steps 12 -o threes.png
    """
    from ..tasks.gan import check_sample_output, interpolate_run, write_samples
    from ..utils import default_device

    check_sample_output(output)
    x = interpolate_run(run, steps, rows, ema, truncation, label, seed, default_device(device))
    write_samples(x, output, nrow=steps)
    click.echo(f"wrote {rows} x {steps} interpolation strip to {output}")
