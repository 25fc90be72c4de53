"""Multimodal and multi-domain translation training on the shared loop: ``munit``, ``stargan``, ``stargan2`` and
``ugatit``, each a typed config and a :class:`~pixforge.train.Task` that follows its reference's training step.

Data: a built-in domain set (:func:`pixforge.data.domains.domain_data`: ``mnist-domains``, ``digits2mnist``,
``edges2photos``), held as tensors; batches are functions of the step (per-domain :class:`TensorBatches`, or
step-seeded draws), and the random codes and labels come from the global RNG that ``fit`` checkpoints, so a
resumed run is bit-identical to an uninterrupted one. Module names in the checkpoints are the references'
(``gen_a``/``gen_b``/``dis_a``/``dis_b``; ``G``/``D``; ``generator``/``mapping_network``/``style_encoder``/
``discriminator`` with ``*_ema``; ``genA2B``/``genB2A``/``disGA``/``disGB``/``disLA``/``disLB``) and their state
dicts are in the reference layouts, so ``pixforge translate --model RUN`` reads a run with the released-checkpoint
loaders (:mod:`pixforge.multimodal`).

Adversarial terms: MUNIT and U-GAT-IT sum ``MSE(D(real), 1) + MSE(D(fake), 0)`` over their outputs, which is
pixforge's ``lsgan`` (½ per term, averaged over outputs) times 2 x the number of outputs (:func:`lsgan_d`);
StarGAN uses ``wgan-gp``, StarGAN v2 the non-saturating loss with R1 (γ = 1, i.e. ½ E‖∇D‖²).
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check
from ..data.domains import NAMES, AttributeImages, Domains, attribute_target, domain_data
from ..errors import ConfigError
from ..losses.adversarial import get_loss
from ..losses.regularizers import gradient_penalty, r1_penalty
from ..models import munit, stargan, stargan2, ugatit
from ..nn.norms import clip_rho_
from ..registry import TASKS
from ..train import LoopConfig, Task, TensorBatches, make_batches
from ..train.ema import EMA
from .gan import save_samples

Tensor = torch.Tensor
LSGAN = get_loss("lsgan")
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "translate"


def recipe(task: str, data: str) -> Path | None:
    """``pixforge/configs/translate/<task>_<data>.yaml``, the shipped recipe for a built-in dataset, if any."""
    path = CONFIGS / f"{task}_{data}.yaml"
    return path if path.is_file() else None


def lsgan_d(real: Sequence[Tensor], fake: Sequence[Tensor]) -> Tensor:
    """``sum over outputs of mean((real - 1)^2) + mean(fake^2)`` (MUNIT, U-GAT-IT), from pixforge's lsgan."""
    return LSGAN.d_loss(list(real), list(fake)) * (2 * len(real))


def lsgan_g(fake: Sequence[Tensor]) -> Tensor:
    """``sum over outputs of mean((fake - 1)^2)``."""
    return LSGAN.g_loss(list(fake)) * (2 * len(fake))


@contextlib.contextmanager
def evaluating(*nets: nn.Module) -> Iterator[None]:
    """The networks in ``eval()`` mode, without gradients, then back in the modes they were in."""
    modes = [n.training for n in nets]
    try:
        for n in nets:
            n.eval()
        with torch.no_grad():
            yield
    finally:
        for n, mode in zip(nets, modes):
            n.train(mode)


@contextlib.contextmanager
def frozen(*nets: nn.Module) -> Iterator[None]:
    """No weight gradients for ``nets`` (a generator step through the discriminators)."""
    try:
        for n in nets:
            n.requires_grad_(False)
        yield
    finally:
        for n in nets:
            n.requires_grad_(True)


def adam(nets: Sequence[nn.Module], lr: float, betas: Sequence[float], weight_decay: float) -> torch.optim.Adam:
    """One Adam over the networks' parameters, each once (networks that share layers would step them twice)."""
    params = list({id(p): p for net in nets for p in net.parameters()}.values())
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)


# ------------------------------------------------------------------------------------------------------
# Shared config and task
# ------------------------------------------------------------------------------------------------------

@dataclass
class DomainConfig:
    data: str = "digits2mnist"  # built-in domain set: mnist-domains, digits2mnist, edges2photos
    domains: str = ""  # some of the data's domains by name, comma-separated (e.g. red,bold); "" = all
    image_size: int = 0  # resize the images to this (0 = the data's own: 32 px digits, 64 px edges2photos)
    items: int = 1000  # edges2photos: edge/photo pairs generated (the edges of one half, the photos of the other)
    batch_size: int = 1
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-4

    resume_may_change: ClassVar[tuple[str, ...]] = ("lr", "betas")
    two_domains: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check(self, positive=("batch_size", "lr", "items"), non_negative=("image_size", "weight_decay"),
              choices={"data": NAMES} if self.built_in else {}, ranges={"betas": (0, 1)})

    @property
    def built_in(self) -> bool:
        """Whether ``data`` names a built-in domain set (StarGAN's attribute-labelled folders do not)."""
        return True


