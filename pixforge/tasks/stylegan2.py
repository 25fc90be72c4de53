"""StyleGAN2 training (Karras et al. 2020) on the shared loop, as rosinality/stylegan2-pytorch's ``train.py``
and NVIDIA's reference do it; the generator and discriminator are :mod:`pixforge.models.stylegan2`'s.

One ``train_step``:

1. D step: non-saturating logistic loss on a real batch and a batch of G's images (no G gradients);
2. lazy R1 every ``r1_every`` (16) steps: ``r1/2 · r1_every · E‖∇D(x)‖²`` as its own D optimiser step;
3. G step: non-saturating loss; ``mixing`` (0.9) of the batches cross two latents over at a random layer;
4. lazy path-length regularisation every ``pl_every`` (4) steps on a ``1/pl_batch_shrink`` batch, its own
   G optimiser step, with the running mean of the path lengths kept in the checkpoint;
5. ``w_avg`` (the truncation centre) follows the batch mean of w, and the EMA generator follows G with a
   half-life of ``ema_kimg`` thousand images (with ``ema_rampup``, at most that share of the images seen).

Because the regularisers take extra optimiser steps, Adam's learning rate and betas are corrected as the
reference does (lr·c, β^c with c = k/(k+1), :func:`~pixforge.losses.regularizers.lazy_adam`). Everything random
(latents, mixing, crossover layer, noise) comes from RNGs that the checkpoint saves, so a resumed run equals an
uninterrupted one bit for bit.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..config import check
from ..errors import ConfigError
from ..losses.regularizers import lazy_adam, lazy_r1_penalty, lazy_scale, path_length_penalty, r1_penalty
from ..models.pggan import PGGANDiscriminator
from ..models.stylegan import StyleGANGenerator
from ..models.stylegan2 import StyleBasedGenerator, StyleGAN2Discriminator, StyleGAN2Generator, log2_size
from ..registry import TASKS
from ..train import LoopConfig, step_on
from ..train import distributed as dist_utils
from .gan import FixedGanSettings, GanTask, make_optimizer, training_data
from .pggan import Growing, images_seen, schedule


@dataclass
class StyleGAN2Config(FixedGanSettings):
    """A StyleGAN2 run; the defaults are the paper's config F apart from the image size."""

    data: str = "mnist5k"  # built-in dataset name or image folder
    arch: str = "stylegan2"  # what the run holds (read by `pixforge sample`)
    image_size: int = 32  # a power of two >= 8; the data are resized to it
    max_items: int = 0  # use only the first N training items (0 = all)
    z_dim: int = 512  # z and w dimension (style_dim)
    n_mlp: int = 8  # mapping network depth
    channel_base: int = 32768  # channels min(channel_base / resolution, channel_max); 32768 = config F
    channel_max: int = 512
    lr_mlp: float = 0.01  # the mapping network's learning-rate multiplier
    loss: str = "nonsaturating"  # see pixforge.losses.adversarial.LOSSES
    batch_size: int = 32
    lr: float = 0.002  # before the lazy-regularisation correction
    betas: tuple[float, float] = (0.0, 0.99)
    r1: float = 10.0  # R1 weight γ (the penalty is γ/2 · E‖∇D(x)‖²)
    r1_every: int = 16  # lazy R1 interval (D steps); 1: R1 in every D loss, not lazy (StyleGAN v1)
    pl_weight: float = 2.0  # path-length weight (0 = off)
    pl_every: int = 4  # lazy path-length interval (G steps)
    pl_batch_shrink: int = 2  # the path-length batch is batch_size / this
    pl_decay: float = 0.01  # decay of the running mean path length
    mixing: float = 0.9  # share of batches with style mixing
    ema_kimg: float = 10.0  # half-life of the EMA generator in thousands of images (0 = no EMA)
    ema_rampup: float = 0.0  # cap the half-life at this share of the images seen so far (NVIDIA's; 0 = off)
    fused_optim: bool = True
    channels_last: bool = True  # 4-D weights and batches channels-last (a CPU step 1.1x faster, measured)
    sample_shape: list[int] = field(default_factory=list)  # filled from the data
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(sample_every=1000, ckpt_every=1000))

    #: what a ``--resume`` may change (besides ``loop.*``)
    resume_may_change: ClassVar[tuple[str, ...]] = ("lr", "betas", "fused_optim", "channels_last")

    def __post_init__(self) -> None:
        check(self, positive=("z_dim", "n_mlp", "channel_base", "channel_max", "lr_mlp", "batch_size", "lr",
                              "r1_every", "pl_every", "pl_batch_shrink"),
              non_negative=("max_items", "r1", "pl_weight", "pl_decay", "ema_kimg", "ema_rampup"),
              choices={"arch": (type(self).arch,)}, ranges={"betas": (0, 1), "mixing": (0, 1.0000001)})
        log2_size(self.image_size)

    @property
    def eager_r1(self) -> bool:
        """R1 inside every D loss rather than as a lazy step of its own (``r1_every`` 1: StyleGAN v1; NVIDIA's
        reg_interval None): then Adam needs no lazy correction for D."""
        return bool(self.r1) and self.r1_every == 1

    @property
    def ema(self) -> float:
        """EMA decay per step: half-life ``ema_kimg`` thousand images (NVIDIA's ema_kimg)."""
        return self.ema_decay(None)

    def ema_decay(self, step: int | None) -> float:
        """The EMA decay at ``step``: half-life ``ema_kimg`` thousand images, with ``ema_rampup`` at most that
        share of the images seen before the step (NVIDIA's ramp-up: early on the average forgets the random
        start quickly; 0 at step 0, a copy)."""
        if not self.ema_kimg:
            return 0.0
        images = self.ema_kimg * 1000
        if self.ema_rampup and step is not None:
            images = min(images, self.batch_span(step)[0] * self.ema_rampup)
        return 0.5 ** (self.batch_span(step or 0)[1] / max(images, 1e-8))

    def batch_span(self, step: int) -> tuple[int, int]:
        """(images shown before ``step``, its batch size)."""
        return step * self.batch_size, self.batch_size


