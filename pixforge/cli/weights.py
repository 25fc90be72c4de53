"""``pixforge weights``: list, fetch and import pretrained weights."""
from __future__ import annotations

import click

from .app import CONTEXT, PixforgeGroup, main


@main.group(cls=PixforgeGroup, context_settings=CONTEXT)
def weights() -> None:
    """Pretrained weights: the registry, the local cache, checked downloads and imports.

    \b
    Examples:
      pixforge weights list
      pixforge weights fetch vgg16-hed magenta-predictor magenta-transformer
      pixforge weights import adain-decoder ~/Downloads/decoder.pth
      pixforge weights info vgg19-imagenet
    """


@weights.command(name="list")
def list_weights() -> None:
    """One line per registry entry: name, present/missing locally, size, description."""
    from .. import weights as w

    for name in w.WEIGHTS.list():
        spec = w.get_spec(name)
        state = "present" if w.is_present(name) else "missing"
        size = f"{spec.size / 1e6:.0f} MB" if spec.size else "?"
        click.echo(f"{name:<24} {state:<8} {size:>7}  {spec.description}")


@weights.command()
@click.argument("names", nargs=-1, required=True)
def fetch(names: tuple[str, ...]) -> None:
    """Download each of NAMES into the cache (checksum-verified) and print its path."""
    from .. import weights as w

    for name in names:
        click.echo(str(w.fetch(name)))


@weights.command(name="import")
@click.argument("name")
@click.argument("path")
def import_(name: str, path: str) -> None:
    """Verify a hand-downloaded file (sha256) and copy it into the cache under NAME."""
    from .. import weights as w

    click.echo(f"imported {name}: {w.import_file(name, path)}")


@weights.command()
@click.argument("name")
def info(name: str) -> None:
    """Where NAME comes from, its checksum, and where the cache expects it."""
    from .. import weights as w

    spec = w.get_spec(name)
    for label, value in [("name", spec.name), ("source", spec.source), ("sha256", spec.sha256 or "not published (pinned on first import)"),
                         ("size", spec.size), ("format", spec.format), ("licence", spec.license),
                         ("local path", w.local_path(name)), ("present", w.is_present(name))]:
        click.echo(f"{label:<11} {value}")
