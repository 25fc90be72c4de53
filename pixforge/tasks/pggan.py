"""Progressive growing (Karras et al. 2018) on the GAN task: the networks of :mod:`pixforge.models.pggan` grow
from 4 px to ``image_size``, each new resolution first faded in over ``stage_kimg`` thousand images, then
trained at full weight for as many. WGAN-GP with the drift term ε·E[D(x)²], Adam (lr 0.001, betas 0 and 0.99),
EMA of G; real images are shown at the current resolution (area downsampling) and blended between the two
resolutions during a fade-in exactly as the generator's output is.

The stage and α are functions of the step, so a resume is exact, also across a growth step; :func:`schedule`
and the :class:`Growing` mixin are shared with StyleGAN v1 (tasks/stylegan2.py). Under torchrun
every process trains on its slice of each batch, as the `gan` task's DDP (the layers of later stages are unused
at first: DistributedDataParallel looks for unused parameters in every step).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F

from ..config import check
from ..models.pggan import PGGANDiscriminator, PGGANGenerator
from ..models.stylegan2 import log2_size
from ..registry import TASKS
from ..train import LoopConfig
from .gan import FixedGanSettings, GanTask, training_data


@dataclass
class PGGANConfig(FixedGanSettings):
    """A progressive GAN run; the defaults are the paper's (CelebA-HQ) apart from the image size."""

    data: str = "mnist5k"  # built-in dataset name or image folder
    arch: str = "pggan"  # what the run holds (read by `pixforge sample`)
    image_size: int = 32  # the final resolution, a power of two >= 8; the data are resized to it
    max_items: int = 0
    z_dim: int = 512
    channel_base: int = 16384  # channels min(channel_base / resolution, channel_max): the paper's 8192 / 2^stage
    channel_max: int = 512
    stage_kimg: float = 800.0  # thousands of images per fade-in and per stabilisation phase
    loss: str = "wgan-gp"  # see pixforge.losses.adversarial.LOSSES
    gp: float = 10.0
    drift: float = 0.001
    batch_size: int = 16
    lr: float = 0.001
    betas: tuple[float, float] = (0.0, 0.99)
    ema: float = 0.999
    fused_optim: bool = True
    sample_shape: list[int] = field(default_factory=list)  # filled from the data
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(sample_every=1000, ckpt_every=1000))

    resume_may_change: ClassVar[tuple[str, ...]] = ("lr", "betas", "fused_optim")

    def __post_init__(self) -> None:
        check(self, positive=("z_dim", "channel_base", "channel_max", "stage_kimg", "batch_size", "lr"),
              non_negative=("max_items", "gp", "drift"), choices={"arch": ("pggan",)},
              ranges={"betas": (0, 1), "ema": (0, 1)})
        log2_size(self.image_size)

    def growth(self, step: int) -> tuple[int, float]:
        """(stage, α) at ``step``: equal fade-in and stabilisation phases of ``stage_kimg`` from 4 px."""
        return schedule(step, self.batch_size, self.stage_kimg, log2_size(self.image_size) - 1)


def build_generator(cfg: PGGANConfig) -> PGGANGenerator:
    return PGGANGenerator(cfg.image_size, cfg.z_dim, cfg.channel_base, cfg.channel_max, cfg.sample_shape[0])


def schedule(step: int, batch_size: int | Callable[[int], int], stage_kimg: float, stages: int,
             transition_kimg: float | None = None, first_stage: int = 0) -> tuple[int, float]:
    """(stage, α) at ``step``: ``first_stage`` trains for ``stage_kimg`` thousand images, then every new stage
    fades in (α 0 -> 1) over ``transition_kimg`` (default: ``stage_kimg``) and trains at full weight for
    ``stage_kimg``; the last stage stays. PGGAN: equal phases from 4 px; StyleGAN (NVIDIA's ``lod_training_kimg``,
    ``lod_transition_kimg``, ``lod_initial_resolution``): 600 and 600 from 8 px. ``batch_size``: images per step,
    or per stage (a function of it: NVIDIA's ``minibatch_dict``)."""
    phases = _phases(stage_kimg, transition_kimg)
    return _growth(images_seen(step, batch_size, stage_kimg, stages, transition_kimg, first_stage), stages,
                   first_stage, *phases)


