"""GAN training on the shared loop: ``GanConfig`` (YAML + overrides) and ``GanTask`` (one G/D step per call).

One ``train_step`` = ``n_critic`` discriminator steps on consecutive global batches (step-indexed, so a resume is
exact), then one generator step, then the EMA update. What G and D see is decided by four methods that a
subclass overrides (image-to-image translation: G takes the input image, D judges (input, output) pairs and
G gets an L1 term): ``real``, ``fake``, ``critic`` and ``generator_losses``. Small tensor datasets (2D toys,
digits) are indexed in memory; image folders are streamed (decoded and cropped in DataLoader workers).

Speed defaults, all on unless switched off in the config (see benchmarks/RESULTS_gan.md):

* the fake batch of the last D step is reused for the G step when ``n_critic == 1`` (one G forward per step);
* D's weights are frozen during the G step, so backward computes no D weight gradients it would discard;
* fused Adam/RMSProp kernels (``fused_optim``), gradients released with ``set_to_none``;
* channels-last memory format for convolutional models (``channels_last``);
* bfloat16 autocast for convolutional models on CUDA and on CPUs with AVX-512 BF16 (``bf16``, default on
  there; off for the 2D-toy MLPs, whose outputs need more than bf16's 8 bits of mantissa);
* lazy R1 (``r1_every=k``: the penalty every k-th D step, weighted by k, as StyleGAN2 does).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ..config import check, from_dict, load_config, recipe
from ..errors import ConfigError
from ..registry import TASKS
from ..train import LoopConfig, Task, TrainImages, autocast, make_batches, run, step_on
from ..train import distributed as dist_utils
from ..train.checkpoint import load_checkpoint
from ..data.folders import list_classes
from ..data.gan import load_gan_data
from ..losses.adversarial import get_loss
from ..models.gan import create_discriminator, create_generator, truncated_noise
from ..losses.regularizers import gradient_penalty, orthogonal_penalty, r1_penalty
from ..nn.spectral import apply_spectral_norm
from ..train.ema import EMA


@dataclass
class GanConfig:
    """Everything a GAN run needs. ``None``/0 fields are filled from the loss's paper defaults or the data."""

    data: str = "grid25"  # built-in dataset name or image folder
    loss: str = "nonsaturating"  # see pixforge.losses.adversarial.LOSSES
    arch: str = "auto"  # mlp | dcgan | resnet | biggan; auto = mlp for 2D data, dcgan for images
    z_dim: int = 64
    width: int = 0  # hidden units (mlp, default 128) or base channels (dcgan/resnet, default 64)
    depth: int = 3  # hidden layers of the MLPs
    batch_size: int = 64
    optimizer: str | None = None  # adam | rmsprop (default: the loss's)
    lr_g: float | None = None
    lr_d: float | None = None
    betas: tuple[float, float] | None = None
    n_critic: int | None = None
    gp: float | None = None  # gradient-penalty weight (wgan-gp: 10)
    drift: float = 0.0  # drift penalty ε·E[D(x)²] keeping a WGAN critic near 0 (PGGAN: 0.001)
    clip: float | None = None  # weight clipping (wgan: 0.01)
    r1: float = 0.0  # R1 weight γ (adds γ/2·E‖∇D(x)‖²)
    r1_every: int = 1  # lazy R1: the penalty on every k-th D step only, weighted by k (StyleGAN2: 16)
    ortho: float = 0.0  # BigGAN orthogonal regularisation β on G (1e-4 in the paper)
    ema: float = 0.0  # EMA decay of G's weights (e.g. 0.999); 0 = off
    ema_start: int = 0  # steps before the average starts (it copies the weights until then)
    spectral_norm: bool | None = None  # SN on D (default: on for resnet and biggan; BigGAN's G has its own)
    d_norm: str = "batch"  # dcgan D's normalisation: batch | layer (WGAN-GP's critic) | none (SNGAN's)
    attention: bool = False
    conditional: bool = False  # class-conditional G (conditional BN) and projection D; needs labels
    labelled: bool = False  # an image folder with one subfolder per class (sorted names: classes 0, 1, ...)
    image_size: int = 0  # resize images to this (0 = the data's own size)
    max_items: int = 0  # use only the first N training items (0 = all)
    sample_shape: list[int] = field(default_factory=list)  # filled from the data
    num_classes: int = 0  # filled from the data when conditional
    channels_last: bool = True
    fused_optim: bool = True
    bf16: bool | None = None  # bfloat16 autocast; None = on for conv models where fast (CUDA, AVX-512 BF16 CPUs)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(best_metric="modes", best_mode="max"))

    #: what a ``--resume`` may change (besides ``loop.*``); anything else changes the model, loss or data
    resume_may_change: ClassVar[tuple[str, ...]] = ("lr_g", "lr_d", "betas", "fused_optim", "channels_last", "bf16")

    def __post_init__(self) -> None:
        check(self, positive=("z_dim", "depth", "batch_size", "lr_g", "lr_d", "n_critic", "r1_every"),
              non_negative=("width", "gp", "drift", "clip", "r1", "ortho", "ema_start", "image_size", "max_items",
                            "num_classes"),
              choices={"arch": ("auto", "mlp", "dcgan", "resnet", "biggan"), "optimizer": (None, "adam", "rmsprop"),
                       "d_norm": ("batch", "layer", "none")},
              ranges={"ema": (0, 1), "betas": (0, 1)})