class DomainTask(Task):
    """Holds the domain data and the step-indexed batches; subclasses build networks and write ``train_step``.

    The config defaults are the reference's settings; without ``--config``, a built-in dataset's shipped recipe,
    ``pixforge/configs/translate/<task>_<data>.yaml`` (smaller networks for 32/64 px data), is the starting point.
    """

    Config: ClassVar[type] = DomainConfig
    name: ClassVar[str] = ""  # the task's registry name

    @classmethod
    def default_config(cls, values: dict) -> Path | None:
        return recipe(cls.name, values.get("data", cls.Config.data))

    def __init__(self, cfg: DomainConfig, device: torch.device, data: Domains):
        super().__init__()
        self.cfg, self.device, self.data = cfg, device, data
        self.hold(data)

    def hold(self, data: Domains) -> None:
        """The data's channels and size, per-domain batches (two-domain tasks) and four preview images a domain."""
        cfg, device = self.cfg, self.device
        if cfg.two_domains and data.num_domains != 2:
            raise ConfigError(f"{type(self).__name__} translates between two domains; {cfg.data} has "
                              f"{data.num_domains} ({', '.join(data.names)}): choose two with domains=A,B")
        self.channels, self.size = data.images.shape[1], data.images.shape[-1]
        seed = cfg.loop.seed
        self.domains = [TensorBatches(data.images[data.index(d)], None, cfg.batch_size, seed * 1000 + d, device)
                        for d in range(data.num_domains)] if cfg.two_domains else []
        preview = torch.Generator().manual_seed(seed)
        self.preview = [data.images[data.index(d)][torch.randperm(len(data.index(d)), generator=preview)[:4]]
                        for d in range(data.num_domains)]

    @classmethod
    def from_config(cls, cfg: DomainConfig, device: torch.device, data: Domains | None = None) -> "DomainTask":
        data = data or domain_data(cfg.data, cfg.image_size, cfg.items, cfg.loop.seed)
        return cls(cfg, device, data.select(cfg.domains.split(",")) if cfg.domains else data)

    def batch(self, domain: int, step: int) -> Tensor:
        return self.domains[domain].batch(step)[0]

    def extra_state(self) -> dict:
        """The task's name and domain names, by which ``pixforge translate --model RUN`` reads the checkpoint."""
        return {"task": self.name, "domains": list(self.data.names)}


# ------------------------------------------------------------------------------------------------------
# MUNIT and UNIT (the MUNIT repository's two trainers)
# ------------------------------------------------------------------------------------------------------

@dataclass
class AutoencoderPairConfig(DomainConfig):
    """What MUNIT and UNIT share: per domain an auto-encoder and a multi-scale LSGAN discriminator."""

    dim: int = 64  # generator width (the encoders' first layer)
    n_downsample: int = 2
    n_res: int = 4
    dis_dim: int = 64
    dis_layers: int = 4
    dis_scales: int = 3
    gan_w: float = 1.0
    recon_x_w: float = 10.0  # image reconstruction
    recon_x_cyc_w: float = 0.0  # cycle reconstruction (MUNIT: style-augmented)
    vgg_w: float = 0.0  # domain-invariant perceptual loss (translation vs its source; the references' vgg_w)
    vgg_weights: str = "auto"  # its VGG16: auto (first present), vgg16-hed, vgg16-imagenet, a file, or random
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=1_000_000, out="runs/munit", lr_schedule="step", lr_step=100_000, lr_gamma=0.5, log_every=100,
        sample_every=1000, ckpt_every=10_000))

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("dim", "dis_dim", "dis_layers", "dis_scales"),
              non_negative=("n_downsample", "n_res", "gan_w", "recon_x_w", "recon_x_cyc_w", "vgg_w"))


