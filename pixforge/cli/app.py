"""The ``pixforge`` command group and what every subcommand shares: errors and warnings as one line each,
and the output option's spelling."""
from __future__ import annotations

import sys
import warnings

import click

from ..errors import PixforgeError


class UserError(click.ClickException):
    """A PixforgeError shown as one line on stderr with exit code 2, no traceback."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: D401 - click API
        click.echo(f"pixforge: error: {self.format_message()}", err=True)


def usage_error(exc: click.UsageError) -> UserError:
    """Click's three-line Usage/Error report as one ``pixforge: error:`` line that points at --help."""
    hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return UserError(" ".join(exc.format_message().split()) + hint)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one clean line (no category, source file or code), above any progress bar."""
    from tqdm import tqdm

    tqdm.write(f"pixforge: warning: {' '.join(str(message).split())}", file=sys.stderr)


class PixforgeGroup(click.Group):
    """A group whose errors (PixforgeError, click usage errors) and warnings print as one line each."""

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise usage_error(exc) from None

    def invoke(self, ctx: click.Context):
        with warnings.catch_warnings():
            if ctx.parent is None:
                warnings.showwarning = show_warning
            try:
                return super().invoke(ctx)
            except PixforgeError as exc:
                raise UserError(str(exc)) from None
            except click.UsageError as exc:
                raise usage_error(exc) from None


class AliasedOption(click.Option):
    """An option whose old spellings (``hidden``) keep working but are left out of --help."""

    def __init__(self, *args, hidden: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.hidden_names = set(hidden)

    def get_help_record(self, ctx: click.Context):
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.hidden_names]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def output_option(help: str, **kwargs):
    """``-o/--output``, the one spelling of every command's output (``--out`` still accepted)."""
    return click.option("-o", "--output", "--out", "output", cls=AliasedOption, hidden=("--out",), help=help,
                        **kwargs)


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=PixforgeGroup, context_settings=CONTEXT)
@click.version_option(package_name="pixforge")
def main() -> None:
    """pixforge: neural style transfer, GANs, super-resolution and image-to-image translation in PyTorch.

    Runs on the GPU when one is present, else on the CPU. Pretrained weights are cached in
    $PIXFORGE_HOME (default ~/.cache/pixforge); see `pixforge weights list`.
    """


@main.group(name="eval", cls=PixforgeGroup, context_settings=CONTEXT)
def evaluate() -> None:
    """Evaluate generated images (FID, KID, Inception Score, precision/recall, mode coverage)."""