def to_device(module: nn.Module, device: torch.device, memory_format: torch.memory_format) -> nn.Module:
    """``module.to(device, memory_format=...)`` that also takes modules with 5-D weights (StyleGAN2's modulated
    convs): only the 4-D parameters and buffers change memory format."""
    module.to(device)
    if memory_format != torch.contiguous_format:
        for t in [*module.parameters(), *module.buffers()]:
            if t.dim() == 4:
                t.data = t.data.contiguous(memory_format=memory_format)
    return module


class PlainGanSettings:
    """Mixin for the configs of tasks built on :class:`GanTask` with recipes of their own (stylegan2, pggan, the
    translation tasks): the GanConfig settings that GanTask reads and those tasks fix (Adam, no classes, one D
    step per G step, no R1, clipping, orthogonal or drift term)."""

    optimizer: ClassVar[str] = "adam"
    num_classes: ClassVar[int] = 0
    ema_start: ClassVar[int] = 0
    n_critic: ClassVar[int] = 1
    r1: ClassVar[float] = 0.0
    r1_every: ClassVar[int] = 1
    clip: ClassVar[float] = 0.0
    ortho: ClassVar[float] = 0.0
    drift: ClassVar[float] = 0.0


class FixedGanSettings(PlainGanSettings):
    """:class:`PlainGanSettings` for the GANs with their own networks (stylegan2, pggan): contiguous tensors and
    one Adam learning rate ``lr`` for G and D."""

    channels_last: ClassVar[bool] = False

    @property
    def lr_g(self) -> float:
        return self.lr

    @property
    def lr_d(self) -> float:
        return self.lr


#: shipped run configs, ``<data>_<loss>.yaml``, and the loss recipes (``recipes/<loss>.yaml``)
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "gan"


def recipe_file(data: str, loss: str) -> Path | None:
    """The shipped recipe for a built-in dataset and a loss, ``pixforge/configs/gan/<data>_<loss>.yaml``, or None.

    A recipe is a whole run config (latent size, width, batch, steps, EMA, and the optimiser settings where they
    differ from the loss's paper recipe, which :func:`resolve` fills in) chosen so that the loss converges on
    that dataset; ``pixforge train gan`` and :func:`config_from` start from it unless given a config file.
    """
    path = CONFIGS / f"{data}_{loss}.yaml"
    return path if Path(data).name == data and path.is_file() else None


def resolve(cfg: GanConfig, sample_shape: tuple[int, ...], num_classes: int = 0) -> GanConfig:
    """Fill every automatic field: architecture, width, and the optimiser recipe of the loss's paper."""
    get_loss(cfg.loss)  # an unknown loss is a ConfigError naming the GAN losses
    paper = recipe(GanConfig, "gan", cfg.loss)
    two_d = len(sample_shape) == 1
    arch = cfg.arch if cfg.arch != "auto" else ("mlp" if two_d else "dcgan")
    conditional = bool(num_classes) if cfg.conditional is None else cfg.conditional  # None: when labelled
    if conditional and not num_classes:
        hint = " (an image folder: labelled=true reads one class per subfolder)" if Path(cfg.data).is_dir() else ""
        raise ConfigError(f"conditional=true needs a labelled dataset; {cfg.data} has no labels{hint}")
    bf16 = cfg.bf16
    if bf16 is None:
        bf16 = cfg.loop.amp or (not two_d and fast_bf16(cfg.loop.device))
    return dataclasses.replace(
        cfg, arch=arch, bf16=bf16, loop=dataclasses.replace(cfg.loop, amp=bf16),
        width=cfg.width or (128 if arch == "mlp" else 64),
        optimizer=cfg.optimizer or paper.optimizer, lr_g=cfg.lr_g or paper.lr_g, lr_d=cfg.lr_d or paper.lr_d,
        betas=tuple(cfg.betas) if cfg.betas else paper.betas, n_critic=cfg.n_critic or paper.n_critic,
        gp=paper.gp if cfg.gp is None else cfg.gp, clip=paper.clip if cfg.clip is None else cfg.clip,
        spectral_norm=(arch in ("resnet", "biggan")) if cfg.spectral_norm is None else cfg.spectral_norm,
        sample_shape=list(sample_shape), conditional=conditional, num_classes=num_classes if conditional else 0)


