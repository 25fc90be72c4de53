"""``pixforge serve``: the web UI (a Gradio app; needs ``pip install 'pixforge[ui]'``)."""
from __future__ import annotations

import click

from .app import CONTEXT, main


@main.command(context_settings=CONTEXT)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (0.0.0.0 makes the UI reachable from other machines)")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True)
@click.option("--runs", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="folder whose trained run folders (GAN, translation) the UI offers")
@click.option("--random-weights", is_flag=True,
              help="for testing: networks without trained weights run untrained (noise-like output, said in the UI)")
def serve(host, port, runs, random_weights):
    """Start the web UI: tabs Stylize, Upscale, Translate, Generate and Evaluate, built from the registries.

    Uploads only (no server paths), size and pixel limits stated on the page, one job per CPU core at a time
    (others wait in a visible queue). Weights are never downloaded by the UI: fetch them first
    (`pixforge weights fetch NAME`). Programmatic use: gradio_client's /stylize, /upscale, /translate, /generate.

    \b
    Example:
      pixforge serve --port 7860        # then open http://127.0.0.1:7860
    """
    from ..ui.app import launch

    launch(host, port, runs, random_weights)
