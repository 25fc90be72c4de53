"""Training the WCT / PhotoWCT decoders (Li et al. 2017, 2018): one per level, each inverting the frozen encoder.

Loss per level: pixel reconstruction ``|dec(enc(x)) - x|^2`` plus ``feature_weight`` times the feature
reconstruction ``|enc(dec(enc(x))) - enc(x)|^2``; natural images only, no style set.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from .. import weights as weights_mod
from ..config import check
from ..errors import ConfigError
from ..registry import TASKS
from ..models.decoder import make_decoder
from ..style.wct import LEVELS
from ..train import LoopConfig, Task, TrainImages, autocast, make_batches, step_on
from .adain import decoder_encoder


@dataclass
class WCTTrainConfig:
    images: str = "builtin"  # folder of training images, or builtin (scikit-image photos)
    levels: tuple[str, ...] = LEVELS  # the levels to train a decoder for
    unpool: bool = False  # PhotoWCT decoders (max-unpooling with the encoder's indices)
    size: int = 256  # training crop size
    load_size: int = 512  # images are resized to this short side, then cropped
    batch_size: int = 8
    lr: float = 1e-4
    feature_weight: float = 1.0  # weight of the feature (perceptual) reconstruction loss
    vgg_weights: str = "auto"  # encoder: auto, adain-vgg-normalised, a vgg_normalised.pth file, or random
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(steps=20_000, out="runs/wct", sample_every=1000,
                                                                ckpt_every=1000))

    resume_may_change: ClassVar[tuple[str, ...]] = ("lr",)

    def __post_init__(self) -> None:
        check(self, positive=("size", "load_size", "batch_size", "lr"), non_negative=("feature_weight",),
              choices={"levels": LEVELS})
        if not self.levels:
            raise ConfigError("levels: give at least one level")


@TASKS.register("wct-decoders", aliases={"vgg": "vgg_weights"}, examples=(
    "pixforge train wct-decoders --images photos/ --steps 20000 --out runs/wct",
    "pixforge train wct-decoders --images photos/ --unpool --steps 20000 --out runs/pwct",
    "pixforge stylize photo.jpg painting.jpg --method wct --decoder runs/wct/wct_decoders.safetensors -o out.png",
))
class WCTDecodersTask(Task):
    """Train one decoder per level for WCT (or PhotoWCT with --unpool): pixel + feature reconstruction.

    Writes OUT/wct_decoders.safetensors (keys LEVEL.INDEX.weight); pass it as --decoder to
    `pixforge stylize --method wct|photowct|swap`.
    """

    Config = WCTTrainConfig

    def __init__(self, cfg: WCTTrainConfig, device: torch.device):
        super().__init__()
        self.cfg, self.device = cfg, device
        self.encoder = decoder_encoder(cfg.vgg_weights, max(cfg.levels, key=LEVELS[::-1].index), device)
        self.decoders = {lv: make_decoder(self.encoder, lv, cfg.unpool).to(device) for lv in cfg.levels}
        images = TrainImages(cfg.images, cfg.size, cfg.load_size, flip=True)
        self.images = make_batches(images, None, cfg.batch_size, cfg.loop.seed, device, cfg.loop.workers)
        self.modules = {f"decoder_{lv}": d for lv, d in self.decoders.items()}
        params = [p for d in self.decoders.values() for p in d.parameters()]
        self.optimizers = {"decoders": torch.optim.Adam(params, lr=cfg.lr)}

    def batch(self, step: int) -> torch.Tensor:
        return self.images.batch(step)[0]

    def reconstruct(self, x: torch.Tensor, level: str) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            feats, pools = self.encoder.encode(x, [level], pool_indices=self.cfg.unpool)
        return self.decoders[level](feats[level], pools), feats[level]

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each level's reconstruction loss and their sum ``loss``."""
        losses: dict[str, torch.Tensor] = {}
        for lv in self.cfg.levels:
            with autocast(self.device, self.cfg.loop.amp):
                rec, target = self.reconstruct(x, lv)
                feats = self.encoder(rec, [lv])[lv]
            losses[lv] = F.mse_loss(rec.float(), x) + self.cfg.feature_weight * F.mse_loss(feats.float(), target.float())
        return {"loss": sum(losses.values()), **losses}

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        for d in self.decoders.values():
            d.train()
        losses = self.losses(self.batch(step))
        step_on(self.optimizers["decoders"], losses["loss"])
        return {k: v.detach() for k, v in losses.items()}

    def validate(self, step: int) -> dict[str, float]:
        """The reconstruction losses on fixed crops."""
        for d in self.decoders.values():
            d.eval()
        return {"val_" + k: float(v) for k, v in self.losses(self.images.preview(4)).items()}

    @torch.no_grad()
    def sample(self, path, step: int) -> None:
        from ..io import image_grid, save_image

        x = self.images.preview(4)
        rows = [x] + [self.reconstruct(x, lv)[0].clamp(0, 1) for lv in self.cfg.levels]
        save_image(image_grid(torch.cat(rows), nrow=len(x)), path)

    def finish(self, result) -> list[str]:
        state = {f"{lv}.{k}": v for lv, d in self.decoders.items() for k, v in d.state_dict().items()}
        path = weights_mod.save_state_dict(state, result.out / "wct_decoders.safetensors", metadata={
            "method": "photowct" if self.cfg.unpool else "wct", "levels": ",".join(self.cfg.levels),
            "encoder": getattr(self.encoder, "backbone", "?")})
        return [f"wrote {path} (loss {result.last_losses.get('loss', float('nan')):.4g})"]
