"""``pixforge demo``: one command that shows neural style transfer working, with no files to supply.

Stylises a photo shipped with scikit-image with a painting shipped in ``pixforge/examples`` twice: by Gatys
optimisation (coarse-to-fine so it finishes in a couple of minutes on a laptop CPU) and in one forward pass
with the pretrained Magenta arbitrary-style network (a fraction of a second); then translates it with the pretrained
CycleGAN generator ``cyclegan-vintage``.
"""
from __future__ import annotations

import time
from pathlib import Path

import click

from .app import CONTEXT, main, output_option

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PHOTOS = ("astronaut", "chelsea")


@main.command(context_settings=CONTEXT)
@output_option("Folder for result.png, magenta.png, translated.png and side_by_side.png.", type=click.Path(path_type=Path),
               default=Path("out/demo"), show_default=True)
@click.option("--photo", type=click.Choice(PHOTOS), default="astronaut", show_default=True,
              help="scikit-image photo to stylise.")
@click.option("--size", type=int, default=384, show_default=True, help="Long side of the result in pixels.")
@click.option("--steps", type=int, default=160, show_default=True, help="L-BFGS steps (split over two scales).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def demo(output: Path, photo: str, size: int, steps: int, seed: int, device: str, quiet: bool) -> None:
    """Stylise a sample photo with Van Gogh's Starry Night: OUT/result.png (Gatys), OUT/magenta.png (one pass),
    OUT/translated.png (the pretrained CycleGAN, photo -> vintage) and OUT/side_by_side.png.

    \b
    Examples:
      pixforge demo
      pixforge demo --photo chelsea --size 256 --steps 80 -o out/cat
    """
    import torch
    from skimage import data

    from ..errors import WeightsError
    from ..io import read_image, resize_long_side, save_image, side_by_side
    from ..style.methods import output_hw, stylize
    from ..style.optimise import MIN_LEVEL_SIDE
    from ..utils import check_writable

    out = output
    check_writable(out / "result.png")
    photo_image = torch.from_numpy(getattr(data, photo)().copy()).permute(2, 0, 1).float() / 255
    style = read_image(EXAMPLES / "starry_night.jpg")
    start = time.perf_counter()
    scales = 2 if min(output_hw(photo_image.shape[-2:], size)) >= 2 * MIN_LEVEL_SIDE else 1  # tiny: one level
    result = stylize(photo_image, [style], size=size, steps=steps, scales=scales, seed=seed, device=device,
                     progress=not quiet)
    seconds = time.perf_counter() - start
    content = resize_long_side(photo_image, size)
    out.mkdir(parents=True, exist_ok=True)
    save_image(result, out / "result.png")
    click.echo(f"Gatys: stylised {photo} ({result.shape[2]}x{result.shape[1]}) in {seconds:.0f} s")
    panels, names, written = [content, style, result], "content | style | Gatys", [out / "result.png"]
    try:
        start = time.perf_counter()
        fast = stylize(content, [style], method="magenta", size=size, device=device)
        click.echo(f"magenta: stylised {photo} in one pass in {time.perf_counter() - start:.2f} s")
        save_image(fast, out / "magenta.png")
        panels, names, written = panels + [fast], names + " | magenta", written + [out / "magenta.png"]
    except WeightsError as exc:
        click.echo(f"magenta: skipped ({exc})", err=True)
    try:  # the translation panel: the pretrained CycleGAN (photo -> vintage look)
        from ..translate import translate

        start = time.perf_counter()
        vintage = translate(content, model="cyclegan-vintage", device=device)
        click.echo(f"cyclegan-vintage: translated {photo} in {time.perf_counter() - start:.2f} s")
        save_image(vintage, out / "translated.png")
        panels, names, written = panels + [vintage], names + " | CycleGAN vintage", written + [out / "translated.png"]
    except WeightsError as exc:
        click.echo(f"cyclegan-vintage: skipped ({exc})", err=True)
    save_image(side_by_side(panels), out / "side_by_side.png")
    written.append(out / "side_by_side.png")
    click.echo(f"wrote {', '.join(map(str, written[:-1]))} and {written[-1]} ({names})")