def fast_bf16(device: str) -> bool:
    """Whether bfloat16 autocast speeds up convolutions here: CUDA, or a CPU with AVX-512 BF16 (oneDNN)."""
    from ..utils import default_device

    dev = default_device(device)
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return dev.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def interleave_classes(classes: list[int]) -> list[int]:
    """Indices ordered first image of every class, then every class's second, ...: a prefix of any length
    keeps the classes balanced (within one image) for as long as they have images."""
    count: dict[int, int] = {}
    rank = []
    for c in classes:
        rank.append(count.get(c, 0))
        count[c] = rank[-1] + 1
    return sorted(range(len(classes)), key=lambda i: (rank[i], classes[i]))


def training_data(cfg, labelled: bool = False) -> tuple[torch.Tensor | TrainImages, torch.Tensor | None,
                                                        tuple[int, ...]]:
    """(samples or a streamed image folder, labels or None, sample shape) for ``cfg.data`` at ``cfg.image_size``;
    ``labelled``: an image folder's subfolders are its classes."""
    if Path(cfg.data).is_dir():
        size = cfg.image_size or 64
        files, labels = cfg.data, None
        if labelled:
            files, classes, _ = list_classes(cfg.data)
            if cfg.max_items:  # the first N of the classes taken in turn, so none drops out
                order = interleave_classes(classes)[: cfg.max_items]
                files, classes = [files[i] for i in order], [classes[i] for i in order]
            labels = torch.tensor(classes)
        data = TrainImages(files, size, random_crop=False, signed=True, max_items=cfg.max_items)
        return data, labels, (3, size, size)
    if labelled:
        raise ConfigError(f"labelled=true is for image folders with one subfolder per class; {cfg.data} is not a "
                          "folder (built-in datasets carry their own labels)")
    data, labels = load_gan_data(cfg.data, cfg.image_size, cfg.max_items)
    return data, labels, tuple(data.shape[1:])


def build_models(cfg: GanConfig) -> tuple[nn.Module, nn.Module]:
    """G and D for a resolved config."""
    shape = tuple(cfg.sample_shape)
    kw = dict(width=cfg.width, num_classes=cfg.num_classes, attention=cfg.attention, depth=cfg.depth)
    g = create_generator(cfg.arch, cfg.z_dim, shape, **kw)
    d = create_discriminator(cfg.arch, shape, norm=cfg.d_norm, **kw)
    if cfg.spectral_norm:
        apply_spectral_norm(d)
    return g, d


def build_generator(cfg: GanConfig) -> nn.Module:
    """G alone for a resolved config (what `pixforge sample` rebuilds; D's spectral norm is not needed)."""
    return build_models(dataclasses.replace(cfg, spectral_norm=False))[0]


def make_optimizer(params, kind: str, lr: float, betas: tuple[float, float], fused: bool) -> torch.optim.Optimizer:
    extra = {"fused": True} if fused else {"foreach": True}
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, **extra)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    raise ConfigError(f"unknown optimizer {kind!r}: adam or rmsprop")


