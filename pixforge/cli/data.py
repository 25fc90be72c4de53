"""``pixforge data``: list the datasets, fetch downloadable ones, preview any of them as an image grid."""
from __future__ import annotations

from pathlib import Path

import click

from .app import CONTEXT, PixforgeGroup, main, output_option


@main.group(cls=PixforgeGroup, context_settings=CONTEXT)
def data() -> None:
    """Datasets: built-in (no download), downloadable (cached in $PIXFORGE_HOME/datasets) and image folders.

    \b
    Examples:
      pixforge data list
      pixforge data fetch cifar10
      pixforge data show digits -o digits.png
    """


@data.command(name="list")
def list_data() -> None:
    """One line per dataset: name, kind (builtin, mixture = 2D points, download = not cached yet, present =
    cached), description."""
    from ..data.downloads import is_present
    from ..registry import DATASETS

    for name in DATASETS.list():
        kind = DATASETS.meta(name)["kind"]
        if kind == "download":
            kind = "present" if is_present(name) else "download"
        click.echo(f"{name:<15} {kind:<9} {DATASETS.meta(name)['description']}")


@data.command()
@click.argument("name")
def fetch(name: str) -> None:
    """Download NAME's files into the cache (sha256-verified) and print the folder.

    \b
    Example:
      pixforge data fetch mnist
    """
    from ..data import fetch_dataset

    click.echo(str(fetch_dataset(name)))


@data.command()
@click.argument("name")
@output_option("Image file to write (.png).", required=True)
@click.option("--count", default=64, show_default=True, type=click.IntRange(1, 1024))
@click.option("--size", default=None, type=click.IntRange(1), help="Resize/crop to this square size (needed for "
                                                                   "folders).")
def show(name: str, output: str, count: int, size: int | None) -> None:
    """Save a grid of the first COUNT images of NAME (a dataset name or an image folder).

    \b
    Examples:
      pixforge data show mnist5k -o digits.png --count 100
      pixforge data show photos/ -o photos.png --size 64
    """
    from ..data import load_dataset
    from ..errors import BadInputError
    from ..io import image_grid, save_image
    from ..utils import check_writable

    if size is None and Path(name).is_dir():
        raise BadInputError(f"{name}: an image folder needs --size N (its images are resized and centre-cropped to N)")
    check_writable(output)
    loaded = load_dataset(name, **({"size": size} if size else {}))
    if not isinstance(loaded, tuple):  # a translation dataset: items {"A": ..., "B": ...}, shown A beside B
        from ..data.paired import preview_pairs

        save_image(image_grid((preview_pairs(loaded, count) + 1) / 2, nrow=2), output)
        click.echo(f"wrote {output}: {min(count, len(loaded))} of {len(loaded)} A|B pairs")
        return
    images, _ = loaded
    if images.dim() != 4:
        raise BadInputError(f"{name}: holds {tuple(images.shape[1:])} points, not images; nothing to show")
    save_image(image_grid((images[:count] + 1) / 2), output)
    click.echo(f"wrote {output}: {min(count, len(images))} of {len(images)} images, {tuple(images.shape[1:])}")
