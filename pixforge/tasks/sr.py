"""Super-resolution training on the GAN task: PSNR-oriented (SRResNet, EDSR, RRDB with L1), SRGAN, ESRGAN and
Real-ESRGAN, as BasicSR trains them; recipes in ``pixforge/configs/sr/``.

G maps LR to HR; D (when ``gan`` is not ``none``) judges HR images alone. One step = one D step and one G step
on the same G(LR) (:class:`~pixforge.tasks.gan.GanTask`; BasicSR updates G first, a difference of one step),
then the EMA update of G (BasicSR's ``net_g_ema``, decay 0.999), which validation and the written model use.
G's loss is ``pixel_weight · pixel(G(LR), T) + perceptual_weight · Σ w_l·d(φ_l(G(LR)), φ_l(T)) + gan_weight ·
adversarial``, T the HR crop (Real-ESRGAN: its USM-sharpened version, ``usm_target``). Without a GAN there is no
D: the PSNR-oriented recipes. ``pretrained=`` starts G from registry weights, a weights file or an SR run
folder (ESRGAN starts from the PSNR model; fine-tuning the released upscalers).

Validation: PSNR/SSIM on Y with crop = scale of held-out HR images downscaled with MATLAB bicubic, exactly as
``pixforge eval sr`` (best.pt by ``val_psnr``); OUT/model.safetensors holds best.pt's G (EMA) in BasicSR's key
layout, so ``pixforge upscale --model OUT`` and BasicSR load it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ..config import check
from ..errors import ConfigError
from ..losses.adversarial import AdversarialLoss, gan_losses, get_loss
from ..registry import ARCHS, LOSSES, TASKS
from ..train import LoopConfig
from .gan import GanTask, PlainGanSettings

Tensor = torch.Tensor
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "sr"
SR_ARCHS = ("edsr-baseline", "edsr", "msrresnet", "rrdbnet", "rrdbnet-anime-6b", "srvgg-compact")
DISCRIMINATORS = ("none", "srgan", "unet")
DEGRADATIONS = ("bicubic", "realesrgan")


def vgg_layers() -> set[str]:
    from ..nn.vgg import layer_names

    return {n for n in layer_names("vgg19") if n.startswith(("conv", "relu"))}


@dataclass
class SRConfig(PlainGanSettings):
    """Settings of an SR run (defaults: BasicSR's EDSR-baseline x2 recipe on the built-in photos, at a CPU size)."""

    task: str = "sr"  # what the run holds
    data: str = "sr-photos"  # sr-photos (built-in), a folder of HR images, or a folder with HR/ and LR/
    val_data: str = ""  # folder of held-out HR images ("" = sr-photos' held-out photos; none for folders)
    scale: int = 2  # 2, 3 or 4
    arch: str = "edsr-baseline"  # the generator (ignored with pretrained: the pretrained one's network)
    num_feat: int = 0  # generator features (0 = the architecture's)
    num_block: int = 0  # generator blocks / convs (0 = the architecture's)
    pretrained: str = ""  # start G from registry weights, a weights file or an SR run folder
    gt_size: int = 96  # HR crop side (px); LR crops are gt_size / scale
    augment: bool = True  # random flips and 90° rotations
    degradation: str = "bicubic"  # bicubic (MATLAB imresize, 8-bit) or realesrgan (second-order pipeline)
    usm_target: bool = False  # pixel/perceptual targets USM-sharpened (Real-ESRGAN)
    pixel: str = "l1"  # l1, l2 or charbonnier
    pixel_weight: float = 1.0
    perceptual_layers: dict[str, float] = field(default_factory=dict)  # {vgg19 layer: weight}; conv* = before activation
    perceptual_criterion: str = "l1"  # l1, l2 or charbonnier between features
    perceptual_weight: float = 1.0
    vgg_weights: str = "auto"  # VGG19 for the perceptual loss (auto: first present; random: for tests)
    gan: str = "none"  # discriminator: none (PSNR-oriented), srgan (VGG-style, 128/256 px) or unet (U-Net SN)
    loss: str = "nonsaturating"  # adversarial loss (ragan: ESRGAN's relativistic average)
    gan_weight: float = 0.0  # weight of G's adversarial term
    d_feat: int = 64  # discriminator features
    batch_size: int = 16
    lr_g: float = 2e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    ema: float = 0.999  # EMA decay of G (0 = off)
    val_size: int = 192  # sr-photos: central crop of the held-out photos (px)
    sample_items: int = 2  # rows (bicubic | SR | HR) of the sample grids
    channels_last: bool | None = None  # None: on with CUDA
    fused_optim: bool = True
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=300_000, log_every=100, sample_every=5000, ckpt_every=5000, val_every=5000, best_metric="val_psnr",
        best_mode="max", lr_schedule="step", lr_step=200_000, lr_gamma=0.5, workers=2))

    gp: ClassVar[float] = 0.0
    z_dim: ClassVar[int] = 0
    resume_may_change: ClassVar[tuple[str, ...]] = ("lr_g", "lr_d", "betas", "fused_optim", "channels_last",
                                                    "sample_items", "val_size", "vgg_weights")

    def __post_init__(self) -> None:
        check(self, positive=("gt_size", "batch_size", "lr_g", "lr_d", "d_feat", "val_size"),
              non_negative=("num_feat", "num_block", "pixel_weight", "perceptual_weight", "gan_weight",
                            "sample_items"),
              choices={"scale": (2, 3, 4), "arch": SR_ARCHS, "gan": DISCRIMINATORS, "degradation": DEGRADATIONS,
                       "pixel": ("l1", "l2", "charbonnier"), "perceptual_criterion": ("l1", "l2", "charbonnier"),
                       "loss": gan_losses(), "task": ("sr",)},
              ranges={"betas": (0, 1), "ema": (0, 1)})
        if self.gt_size % self.scale:
            raise ConfigError(f"gt_size: must be a multiple of scale {self.scale}, got {self.gt_size}")
        if self.gan == "srgan" and self.gt_size not in (128, 256):
            raise ConfigError(f"gt_size: the SRGAN discriminator takes 128 or 256 px crops, got {self.gt_size}")
        if self.gan == "unet" and self.gt_size % 8:
            raise ConfigError(f"gt_size: the U-Net discriminator needs a multiple of 8, got {self.gt_size}")
        unknown = sorted(set(self.perceptual_layers) - vgg_layers())
        if unknown:
            raise ConfigError(f"perceptual_layers: {unknown[0]!r} is not a VGG19 layer (conv1_1 ... relu5_4)")
        if self.gan != "none" and not self.gan_weight:
            raise ConfigError(f"gan={self.gan} needs gan_weight > 0 (or gan=none)")
        if not (self.pixel_weight or (self.perceptual_layers and self.perceptual_weight) or self.gan_weight):
            raise ConfigError("pixel_weight, perceptual and gan_weight are all 0: G would have no loss")

    @property
    def sample_shape(self) -> list[int]:
        return [3, self.gt_size, self.gt_size]