@TASKS.register("gan", examples=(
    "pixforge train gan --data grid25 --loss wgan-gp --out runs/grid25",
    "pixforge train gan --data mnist5k --loss hinge --arch resnet conditional=true ema=0.999 --out runs/mnist",
    "pixforge train gan --data ~/photos image_size=64 loop.lr_schedule=linear loop.lr_decay_start=25000 "
    "--steps 50000 --out runs/photos",
    "pixforge train gan --data ring8 --loss hinge --out runs/ring8 loop.val_every=1000",
    "pixforge train gan --out runs/grid25 --steps 40000 --resume lr_g=5e-5 lr_d=5e-5",
))
class GanTask(Task):
    """Train a GAN (G and D, optional EMA of G) on a built-in dataset or an image folder.

    Without --config, the run starts from the shipped recipe for the data and loss when there is one
    (pixforge/configs/gan/<data>_<loss>.yaml, named on stderr; options and KEY=VALUE override it).
    Every key left unset takes the chosen loss's paper defaults (optimiser, learning rates, betas, n_critic, gp,
    clip). For ring8/grid25, loop.val_every=N counts the modes covered and keeps checkpoints/best.pt.
    Under torchrun every process trains on its slice of each batch (DDP); rank 0 writes the files.
    """

    Config = GanConfig
    #: whether some parameters go unused in a step (DDP must look for them: PGGAN's layers of later stages)
    unused_parameters: ClassVar[bool] = False

    @classmethod
    def default_config(cls, values: dict[str, Any]) -> Path | None:
        if cls.Config is not GanConfig:  # subclasses with their own networks (stylegan2, pggan) have own recipes
            return None
        return recipe_file(str(values.get("data", GanConfig.data)), str(values.get("loss", GanConfig.loss)))

    def __init__(self, cfg: GanConfig, data: torch.Tensor | TrainImages, labels: torch.Tensor | None,
                 device: torch.device, generator: nn.Module | None = None, discriminator: nn.Module | None = None):
        super().__init__()
        self.cfg, self.device, self.loss = cfg, device, get_loss(cfg.loss)
        self.images = len(cfg.sample_shape) == 3
        self.memory_format = torch.channels_last if (self.images and cfg.channels_last) else torch.contiguous_format
        self.data = make_batches(data, labels, self.batches(cfg), cfg.loop.seed, device, cfg.loop.workers)
        g, d = build_models(cfg) if generator is None else (generator, discriminator)
        to_device(g, device, self.memory_format)
        to_device(d, device, self.memory_format)
        # rank 0's init is broadcast
        self.G, self.D = (dist_utils.wrap(m, device, self.unused_parameters) for m in (g, d))
        self.g, self.d = g, d
        self.modules = {"G": self.G, "D": self.D}
        self.optimizers = {
            "G": make_optimizer(g.parameters(), cfg.optimizer, cfg.lr_g, cfg.betas, cfg.fused_optim),
            "D": make_optimizer(d.parameters(), cfg.optimizer, cfg.lr_d, cfg.betas, cfg.fused_optim),
        }
        self.ema = EMA(g, cfg.ema, cfg.ema_start) if cfg.ema else None
        if self.ema:
            self.modules["G_ema"] = self.ema.module
        self.local_batch = cfg.batch_size // dist_utils.world_size()
        self.fixed = torch.Generator().manual_seed(cfg.loop.seed)  # same preview latents every time

    @classmethod
    def from_config(cls, cfg: GanConfig, device: torch.device, generator: nn.Module | None = None,
                    discriminator: nn.Module | None = None) -> "GanTask":
        """Load the data (an image folder is streamed, not loaded) and fill the automatic fields."""
        data, labels, shape = training_data(cfg, cfg.labelled)
        n_classes = int(labels.max()) + 1 if labels is not None else 0
        return cls(resolve(cfg, shape, n_classes), data, labels, device, generator, discriminator)

    def batches(self, cfg: GanConfig):
        """The data's batch size per step (a number, or a step -> (images before, batch) function)."""
        return cfg.batch_size

    # ------------------------------------------------------------------------- what G and D see (override these)
    def real(self, index: int) -> tuple[torch.Tensor, Any]:
        """Real batch number ``index`` and the condition D sees with it (class labels, or None)."""
        x, y = self.data.batch(index)
        return x.contiguous(memory_format=self.memory_format), (y if self.cfg.num_classes else None)

    def fake(self, real_condition: Any, n: int) -> tuple[torch.Tensor, Any]:
        """G's output for a batch of ``n`` and its condition: noise (and random classes) to samples here.
        A translation GAN returns ``(G(input), input)`` for the input images in ``real_condition``."""
        z = torch.randn(n, self.cfg.z_dim, device=self.device)
        y = torch.randint(self.cfg.num_classes, (n,), device=self.device) if self.cfg.num_classes else None
        return self.G(z, y), y

    def critic(self, d: nn.Module, x: torch.Tensor, condition: Any) -> torch.Tensor:
        """D's logits for ``x`` under ``condition`` (``d`` is the DDP-wrapped D, or the bare one in the G step)."""
        return d(x, condition)

    def generator_losses(self, fake: torch.Tensor, condition: Any, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """Extra generator loss terms, weighted (pix2pix: λ·L1(fake, real)); none for noise-to-image GANs."""
        return {}

    def _amp(self):
        return autocast(self.device, self.cfg.loop.amp)

    # -------------------------------------------------------------------------------------------- step
    def train_generator_only(self, step: int, terms) -> dict[str, torch.Tensor]:
        """One G step on ``terms(fake, condition, real)`` alone, no D (pix2pix with gan=0, PSNR-oriented SR)."""
        real, condition = self.real(step)
        with self._amp():
            fake, _ = self.fake(condition, len(real))
            losses = terms(fake, condition, real)
        step_on(self.optimizers["G"], sum(v.float() for v in losses.values()))
        return {k: v.detach() for k, v in losses.items()}

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        cfg, loss = self.cfg, self.loss
        n = cfg.n_critic
        fake = c_fake = None
        logs: dict[str, torch.Tensor] = {}
        for i in range(n):
            real, c = self.real(step * n + i)
            keep = n == 1  # reuse this fake batch for the G step
            with self._amp():
                with torch.set_grad_enabled(keep):
                    fake, c_fake = self.fake(c, len(real))
                d_real, d_fake = self.critic(self.D, real, c), self.critic(self.D, fake.detach(), c_fake)
                loss_d = loss.d_loss(as_float(d_real), as_float(d_fake))
            logs["d_loss"] = loss_d.detach()
            if cfg.drift:
                loss_d = loss_d + cfg.drift * as_float(d_real).pow(2).mean()
            if cfg.gp:
                gp = gradient_penalty(lambda x: self.critic(self.D, x, c), real, fake)
                loss_d = loss_d + cfg.gp * gp
                logs["gp"] = gp.detach()
            if cfg.r1 and (step * n + i) % cfg.r1_every == 0:
                r1 = r1_penalty(lambda x: self.critic(self.D, x, c), real)
                loss_d = loss_d + cfg.r1 / 2 * cfg.r1_every * r1
                logs["r1"] = r1.detach()
            opt = self.optimizers["D"]
            opt.zero_grad(set_to_none=True)
            loss_d.backward()
            opt.step()
            if cfg.clip:
                with torch.no_grad():
                    for p in self.d.parameters():
                        p.clamp_(-cfg.clip, cfg.clip)
        if n != 1:
            fake = None
        self.d.requires_grad_(False)  # G step: no D weight gradients (the unwrapped D needs no DDP sync)
        try:
            with self._amp():
                if fake is None:
                    fake, c_fake = self.fake(c, self.local_batch)
                # relativistic losses compare with D(real) too (ESRGAN: the updated D's, without its gradient)
                d_real = as_float(self.critic(self.d, real, c)).detach() if loss.relativistic else None
                loss_g = loss.g_loss(as_float(self.critic(self.d, fake, c_fake)), d_real)
                extra = self.generator_losses(fake, c_fake, real)
            logs["g_loss"] = loss_g.detach()
            for name, term in extra.items():
                loss_g = loss_g + term.float()
                logs[name] = term.detach()
            if cfg.ortho:
                loss_g = loss_g + orthogonal_penalty(self.g, cfg.ortho)
            opt = self.optimizers["G"]
            opt.zero_grad(set_to_none=True)
            loss_g.backward()
            opt.step()
        finally:
            self.d.requires_grad_(True)
        if self.ema:
            self.ema.update(self.g, step)
        return {k: dist_utils.all_reduce_mean(v) for k, v in logs.items()}

    # -------------------------------------------------------------------------------------------- samples
    def sample(self, path: Path, step: int) -> None:
        g = self.ema.module if self.ema else self.g
        n = 2000 if not self.images else 64
        z = truncated_noise(n, self.cfg.z_dim, generator=self.fixed.manual_seed(self.cfg.loop.seed))
        y = torch.arange(n) % self.cfg.num_classes if self.cfg.num_classes else None
        x = generate(g, z, y, self.device)
        save_samples(x, path, self.cfg.data, nrow=self.cfg.num_classes or None)

    def validate(self, step: int) -> dict[str, float]:
        """For the 2D mixtures (ring8, grid25): modes covered, share of high-quality samples and KL to uniform
        of 2,500 samples (the EMA generator's when there is one)."""
        from ..metrics.modes import mixture_modes
        from ..registry import DATASETS

        if self.cfg.data not in DATASETS.list(kind="mixture"):
            return {}
        g = self.ema.module if self.ema else self.g
        z = truncated_noise(2500, self.cfg.z_dim, generator=torch.Generator().manual_seed(self.cfg.loop.seed + 1))
        found = mixture_modes(generate(g, z, None, self.device).numpy(), self.cfg.data)
        return {k: float(found[k]) for k in ("modes", "high_quality", "kl")}


@dataclass
class BigGANConfig(GanConfig):
    """The GAN task with BigGAN's settings (Brock et al. 2019, appendix; the defaults of ajbrock/BigGAN-PyTorch's
    train.py): hinge loss, Adam lr G 5e-5 / D 2e-4 with betas (0, 0.999), two D steps per G step, orthogonal
    regularisation 1e-4 on G, spectral norm in G and D, EMA of G (0.9999 from step 1000), class-conditional
    when the data have labels; 32 px by default (CIFAR's plan; 64 and 128 px as BigGAN-PyTorch's)."""

    data: str = "mnist5k"
    loss: str = "hinge"
    arch: str = "biggan"
    z_dim: int = 128  # split into one chunk per G block plus one: a multiple of 4 at 32 px, 5 at 64, 6 at 128
    optimizer: str | None = "adam"
    lr_g: float | None = 5e-5
    lr_d: float | None = 2e-4
    betas: tuple[float, float] | None = (0.0, 0.999)
    n_critic: int | None = 2
    ortho: float = 1e-4
    ema: float = 0.9999
    ema_start: int = 1000
    conditional: bool | None = None  # None: conditional when the data have class labels
    image_size: int = 32
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(sample_every=1000, ckpt_every=1000))

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, choices={"arch": ("biggan",)})


