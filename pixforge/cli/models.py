"""``pixforge models``: the registered network architectures."""
from __future__ import annotations

import click

from .app import CONTEXT, PixforgeGroup, main


@main.group(cls=PixforgeGroup, context_settings=CONTEXT)
def models() -> None:
    """Network architectures: every registered network, its size, shapes and pretrained weights."""


@models.command(name="list")
@click.option("--family", default=None, help="Only this family (gan, style, backbone, decoder, metric, ...).")
def list_models(family: str | None) -> None:
    """One line per architecture: name, family, parameter count (default arguments), description.

    \b
    Examples:
      pixforge models list
      pixforge models list --family gan
    """
    from ..errors import ConfigError
    from ..models.summary import summarize
    from ..registry import ARCHS

    families = sorted({ARCHS.meta(n)["family"] for n in ARCHS.list()})
    if family is not None and family not in families:
        raise ConfigError(f"unknown family {family!r}; known: {', '.join(families)}")
    names = sorted(ARCHS.list() if family is None else ARCHS.list(family=family), key=lambda n: ARCHS.meta(n)["family"])
    click.echo(f"{'name':<24} {'family':<11} {'parameters':>12}  description")
    for name in names:
        s = summarize(name, shapes=False)
        click.echo(f"{name:<24} {s.family:<11} {s.parameters:>12,}  {s.description}")


@models.command()
@click.argument("name")
def info(name: str) -> None:
    """Family, parameter count, input and output shapes for a default input, and the weights for NAME.

    \b
    Example:
      pixforge models info transformer-net-johnson
    """
    from ..models.summary import summarize

    s = summarize(name)
    click.echo(f"name: {s.name}\nfamily: {s.family}\ndescription: {s.description}\nparameters: {s.parameters}")
    click.echo("input: " + ", ".join(str(shape) for shape in s.inputs))
    for key, shape in s.outputs.items():
        click.echo(f"output{f'[{key}]' if key else ''}: {shape}")
    if not s.weights:
        click.echo("weights: none registered")
        return
    click.echo("weights:")
    for weights_name, present, description in s.weights:
        click.echo(f"  {weights_name:<22} {'present' if present else 'missing':<8} {description}")