class AutoencoderPairTask(DomainTask):
    """``gen_a``/``gen_b`` (built by :meth:`generator`), ``dis_a``/``dis_b``, one Adam for both generators and one
    for both discriminators, as the reference trainers."""

    def generator(self) -> nn.Module:
        raise NotImplementedError

    def __init__(self, cfg: AutoencoderPairConfig, device: torch.device, data: Domains):
        super().__init__(cfg, device, data)
        dis = dict(input_dim=self.channels, dim=cfg.dis_dim, n_layer=cfg.dis_layers, num_scales=cfg.dis_scales)
        self.gen_a, self.gen_b = (self.generator().to(device) for _ in "ab")
        self.dis_a, self.dis_b = (munit.MsImageDis(**dis).to(device) for _ in "ab")
        self.share()
        self.modules = {"gen_a": self.gen_a, "gen_b": self.gen_b, "dis_a": self.dis_a, "dis_b": self.dis_b}
        opt = dict(lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.optimizers = {"gen": adam([self.gen_a, self.gen_b], **opt), "dis": adam([self.dis_a, self.dis_b], **opt)}
        self.vgg = perceptual_vgg(cfg.vgg_weights).to(device) if cfg.vgg_w else None

    def share(self) -> None:
        """Make the two domains' networks share layers (before the optimisers see them); none by default."""

    def perceptual(self, x_ba: Tensor, x_b: Tensor, x_ab: Tensor, x_a: Tensor) -> dict[str, Tensor]:
        """The references' ``loss_gen_vgg_a + loss_gen_vgg_b``: each translation against its source image
        (:class:`~pixforge.losses.perceptual.DomainInvariantVGGLoss`); nothing when ``vgg_w`` is 0."""
        return {"vgg": self.vgg(x_ba, x_b) + self.vgg(x_ab, x_a)} if self.vgg is not None else {}

    def update_dis(self, x_a: Tensor, x_ba: Tensor, x_b: Tensor, x_ab: Tensor) -> Tensor:
        """The reference's ``dis_update`` on real images and (detached) translations; returns the loss."""
        loss = self.cfg.gan_w * (lsgan_d(self.dis_a(x_a), self.dis_a(x_ba.detach()))
                                 + lsgan_d(self.dis_b(x_b), self.dis_b(x_ab.detach())))
        self.optimizers["dis"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["dis"].step()
        return loss.detach()

    def adversarial(self, x_ba: Tensor, x_ab: Tensor) -> Tensor:
        with frozen(self.dis_a, self.dis_b):
            return lsgan_g(self.dis_a(x_ba)) + lsgan_g(self.dis_b(x_ab))

    def update_gen(self, loss: Tensor) -> None:
        self.optimizers["gen"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["gen"].step()

    def preview_grid(self, row) -> Tensor:
        """The images ``row(x, own generator, other generator)`` lists for each preview image, A's then B's."""
        rows = []
        with evaluating(self.gen_a, self.gen_b):
            for x, own, other in ((self.preview[0], self.gen_a, self.gen_b), (self.preview[1], self.gen_b, self.gen_a)):
                rows.append(torch.stack(row(x.to(self.device), own, other), 1).flatten(0, 1))
        return torch.cat(rows).cpu()


@dataclass
class MunitConfig(AutoencoderPairConfig):
    data: str = "edges2photos"
    style_dim: int = 8
    mlp_dim: int = 256
    recon_s_w: float = 1.0  # style-code reconstruction
    recon_c_w: float = 1.0  # content-code reconstruction

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("style_dim", "mlp_dim"), non_negative=("recon_s_w", "recon_c_w"))


@TASKS.register("munit", examples=(
    "pixforge train munit -o runs/munit-edges",
    "pixforge train munit --data digits2mnist -o runs/munit-digits",
    "pixforge translate edges.png -o shoes.png --model runs/munit-edges --seed 0 --n 8",
))
class MunitTask(AutoencoderPairTask):
    """MUNIT (Huang et al. 2018): per domain a content encoder, a style encoder and an AdaIN decoder; LSGAN with
    3-scale discriminators, image (10), style (1) and content (1) reconstruction. Defaults are the reference's
    edges2shoes config (Adam 1e-4, betas 0.5/0.999, weight decay 1e-4, batch 1, step decay x0.5 every 100k).
    Without --config, the data's shipped recipe (pixforge/configs/translate/<task>_<data>.yaml) is used.
    """

    Config = MunitConfig
    name = "munit"

    def generator(self) -> munit.AdaINGen:
        cfg = self.cfg
        return munit.AdaINGen(self.channels, cfg.dim, cfg.style_dim, cfg.n_downsample, cfg.n_res, cfg.mlp_dim)

    def __init__(self, cfg: MunitConfig, device: torch.device, data: Domains):
        super().__init__(cfg, device, data)
        self.fixed_styles = torch.randn(3, cfg.style_dim, 1, 1, generator=torch.Generator().manual_seed(cfg.loop.seed))

    def styles(self, n: int) -> tuple[Tensor, Tensor]:
        return (torch.randn(n, self.cfg.style_dim, 1, 1, device=self.device) for _ in "ab")

    def train_step(self, step: int) -> dict[str, Tensor]:
        cfg = self.cfg
        x_a, x_b = self.batch(0, step), self.batch(1, step)
        # discriminators (the reference's dis_update), on translations with random styles
        s_a, s_b = self.styles(len(x_a))
        with torch.no_grad():
            x_ba = self.gen_a.decode(self.gen_b.enc_content(x_b), s_a)
            x_ab = self.gen_b.decode(self.gen_a.enc_content(x_a), s_b)
        loss_d = self.update_dis(x_a, x_ba, x_b, x_ab)
        # generators (gen_update)
        s_a, s_b = self.styles(len(x_a))
        c_a, s_a_prime = self.gen_a.encode(x_a)
        c_b, s_b_prime = self.gen_b.encode(x_b)
        x_a_recon, x_b_recon = self.gen_a.decode(c_a, s_a_prime), self.gen_b.decode(c_b, s_b_prime)
        x_ba, x_ab = self.gen_a.decode(c_b, s_a), self.gen_b.decode(c_a, s_b)
        c_b_recon, s_a_recon = self.gen_a.encode(x_ba)
        c_a_recon, s_b_recon = self.gen_b.encode(x_ab)
        adv = self.adversarial(x_ba, x_ab)
        logs = {"d_loss": loss_d, "g_adv": adv.detach(),
                "recon_x": F.l1_loss(x_a_recon, x_a) + F.l1_loss(x_b_recon, x_b),
                "recon_s": F.l1_loss(s_a_recon, s_a) + F.l1_loss(s_b_recon, s_b),
                "recon_c": F.l1_loss(c_a_recon, c_a) + F.l1_loss(c_b_recon, c_b)}
        logs.update(self.perceptual(x_ba, x_b, x_ab, x_a))
        loss_g = (cfg.gan_w * adv + cfg.recon_x_w * logs["recon_x"] + cfg.recon_s_w * logs["recon_s"]
                  + cfg.recon_c_w * logs["recon_c"] + cfg.vgg_w * logs.get("vgg", 0))
        if cfg.recon_x_cyc_w:
            logs["cycle_x"] = (F.l1_loss(self.gen_a.decode(c_a_recon, s_a_prime), x_a)
                               + F.l1_loss(self.gen_b.decode(c_b_recon, s_b_prime), x_b))
            loss_g = loss_g + cfg.recon_x_cyc_w * logs["cycle_x"]
        self.update_gen(loss_g)
        return {k: v.detach() for k, v in logs.items()}

    def sample(self, path: Path, step: int) -> None:
        """Rows: an input, its reconstruction, and its translation with three fixed style codes; A rows, then B."""
        def row(x: Tensor, own: nn.Module, other: nn.Module) -> list[Tensor]:
            c, s = own.encode(x)
            styles = self.fixed_styles.to(self.device)
            return [x, own.decode(c, s), *(other.decode(c, style.expand(len(x), -1, -1, -1)) for style in styles)]

        save_samples(self.preview_grid(row), path, nrow=2 + len(self.fixed_styles))


def perceptual_vgg(weights: str) -> nn.Module:
    """The domain-invariant VGG loss on a pretrained VGG16; refused offline when none is present (a random VGG
    would compare noise; ``random`` asks for one, for tests)."""
    from ..errors import WeightsError
    from ..losses.perceptual import DomainInvariantVGGLoss
    from ..weights import is_present, offline

    if weights == "auto" and offline() and not any(is_present(n) for n in ("vgg16-imagenet", "vgg16-hed")):
        raise WeightsError("vgg_w needs VGG16 weights and PIXFORGE_OFFLINE is set: run `pixforge weights fetch "
                           "vgg16-hed` (or vgg_weights=FILE with torchvision's vgg16 .pth)")
    return DomainInvariantVGGLoss(None if weights == "random" else weights).eval()


def kl_to_unit_gaussian(mu: Tensor) -> Tensor:
    """UNIT's KL term for a unit-variance Gaussian encoder: ``mean(mu^2)`` (the constant dropped)."""
    return mu.pow(2).mean()


@dataclass
class UnitConfig(AutoencoderPairConfig):
    data: str = "digits2mnist"
    recon_kl_w: float = 0.01  # KL of the shared latent code
    recon_x_cyc_w: float = 10.0
    recon_kl_cyc_w: float = 0.01  # KL of the latent code of the translation
    share_layers: int = 0  # residual blocks the VAEs share: the encoders' last and decoders' first N (paper: 1)
    share_dis_layers: int = 0  # conv blocks the discriminators share (with the output conv): each scale's last N
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=1_000_000, out="runs/unit", lr_schedule="step", lr_step=100_000, lr_gamma=0.5, log_every=100,
        sample_every=1000, ckpt_every=10_000))

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, non_negative=("recon_kl_w", "recon_kl_cyc_w", "share_layers", "share_dis_layers"))
        if self.share_layers > self.n_res:
            raise ConfigError(f"share_layers: must be at most n_res ({self.n_res}), got {self.share_layers}")
        if self.share_dis_layers >= self.dis_layers:
            raise ConfigError(f"share_dis_layers: must be below dis_layers ({self.dis_layers}: the first conv reads "
                              f"the domain's images), got {self.share_dis_layers}")