@TASKS.register("biggan", examples=(
    "pixforge train biggan --config pixforge/configs/biggan_mnist32.yaml --out runs/biggan-mnist",
    "pixforge train biggan --config pixforge/configs/biggan_imagenet128.yaml --data ~/imagenet/train "
    "--out runs/biggan128",
    "pixforge sample runs/biggan-mnist -n 64 -o grid.png --truncation 0.5 --class 3",
))
class BigGANTask(GanTask):
    """Train BigGAN (hierarchical z and a shared class embedding into conditional BN, spectral norm in G and
    D, hinge loss, orthogonal regularisation, EMA of G): the `gan` task with BigGAN's defaults. Sample with
    the truncation trick: `pixforge sample OUT --truncation 0.5` resamples |z| > 0.5."""

    Config = BigGANConfig
    build_generator = staticmethod(build_generator)  # what `pixforge sample` rebuilds from a run's config


def as_float(outputs: Any) -> Any:
    """D's outputs in float32 (under bf16 autocast): a tensor, or the nested lists of a multi-scale D."""
    return outputs.float() if torch.is_tensor(outputs) else [as_float(o) for o in outputs]


@torch.no_grad()
def generate(g: nn.Module, z: torch.Tensor, y: torch.Tensor | None, device: torch.device,
             batch_size: int = 500, **kw: Any) -> torch.Tensor:
    """G(z, y, **kw) in eval mode (BN running statistics), in batches, on the CPU as float32."""
    was_training = g.training
    g.eval()
    try:
        out = [g(z[i:i + batch_size].to(device), None if y is None else y[i:i + batch_size].to(device), **kw)
               .float().cpu() for i in range(0, len(z), batch_size)]
    finally:
        g.train(was_training)
    return torch.cat(out).contiguous()


