"""Training the AdaIN decoder (Huang & Belongie 2017) against a frozen encoder, on the shared loop.

The decoder maps AdaIN-transformed relu4_1 features back to an image. Losses as in the paper: content loss
between the decoded image's relu4_1 and the AdaIN target ``t``, style loss on the channel means and standard
deviations of relu1_1 ... relu4_1, weighted by ``style_weight``. The learning rate decays as the reference
implementation's ``lr / (1 + 5e-5 * step)`` (``loop.lr_schedule=inverse``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from .. import weights as weights_mod
from ..config import check
from ..losses.perceptual import content_loss, style_stat_loss
from ..registry import TASKS
from ..models.decoder import make_decoder
from ..nn.norms import adain
from ..style.adain import CONTENT_LAYER, STYLE_LAYERS
from ..style.arbitrary import load_encoder
from ..train import LoopConfig, Task, TrainImages, autocast, make_batches, step_on
from ..train.data import PHOTOS, TEXTURES


@dataclass
class AdaINTrainConfig:
    content: str = "builtin"  # folder of content photos, or builtin (scikit-image photos)
    style: str = "builtin"  # folder of style paintings, or builtin (scikit-image textures)
    size: int = 256  # training crop size
    load_size: int = 512  # images are resized to this short side, then cropped
    batch_size: int = 8
    lr: float = 1e-4
    style_weight: float = 10.0
    vgg_weights: str = "auto"  # encoder: auto, adain-vgg-normalised, a vgg_normalised.pth file, or random
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=20_000, out="runs/adain", sample_every=1000, ckpt_every=1000, lr_schedule="inverse", lr_gamma=5e-5))

    resume_may_change: ClassVar[tuple[str, ...]] = ("lr",)

    def __post_init__(self) -> None:
        check(self, positive=("size", "load_size", "batch_size", "lr"), non_negative=("style_weight",))


def decoder_encoder(vgg_weights: str, layer: str, device: torch.device):
    """The frozen encoder the decoders learn to invert ("random": untrained weights)."""
    return load_encoder(layer, None if vgg_weights == "random" else vgg_weights).to(device)


@TASKS.register("adain", aliases={"vgg": "vgg_weights"}, examples=(
    "pixforge train adain --content photos/ --style paintings/ --steps 160000 --out runs/adain",
    "pixforge train adain --steps 2000 --size 256 loop.amp=true --out runs/adain-demo",
    "pixforge stylize photo.jpg painting.jpg --method adain --decoder runs/adain/decoder.safetensors -o out.png",
))
class AdaINTask(Task):
    """Train the AdaIN decoder (content loss at relu4_1, mean/std style loss at relu1_1..relu4_1).

    Writes OUT/decoder.safetensors in the key layout of the reference decoder.pth; use it with
    `pixforge stylize C S --method adain --decoder OUT/decoder.safetensors`.
    """

    Config = AdaINTrainConfig

    def __init__(self, cfg: AdaINTrainConfig, device: torch.device):
        super().__init__()
        self.cfg, self.device = cfg, device
        self.encoder = decoder_encoder(cfg.vgg_weights, CONTENT_LAYER, device)
        self.decoder = make_decoder(self.encoder, CONTENT_LAYER).to(device)
        batches = dict(batch_size=cfg.batch_size, device=device, workers=cfg.loop.workers)
        self.content = make_batches(TrainImages(cfg.content, cfg.size, cfg.load_size, flip=True, builtin=PHOTOS),
                                    None, seed=cfg.loop.seed, **batches)
        self.style = make_batches(TrainImages(cfg.style, cfg.size, cfg.load_size, flip=True, builtin=TEXTURES),
                                  None, seed=cfg.loop.seed + 1, **batches)
        self.modules = {"decoder": self.decoder}
        self.optimizers = {"decoder": torch.optim.Adam(self.decoder.parameters(), lr=cfg.lr)}

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.content.batch(step)[0], self.style.batch(step)[0]

    def losses(self, content: torch.Tensor, style: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        def features(x: torch.Tensor, layers) -> dict[str, torch.Tensor]:  # statistics in float32 under --amp
            return {k: v.float() for k, v in self.encoder(x, layers).items()}

        with torch.no_grad():
            fs = features(style, STYLE_LAYERS)
            t = adain(features(content, [CONTENT_LAYER])[CONTENT_LAYER], fs[CONTENT_LAYER])
        out = self.decoder(t)
        fo = features(out, STYLE_LAYERS)
        lc = content_loss(fo[CONTENT_LAYER], t)
        ls = style_stat_loss(fo, fs)
        return {"loss": lc + self.cfg.style_weight * ls, "content": lc, "style": ls}, out

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        self.decoder.train()
        with autocast(self.device, self.cfg.loop.amp):
            losses, _ = self.losses(*self.batch(step))
        step_on(self.optimizers["decoder"], losses["loss"])
        return {k: v.detach() for k, v in losses.items()}

    def preview(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed content and style crops for samples and validation."""
        n = min(4, self.cfg.batch_size)
        content, style = self.content.preview(n), self.style.preview(n)
        n = min(len(content), len(style))
        return content[:n], style[:n]

    def validate(self, step: int) -> dict[str, float]:
        """The losses on fixed content and style crops."""
        self.decoder.eval()
        return {"val_" + k: float(v) for k, v in self.losses(*self.preview())[0].items()}

    @torch.no_grad()
    def sample(self, path, step: int) -> None:
        from ..io import image_grid, save_image

        self.decoder.eval()
        content, style = self.preview()
        _, out = self.losses(content, style)
        save_image(image_grid(torch.cat([content, style, out.clamp(0, 1)]), nrow=len(content)), path)

    def finish(self, result) -> list[str]:
        path = weights_mod.save_state_dict(self.decoder.state_dict(), result.out / "decoder.safetensors", metadata={
            "method": "adain", "layer": CONTENT_LAYER, "encoder": getattr(self.encoder, "backbone", "?"),
            "layout": "decoder.pth (naoto0804/pytorch-AdaIN)" if self.encoder.normalization == "normalised"
            else "mirror of pixforge VGG"})
        return [f"wrote {path} (loss {result.last_losses.get('loss', float('nan')):.4g})"]
