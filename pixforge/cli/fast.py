"""``pixforge train fast-style``, ``pixforge train cin`` and ``pixforge video``."""
from __future__ import annotations

from pathlib import Path

import click

from .app import CONTEXT, main, train
from .style import _floats, _names
from .style import stylize as _stylize_command

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


# `pixforge video` takes every option of `pixforge stylize` (except the output image and masks).
_SHARED = [p for p in _stylize_command.params if isinstance(p, click.Option) and p.name not in ("output", "masks")]


@main.command(context_settings=CONTEXT)
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--style", "styles", multiple=True, type=_PATH, help="Style image (methods that take one; repeat).")
@click.option("--temporal", is_flag=True, help="Blend with the flow-warped previous output (less flicker).")
@click.option("--temporal-weight", type=float, default=0.6, show_default=True,
              help="Share of the warped previous output where the flow is reliable.")
@click.option("--max-frames", type=int, default=None, help="Stop after this many frames.")
def video(source: Path, target: Path, styles, temporal: bool, temporal_weight: float, max_frames, style_blend,
          style_layers, layer_weights, no_smooth: bool, quiet: bool, **options) -> None:
    """Stylise a video file (or a folder of frames) SOURCE into TARGET (a video file or a folder of PNGs).

    \b
    Examples:
      pixforge video clip.mp4 out.mp4 --method fast --model fast-candy --temporal
      pixforge video frames/ out_frames/ --method adain --style starry.jpg --size 512
    """
    from ..io import read_image
    from ..style import methods
    from ..style.video import stylize_video

    if options["method"] not in ("fast", "cin") and not styles:
        raise click.UsageError(f"--method {options['method']} needs at least one --style image")
    opts = methods.StylizeOptions(
        style_blend=_floats(style_blend), style_layers=_names(style_layers), layer_weights=_floats(layer_weights),
        smooth=not no_smooth, progress=not quiet, **options)
    style_imgs = [read_image(p, size=opts.size) for p in styles]
    count = stylize_video(source, target, style_imgs, opts, temporal=temporal, temporal_weight=temporal_weight,
                          max_frames=max_frames)
    click.echo(f"wrote {count} frames to {target}")


video.params.extend(_SHARED)