def save_samples(x: torch.Tensor, path: str | Path, data: str = "", nrow: int | None = None) -> Path:
    """A PNG of samples: an image grid, or for 2D points a scatter plot with the mixture's mode centres. Groups
    of images (N, K, C, H, W), such as CoGAN's pairs, are columns of K, ``nrow`` (default up to 8) per band."""
    from ..io import image_grid, save_image

    path = Path(path)
    if x.dim() == 5:
        nrow = nrow or min(len(x), 8)
        x = torch.cat([x, x.new_ones((-len(x)) % nrow, *x.shape[1:])])  # blank (white) cells end the last band
        x = x.unflatten(0, (-1, nrow)).transpose(1, 2).flatten(0, 2)  # band, group member, column
    if x.dim() == 4:
        return save_image(image_grid((x.clamp(-1, 1) + 1) / 2, nrow=nrow), path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..registry import DATASETS
    from ..utils import atomic_path

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    pts = x.numpy()
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, label="samples")
    if data in DATASETS and DATASETS.meta(data)["kind"] == "mixture":
        c = DATASETS.get(data).centres
        ax.scatter(c[:, 0], c[:, 1], s=30, marker="x", color="red", label="modes")
        lim = abs(c).max() * 1.5
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------ entry points
def config_from(config: str | Path | None = None, overrides: dict[str, Any] | None = None) -> GanConfig:
    """A GanConfig from a YAML file (default: the shipped recipe for the data and loss, if any) and overrides."""
    return load_config(GanConfig, config or GanTask.default_config(overrides or {}), overrides)


def train_gan(cfg: GanConfig, generator: nn.Module | None = None, discriminator: nn.Module | None = None):
    """Load the data, resolve defaults, train with :func:`fit` (OUT/config.yaml holds the resolved config);
    returns (task, FitResult)."""
    return run(GanTask, cfg, generator=generator, discriminator=discriminator)