def weighted(loss: AdversarialLoss, weight: float) -> AdversarialLoss:
    """``loss`` with G's term scaled by ``weight`` (D's as it is), as BasicSR's ``loss_weight``."""
    return dataclasses.replace(loss, g=lambda *outputs: weight * loss.g(*outputs))


def build_generator(cfg: SRConfig) -> nn.Module:
    """The generator: the pretrained network (its scale must be ``cfg.scale``), else ``cfg.arch`` at random."""
    from ..sr import load_model

    if cfg.pretrained:
        net = load_model(cfg.pretrained, "cpu")
        if net.scale != cfg.scale:
            raise ConfigError(f"pretrained {cfg.pretrained} upscales x{net.scale}; set scale={net.scale}")
        return net.train().requires_grad_(True)
    kw: dict[str, Any] = {"scale": cfg.scale}
    if cfg.num_feat:
        kw["num_feat"] = cfg.num_feat
    if cfg.num_block:
        kw["num_conv" if cfg.arch == "srvgg-compact" else "num_block"] = cfg.num_block
    return ARCHS.create(cfg.arch, **kw)


def build_discriminator(cfg: SRConfig) -> nn.Module:
    from ..models.sr import UNetDiscriminatorSN, VGGStyleDiscriminator

    if cfg.gan == "srgan":
        return VGGStyleDiscriminator(num_feat=cfg.d_feat, input_size=cfg.gt_size)
    return UNetDiscriminatorSN(num_feat=cfg.d_feat)