@TASKS.register("unit", examples=(
    "pixforge train unit -o runs/unit",
    "pixforge translate digit.png -o mnist.png --model runs/unit --direction AtoB",
))
class UnitTask(AutoencoderPairTask):
    """UNIT (Liu et al. 2017) as the MUNIT repository trains it: per domain a VAE (unit-variance Gaussian code
    around the encoder's output) whose codes both decoders read (the shared latent space); LSGAN with multi-scale
    discriminators, image reconstruction (10), KL (0.01), cycle reconstruction (10) and the KL of the cycle's
    code (0.01). Defaults are the reference's (Adam 1e-4, betas 0.5/0.999, weight decay 1e-4, batch 1, step decay
    x0.5 every 100k); no weight sharing between the two VAEs, as in that repository (and mingyuliutw/UNIT since
    2018). ``share_layers=N`` is the paper's sharing (its version_02 code: one residual block each side): both
    domains use the same module objects for the encoders' last N and the decoders' first N residual blocks;
    ``share_dis_layers`` likewise for the discriminators' last conv blocks (its ``COCOSharedDis``).
    Without --config, the data's shipped recipe (pixforge/configs/translate/<task>_<data>.yaml) is used.
    """

    Config = UnitConfig
    name = "unit"

    def generator(self) -> munit.VAEGen:
        cfg = self.cfg
        return munit.VAEGen(self.channels, cfg.dim, cfg.n_downsample, cfg.n_res)

    def share(self) -> None:
        munit.share_unit_layers(self.gen_a, self.gen_b, self.cfg.share_layers)
        munit.share_dis_layers(self.dis_a, self.dis_b, self.cfg.share_dis_layers)

    def train_step(self, step: int) -> dict[str, Tensor]:
        cfg = self.cfg
        x_a, x_b = self.batch(0, step), self.batch(1, step)
        with torch.no_grad():
            (h_a, n_a), (h_b, n_b) = self.gen_a.encode(x_a), self.gen_b.encode(x_b)
            x_ba, x_ab = self.gen_a.decode(h_b + n_b), self.gen_b.decode(h_a + n_a)
        loss_d = self.update_dis(x_a, x_ba, x_b, x_ab)

        (h_a, n_a), (h_b, n_b) = self.gen_a.encode(x_a), self.gen_b.encode(x_b)
        x_a_recon, x_b_recon = self.gen_a.decode(h_a + n_a), self.gen_b.decode(h_b + n_b)
        x_ba, x_ab = self.gen_a.decode(h_b + n_b), self.gen_b.decode(h_a + n_a)
        (h_b_recon, n_b_recon), (h_a_recon, n_a_recon) = self.gen_a.encode(x_ba), self.gen_b.encode(x_ab)
        adv = self.adversarial(x_ba, x_ab)
        logs = {"d_loss": loss_d, "g_adv": adv.detach(),
                "recon_x": F.l1_loss(x_a_recon, x_a) + F.l1_loss(x_b_recon, x_b),
                "kl": kl_to_unit_gaussian(h_a) + kl_to_unit_gaussian(h_b),
                "cycle_x": (F.l1_loss(self.gen_a.decode(h_a_recon + n_a_recon), x_a)
                            + F.l1_loss(self.gen_b.decode(h_b_recon + n_b_recon), x_b)),
                "kl_cycle": kl_to_unit_gaussian(h_a_recon) + kl_to_unit_gaussian(h_b_recon),
                **self.perceptual(x_ba, x_b, x_ab, x_a)}
        loss_g = (cfg.gan_w * adv + cfg.recon_x_w * logs["recon_x"] + cfg.recon_kl_w * logs["kl"]
                  + cfg.recon_x_cyc_w * logs["cycle_x"] + cfg.recon_kl_cyc_w * logs["kl_cycle"]
                  + cfg.vgg_w * logs.get("vgg", 0))
        self.update_gen(loss_g)
        return {k: v.detach() for k, v in logs.items()}

    def sample(self, path: Path, step: int) -> None:
        """Rows: an input, its reconstruction, its translation; A rows, then B."""
        def row(x: Tensor, own: nn.Module, other: nn.Module) -> list[Tensor]:
            h = own.encode(x)[0]
            return [x, own.decode(h), other.decode(h)]

        save_samples(self.preview_grid(row), path, nrow=3)