def class_labels(cfg: GanConfig, n: int, label: int | None, seed: int) -> torch.Tensor | None:
    """Labels for n conditional samples: all ``label``, or uniform random classes; None for unconditional G."""
    from ..errors import BadInputError

    if not cfg.num_classes:
        if label is not None:
            raise BadInputError("--class needs a class-conditional model (train with conditional=true)")
        return None
    if label is None:
        return torch.randint(cfg.num_classes, (n,), generator=torch.Generator().manual_seed(seed + 1))
    if not 0 <= label < cfg.num_classes:
        raise BadInputError(f"--class {label} is out of range: the model has {cfg.num_classes} classes")
    return torch.full((n,), label, dtype=torch.long)


def sample_run(run: str | Path, count: int, ema: bool | None = None, truncation: float | None = None,
               label: int | None = None, seed: int = 0, device: str | torch.device = "cpu",
               truncation_cutoff: int | None = None):
    """(samples, config): ``count`` samples (N, ...) in [-1, 1] from a run folder, its ``last.pt`` or a
    registered pretrained generator. ``truncation`` is ψ in W for StyleGAN generators (1 = none; on the first
    ``truncation_cutoff`` layers, default the generator's), else the |z| threshold of BigGAN's truncation trick."""
    from ..errors import BadInputError
    from ..models.cogan import CoupledGenerator
    from ..models.gan import truncated_noise
    from .cogan import coupled_pairs

    g, cfg = load_generator(run, ema, device)
    if isinstance(g, CoupledGenerator):  # a CoGAN run: (count, 2, C, H, W), the two domains' images of each code
        if label is not None:
            raise BadInputError("--class: a CoGAN run is not class-conditional")
        return coupled_pairs(g, truncated_noise(count, g.latent_dims, truncation, torch.Generator().manual_seed(seed))
                             ), cfg
    z = truncated_noise(count, cfg.z_dim, None if hasattr(g, "truncate") else truncation,
                        torch.Generator().manual_seed(seed))
    return generate(g, z, class_labels(cfg, count, label, seed), torch.device(device),
                    **truncation_in_w(g, truncation, truncation_cutoff)), cfg


def truncation_in_w(g: nn.Module, truncation: float | None, cutoff: int | None = None) -> dict[str, Any]:
    """The generator keywords of ``--truncation`` and ``--truncation-cutoff``: ψ in W (and the layers it moves)
    for StyleGAN generators, nothing for the others (whose latents are truncated in Z instead)."""
    from ..errors import BadInputError

    if not hasattr(g, "truncate"):
        if cutoff is not None:
            raise BadInputError(f"--truncation-cutoff needs a StyleGAN generator, not a {type(g).__name__}")
        return {}
    return {"truncation": 1.0 if truncation is None else truncation, "truncation_cutoff": cutoff}


def load_generator(path: str | Path, ema: bool | None = None, device: str | torch.device = "cpu"):
    """(G, config) from a run folder, a ``last.pt`` or a registered pretrained generator (``dcgan-faces64``);
    ``ema=None`` takes a run's EMA weights when present."""
    from ..errors import BadInputError
    from ..registry import TASKS
    from ..weights import WEIGHTS

    if not Path(path).exists():
        known = [n for n in WEIGHTS.list() if WEIGHTS.meta(n).get("arch", "").endswith("-generator")]
        if str(path) not in known:
            raise BadInputError(f"{path}: no such run folder or checkpoint, nor a pretrained generator "
                                f"({', '.join(known) or 'none registered'})")
        return pretrained_generator(str(path), device)
    path = Path(path)
    ckpt = path / "checkpoints" / "last.pt" if path.is_dir() else path
    if ckpt.suffix == ".pkl":
        return released_generator(ckpt, device)
    if ckpt.is_file():  # a pixforge checkpoint, or a rosinality/stylegan2-pytorch file
        from ..models.released import is_rosinality, read_torch

        state = read_torch(ckpt, "a pixforge checkpoint or a StyleGAN2 .pt file")
        if is_rosinality(state):
            return released_generator(ckpt, device, state)
    else:
        state = load_checkpoint(ckpt)
    raw = state.get("config") or {}
    if ((state.get("task") or {}).get("extra") or {}).get("task") == "cogan":  # pairs: see sample_run
        from .cogan import CoGanConfig, pair_generator

        if ema:
            raise BadInputError(f"{ckpt}: a CoGAN run has no EMA generator")
        return pair_generator(state, str(ckpt), device), from_dict(CoGanConfig, raw)
    if "sample_shape" not in raw:
        raise BadInputError(f"{ckpt}: not a pixforge GAN checkpoint (no GAN config inside)")
    mods = state["task"]["modules"]
    key = "G_ema" if (ema or ema is None) and "G_ema" in mods else "G"
    if ema and key != "G_ema":
        raise BadInputError(f"{ckpt}: this run has no EMA generator (train with ema=0.999)")
    if raw.get("arch") in TASKS:  # a GAN with a task of its own (stylegan2, pggan) builds its generator
        task = TASKS.get(raw["arch"])
        cfg = from_dict(task.Config, raw)
        g = task.build_generator(cfg)
    else:
        cfg = from_dict(GanConfig, raw)
        g = build_generator(cfg)
    g.load_state_dict(mods[key])
    return g.to(device).eval(), cfg


