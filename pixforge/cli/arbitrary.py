"""``pixforge train adain`` and ``pixforge train wct-decoders``: decoders for the arbitrary-style methods."""
from __future__ import annotations

from pathlib import Path

import click

from .app import CONTEXT, train


def _loop_options(f):
    for option in reversed([
        click.option("--steps", type=int, default=160_000, show_default=True),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="Run folder: checkpoints/, samples/, metrics.csv and the decoder file."),
        click.option("--batch-size", type=int, default=8, show_default=True),
        click.option("--size", type=int, default=256, show_default=True, help="Training crop size."),
        click.option("--lr", type=float, default=1e-4, show_default=True),
        click.option("--vgg", "vgg_weights", default="auto", show_default=True,
                     help="Encoder: 'auto' (adain-vgg-normalised if cached, else pixforge's VGG), a registry "
                          "name, a vgg_normalised.pth file or 'random'."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--device", default="auto", show_default=True),
        click.option("--log-every", type=int, default=10, show_default=True),
        click.option("--sample-every", type=int, default=1000, show_default=True),
        click.option("--ckpt-every", type=int, default=1000, show_default=True),
        click.option("--resume", is_flag=True, help="Continue from OUT/checkpoints/last.pt."),
        click.option("--amp", is_flag=True, help="bfloat16 autocast (CUDA, and CPUs with AVX-512 BF16)."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]):
        f = option(f)
    return f


def _loop(out, steps, seed, device, log_every, sample_every, ckpt_every, resume, amp, quiet):
    from ..train.loop import LoopConfig

    return LoopConfig(steps=steps, out=str(out), seed=seed, device=device, log_every=log_every,
                      sample_every=sample_every, ckpt_every=ckpt_every, resume=resume, amp=amp, progress=not quiet,
                      tensorboard=False)


@train.command(name="adain", context_settings=CONTEXT)
@click.option("--content", default="builtin", show_default=True,
              help="Folder of content photos, or 'builtin' (scikit-image photos; runs offline).")
@click.option("--style", default="builtin", show_default=True,
              help="Folder of style paintings, or 'builtin' (scikit-image textures).")
@click.option("--style-weight", type=float, default=10.0, show_default=True)
@_loop_options
def train_adain(content, style, style_weight, batch_size, size, lr, vgg_weights, **loop) -> None:
    """Train the AdaIN decoder (content loss at relu4_1, mean/std style loss at relu1_1..relu4_1).

    Writes OUT/decoder.safetensors in the key layout of the reference decoder.pth; use it with
    `pixforge stylize C S --method adain --decoder OUT/decoder.safetensors`.
    """
    from ..style.adain import AdaINTask, AdaINTrainConfig
    from ..train.loop import fit, setup

    cfg = AdaINTrainConfig(content=content, style=style, size=size, load_size=max(size, 512), batch_size=batch_size,
                           lr=lr, style_weight=style_weight, vgg_weights=vgg_weights, loop=_loop(**loop))
    task = AdaINTask(cfg, setup(cfg.loop))
    result = fit(task, cfg.loop, config_dict={"content": content, "style": style, "size": size, "lr": lr})
    path = task.save_decoder(Path(cfg.loop.out) / "decoder.safetensors")
    click.echo(f"wrote {path} (loss {result.last_losses.get('loss', float('nan')):.4g})")


@train.command(name="wct-decoders", context_settings=CONTEXT)
@click.option("--images", default="builtin", show_default=True,
              help="Folder of training images, or 'builtin' (scikit-image photos).")
@click.option("--levels", default="relu5_1,relu4_1,relu3_1,relu2_1,relu1_1", show_default=True)
@click.option("--unpool", is_flag=True, help="PhotoWCT decoders (max-unpooling with the encoder's indices).")
@click.option("--feature-weight", type=float, default=1.0, show_default=True,
              help="Weight of the feature (perceptual) reconstruction loss.")
@_loop_options
def train_wct(images, levels, unpool, feature_weight, batch_size, size, lr, vgg_weights, **loop) -> None:
    """Train one decoder per level for WCT (or PhotoWCT with --unpool): pixel + feature reconstruction.

    Writes OUT/wct_decoders.safetensors (keys LEVEL.INDEX.weight); pass it as --decoder to
    `pixforge stylize --method wct|photowct|swap`.
    """
    from ..style.wct import LEVELS, WCTDecodersTask, WCTTrainConfig
    from ..train.loop import fit, setup

    names = tuple(v.strip() for v in levels.split(",") if v.strip())
    bad = [v for v in names if v not in LEVELS]
    if bad:
        raise click.BadParameter(f"unknown levels {bad}; choose from {', '.join(LEVELS)}", param_hint="--levels")
    cfg = WCTTrainConfig(images=images, levels=names, unpool=unpool, size=size, load_size=max(size, 512),
                         batch_size=batch_size, lr=lr, feature_weight=feature_weight, vgg_weights=vgg_weights,
                         loop=_loop(**loop))
    task = WCTDecodersTask(cfg, setup(cfg.loop))
    result = fit(task, cfg.loop, config_dict={"images": images, "levels": list(names), "unpool": unpool})
    path = task.save_decoders(Path(cfg.loop.out) / "wct_decoders.safetensors")
    click.echo(f"wrote {path} (loss {result.last_losses.get('loss', float('nan')):.4g})")