def build_generator(cfg: StyleGAN2Config) -> StyleGAN2Generator:
    return StyleGAN2Generator(cfg.image_size, cfg.z_dim, cfg.n_mlp, cfg.channel_base, cfg.channel_max,
                              cfg.lr_mlp, channels=cfg.sample_shape[0])


def build_discriminator(cfg: StyleGAN2Config) -> StyleGAN2Discriminator:
    return StyleGAN2Discriminator(cfg.image_size, cfg.channel_base, cfg.channel_max, channels=cfg.sample_shape[0])


@TASKS.register("stylegan2", examples=(
    "pixforge train stylegan2 --config pixforge/configs/stylegan2_mnist32.yaml --out runs/sg2-mnist",
    "pixforge train stylegan2 --data ~/ffhq --config pixforge/configs/stylegan2_paper.yaml --out runs/ffhq",
    "pixforge train stylegan2 --out runs/sg2-mnist --steps 20000 --resume",
))
class StyleGAN2Task(GanTask):
    """Train StyleGAN2 (skip G, residual D, lazy R1 and path-length regularisation, style mixing, EMA of G)
    on a built-in dataset or an image folder. Sample with `pixforge sample OUT --truncation 0.7` (truncation
    in W) and `pixforge stylemix OUT -o grid.png`."""

    Config = StyleGAN2Config
    build_generator = staticmethod(build_generator)  # what `pixforge sample` rebuilds from a run's config
    build_discriminator = staticmethod(build_discriminator)

    def __init__(self, cfg: StyleGAN2Config, data, labels, device: torch.device):
        super().__init__(cfg, data, None, device, self.build_generator(cfg), self.build_discriminator(cfg))
        # lazy regularisers take their own optimiser steps: Adam corrected as the reference does
        g_every = cfg.pl_every if cfg.pl_weight else 0
        d_every = cfg.r1_every if cfg.r1 and not cfg.eager_r1 else 0
        self.optimizers = {
            "G": make_optimizer(self.g.parameters(), "adam", *lazy_adam(cfg.lr, cfg.betas, g_every), cfg.fused_optim),
            "D": make_optimizer(self.d.parameters(), "adam", *lazy_adam(cfg.lr, cfg.betas, d_every), cfg.fused_optim),
        }
        self.pl_mean = torch.zeros((), device=device)

    @classmethod
    def from_config(cls, cfg: StyleGAN2Config, device: torch.device) -> "StyleGAN2Task":
        data, _, shape = training_data(cfg)
        if tuple(shape[1:]) != (cfg.image_size, cfg.image_size):
            raise ConfigError(f"{cfg.data}: images of shape {shape} after resizing; StyleGAN2 needs square "
                              f"{cfg.image_size} px images")
        return cls(dataclasses.replace(cfg, sample_shape=list(shape)), data, None, device)

    # ------------------------------------------------------------------------------------------------ latents
    def latents(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z for a batch, and with probability ``mixing`` a second z for style mixing (else None)."""
        z = torch.randn(n, self.cfg.z_dim, device=self.device)
        mix = self.cfg.mixing and bool(torch.rand(()) < self.cfg.mixing)
        return z, (torch.randn(n, self.cfg.z_dim, device=self.device) if mix else None)

    def fake(self, real_condition: Any, n: int) -> tuple[torch.Tensor, None]:
        z, z2 = self.latents(n)
        return self.G(z, z2=z2), None

    # ------------------------------------------------------------------------------------------------ step
    def _step(self, name: str, loss: torch.Tensor) -> None:
        step_on(self.optimizers[name], loss)

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        cfg, loss = self.cfg, self.loss
        real, _ = self.real(step)
        n = len(real)
        logs: dict[str, torch.Tensor] = {}

        with self._amp():  # D: real vs generated (no G gradients)
            with torch.no_grad():
                fake, _ = self.fake(None, n)
            loss_d = loss.d_loss(self.D(real).float(), self.D(fake).float())
        eager = cfg.eager_r1
        r1 = r1_penalty(self.D, real) if eager else None
        self._step("D", loss_d + cfg.r1 / 2 * r1 if eager else loss_d)
        logs["d_loss"] = loss_d.detach()
        if cfg.r1 and not eager:
            r1 = lazy_r1_penalty(self.D, real, step, cfg.r1_every)  # r1_every · R1 on the steps it runs
            if r1 is not None:
                self._step("D", cfg.r1 / 2 * r1)
        if r1 is not None:
            logs["r1"] = r1.detach() / cfg.r1_every

        self.d.requires_grad_(False)  # G steps: no D weight gradients
        try:
            z, z2 = self.latents(self.local_batch)
            with self._amp():
                fake, latents = self.G(z, z2=z2, return_latents=True)
                loss_g = loss.g_loss(self.d(fake).float(), None)
            self._step("G", loss_g)
            logs["g_loss"] = loss_g.detach()
            self.g.track_w_avg(latents[:, 0])  # (the first layer's w: z's, also when mixing)
            scale = lazy_scale(step, cfg.pl_every) if cfg.pl_weight else 0
            if scale:
                z, z2 = self.latents(max(1, self.local_batch // cfg.pl_batch_shrink))
                fake, latents = self.G(z, z2=z2, return_latents=True)
                pl, self.pl_mean = path_length_penalty(fake.float(), latents, self.pl_mean, cfg.pl_decay)
                self._step("G", cfg.pl_weight * scale * pl + 0 * fake[0, 0, 0, 0])  # (0·x: every output used)
                logs["path_length"] = pl.detach()
        finally:
            self.d.requires_grad_(True)
        if self.ema:
            self.ema.decay = cfg.ema_decay(step)
            self.ema.update(self.g, step)
        return {k: dist_utils.all_reduce_mean(v) for k, v in logs.items()}

    def extra_state(self) -> dict[str, Any]:
        return {"pl_mean": self.pl_mean}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "pl_mean" in state:
            self.pl_mean = state["pl_mean"].to(self.device)


# ------------------------------------------------------------------------------------------------ StyleGAN v1
@dataclass
class StyleGANConfig(StyleGAN2Config):
    """A StyleGAN (v1) run: v1's generator (AdaIN, constant input, noise; mapping depth 8) and PGGAN's
    discriminator, growing progressively as NVIDIA's ``training_loop.py`` (from ``lod_initial_resolution``,
    ``lod_training_kimg`` thousand images per resolution and as many to fade the next one in), with v1's FFHQ
    settings: non-saturating loss with R1 γ 10 in every D step (not lazy), no path-length term, style mixing 0.9
    over the layers in use, Adam lr 0.001 betas (0, 0.99), EMA half-life 10 kimg, channels
    min(16384 / resolution, 512). ``progressive=false`` trains at ``image_size`` from the start."""

    arch: str = "stylegan"
    channel_base: int = 16384
    lr: float = 0.001
    r1_every: int = 1
    pl_weight: float = 0.0
    progressive: bool = True  # grow as NVIDIA's schedule (false: train at image_size from the start)
    lod_initial_resolution: int = 8  # the first resolution grown from (a power of two, 4 to image_size)
    lod_training_kimg: float = 600.0  # thousands of images at each resolution before the next fades in
    lod_transition_kimg: float = 600.0  # thousands of images over which a new resolution fades in
    minibatch_dict: dict[int, int] = field(default_factory=dict)  # YAML {resolution: batch} (others: batch_size)
    lrate_dict: dict[int, float] = field(default_factory=dict)  # YAML {resolution: G and D lr} (others: lr)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("lod_training_kimg", "lod_transition_kimg"))
        first = self.lod_initial_resolution
        if first < 4 or first & (first - 1) or first > self.image_size:
            raise ConfigError(f"lod_initial_resolution must be a power of two from 4 to image_size "
                              f"({self.image_size}), not {first}")
        for name, kind in (("minibatch_dict", int), ("lrate_dict", float)):
            try:
                table = {int(k): kind(v) for k, v in getattr(self, name).items()}
            except (TypeError, ValueError):
                raise ConfigError(f"{name}: expected {{resolution: {kind.__name__}}}, got "
                                  f"{getattr(self, name)!r}") from None
            if any(v <= 0 for v in table.values()):
                raise ConfigError(f"{name}: values must be > 0, got {table}")
            setattr(self, name, table)

    @property
    def _stages(self) -> tuple[int, int]:
        """(number of stages, first stage)."""
        stages = log2_size(self.image_size) - 1
        return stages, (log2_size(self.lod_initial_resolution) - 2 if self.progressive else stages - 1)

    def batch_at(self, stage: int) -> int:
        """The batch size at stage ``stage`` (resolution 4·2^stage)."""
        return self.minibatch_dict.get(4 * 2 ** stage, self.batch_size)

    def lr_at(self, stage: int) -> float:
        return self.lrate_dict.get(4 * 2 ** stage, self.lr)

    def batch_span(self, step: int) -> tuple[int, int]:
        stages, first = self._stages
        images = images_seen(step, self.batch_at, self.lod_training_kimg, stages, self.lod_transition_kimg, first)
        return images, self.batch_at(self.growth(step)[0])

    def growth(self, step: int) -> tuple[int, float]:
        """(stage, α) at ``step`` (stage 0 is 4 px); the last stage throughout with ``progressive=false``."""
        stages, first = self._stages
        return schedule(step, self.batch_at, self.lod_training_kimg, stages, self.lod_transition_kimg, first)


@TASKS.register("stylegan", examples=(
    "pixforge train stylegan --config pixforge/configs/stylegan_mnist32.yaml --out runs/sg1-mnist",
    "pixforge train stylegan --data ~/ffhq --config pixforge/configs/stylegan_paper.yaml --out runs/sg1-ffhq",
    "pixforge train stylegan --config pixforge/configs/stylegan_mnist32.yaml --out runs/sg1-32 progressive=false",
))
class StyleGANTask(Growing, StyleGAN2Task):
    """Train StyleGAN (v1: AdaIN generator growing progressively with PGGAN's discriminator plus v1's blur, R1,
    style mixing, EMA of G) on a built-in dataset or an image folder. Sample with `pixforge sample OUT --truncation 0.7`
    (ψ on the first 8 layers; --truncation-cutoff N) and `pixforge stylemix OUT -o g.png`."""

    Config = StyleGANConfig

    def __init__(self, cfg: StyleGANConfig, data, labels, device: torch.device):
        world = dist_utils.world_size()
        if any(b % world for b in cfg.minibatch_dict.values()):
            raise ConfigError(f"minibatch_dict: every batch must be divisible by {world} processes")
        super().__init__(cfg, data, labels, device)

    def batches(self, cfg: StyleGANConfig):
        return cfg.batch_span

    def grow(self, step: int) -> None:
        """As PGGAN's, then the stage's batch, and (NVIDIA's ``reset_opt_for_new_lod``) fresh Adam moments when
        a new resolution starts fading in."""
        super().grow(step)
        self.local_batch = self.cfg.batch_at(self.stage) // dist_utils.world_size()
        if step > 0 and self.cfg.growth(step - 1)[0] != self.stage:
            for opt in self.optimizers.values():
                opt.state.clear()

    def lr_scale(self, step: int) -> float:
        """The stage's learning rate (``lrate_dict``) over ``lr``."""
        return self.cfg.lr_at(self.cfg.growth(step)[0]) / self.cfg.lr

    @staticmethod
    def build_generator(cfg: StyleGANConfig) -> StyleGANGenerator:
        return StyleGANGenerator(cfg.image_size, cfg.z_dim, cfg.n_mlp, cfg.channel_base, cfg.channel_max,
                                 cfg.lr_mlp, channels=cfg.sample_shape[0], progressive=cfg.progressive)

    @staticmethod
    def build_discriminator(cfg: StyleGANConfig) -> PGGANDiscriminator:
        return PGGANDiscriminator(cfg.image_size, cfg.channel_base, cfg.channel_max, cfg.sample_shape[0],
                                  progressive=cfg.progressive, blur=True)


# ------------------------------------------------------------------------------------------------ style mixing
def coarse_layers(g: StyleBasedGenerator, resolution: int = 8) -> int:
    """How many per-layer latents drive the resolutions up to ``resolution`` (the paper's "coarse" styles: 4-8 px)."""
    return min(g.n_latent - 1, 2 * (log2_size(resolution) - 1))


@torch.no_grad()
def style_mixing_grid(g: StyleBasedGenerator, rows: int = 3, cols: int = 4, crossover: int | None = None,
                      truncation: float = 1.0, seed: int = 0) -> torch.Tensor:
    """The paper's style-mixing figure as images ((rows + 1) * (cols + 1), C, H, W) in [-1, 1]: the top row shows
    the column sources, the left column the row sources; cell (r, c) takes row r's w for the layers below
    ``crossover`` (coarse styles: pose, shape) and column c's w from there on (finer styles: colours, texture).
    Fixed noise, so the cells differ only by their latents."""
    from ..errors import BadInputError

    crossover = coarse_layers(g) if crossover is None else crossover
    if not 1 <= crossover < g.n_latent:
        raise BadInputError(f"--crossover must be in 1..{g.n_latent - 1} for this {g.size} px generator")
    device = g.w_avg.device
    z = torch.randn(rows + cols, g.style_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    w = g.mapping(z)
    w_rows, w_cols = w[:rows], w[rows:]
    lat = g.mix(w_rows.repeat_interleave(cols, 0), w_cols.repeat(rows, 1), crossover)
    cells = g.synthesis(g.truncate(lat, truncation, g.truncation_cutoff), "const").float().cpu()
    sources = g.synthesis(g.truncate(w.unsqueeze(1).expand(-1, g.n_latent, -1), truncation, g.truncation_cutoff),
                          "const").float().cpu()
    grid = torch.ones(rows + 1, cols + 1, *sources.shape[1:])  # the corner stays white
    grid[0, 1:], grid[1:, 0] = sources[rows:], sources[:rows]
    grid[1:, 1:] = cells.view(rows, cols, *sources.shape[1:])
    return grid.flatten(0, 1)


def stylemix_run(run: str | Path, output: str | Path, rows: int = 3, cols: int = 4, crossover: int | None = None,
                 truncation: float = 1.0, seed: int = 0, ema: bool | None = None,
                 device: str | torch.device = "cpu") -> Path:
    """Write the style-mixing grid of a StyleGAN run (or released StyleGAN2 file) to ``output`` (.png or .npy)."""
    from ..errors import BadInputError
    from .gan import load_generator, write_samples

    g, _ = load_generator(run, ema, device)
    if not isinstance(g, StyleBasedGenerator):
        raise BadInputError(f"{run}: style mixing needs a StyleGAN generator, not a {type(g).__name__}")
    return write_samples(style_mixing_grid(g, rows, cols, crossover, truncation, seed), output, nrow=cols + 1)