def _phases(stage_kimg: float, transition_kimg: float | None) -> tuple[int, int]:
    """(images at full weight per stage, images per fade-in)."""
    train = max(1, round(stage_kimg * 1000))
    return train, train if transition_kimg is None else max(1, round(transition_kimg * 1000))


def _growth(images: int, stages: int, first_stage: int, train: int, fade: int) -> tuple[int, float]:
    """(stage, α) after ``images`` images (see :func:`schedule`)."""
    if images < train or first_stage >= stages - 1:
        return min(first_stage, stages - 1), 1.0
    grown, within = divmod(images - train, fade + train)
    stage = first_stage + grown + 1
    if stage > stages - 1:
        return stages - 1, 1.0
    return stage, within / fade if within < fade else 1.0


def images_seen(step: int, batch_size: int | Callable[[int], int], stage_kimg: float, stages: int,
                transition_kimg: float | None = None, first_stage: int = 0) -> int:
    """Images shown before ``step`` when every step shows the batch of the stage it runs at (a stage runs from
    the start of its fade-in to the start of the next one's, as NVIDIA's resolution): ``step · batch_size`` for
    one batch size."""
    if not callable(batch_size):
        return step * batch_size
    train, fade = _phases(stage_kimg, transition_kimg)
    images = 0
    for stage in range(first_stage, stages):
        batch = batch_size(stage)
        ends = train + (stage - first_stage) * (fade + train)  # where the next stage's fade-in starts
        n = -(-(ends - images) // batch)
        if stage == stages - 1 or step < n:
            return images + step * batch
        step, images = step - n, images + n * batch
    raise AssertionError("unreachable")


class Growing:
    """What a growing GAN task does (a mixin before its GAN task class): before every step every network goes to
    the (stage, α) of ``cfg.growth(step)``, and real batches are shown at the current resolution (area
    downsampling), blended between the two resolutions during a fade-in exactly as the generator's output is."""

    unused_parameters = True  # the layers of later stages are unused at first (DDP must look for them)
    stage, alpha = 0, 1.0

    def grow(self, step: int) -> None:
        """Set every network to the (stage, α) of ``step``."""
        self.stage, self.alpha = self.cfg.growth(step)
        for net in (self.g, self.d, *([self.ema.module] if self.ema else [])):
            net.grow(self.stage, self.alpha)

    def real(self, index: int) -> tuple[torch.Tensor, Any]:
        """The real batch at the current resolution, blended with its lower-resolution version while fading."""
        x, _ = super().real(index)
        factor = x.shape[-1] // self.g.resolution
        if factor > 1:
            x = F.avg_pool2d(x, factor)
        if self.g.fading:
            x = torch.lerp(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), x, self.alpha)
        return x, None

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        self.grow(step)
        logs = super().train_step(step)
        return {**logs, "resolution": float(self.g.resolution), "alpha": self.alpha}


@TASKS.register("pggan", examples=(
    "pixforge train pggan --config pixforge/configs/pggan_mnist32.yaml --out runs/pggan-mnist",
    "pixforge train pggan --data ~/celeba-hq --config pixforge/configs/pggan_paper.yaml --out runs/celebahq",
))
class PGGANTask(Growing, GanTask):
    """Train a progressive GAN (growing from 4 px with fade-in, WGAN-GP + drift, EMA of G) on a built-in
    dataset or an image folder; `pixforge sample OUT` draws at the resolution the run has reached."""

    Config = PGGANConfig
    build_generator = staticmethod(build_generator)  # what `pixforge sample` rebuilds from a run's config

    def __init__(self, cfg: PGGANConfig, data, labels, device: torch.device):
        d = PGGANDiscriminator(cfg.image_size, cfg.channel_base, cfg.channel_max, cfg.sample_shape[0])
        super().__init__(cfg, data, None, device, build_generator(cfg), d)

    @classmethod
    def from_config(cls, cfg: PGGANConfig, device: torch.device) -> "PGGANTask":
        data, _, shape = training_data(cfg)
        return cls(dataclasses.replace(cfg, sample_shape=list(shape)), data, None, device)