def perceptual_loss(cfg: SRConfig) -> nn.Module:
    """BasicSR's perceptual loss on VGG19 (ImageNet). Missing weights are refused when they cannot be fetched:
    a random VGG would train towards noise (``vgg_weights=random`` asks for one, for tests)."""
    from ..errors import WeightsError
    from ..losses.perceptual import VGGPerceptualLoss
    from ..weights import is_present, offline

    weights = None if cfg.vgg_weights == "random" else cfg.vgg_weights
    if weights == "auto" and not is_present("vgg19-imagenet") and offline():
        raise WeightsError("the perceptual loss needs VGG19 weights and PIXFORGE_OFFLINE is set: run `pixforge "
                           "weights fetch vgg19-imagenet` (or vgg_weights=FILE with torchvision's vgg19 .pth)")
    loss = VGGPerceptualLoss(cfg.perceptual_layers, cfg.perceptual_criterion, cfg.perceptual_weight, arch="vgg19",
                             weights=weights or None)
    return loss.requires_grad_(False).eval()


def training_pairs(cfg: SRConfig):
    from ..sr.data import SRPairs

    degrade = None
    if cfg.degradation == "realesrgan":
        from ..sr.degradations import RealESRGANDegradation

        degrade = RealESRGANDegradation(cfg.scale)
    return SRPairs(cfg.data, cfg.scale, cfg.gt_size, cfg.augment, degrade, cfg.usm_target)


