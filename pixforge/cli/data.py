"""``pixforge data``: list the datasets, fetch downloadable ones, preview any of them as an image grid."""
from __future__ import annotations

from pathlib import Path

import click

from .app import CONTEXT, PixforgeGroup, main


@main.group(cls=PixforgeGroup, context_settings=CONTEXT)
def data() -> None:
    """Datasets: built-in (no download), downloadable (cached in $PIXFORGE_HOME/datasets) and image folders."""


@data.command(name="list")
def list_data() -> None:
    """One line per dataset: name, kind (builtin, download = not cached yet, present = cached), description."""
    from ..data import BUILTIN, DOWNLOADS
    from ..data.downloads import is_present

    for name, description in BUILTIN.items():
        click.echo(f"{name:<15} {'builtin':<9} {description}")
    for name, ds in DOWNLOADS.items():
        click.echo(f"{name:<15} {'present' if is_present(name) else 'download':<9} {ds.description}")


@data.command()
@click.argument("name")
def fetch(name: str) -> None:
    """Download NAME's files into the cache (sha256-verified) and print the folder."""
    from ..data import fetch_dataset

    click.echo(str(fetch_dataset(name)))


@data.command()
@click.argument("name")
@click.option("--out", required=True, help="image file to write (.png)")
@click.option("--count", default=64, show_default=True, type=click.IntRange(1, 1024))
@click.option("--size", default=None, type=click.IntRange(1), help="resize/crop to this square size (needed for folders)")
def show(name: str, out: str, count: int, size: int | None) -> None:
    """Save a grid of the first COUNT images of NAME (a dataset name or an image folder)."""
    from ..data import load_dataset
    from ..errors import BadInputError
    from ..io import image_grid, save_image

    if size is None and Path(name).is_dir():
        raise BadInputError(f"{name}: an image folder needs --size N (its images are resized and centre-cropped to N)")
    images, _ = load_dataset(name, **({"size": size} if size else {}))
    if images.dim() != 4:
        raise BadInputError(f"{name}: holds {tuple(images.shape[1:])} points, not images; nothing to show")
    save_image(image_grid((images[:count] + 1) / 2), out)
    click.echo(f"wrote {out}: {min(count, len(images))} of {len(images)} images, {tuple(images.shape[1:])}")
