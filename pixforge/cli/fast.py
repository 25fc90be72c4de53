"""``pixforge train fast-style`` and ``pixforge train cin``."""
from __future__ import annotations

from pathlib import Path

import click

from .app import CONTEXT, train

_PATH = click.Path(dir_okay=False, exists=True, path_type=Path)


def _training_options(f):
    """Options shared by the two training commands."""
    decorators = [
        click.option("--content", type=click.Path(file_okay=False, exists=True), default=None,
                     help="Folder of content photos (default: scikit-image's built-in photos, offline)."),
        click.option("--steps", type=int, default=2000, show_default=True),
        click.option("--out", type=click.Path(file_okay=False), required=True, help="Run folder."),
        click.option("--arch", type=click.Choice(["johnson", "slim"]), default="johnson", show_default=True,
                     help="johnson: the published layout (32/64/128 channels); slim: 8/16/32 channels, ~12x less "
                          "compute."),
        click.option("--size", type=int, default=256, show_default=True, help="Training crop size."),
        click.option("--style-size", type=int, default=None, help="Long side of the style images (default --size)."),
        click.option("--batch-size", type=int, default=4, show_default=True),
        click.option("--lr", type=float, default=1e-3, show_default=True),
        click.option("--content-weight", type=float, default=1e5, show_default=True),
        click.option("--style-weight", type=float, default=1e10, show_default=True),
        click.option("--tv-weight", type=float, default=0.0, show_default=True),
        click.option("--vgg", "vgg_weights", default="auto", show_default=True, help="VGG16 weights (registry name)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--device", default="auto", show_default=True),
        click.option("--sample-every", type=int, default=200, show_default=True),
        click.option("--ckpt-every", type=int, default=200, show_default=True),
        click.option("--resume", is_flag=True, help="Continue from OUT/checkpoints/last.pt."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def _train(styles: list[str], steps, out, seed, device, sample_every, ckpt_every, resume, quiet,
           add_style=None, from_model=None, **options) -> None:
    from ..tasks.fast_style import FastStyleConfig, train_fast_style
    from ..train import LoopConfig

    loop = LoopConfig(steps=steps, out=str(out), seed=seed, device=device, sample_every=sample_every,
                      ckpt_every=ckpt_every, resume=resume, progress=not quiet)
    cfg = FastStyleConfig(styles=styles, add_style=add_style, from_model=from_model, loop=loop, **options)
    path = train_fast_style(cfg)
    click.echo(f"wrote {path}")


@train.command("fast-style", context_settings=CONTEXT)
@click.option("--style", required=True, type=_PATH, help="Style image.")
@_training_options
def train_fast_style_cmd(style: Path, **options) -> None:
    """Train a Johnson et al. feed-forward network for one STYLE image.

    \b
    Example:
      pixforge train fast-style --style starry.jpg --content photos/ --steps 2000 --out runs/starry
      pixforge stylize photo.jpg --method fast --model runs/starry/model.safetensors -o out.png
    """
    _train([str(style)], **options)


@train.command("cin", context_settings=CONTEXT)
@click.option("--style", "styles", multiple=True, type=_PATH, help="Style image (repeat: one per style).")
@click.option("--add-style", type=_PATH, default=None,
              help="Learn one more style on top of --from, training only its gamma/beta.")
@click.option("--from", "from_model", type=_PATH, default=None, help="Trained CIN network (model.safetensors).")
@_training_options
def train_cin_cmd(styles: tuple[Path, ...], add_style: Path | None, from_model: Path | None, **options) -> None:
    """Train one multi-style network with conditional instance norm (Dumoulin et al.).

    \b
    Examples:
      pixforge train cin --style a.jpg --style b.jpg --style c.jpg --out runs/cin
      pixforge train cin --add-style d.jpg --from runs/cin/model.safetensors --out runs/cin_d
      pixforge stylize photo.jpg --method cin --model runs/cin/model.safetensors --style-blend 0.5,0.5,0 -o o.png
    """
    if add_style is None and len(styles) < 2:
        raise click.UsageError("give at least two --style images (or --add-style with --from)")
    if add_style is not None and (styles or from_model is None):
        raise click.UsageError("--add-style takes --from CKPT and no --style")
    _train([str(s) for s in styles], add_style=str(add_style) if add_style else None,
           from_model=str(from_model) if from_model else None, **options)
