"""``pixforge upscale`` and the super-resolution metrics ``pixforge eval psnr|ssim|sr``."""
from __future__ import annotations

import json
import math
from pathlib import Path

import click

from ..errors import BadInputError
from .app import CONTEXT, PixforgeGroup, evaluate, main



@main.command(context_settings=CONTEXT)
@click.argument("source")
@click.option("-o", "--output", required=True, help="output file (or folder, for a folder or video of frames)")
@click.option("--model", default="realesrgan-x4plus", show_default=True,
              help="SR weights name (`pixforge weights list`), a .pth/.safetensors file (BasicSR, ESRGAN, EDSR), "
                   "a waifu2x JSON model (vgg_7, upconv_7) or a `pixforge train sr` run folder")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="output scale; other than the model's own, its output is resized (antialiased bicubic)")
@click.option("--tile", type=click.IntRange(min=0), default=256, show_default=True,
              help="tile side in input pixels (bounds memory; 0 = the whole image at once)")
@click.option("--overlap", type=click.IntRange(min=0), default=None, help="context pixels per tile side "
              "(default: the network's reach, up to 32)")
@click.option("--denoise", type=click.IntRange(0, 3), default=None, help="waifu2x denoising level (0-3)")
@click.option("--bf16", is_flag=True, help="run the network under bfloat16 autocast")
@click.option("--device", default=None, help="cuda, cpu, ... (default: CUDA when present)")
@click.option("--random-weights", is_flag=True, help="run the architecture untrained (for testing)")
def upscale(source, output, model, scale, tile, overlap, denoise, bf16, device, random_weights):
    """Super-resolve an image, a folder of images or a video with a pretrained upscaler.

    Any size, grey (kept grey), RGBA (alpha resized separately), 16-bit grey (kept 16-bit). Folders give a
    folder of PNGs with the same names.

    \b
    Examples:
      pixforge upscale photo.jpg -o photo_x4.png
      pixforge upscale drawing.png -o big.png --model waifu2x-anime-x2 --denoise 1
      pixforge upscale frames/ -o frames_x2/ --model realesr-animevideov3 --scale 2
    """
    import torch

    from ..io import list_images
    from ..sr import load_model, with_denoise
    from ..sr.upscale import read_input, save_output, upscale as run
    from ..style.video import is_video_file, map_frames
    from ..utils import default_device

    model = with_denoise(model, denoise)
    net = load_model(model, default_device(device), random_weights=random_weights)
    net.to(memory_format=torch.channels_last)  # run_network's layout once, not converted and back for every frame
    if scale is not None and scale != net.scale:
        click.echo(f"note: {model} upscales x{net.scale}; its output is resized to x{scale:g} "
                   f"(antialiased bicubic)", err=True)
    kwargs = {"model": net, "tile": tile or None, "overlap": overlap, "scale": scale, "bf16": bf16}
    src, out = Path(source), Path(output)
    if is_video_file(src):
        click.echo(f"wrote {map_frames(src, out, lambda frame: run(frame, **kwargs))} frames to {out}")
        return
    if src.is_dir():
        files = list_images(src)
        targets = [out / p.relative_to(src).with_suffix(".png") for p in files]
    else:
        files = [src]
        targets = [out / (src.stem + ".png") if out.is_dir() else out]
    for path, target in zip(files, targets):
        image, sixteen = read_input(path)
        result = run(image, **kwargs)
        save_output(result, target, sixteen)
        click.echo(f"{path} ({image.shape[-1]}x{image.shape[-2]}) -> {target} ({result.shape[-1]}x{result.shape[-2]})")


# --- metrics ---------------------------------------------------------------------------------------------------

