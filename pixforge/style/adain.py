"""AdaIN (Huang & Belongie 2017): arbitrary style in one pass by matching channel-wise feature statistics.

``adain(c, s) = (c - mean(c)) / std(c) * std(s) + mean(s)`` at VGG19 relu4_1, then a learned decoder maps the
features back to an image. The decoder is trained (``pixforge train adain``) with the paper's losses: content
loss between the decoded image's relu4_1 and the AdaIN target ``t``, style loss on the means and standard
deviations of relu1_1 ... relu4_1. Options: alpha trade-off, multi-style blend, per-region styles (masks),
colour preservation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .. import weights as weights_mod
from ..train.loop import LoopConfig, StepBatches, Task, autocast
from . import methods
from ..models.decoder import make_decoder
from ..nn.norms import adain
from .arbitrary import (ADAIN_DECODER_WEIGHTS, TrainImages, blend_weights, color_wrap, load_decoder, load_encoder,
                        prepare, tile_boxes, transfer)
from ..losses.perceptual import content_loss, style_stat_loss

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


# ------------------------------------------------------------------------------------------------------
# Training the decoder
# ------------------------------------------------------------------------------------------------------

@dataclass
class AdaINTrainConfig:
    content: str = "builtin"        # folder of photos, or "builtin" (scikit-image photos)
    style: str = "builtin"          # folder of paintings, or "builtin" (scikit-image textures)
    size: int = 256                 # training crop size
    load_size: int = 512            # images are loaded with this long side, then cropped
    batch_size: int = 8
    lr: float = 1e-4
    lr_decay: float = 5e-5          # the reference implementation's lr / (1 + decay * step)
    style_weight: float = 10.0
    vgg_weights: str = "auto"
    loop: LoopConfig = field(default_factory=LoopConfig)


class AdaINTask(Task):
    """Trains the relu4_1 decoder against a frozen encoder."""

    def __init__(self, cfg: AdaINTrainConfig, device: torch.device):
        super().__init__()
        self.cfg, self.device = cfg, device
        self.encoder = load_encoder(CONTENT_LAYER, None if cfg.vgg_weights == "random" else cfg.vgg_weights).to(device)
        self.decoder = make_decoder(self.encoder, CONTENT_LAYER).to(device)
        self.content = TrainImages(cfg.content, "content", cfg.load_size)
        self.style = TrainImages(cfg.style, "style", cfg.load_size)
        self.order = StepBatches(len(self.content), cfg.batch_size, cfg.loop.seed)
        opt = torch.optim.Adam(self.decoder.parameters(), lr=cfg.lr)
        self.modules = {"decoder": self.decoder}
        self.optimizers = {"decoder": opt}
        self.schedulers = {"decoder": torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (1 + cfg.lr_decay * s))}

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.cfg.loop.seed * 7919 + step)
        content = self.content.crops(self.order.batch(step).tolist(), self.cfg.size, g)
        style = self.style.crops(torch.randint(len(self.style), (self.cfg.batch_size,), generator=g).tolist(),
                                 self.cfg.size, g)
        return content.to(self.device), style.to(self.device)

    def losses(self, content: torch.Tensor, style: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        with torch.no_grad():  # the encoder's features are float32 under --amp: statistics stay exact
            fs = self.encoder(style, STYLE_LAYERS)
            t = adain(self.encoder(content, [CONTENT_LAYER])[CONTENT_LAYER], fs[CONTENT_LAYER])
        out = self.decoder(t)
        fo = self.encoder(out, STYLE_LAYERS)
        lc = content_loss(fo[CONTENT_LAYER], t)
        ls = style_stat_loss(fo, fs)
        return {"loss": lc + self.cfg.style_weight * ls, "content": lc, "style": ls}, out

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        self.decoder.train()
        with autocast(self.device, self.cfg.loop.amp):
            losses, _ = self.losses(*self.batch(step))
        opt = self.optimizers["decoder"]
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        opt.step()
        self.schedulers["decoder"].step()
        return {k: v.detach() for k, v in losses.items()}

    @torch.no_grad()
    def sample(self, path, step: int) -> None:
        from ..io import image_grid, save_image

        self.decoder.eval()
        content, style = self.batch(0)
        _, out = self.losses(content[:4], style[:4])
        save_image(image_grid(torch.cat([content[:4], style[:4], out.clamp(0, 1)]), nrow=min(4, len(content))), path)

    def save_decoder(self, path):
        return weights_mod.save_state_dict(self.decoder.state_dict(), path, metadata={
            "method": "adain", "layer": CONTENT_LAYER, "encoder": getattr(self.encoder, "backbone", "?"),
            "layout": "decoder.pth (naoto0804/pytorch-AdaIN)" if self.encoder.normalization == "normalised"
            else "mirror of pixforge VGG"})

