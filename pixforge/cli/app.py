"""The ``pixforge`` command group and the error handling every subcommand shares."""
from __future__ import annotations

import click

from ..errors import PixforgeError


class UserError(click.ClickException):
    """A PixforgeError shown as one line on stderr with exit code 2, no traceback."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: D401 - click API
        click.echo(f"pixforge: error: {self.format_message()}", err=True)


class PixforgeGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PixforgeError as exc:
            raise UserError(str(exc)) from None


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=PixforgeGroup, context_settings=CONTEXT)
@click.version_option(package_name="pixforge")
def main() -> None:
    """pixforge: neural style transfer, GANs, image-to-image translation and super-resolution in PyTorch.

    Runs on the GPU when one is present, else on the CPU. Pretrained weights are cached in
    $PIXFORGE_HOME (default ~/.cache/pixforge); see `pixforge weights list`.
    """


@main.group(cls=PixforgeGroup, context_settings=CONTEXT)
def train() -> None:
    """Train a model (GAN, feed-forward style network, ...): checkpoints, logs and samples go to --out."""


@main.group(name="eval", cls=PixforgeGroup, context_settings=CONTEXT)
def evaluate() -> None:
    """Evaluate generated images (FID, KID, Inception Score, precision/recall, mode coverage)."""