# ------------------------------------------------------------------------------------------------------
# StarGAN
# ------------------------------------------------------------------------------------------------------

class MultiDomainTask(DomainTask):
    """Batches of (image, domain label) over every domain, and a preview of two images per domain; or, for
    attribute-labelled images (:class:`~pixforge.data.domains.AttributeImages`), streamed batches of (image,
    0/1 attribute vector) and a preview of four images with their attributes."""

    def hold(self, data: Domains | AttributeImages) -> None:
        cfg = self.cfg
        self.num_domains = data.num_domains
        if isinstance(data, AttributeImages):
            self.real = make_batches(data, None, cfg.batch_size, cfg.loop.seed, self.device, cfg.loop.workers)
            first = self.real.preview(4)
            self.preview, self.preview_labels = [first["image"]], first["label"]
            self.channels, self.size, self.domains = first["image"].shape[1], first["image"].shape[-1], []
            return
        super().hold(data)
        self.real = TensorBatches(data.images, data.domains, cfg.batch_size, cfg.loop.seed, self.device)

    def preview_rows(self, translate) -> Tensor:
        """Per preview image: the input, then ``translate(x, y_target)`` for every target domain."""
        x = torch.cat([p[:2] for p in self.preview]).to(self.device)
        outs = [translate(x, torch.full((len(x),), d, dtype=torch.int64, device=self.device))
                for d in range(self.num_domains)]
        return torch.stack([x, *outs], 1).flatten(0, 1).cpu()


@dataclass
class StarGanConfig(DomainConfig):
    data: str = "mnist-domains"
    batch_size: int = 16
    weight_decay: float = 0.0
    conv_dim: int = 64  # generator width
    repeat_num: int = 6  # generator residual blocks
    d_conv_dim: int = 64
    d_repeat_num: int = 6  # discriminator stride-2 convs (images must be at least 2^d_repeat_num px)
    lambda_cls: float = 1.0  # domain classification (D on real images, G on translations)
    lambda_rec: float = 10.0  # cycle reconstruction
    lambda_gp: float = 10.0  # WGAN-GP
    n_critic: int = 5  # D steps per G step
    attr_path: str = ""  # a list_attr_celeba.txt-format file: multi-label training on the images of folder `data`
    selected_attrs: str = "Black_Hair,Blond_Hair,Brown_Hair,Male,Young"  # with attr_path (the reference's CelebA)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=200_000, out="runs/stargan", lr_schedule="linear", lr_decay_start=100_000, log_every=10,
        sample_every=1000, ckpt_every=10_000))

    two_domains: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("conv_dim", "d_conv_dim", "d_repeat_num", "n_critic"),
              non_negative=("repeat_num", "lambda_cls", "lambda_rec", "lambda_gp"))
        if self.attr_path and (self.domains or not self.selected_attrs):
            raise ConfigError("attr_path: the domains are the selected_attrs (comma-separated), not domains=")

    @property
    def built_in(self) -> bool:
        return not self.attr_path


