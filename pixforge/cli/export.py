"""``pixforge export``: a feed-forward network as an ONNX file, checked against PyTorch with onnxruntime."""
from __future__ import annotations

import click

from .app import CONTEXT, main, output_option


@main.command(context_settings=CONTEXT)
@click.argument("source", metavar="NAME_OR_RUN")
@output_option("the .onnx file to write", required=True)
@click.option("--opset", type=click.IntRange(9), default=17, show_default=True, help="ONNX opset version")
@click.option("--dynamic-size", is_flag=True, help="any input height and width (default: fixed at --size)")
@click.option("--size", type=click.IntRange(1), default=256, show_default=True,
              help="input side in px (rounded up to what the network takes); with --dynamic-size the side of "
                   "the traced and checked input")
@click.option("--random-weights", is_flag=True, help="export an architecture untrained (for testing)")
def export(source, output, opset, dynamic_size, size, random_weights):
    """Export a network to ONNX: a weights name, `magenta` (predictor + transformer in one graph), an
    architecture with --random-weights, a GAN run folder or checkpoint (StyleGAN2/StyleGAN also a released
    rosinality .pt or NVIDIA .pkl: inputs z and a truncation ψ per sample, fixed noise), a translation run
    folder, or a weights file. Images go in and come out in [0, 1]; the file's metadata give the input range,
    scale factor, style count and size rules. Before the file is kept, onnxruntime must reproduce PyTorch's output to 1e-4 on random
    inputs (exit 2 otherwise).

    \b
    Examples:
      pixforge export realesr-animevideov3 -o x4.onnx --dynamic-size
      pixforge export cin-lite26 -o cin.onnx --size 512
      pixforge export magenta -o magenta.onnx --dynamic-size
      pixforge export dcgan-faces64 -o faces.onnx
      pixforge export runs/dcgan -o dcgan.onnx
      pixforge export ffhq.pkl -o ffhq.onnx
    """
    from ..export import export as run

    report = run(source, output, opset, dynamic_size, size, random_weights)
    meta = report.metadata
    shown = ", ".join(f"{k} {meta[k]}" for k in ("family", "scale", "styles", "size_multiple", "border", "z_dim")
                      if meta.get(k) not in (None, "", "0", "1") or k == "family")
    click.echo(f"wrote {report.path} ({shown}; inputs {meta.get('inputs')}); onnxruntime matches PyTorch to "
               f"{report.max_abs_diff:.2g} (<= 1e-4) on {len(report.checked)} random input(s) in {report.seconds:.1f} s")