def _pairs(a: str, b: str) -> list[tuple[Path, Path]]:
    """(A, B) files: two files, or the images of two folders paired by relative path (stems if suffixes differ)."""
    from ..io import list_images

    pa, pb = Path(a), Path(b)
    if pa.is_file() and pb.is_file():
        return [(pa, pb)]
    if not (pa.is_dir() and pb.is_dir()):
        raise BadInputError(f"give two image files or two folders, not {a} and {b}")
    others = {p.relative_to(pb).with_suffix(""): p for p in list_images(pb)}
    pairs = [(p, others.get(p.relative_to(pa).with_suffix(""))) for p in list_images(pa)]
    missing = [str(p.relative_to(pa)) for p, q in pairs if q is None]
    if missing:
        raise BadInputError(f"{b}: has no image for {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    return pairs


def _read_8bit(path: Path):
    """An image as BasicSR reads it: 8-bit RGB, (3, H, W) uint8."""
    import torch

    from ..io import read_image

    return (read_image(path) * 255).round().to(torch.uint8)


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _metric_command(name: str, doc: str):
    @evaluate.command(name=name, help=doc)
    @click.argument("sr")
    @click.argument("hr")
    @click.option("--crop-border", default=0, show_default=True, type=click.IntRange(min=0),
                  help="pixels removed on every side first (BasicSR: the scale)")
    @click.option("--y-channel", is_flag=True, help="on the BT.601 luma Y only (the SR papers' convention)")
    @click.option("--json", "as_json", is_flag=True, help="print one JSON object with every value")
    def command(sr, hr, crop_border, y_channel, as_json):
        from ..metrics import sr as metrics

        fn = getattr(metrics, name)
        values = {}
        for a, b in _pairs(sr, hr):
            x, y = _read_8bit(a), _read_8bit(b)
            if x.shape != y.shape:
                raise BadInputError(f"{a} is {x.shape[-1]}x{x.shape[-2]}, {b} is {y.shape[-1]}x{y.shape[-2]}")
            values[str(a)] = fn(x, y, crop_border=crop_border, y_channel=y_channel)
            if len(values) > 1 or Path(sr).is_dir():
                if not as_json:
                    click.echo(f"{a}  {values[str(a)]:.4f}")
        mean = sum(values.values()) / len(values)
        if as_json:
            click.echo(json.dumps({"metric": name, "value": _finite(mean), "crop_border": crop_border,
                                   "y_channel": y_channel, "images": {k: _finite(v) for k, v in values.items()}}))
        else:
            unit = " dB" if name == "psnr" else ""
            click.echo(f"{name.upper()} {mean:.4f}{unit}  (mean of {len(values)}, crop {crop_border}, "
                       f"{'Y' if y_channel else 'RGB'})")
    return command


_metric_command("psnr", "PSNR of SR against HR (files or folders) exactly as BasicSR: float64, 10 log10(255^2/MSE).")
_metric_command("ssim", "SSIM of SR against HR (files or folders) exactly as BasicSR: 11-tap Gaussian, sigma 1.5.")


@evaluate.command(name="sr")
@click.option("--model", required=True, help="SR weights name, file or run folder (as for `pixforge upscale`)")
@click.option("--data", required=True, help="folder of high-resolution images, or an SR test set: set5, set14, "
              "bsd100, urban100, div2k-valid (downloaded on first use)")
@click.option("--scale", required=True, type=click.IntRange(2, 8), help="downsampling factor of the test")
@click.option("--crop-border", default=None, type=click.IntRange(min=0), help="default: the scale")
@click.option("--tile", type=click.IntRange(min=0), default=256, show_default=True)
@click.option("--device", default=None)
@click.option("--random-weights", is_flag=True, help="an untrained network (for testing)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object with every value")
def eval_sr(model, data, scale, crop_border, tile, device, random_weights, as_json):
    """Benchmark an upscaler as the SR papers do: each HR image cropped to a multiple of the scale, shrunk with
    MATLAB's bicubic imresize (8-bit), upscaled, and PSNR/SSIM on Y with crop = scale, next to bicubic upscaling.

    \b
    Examples:
      pixforge eval sr --model waifu2x-photo-x2 --data set5 --scale 2
      pixforge eval sr --model realesrgan-x4plus --data photos/ --scale 4 --json
    """
    from ..sr import load_model
    from ..sr.evaluate import evaluate_folder, hr_folder
    from ..utils import default_device

    data = hr_folder(data)
    net = load_model(model, default_device(device), random_weights=random_weights)
    crop = scale if crop_border is None else crop_border
    if scale != net.scale:
        click.echo(f"note: {model} upscales x{net.scale}; its output is resized to x{scale}", err=True)
    rows = evaluate_folder(net, data, scale, crop, tile=tile or None)
    if as_json:
        click.echo(json.dumps({"model": model, "scale": scale, "crop_border": crop, "images": rows[:-1],
                               "mean": rows[-1]}))
        return
    click.echo(f"{'image':<28} {'PSNR':>8} {'SSIM':>7} {'bicubic PSNR':>13} {'SSIM':>7}")
    for r in rows:
        click.echo(f"{r['image']:<28} {r['psnr']:>8.2f} {r['ssim']:>7.4f} {r['bicubic_psnr']:>13.2f} "
                   f"{r['bicubic_ssim']:>7.4f}")


@main.group(name="sr", cls=PixforgeGroup, context_settings=CONTEXT)
def sr_group() -> None:
    """Super-resolution tools (upscaling is `pixforge upscale`, benchmarks `pixforge eval sr`)."""


@sr_group.command(name="interpolate", context_settings=CONTEXT)
@click.argument("a")
@click.argument("b")
@click.option("--alpha", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="weight of B: (1 - alpha)·A + alpha·B (0 = A, 1 = B)")
@click.option("-o", "--output", required=True, help="OUT.safetensors, or a folder (gets model.safetensors)")
def interpolate(a, b, alpha, output):
    """ESRGAN's network interpolation of two networks of one architecture (e.g. a PSNR run A and its GAN run B):
    run folders, weights files or registry weights. The result works with `pixforge upscale --model OUT`.

    \b
    Example:
      pixforge sr interpolate runs/rrdb-psnr runs/esrgan --alpha 0.8 -o runs/esrgan-interp.safetensors
    """
    from ..sr.interpolate import interpolate_weights, output_file
    from ..utils import check_writable
    from ..weights import save_state_dict

    path = check_writable(output_file(output))
    state = interpolate_weights(a, b, alpha)
    save_state_dict(state, path, metadata={"interpolated": f"(1 - {alpha:g}) * {a} + {alpha:g} * {b}"})
    click.echo(f"wrote {path}  ((1 - {alpha:g}) · {a} + {alpha:g} · {b})")