@TASKS.register("stargan", examples=(
    "pixforge train stargan -o runs/stargan",
    "pixforge translate digit.png -o red.png --model runs/stargan --target-domain red",
))
class StarGanTask(MultiDomainTask):
    """StarGAN (Choi et al. 2018): one generator for all domains, conditioned on the target-domain label; D with
    an auxiliary domain classifier; WGAN-GP (10), classification (1), cycle reconstruction (10), n_critic 5.
    Defaults are the reference's (Adam 1e-4, betas 0.5/0.999, batch 16, 200k steps, linear decay after 100k).
    Domains are single labels (cross-entropy, as the reference's RaFD setting) or, with ``attr_path``, the
    selected attributes of CelebA-style images (0/1 vectors, binary cross-entropy summed over the attributes and
    averaged over the batch, as its CelebA setting; targets are the batch's labels shuffled; 128 px by default).
    Without --config, the data's shipped recipe (pixforge/configs/translate/<task>_<data>.yaml) is used.
    """

    Config = StarGanConfig
    name = "stargan"

    def __init__(self, cfg: StarGanConfig, device: torch.device, data: Domains | AttributeImages):
        super().__init__(cfg, device, data)
        self.multi_label = isinstance(data, AttributeImages)
        if self.size < 2 ** cfg.d_repeat_num:
            raise ConfigError(f"d_repeat_num={cfg.d_repeat_num} needs images of at least {2 ** cfg.d_repeat_num} px; "
                              f"{cfg.data} has {self.size} px (lower d_repeat_num or raise image_size)")
        k = self.num_domains
        self.G = stargan.Generator(cfg.conv_dim, k, cfg.repeat_num, self.channels).to(device)
        self.D = stargan.Discriminator(self.size, cfg.d_conv_dim, k, cfg.d_repeat_num, self.channels).to(device)
        self.modules = {"G": self.G, "D": self.D}
        opt = dict(lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.optimizers = {"G": adam([self.G], **opt), "D": adam([self.D], **opt)}
        self.wgan = get_loss("wgan-gp")
        # fit steps G's schedule from step 0, G's optimiser first steps at n_critic - 1: expected, not a misuse
        warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`")

    @classmethod
    def from_config(cls, cfg: StarGanConfig, device: torch.device, data: Domains | None = None) -> "StarGanTask":
        if cfg.attr_path and data is None:
            data = AttributeImages(cfg.data, cfg.attr_path, cfg.selected_attrs.split(","), cfg.image_size or 128)
        return super().from_config(cfg, device, data)

    def label_vectors(self, y: Tensor) -> Tensor:
        """G's conditioning: one-hot domains, or the attribute vectors as they are."""
        return y if self.multi_label else F.one_hot(y, self.num_domains).float()

    def classification(self, logits: Tensor, y: Tensor) -> Tensor:
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits, y, reduction="sum") / len(logits)
        return F.cross_entropy(logits, y)

    def train_step(self, step: int) -> dict[str, Tensor]:
        cfg = self.cfg
        x, y = self.real.batch(step)
        if y is None:  # streamed attribute data
            x, y = x["image"], x["label"]
        y_trg = y[torch.randperm(len(y)).to(y.device)]
        c_org, c_trg = self.label_vectors(y), self.label_vectors(y_trg)
        # discriminator
        out_src, out_cls = self.D(x)
        with torch.no_grad():
            x_fake = self.G(x, c_trg)
        fake_src, _ = self.D(x_fake)
        logs = {"d_adv": self.wgan.d_loss(out_src, fake_src), "d_cls": self.classification(out_cls, y),
                "gp": gradient_penalty(lambda t: self.D(t)[0], x, x_fake)}
        loss_d = logs["d_adv"] + cfg.lambda_cls * logs["d_cls"] + cfg.lambda_gp * logs["gp"]
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizers["D"].step()
        # generator, every n_critic steps
        if (step + 1) % cfg.n_critic == 0:
            x_fake = self.G(x, c_trg)
            with frozen(self.D):
                fake_src, fake_cls = self.D(x_fake)
            logs.update(g_adv=self.wgan.g_loss(fake_src), g_cls=self.classification(fake_cls, y_trg),
                        g_rec=F.l1_loss(self.G(x_fake, c_org), x))
            loss_g = logs["g_adv"] + cfg.lambda_rec * logs["g_rec"] + cfg.lambda_cls * logs["g_cls"]
            self.optimizers["G"].zero_grad(set_to_none=True)
            loss_g.backward()
            self.optimizers["G"].step()
        return {k: v.detach() for k, v in logs.items()}

    def sample(self, path: Path, step: int) -> None:
        """Rows: an input of each domain (two each), then its translation to every domain; attribute models:
        four inputs, then each with one attribute changed (:func:`~pixforge.data.domains.attribute_target`)."""
        with evaluating(self.G):
            if self.multi_label:
                x, c = self.preview[0].to(self.device), self.preview_labels.to(self.device)
                outs = [self.G(x, attribute_target(c, k, self.data.names)) for k in range(self.num_domains)]
                rows = torch.stack([x, *outs], 1).flatten(0, 1).cpu()
            else:
                rows = self.preview_rows(lambda x, y: self.G(x, self.label_vectors(y)))
        save_samples(rows, path, nrow=1 + self.num_domains)


# ------------------------------------------------------------------------------------------------------
# StarGAN v2
# ------------------------------------------------------------------------------------------------------

@dataclass
class StarGan2Config(DomainConfig):
    data: str = "mnist-domains"
    batch_size: int = 8
    betas: tuple[float, float] = (0.0, 0.99)
    latent_dim: int = 16
    style_dim: int = 64
    dim_in: int = 0  # first width of G, E and D (0 = 2^14 / image size, the reference's)
    max_conv_dim: int = 512
    mapping_dim: int = 512  # mapping network width
    f_lr: float = 1e-6  # the mapping network's learning rate
    lambda_reg: float = 1.0  # R1 weight γ (the penalty is γ/2 E||grad D(x)||^2)
    lambda_cyc: float = 1.0
    lambda_sty: float = 1.0  # style reconstruction
    lambda_ds: float = 1.0  # diversity sensitive loss, decayed linearly to 0 over ds_iter steps
    ds_iter: int = 100_000
    ema: float = 0.999  # EMA decay of G, the mapping network and the style encoder (warming up to it)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=100_000, out="runs/stargan2", log_every=10, sample_every=5000, ckpt_every=10_000))

    resume_may_change: ClassVar[tuple[str, ...]] = ("lr", "f_lr", "betas")
    two_domains: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("latent_dim", "style_dim", "max_conv_dim", "mapping_dim", "f_lr", "ds_iter"),
              non_negative=("dim_in", "lambda_reg", "lambda_cyc", "lambda_sty", "lambda_ds"),
              ranges={"ema": (0, 1)})


@TASKS.register("stargan2", examples=(
    "pixforge train stargan2 -o runs/stargan2",
    "pixforge translate digit.png -o grid.png --model runs/stargan2 --target-domain blue --seed 0 --n 8",
    "pixforge translate digit.png -o out.png --model runs/stargan2 --target-domain bold --style-image ref.png",
))
class StarGan2Task(MultiDomainTask):
    """StarGAN v2 (Choi et al. 2020): generator with AdaIN from a style code that a mapping network (from a latent
    code) or a style encoder (from a reference image) gives per domain; multi-task D with R1. Each step: D on a
    latent-guided then a reference-guided translation, G (with F and E) on latent-guided, G alone on
    reference-guided ones; EMA 0.999. Defaults are the reference's (he_init: Kaiming normal, fan in; Adam 1e-4,
    mapping 1e-6, betas 0/0.99, weight decay 1e-4, batch 8, 100k steps, diversity weight decayed to 0 over 100k);
    no face masks (w_hpf 0). Unlike the reference, the EMA's decay warms up (``EMA(warmup=True)``: the full 0.999
    from step 8,990), so a short run's EMA networks are not mostly their initial weights.
    Without --config, the data's shipped recipe (pixforge/configs/translate/<task>_<data>.yaml) is used.
    """

    Config = StarGan2Config
    name = "stargan2"

    def __init__(self, cfg: StarGan2Config, device: torch.device, data: Domains):
        super().__init__(cfg, device, data)
        k, size, c = self.num_domains, self.size, self.channels
        self.generator = stargan2.Generator(size, cfg.style_dim, cfg.max_conv_dim, 0, c, cfg.dim_in).to(device)
        self.mapping_network = stargan2.MappingNetwork(cfg.latent_dim, cfg.style_dim, k, cfg.mapping_dim).to(device)
        self.style_encoder = stargan2.StyleEncoder(size, cfg.style_dim, k, cfg.max_conv_dim, c, cfg.dim_in).to(device)
        self.discriminator = stargan2.Discriminator(size, k, cfg.max_conv_dim, c, cfg.dim_in).to(device)
        nets = {"generator": self.generator, "mapping_network": self.mapping_network,
                "style_encoder": self.style_encoder, "discriminator": self.discriminator}
        for net in nets.values():
            munit.munit_init(net)  # the reference's he_init (Kaiming normal, fan in; biases 0)
        self.emas = {name: EMA(nets[name], cfg.ema, warmup=True)
                     for name in ("generator", "mapping_network", "style_encoder")}
        self.modules = {**nets, **{f"{name}_ema": ema.module for name, ema in self.emas.items()}}
        self.optimizers = {name: adam([net], cfg.f_lr if name == "mapping_network" else cfg.lr, cfg.betas,
                                      cfg.weight_decay) for name, net in nets.items()}
        self.loss = get_loss("nonsaturating")
        order = torch.argsort(data.domains, stable=True)
        sizes = torch.bincount(data.domains, minlength=k)
        self.by_domain = (order, torch.cumsum(sizes, 0) - sizes, sizes)

    def references(self, step: int, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """(target domains, two reference images of each target's domain) for ``step``: a function of the step."""
        g = torch.Generator().manual_seed(self.cfg.loop.seed * 1_000_003 + step)
        order, starts, sizes = self.by_domain
        y = torch.randint(self.num_domains, (n,), generator=g)
        pick = [order[starts[y] + (torch.rand(n, generator=g) * sizes[y]).long()] for _ in range(2)]
        return (y.to(self.device), *(self.data.images[i].to(self.device) for i in pick))

    def style(self, y: Tensor, z: Tensor | None = None, ref: Tensor | None = None) -> Tensor:
        return self.mapping_network(z, y) if ref is None else self.style_encoder(ref, y)

    def d_loss(self, x: Tensor, y_org: Tensor, y_trg: Tensor, **guide: Tensor) -> Tensor:
        out_real = self.discriminator(x, y_org)
        with torch.no_grad():
            x_fake = self.generator(x, self.style(y_trg, **guide))
        r1 = r1_penalty(lambda t: self.discriminator(t, y_org), x)
        return self.loss.d_loss(out_real, self.discriminator(x_fake, y_trg)) + self.cfg.lambda_reg / 2 * r1

    def g_loss(self, x: Tensor, y_org: Tensor, y_trg: Tensor, step: int, guide: str,
               pair: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The generator's loss for two latent codes (``guide="z"``) or two reference images (``"ref"``) of the
        target domains, and its terms."""
        cfg = self.cfg
        s_trg = self.style(y_trg, **{guide: pair[0]})
        x_fake = self.generator(x, s_trg)
        with frozen(self.discriminator):
            adv = self.loss.g_loss(self.discriminator(x_fake, y_trg))
        with torch.no_grad():
            x_fake2 = self.generator(x, self.style(y_trg, **{guide: pair[1]}))
        terms = {"adv": adv, "sty": F.l1_loss(self.style_encoder(x_fake, y_trg), s_trg),
                 "ds": F.l1_loss(x_fake, x_fake2),
                 "cyc": F.l1_loss(self.generator(x_fake, self.style_encoder(x, y_org)), x)}
        lambda_ds = cfg.lambda_ds * max(0.0, 1 - step / cfg.ds_iter)
        loss = adv + cfg.lambda_sty * terms["sty"] - lambda_ds * terms["ds"] + cfg.lambda_cyc * terms["cyc"]
        return loss, terms

    def _update(self, loss: Tensor, *names: str) -> None:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for name in names:
            self.optimizers[name].step()

    def train_step(self, step: int) -> dict[str, Tensor]:
        x, y_org = self.real.batch(step)
        y_trg, x_ref, x_ref2 = self.references(step, len(x))
        z, z2 = (torch.randn(len(x), self.cfg.latent_dim).to(self.device) for _ in range(2))
        logs = {}
        for key, guide in (("latent", {"z": z}), ("ref", {"ref": x_ref})):
            loss = self.d_loss(x, y_org, y_trg, **guide)
            self._update(loss, "discriminator")
            logs[f"d_{key}"] = loss.detach()
        for key, guide, pair, nets in (("latent", "z", (z, z2), ("generator", "mapping_network", "style_encoder")),
                                       ("ref", "ref", (x_ref, x_ref2), ("generator",))):
            loss, terms = self.g_loss(x, y_org, y_trg, step, guide, pair)
            self._update(loss, *nets)
            logs[f"g_{key}"] = loss.detach()
            logs.update({f"g_{key}_{k}": v.detach() for k, v in terms.items()})
        for name, ema in self.emas.items():
            ema.update(self.modules[name], step)
        return logs

    def sample(self, path: Path, step: int) -> None:
        """Rows: an input of each domain (two each), then its latent-guided translation to every domain (EMA)."""
        g, f = self.emas["generator"].module, self.emas["mapping_network"].module
        z = torch.randn(1, self.cfg.latent_dim, generator=torch.Generator().manual_seed(self.cfg.loop.seed))
        with evaluating(g, f):
            rows = self.preview_rows(lambda x, y: g(x, f(z.to(self.device).expand(len(x), -1), y)))
        save_samples(rows, path, nrow=1 + self.num_domains)


# ------------------------------------------------------------------------------------------------------
# U-GAT-IT
# ------------------------------------------------------------------------------------------------------

@dataclass
class UgatitConfig(DomainConfig):
    ngf: int = 64  # generator width
    n_res: int = 4  # residual blocks (encoder and AdaLIN decoder each)
    light: bool = False  # the light generator (its MLP reads pooled features)
    ndf: int = 64
    global_layers: int = 7  # global discriminator depth
    local_layers: int = 5  # local discriminator depth
    adv_weight: float = 1.0
    cycle_weight: float = 10.0
    identity_weight: float = 10.0
    cam_weight: float = 1000.0
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=1_000_000, out="runs/ugatit", lr_schedule="linear", lr_decay_start=500_000, log_every=100,
        sample_every=1000, ckpt_every=10_000))

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("ngf", "ndf"), non_negative=("n_res", "adv_weight", "cycle_weight", "identity_weight",
                                                          "cam_weight"))
        if min(self.global_layers, self.local_layers) < 3:
            raise ConfigError("global_layers and local_layers: must be >= 3")


@TASKS.register("ugatit", examples=(
    "pixforge train ugatit -o runs/ugatit",
    "pixforge translate digit.png -o mnist.png --model runs/ugatit --direction AtoB",
))
class UgatitTask(DomainTask):
    """U-GAT-IT (Kim et al. 2020): two generators with CAM attention and AdaLIN, global and local discriminators
    with CAM per domain; LSGAN on the outputs and the CAM logits, cycle (10), identity (10) and CAM (1000) losses,
    rho clipped to [0, 1] after each generator step. Defaults are the reference's (Adam 1e-4, betas 0.5/0.999,
    weight decay 1e-4, batch 1, 1M steps with linear decay over the second half).
    Without --config, the data's shipped recipe (pixforge/configs/translate/<task>_<data>.yaml) is used.
    """

    Config = UgatitConfig
    name = "ugatit"

    def __init__(self, cfg: UgatitConfig, device: torch.device, data: Domains):
        super().__init__(cfg, device, data)
        c = self.channels
        self.genA2B, self.genB2A = (ugatit.ResnetGenerator(c, c, cfg.ngf, cfg.n_res, self.size, cfg.light).to(device)
                                    for _ in "ab")
        self.disGA, self.disGB = (ugatit.Discriminator(c, cfg.ndf, cfg.global_layers).to(device) for _ in "ab")
        self.disLA, self.disLB = (ugatit.Discriminator(c, cfg.ndf, cfg.local_layers).to(device) for _ in "ab")
        self.modules = {name: getattr(self, name) for name in ugatit.NETWORKS}
        opt = dict(lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.optimizers = {"G": adam([self.genA2B, self.genB2A], **opt),
                           "D": adam([self.disGA, self.disGB, self.disLA, self.disLB], **opt)}

    @staticmethod
    def _outputs(d_global: nn.Module, d_local: nn.Module, x: Tensor) -> list[Tensor]:
        """(global logits, global CAM logits, local logits, local CAM logits) for ``x``."""
        (g, g_cam, _), (loc, loc_cam, _) = d_global(x), d_local(x)
        return [g, g_cam, loc, loc_cam]

    def train_step(self, step: int) -> dict[str, Tensor]:
        cfg = self.cfg
        real_a, real_b = self.batch(0, step), self.batch(1, step)
        with torch.no_grad():
            fake_a2b, fake_b2a = self.genA2B(real_a)[0], self.genB2A(real_b)[0]
        loss_d = cfg.adv_weight * (
            lsgan_d(self._outputs(self.disGA, self.disLA, real_a), self._outputs(self.disGA, self.disLA, fake_b2a))
            + lsgan_d(self._outputs(self.disGB, self.disLB, real_b), self._outputs(self.disGB, self.disLB, fake_a2b)))
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizers["D"].step()

        fake_a2b, a2b_cam, _ = self.genA2B(real_a)
        fake_b2a, b2a_cam, _ = self.genB2A(real_b)
        fake_a2b2a, fake_b2a2b = self.genB2A(fake_a2b)[0], self.genA2B(fake_b2a)[0]
        fake_a2a, a2a_cam, _ = self.genB2A(real_a)
        fake_b2b, b2b_cam, _ = self.genA2B(real_b)
        with frozen(self.disGA, self.disGB, self.disLA, self.disLB):
            adv = (lsgan_g(self._outputs(self.disGA, self.disLA, fake_b2a))
                   + lsgan_g(self._outputs(self.disGB, self.disLB, fake_a2b)))
        bce = F.binary_cross_entropy_with_logits
        logs = {"d_loss": loss_d.detach(), "g_adv": adv,
                "cycle": F.l1_loss(fake_a2b2a, real_a) + F.l1_loss(fake_b2a2b, real_b),
                "identity": F.l1_loss(fake_a2a, real_a) + F.l1_loss(fake_b2b, real_b),
                "cam": (bce(b2a_cam, torch.ones_like(b2a_cam)) + bce(a2a_cam, torch.zeros_like(a2a_cam))
                        + bce(a2b_cam, torch.ones_like(a2b_cam)) + bce(b2b_cam, torch.zeros_like(b2b_cam)))}
        loss_g = (cfg.adv_weight * adv + cfg.cycle_weight * logs["cycle"] + cfg.identity_weight * logs["identity"]
                  + cfg.cam_weight * logs["cam"])
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizers["G"].step()
        clip_rho_(self.genA2B)
        clip_rho_(self.genB2A)
        return {k: v.detach() for k, v in logs.items()}

    def sample(self, path: Path, step: int) -> None:
        """Rows: an input, its translation, and the translation back; A rows, then B."""
        rows = []
        with evaluating(self.genA2B, self.genB2A):
            for x, there, back in ((self.preview[0], self.genA2B, self.genB2A),
                                   (self.preview[1], self.genB2A, self.genA2B)):
                x = x.to(self.device)
                y = there(x)[0]
                rows.append(torch.stack([x, y, back(y)[0]], 1).flatten(0, 1))
        save_samples(torch.cat(rows).cpu(), path, nrow=3)