@TASKS.register("sr", examples=(
    "pixforge train sr --config configs/sr/edsr_x2.yaml --out runs/edsr-x2",
    "pixforge train sr --config configs/sr/edsr_x2_cpu.yaml --out runs/edsr-x2-cpu",
    "pixforge train sr --config configs/sr/esrgan_x4.yaml pretrained=runs/rrdb-psnr --data ~/DIV2K_HR --out runs/esrgan",
    "pixforge train sr --config configs/sr/realesrgan_x4.yaml pretrained=realesrgan-x4plus --data ~/photos --out runs/ft",
    "pixforge upscale photo.png -o big.png --model runs/edsr-x2",
))
class SRTask(GanTask):
    """Train a super-resolution network: PSNR-oriented (L1), SRGAN, ESRGAN or Real-ESRGAN (recipes in
    pixforge/configs/sr/, given as --config configs/sr/NAME.yaml). Data: sr-photos (built-in photos, the
    benchmark's photos held out), a folder of HR images (LR by MATLAB bicubic, or the Real-ESRGAN degradations)
    or a folder with HR/ and LR/. Validation PSNR(Y) every loop.val_every steps -> best.pt; OUT/model.safetensors
    (best.pt's EMA G) works with `pixforge upscale --model OUT`."""

    Config = SRConfig

    def __init__(self, cfg: SRConfig, device: torch.device):
        from ..sr.data import val_images

        perceptual = perceptual_loss(cfg) if cfg.perceptual_layers and cfg.perceptual_weight else None
        g = build_generator(cfg)
        pairs = training_pairs(cfg)
        d = build_discriminator(cfg) if cfg.gan != "none" else nn.Linear(1, 1)  # GanTask wants a D; dropped below
        super().__init__(cfg, pairs, None, device, g, d)
        if cfg.gan == "none":
            for table in (self.modules, self.optimizers):
                del table["D"]
        self.loss = weighted(get_loss(cfg.loss), cfg.gan_weight)
        self.perceptual = perceptual.to(device) if perceptual is not None else None
        self.val = val_images(cfg.data, cfg.scale, cfg.val_size, cfg.val_data)

    @classmethod
    def from_config(cls, cfg: SRConfig, device: torch.device) -> "SRTask":
        channels_last = device.type == "cuda" if cfg.channels_last is None else cfg.channels_last
        return cls(dataclasses.replace(cfg, channels_last=channels_last), device)

    @property
    def net(self) -> nn.Module:
        """G as validated and written: the EMA one when there is one."""
        return self.ema.module if self.ema else self.g

    # ---------------------------------------------------------------- what G and D see
    def real(self, index: int) -> tuple[Tensor, Tensor]:
        batch, _ = self.data.batch(index)
        self.batch = batch
        mf = self.memory_format
        return batch["hr"].contiguous(memory_format=mf), batch["lr"].contiguous(memory_format=mf)

    def fake(self, condition: Tensor, n: int) -> tuple[Tensor, Tensor]:
        return self.G(condition), condition

    def critic(self, d: nn.Module, x: Tensor, condition: Any) -> Tensor:
        return d(x)

    def generator_losses(self, fake: Tensor, condition: Tensor, real: Tensor) -> dict[str, Tensor]:
        cfg, target = self.cfg, self.batch["target"]
        out = {"pixel": cfg.pixel_weight * LOSSES.get(cfg.pixel)(fake, target)} if cfg.pixel_weight else {}
        if self.perceptual is not None:
            out.update(self.perceptual.terms(fake.float(), target.float()))
        return out

    def train_step(self, step: int) -> dict[str, Tensor]:
        if "D" in self.modules:
            return super().train_step(step)
        losses = self.train_generator_only(step, self.generator_losses)
        if self.ema:
            self.ema.update(self.g, step)
        return losses

    # ---------------------------------------------------------------- validation, samples, the model
    def validate(self, step: int) -> dict[str, float]:
        """Mean PSNR/SSIM (Y, crop = scale) of the held-out images, as ``pixforge eval sr``."""
        from ..sr.evaluate import evaluate_images

        if not self.val:
            return {}
        mean = evaluate_images(self.net, self.val, self.cfg.scale, crop=self.cfg.scale)[-1]
        return {"val_psnr": mean["psnr"], "val_ssim": mean["ssim"]}

    def sample(self, path: Path, step: int) -> None:
        """Rows of bicubic | SR | HR for the first held-out images (central crops of one size)."""
        from ..io import image_grid, save_image
        from ..metrics.sr import imresize
        from ..sr import upscale
        from ..sr.evaluate import make_lr

        if not (self.val and self.cfg.sample_items):
            return
        s = self.cfg.scale
        images = self.val[: self.cfg.sample_items]
        side = min(min(x.shape[-2:]) for _, x in images) // s * s
        cells = []
        for _, image in images:
            h, w = image.shape[-2:]
            top, left = (h - side) // 2, (w - side) // 2
            hr, lr = make_lr(image[:, top:top + side, left:left + side], s)
            cells += [imresize(lr, s).clamp(0, 1).float(), upscale(lr.float(), self.net).clamp(0, 1).cpu(), hr.float()]
        save_image(image_grid(torch.stack(cells), nrow=3), path)

    def finish(self, result) -> list[str]:
        """OUT/model.safetensors: best.pt's G (EMA) if validation ran, else the final one."""
        from ..train.checkpoint import load_checkpoint
        from ..weights import save_state_dict

        state = self.net.state_dict()
        best = result.checkpoint.with_name("best.pt")
        if result.best and best.is_file():
            modules = load_checkpoint(best)["task"]["modules"]
            state = modules.get("G_ema", modules["G"])
        path = save_state_dict({k: v.contiguous() for k, v in state.items()}, Path(result.out) / "model.safetensors",
                               metadata={"scale": str(self.cfg.scale)})
        return [f"wrote {path}", f"upscale with: pixforge upscale IMAGE -o OUT.png --model {result.out}"]