def released_generator(path: Path, device: str | torch.device = "cpu", contents: Any = None):
    """(G, config) for a released StyleGAN2 file: NVIDIA ``.pkl`` or rosinality ``.pt`` (see models/released.py)."""
    from ..models.released import load_nvidia, load_rosinality
    from .stylegan2 import StyleGAN2Config

    g = load_nvidia(path) if path.suffix == ".pkl" else load_rosinality(path, contents)
    channels = g.image_channels
    cfg = StyleGAN2Config(data=path.name, image_size=g.size, z_dim=g.style_dim, n_mlp=g.n_mlp,
                          sample_shape=[channels, g.size, g.size])
    return g.to(device).eval(), cfg


def pretrained_generator(name: str, device: str | torch.device = "cpu"):
    """(G, config) for registered generator weights: the network named by the spec's ``arch`` built with its
    ``kwargs``, loaded strictly; the config says what sampling needs (z_dim, sample shape)."""
    from ..registry import ARCHS
    from ..weights import get_spec, load_strict, resolve

    meta = get_spec(name).meta
    g = ARCHS.create(meta["arch"], **meta.get("kwargs", {}))
    load_strict(g, resolve(name), name)
    shape = list(generate(g, torch.zeros(1, g.z_dim), None, torch.device("cpu")).shape[1:])
    cfg = GanConfig(data=name, arch=meta["arch"].rsplit("-", 1)[0], z_dim=g.z_dim, sample_shape=shape)
    return g.to(device).eval(), cfg


# ------------------------------------------------------------------------------------------------ sampling a run
SAMPLE_SUFFIXES = (".npy", ".png")


def check_sample_output(path: str | Path) -> Path:
    """Refuse (before any sampling) an output that is neither .npy nor .png, or cannot be written."""
    from ..errors import BadInputError
    from ..utils import check_writable

    path = check_writable(path)
    if path.suffix.lower() not in SAMPLE_SUFFIXES:
        raise BadInputError(f"{path}: the output must end in .npy or .png")
    return path


def write_samples(x: torch.Tensor, path: str | Path, data: str = "", nrow: int | None = None) -> Path:
    """Samples in [-1, 1] to ``path`` (atomically): ``.npy`` holds them raw (float32), ``.png`` shows them
    (:func:`save_samples`)."""
    import numpy as np

    from ..utils import atomic_path

    path = check_sample_output(path)
    if path.suffix.lower() == ".png":
        return save_samples(x, path, data, nrow)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, x.numpy().astype(np.float32))
    return path


def interpolate_run(run: str | Path, steps: int = 8, rows: int = 4, ema: bool | None = None,
                    truncation: float | None = None, label: int | None = None, seed: int = 0,
                    device: str | torch.device = "cpu", truncation_cutoff: int | None = None) -> torch.Tensor:
    """``rows`` latent interpolations of an image GAN, ``steps`` frames each (spherical interpolation between
    two random latents; one class per row for conditional models): images (rows * steps, C, H, W) in [-1, 1]."""
    from ..errors import BadInputError
    from ..models.gan import slerp, truncated_noise

    if steps < 2 or rows < 1:
        raise BadInputError(f"need at least 2 steps and 1 row, got steps={steps}, rows={rows}")
    g, cfg = load_generator(run, ema, device)
    if not hasattr(cfg, "sample_shape"):
        raise BadInputError(f"{run}: interpolate needs a GAN run; for CoGAN pairs use `pixforge sample`")
    if len(cfg.sample_shape) != 3:
        raise BadInputError("interpolate needs an image GAN; for 2D data use `pixforge sample -o points.png`")
    gen = torch.Generator().manual_seed(seed)
    a, b = (truncated_noise(rows, cfg.z_dim, None if hasattr(g, "truncate") else truncation, gen) for _ in range(2))
    z = slerp(a, b, torch.linspace(0, 1, steps)).reshape(rows * steps, cfg.z_dim)
    y = class_labels(cfg, rows, label, seed)
    return generate(g, z, None if y is None else y.repeat_interleave(steps), torch.device(device),
                    **truncation_in_w(g, truncation, truncation_cutoff))
