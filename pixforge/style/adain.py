"""AdaIN (Huang & Belongie 2017): arbitrary style in one pass by matching channel-wise feature statistics.

``adain(c, s) = (c - mean(c)) / std(c) * std(s) + mean(s)`` at VGG19 relu4_1, then a learned decoder maps the
features back to an image. The decoder is trained by ``pixforge train adain`` (:mod:`pixforge.tasks.adain`).
Options: alpha trade-off, multi-style blend, per-region styles (masks),
colour preservation.
"""
from __future__ import annotations

import torch

from .. import weights as weights_mod
from . import methods
from ..nn.norms import adain
from .arbitrary import (ADAIN_DECODER_WEIGHTS, blend_weights, color_wrap, load_decoder,
                        prepare, tile_boxes, transfer)

CONTENT_LAYER = "relu4_1"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
TILE_HALO = 64  # px of context around each tile with --tile


def adain_flat(fc: torch.Tensor, fs: torch.Tensor) -> torch.Tensor:
    """:func:`~pixforge.nn.norms.adain` on flattened features (C, n), (C, m), the form :func:`transfer` passes."""
    return adain(fc[None, :, :, None], fs[None, :, :, None])[0, :, :, 0]


def default_decoder(encoder) -> str | None:
    """The released AdaIN decoder when it is cached and the encoder is the one it was trained on."""
    if encoder.normalization == "normalised" and encoder.backbone != "random (untrained)" \
            and weights_mod.is_present(ADAIN_DECODER_WEIGHTS):
        return ADAIN_DECODER_WEIGHTS
    return None


HOW_TO_GET_DECODER = ("pass --decoder FILE, fetch the released decoder and the encoder it was trained on with "
                      "`pixforge weights fetch adain-vgg-normalised adain-decoder` (offline: `pixforge weights import "
                      "NAME FILE` for each), or train one with `pixforge train adain --out runs/adain` and pass "
                      "--decoder runs/adain/decoder.safetensors")


@methods.register("adain", options=(*methods.DECODER_OPTIONS, "tile"), check=methods.no_tile_with_masks,
                  summary="adaptive instance normalisation at relu4_1 and a trained decoder (Huang & Belongie 2017)")
def build_adain(styles: list[torch.Tensor], opts):
    """Method "adain" of :mod:`pixforge.style.methods`."""
    prep = prepare(styles, opts, CONTENT_LAYER)
    enc = prep.encoder
    source = methods.require_trained(opts, opts.decoder or default_decoder(enc), "decoder", HOW_TO_GET_DECODER)
    decoder = load_decoder(enc, CONTENT_LAYER, source).to(prep.device)
    cached = [enc(s, [CONTENT_LAYER])[CONTENT_LAYER] for s in prep.styles]

    def run(content: torch.Tensor, style_imgs: list[torch.Tensor]) -> torch.Tensor:
        fs = cached if style_imgs is prep.styles else [enc(s, [CONTENT_LAYER])[CONTENT_LAYER] for s in style_imgs]
        if opts.tile:
            return _tiled(content, fs)
        fc = enc(content, [CONTENT_LAYER])[CONTENT_LAYER]
        return decoder(transfer(fc, fs, adain_flat, opts.alpha, opts.style_blend, opts.masks))

    def _tiled(content: torch.Tensor, fs: list[torch.Tensor]) -> torch.Tensor:
        """Two passes over tiles: content statistics of the whole image first, then AdaIN with those
        statistics and decoding tile by tile (only the inner part of each tile is kept), so memory is
        bounded by the tile size and the statistics do not change from tile to tile."""
        boxes = tile_boxes(*content.shape[-2:], opts.tile, halo=TILE_HALO)

        def inner_features(box):
            oy, ox, iy, ix = box
            f = enc(content[..., oy, ox], [CONTENT_LAYER])[CONTENT_LAYER]
            return f, f[..., (iy.start - oy.start) // 8: -(-(iy.stop - oy.start) // 8),
                         (ix.start - ox.start) // 8: -(-(ix.stop - ox.start) // 8)]

        total = squares = count = 0
        for box in boxes:
            inner = inner_features(box)[1].double()
            total, squares = total + inner.sum((0, 2, 3)), squares + (inner * inner).sum((0, 2, 3))
            count += inner[0, 0].numel() * inner.shape[0]
        mean = (total / count).view(1, -1, 1, 1)
        std = (squares / count - mean.view(-1) ** 2).clamp_min(0).add(1e-5).sqrt().view(1, -1, 1, 1)
        out = torch.empty_like(content)
        for box in boxes:
            oy, ox, iy, ix = box
            f = inner_features(box)[0]
            stats = (mean.to(f.dtype), std.to(f.dtype))
            t = sum(wk * adain(f, s, content_stats=stats) for wk, s in zip(blend_weights(len(fs), opts.style_blend), fs))
            dec = decoder(opts.alpha * t + (1 - opts.alpha) * f)
            out[..., iy, ix] = dec[..., iy.start - oy.start: iy.stop - oy.start, ix.start - ox.start: ix.stop - ox.start]
        return out

    return color_wrap(run, prep.styles, opts)
