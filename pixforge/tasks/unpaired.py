"""Unpaired image-to-image translation: ``cyclegan``, ``discogan`` and ``dtn``, on the shared loop.

The data are the paired tasks' (:func:`~pixforge.tasks.translation.open_pairs` with ``paired=False``: ``trainA/``
+ ``trainB/`` folders streamed with the reference's 286 → 256 crop and flip, or the built-in ``digits2mnist``),
batches are step-indexed :class:`~pixforge.tasks.translation.PairItems` (exact resume), the schedule is
:func:`~pixforge.tasks.translation.epoch_schedule` (N epochs, then N of linear decay) and the GAN terms are the
references' (:func:`~pixforge.tasks.translation.reference_loss`). Each task follows its reference's step:

* **CycleGAN** (Zhu et al. 2017; pytorch-CycleGAN-and-pix2pix ``--model cycle_gan``): G_A: A → B, G_B: B → A
  (``resnet_9blocks``, instance norm), PatchGANs D_A (judges B) and D_B (judges A); G step first with the Ds
  frozen: LSGAN ``MSE(D(G(x)), 1)`` + cycle ``λ_A·|G_B(G_A(a)) - a|₁ + λ_B·|G_A(G_B(b)) - b|₁`` (λ = 10) + identity
  ``λ_idt·(λ_B·|G_A(b) - b|₁ + λ_A·|G_B(a) - a|₁)`` (λ_idt = 0.5); then the D step, ``½(MSE(D(real), 1) +
  MSE(D(fake), 0))`` per D, on fakes drawn from a 50-image history pool (:class:`ImagePool`).
* **DiscoGAN** (Kim et al. 2017; SKTBrain/DiscoGAN ``--model_arch discogan``): images in [0, 1] (sigmoid
  generators); generator_B: A → B, generator_A: B → A; reconstruction ``MSE(G_A(G_B(a)), a)`` (and for b), GAN
  BCE and feature matching (:func:`discogan_feature_matching`) mixed as the reference: per direction
  ``(1 - rate)·(0.1·gan + 0.9·fm) + rate·recon`` with rate 0.01 for the first ``gan_curriculum`` (10k) steps, then
  0.5; every ``update_interval``-th (3rd) step updates the discriminators, the others the generators.
* **DTN** (Taigman et al. 2017): G = g∘f with f a fixed encoder pre-trained to classify the source domain A
  (``f_steps`` steps on A's labels before training; a resumed run restores it); a ternary D (fake from A, fake
  from B, real B); ``L_GANG + α·L_CONST + β·L_TID`` with L_CONST = ``MSE(f(G(a)), f(a))`` (f-constancy) and L_TID
  = ``MSE(G(b), b)`` (identity on target-domain inputs), α = β = 15 (the paper's digits setting).

A run folder works with ``pixforge translate IN --model RUN`` (CycleGAN and DiscoGAN both ways, ``--direction``;
DTN from A to B). Sample grids: per input row, input | translation | translation back (DTN: input | G(input)).
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check
from ..errors import ConfigError
from ..registry import TASKS
from ..train import LoopConfig, Task, autocast, make_batches, step_on
from .multidomain import adam, evaluating, frozen
from .translation import (NET_D, NET_G, PairItems, Pix2PixTask, TranslationConfig, TranslationTask, reference_loss,
                          translate_all, translation_grid)

Tensor = torch.Tensor


# ------------------------------------------------------------------------------------------------------------
# Shared pieces
# ------------------------------------------------------------------------------------------------------------

class ImagePool:
    """The reference's history of generated images: the first ``size`` images go in and come back unchanged;
    after that each new image, with probability ½, replaces a random stored one and the stored one is returned,
    else it comes back itself. Draws use torch's global RNG (checkpointed by ``fit``); ``size`` 0 = no pool."""

    def __init__(self, size: int = 50):
        self.size = size
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        if not self.size:
            return images
        out = []
        for image in images.detach():
            image = image[None]
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(()) > 0.5:
                i = int(torch.randint(0, self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out)

    def state(self) -> Tensor:
        return torch.cat(self.images).cpu() if self.images else torch.zeros(0)

    def load(self, images: Tensor, device: torch.device) -> None:
        self.images = [x[None].to(device) for x in images]


class UnitRange(nn.Module):
    """A generator of [0, 1] images (DiscoGAN's sigmoid) seen as the translators' [-1, 1] -> [-1, 1] network."""

    def __init__(self, net: nn.Module, channels: int):
        super().__init__()
        self.net, self.in_channels, self.size_multiple = net, channels, net.size_multiple

    def forward(self, x: Tensor) -> Tensor:
        return self.net((x + 1) / 2) * 2 - 1


@dataclass
class UnpairedConfig(TranslationConfig):
    """Settings the unpaired tasks share (data, crop, optimiser, epochs, samples: see TranslationConfig)."""

    data: str = "digits2mnist"  # built-in digits2mnist, a download (horse2zebra ...) or a trainA/ + trainB/ folder
    val_items: int = 0  # held-out items whose round-trip error validation reports (0 = no validation)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(steps=2000, sample_every=500, ckpt_every=500))


class UnpairedTask(Task):
    """Two domains' step-indexed batches (``batch["A"]``, ``batch["B"]``), samples and validation; subclasses build
    their networks and write ``train_step``, :meth:`translators` and :meth:`load_generator`."""

    Config: ClassVar[type] = UnpairedConfig
    task_name: ClassVar[str] = ""
    paired: ClassVar[bool] = False
    default_config = TranslationTask.__dict__["default_config"]
    from_config = TranslationTask.__dict__["from_config"]

    def __init__(self, cfg: UnpairedConfig, train, val, device: torch.device):
        super().__init__()
        self.cfg, self.device = cfg, device
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.data = make_batches(PairItems(train, cfg.direction), None, cfg.batch_size, cfg.loop.seed, device,
                                 cfg.loop.workers)
        self.val = PairItems(val, cfg.direction) if val is not None else None

    def place(self, *nets: nn.Module) -> None:
        for net in nets:
            net.to(self.device, memory_format=self.memory_format)

    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        batch, _ = self.data.batch(step)
        return tuple(batch[k].contiguous(memory_format=self.memory_format) for k in ("A", "B"))

    def _amp(self):
        return autocast(self.device, self.cfg.loop.amp)

    # ---------------------------------------------------------------- translating
    def translators(self) -> dict[str, tuple[nn.Module, nn.Module | None]]:
        """{"AtoB": (there, back), "BtoA": ...}: networks on [-1, 1] images (back None: one-way)."""
        raise NotImplementedError

    def _held_out(self, count: int) -> dict[str, Tensor]:
        return (self.val or self.data.images).first(count)

    def sample(self, path: Path, step: int) -> None:
        """Rows of A then rows of B: input | translation | translation back (one-way tasks: input | output)."""
        from ..io import save_image

        if not self.cfg.sample_items:
            return
        batch, columns = self._held_out(self.cfg.sample_items), None
        for direction, (there, back) in self.translators().items():
            x = batch[direction[0]]
            y = translate_all(there, x)
            cols = [list(x), list(y)] + ([list(translate_all(back, y))] if back is not None else [])
            columns = cols if columns is None else [a + b for a, b in zip(columns, cols)]
        save_image(translation_grid(*columns), path)

    def validate(self, step: int) -> dict[str, float]:
        """Mean L1 (in [0, 1] units) of the round trips x -> there -> back on ``val_items`` held-out items."""
        if not self.cfg.val_items:
            return {}
        batch, out = self._held_out(self.cfg.val_items), {}
        for direction, (there, back) in self.translators().items():
            if back is not None:
                x = batch[direction[0]]
                out[f"val_cycle_{direction}"] = float((translate_all(back, translate_all(there, x)) - x).abs().mean() / 2)
        return out

    def finish(self, result) -> list[str]:
        return [f"translate with: pixforge translate IMAGE -o OUT.png --model {result.out} [--direction BtoA]"]


# ------------------------------------------------------------------------------------------------------------
# CycleGAN
# ------------------------------------------------------------------------------------------------------------

@dataclass
class CycleGANConfig(UnpairedConfig):
    """CycleGAN (Zhu et al. 2017); defaults as pytorch-CycleGAN-and-pix2pix ``--model cycle_gan``."""

    task: str = "cyclegan"  # what the run holds (read by `pixforge translate --model RUN`)
    netG: str = "resnet_9blocks"  # resnet_9blocks, resnet_6blocks, unet_256, unet_128, unet (fitted to `size`)
    ngf: int = 64
    norm: str = "instance"  # instance (no affine), instance-affine, batch, none
    dropout: bool = False  # the reference's --no_dropout is on for CycleGAN
    netD: str = "basic"  # basic (70x70 PatchGAN), n_layers, pixel, full
    n_layers_D: int = 3
    ndf: int = 64
    gan_mode: str = "lsgan"
    lambda_A: float = 10.0  # cycle A -> B -> A
    lambda_B: float = 10.0  # cycle B -> A -> B
    lambda_identity: float = 0.5  # identity loss, as a fraction of λ_A / λ_B (0 = off)
    pool_size: int = 50  # generated images each D's history pool keeps (0 = no pool)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("ngf", "ndf", "n_layers_D"),
              non_negative=("lambda_A", "lambda_B", "lambda_identity", "pool_size"),
              choices={"netG": NET_G, "netD": NET_D, "task": ("cyclegan",),
                       "norm": ("batch", "instance", "instance-affine", "none")})


@TASKS.register("cyclegan", examples=(
    "pixforge train cyclegan --data digits2mnist --out runs/cyclegan-digits",
    "pixforge train cyclegan --data horse2zebra --out runs/horse2zebra",
    "pixforge train cyclegan --data ~/photos2paintings --out runs/p2p lambda_identity=0",
    "pixforge translate horse.jpg -o zebra.jpg --model runs/horse2zebra",
    "pixforge translate zebra.jpg -o horse.jpg --model runs/horse2zebra --direction BtoA",
))
class CycleGANTask(UnpairedTask):
    """Train CycleGAN: two ResNet generators (A -> B, B -> A), two PatchGAN Ds, LSGAN + cycle (λ 10 each way) +
    identity (0.5·λ), 50-image history pools, Adam 2e-4 β1 0.5, D loss halved.

    Built-in data start from a CPU recipe (configs/translate/cyclegan_<data>.yaml); folders and downloads from the
    reference's (configs/translate/cyclegan.yaml: batch 1, load 286 / crop 256 with flips, 100 + 100 epochs of
    linear decay, N(0, 0.02) init). Sample grids: input | translation | back, A rows then B rows.
    """

    Config = CycleGANConfig
    task_name = "cyclegan"

    def __init__(self, cfg: CycleGANConfig, train, val, device: torch.device):
        super().__init__(cfg, train, val, device)
        self.G_A, self.G_B = self.build_generators(cfg)
        self.D_A = self.build_discriminator(cfg, cfg.out_channels)  # judges B images
        self.D_B = self.build_discriminator(cfg, cfg.in_channels)  # judges A images
        self.place(self.G_A, self.G_B, self.D_A, self.D_B)
        self.modules = {"G_A": self.G_A, "G_B": self.G_B, "D_A": self.D_A, "D_B": self.D_B}
        self.optimizers = {"G": adam([self.G_A, self.G_B], cfg.lr_g, cfg.betas, 0.0),
                           "D": adam([self.D_A, self.D_B], cfg.lr_d, cfg.betas, 0.0)}
        self.gan = reference_loss(cfg.gan_mode)
        self.pool_fake_B, self.pool_fake_A = ImagePool(cfg.pool_size), ImagePool(cfg.pool_size)

    @staticmethod
    def build_generators(cfg: CycleGANConfig) -> tuple[nn.Module, nn.Module]:
        """(G_A: A -> B, G_B: B -> A), built as pix2pix builds its G."""
        back = dataclasses.replace(cfg, in_channels=cfg.out_channels, out_channels=cfg.in_channels)
        return Pix2PixTask.build_generator(cfg), Pix2PixTask.build_generator(back)

    @staticmethod
    def build_discriminator(cfg: CycleGANConfig, channels: int) -> nn.Module:
        """An unconditional PatchGAN on ``channels``-channel images."""
        return Pix2PixTask.build_discriminator(dataclasses.replace(cfg, in_channels=0, out_channels=channels))

    @classmethod
    def load_generator(cls, cfg: CycleGANConfig, modules: dict[str, dict[str, Tensor]], direction: str) -> nn.Module:
        g = cls.build_generators(cfg)[direction == "BtoA"]
        g.load_state_dict(modules["G_A" if direction == "AtoB" else "G_B"])
        return g

    def translators(self):
        return {"AtoB": (self.G_A, self.G_B), "BtoA": (self.G_B, self.G_A)}

    def generator_losses(self, real_A: Tensor, real_B: Tensor) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """({name: weighted term}, fake_B, fake_A): the reference's ``backward_G`` terms (Ds frozen)."""
        cfg = self.cfg
        fake_B, fake_A = self.G_A(real_A), self.G_B(real_B)
        rec_A, rec_B = self.G_B(fake_B), self.G_A(fake_A)
        with frozen(self.D_A, self.D_B):
            terms = {"G_A": self.gan.g_loss(self.D_A(fake_B).float()), "G_B": self.gan.g_loss(self.D_B(fake_A).float()),
                     "cycle_A": cfg.lambda_A * F.l1_loss(rec_A, real_A),
                     "cycle_B": cfg.lambda_B * F.l1_loss(rec_B, real_B)}
        if cfg.lambda_identity:
            terms["idt_A"] = cfg.lambda_B * cfg.lambda_identity * F.l1_loss(self.G_A(real_B), real_B)
            terms["idt_B"] = cfg.lambda_A * cfg.lambda_identity * F.l1_loss(self.G_B(real_A), real_A)
        return terms, fake_B, fake_A

    def train_step(self, step: int) -> dict[str, Tensor]:
        real_A, real_B = self.batch(step)
        with self._amp():
            terms, fake_B, fake_A = self.generator_losses(real_A, real_B)
        step_on(self.optimizers["G"], sum(v.float() for v in terms.values()))
        with self._amp():
            terms["D_A"] = self.gan.d_loss(self.D_A(real_B).float(), self.D_A(self.pool_fake_B.query(fake_B)).float())
            terms["D_B"] = self.gan.d_loss(self.D_B(real_A).float(), self.D_B(self.pool_fake_A.query(fake_A)).float())
        step_on(self.optimizers["D"], terms["D_A"] + terms["D_B"])
        return {k: v.detach() for k, v in terms.items()}

    def extra_state(self) -> dict[str, Any]:
        return {"pool_fake_B": self.pool_fake_B.state(), "pool_fake_A": self.pool_fake_A.state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        for name in ("pool_fake_B", "pool_fake_A"):
            if name in state:
                getattr(self, name).load(state[name], self.device)


# ------------------------------------------------------------------------------------------------------------
# DiscoGAN
# ------------------------------------------------------------------------------------------------------------

def discogan_feature_matching(real: list[Tensor], fake: list[Tensor]) -> Tensor:
    """SKTBrain/DiscoGAN's ``get_fm_loss``: Σ over D's hidden layers of mean((E_batch f_real - E_batch f_fake)²)
    (its HingeEmbeddingLoss against a target of ones is the plain mean)."""
    return sum(((r.mean(0) - f.mean(0)) ** 2).mean() for r, f in zip(real, fake))


@dataclass
class DiscoGANConfig(UnpairedConfig):
    """DiscoGAN (Kim et al. 2017); defaults as SKTBrain/DiscoGAN's ``image_translation.py``."""

    task: str = "discogan"
    size: int = 64
    load_size: int = 64
    augment: bool = False  # the reference resizes to 64 px, no crop or flip
    batch_size: int = 64
    ngf: int = 64
    ndf: int = 64
    extra_layers: bool = False  # the generator's 4x4 -> 1x1 bottleneck of 100 channels (64 px inputs)
    gan_mode: str = "vanilla"
    weight_decay: float = 1e-5
    gan_curriculum: int = 10_000  # steps with the small reconstruction rate
    starting_rate: float = 0.01  # weight of the reconstruction loss during the curriculum ...
    default_rate: float = 0.5  # ... and after it
    update_interval: int = 3  # every N-th step updates the discriminators, the others the generators

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("ngf", "ndf", "update_interval"), non_negative=("weight_decay", "gan_curriculum"),
              choices={"task": ("discogan",), "gan_mode": ("vanilla", "lsgan")},
              ranges={"starting_rate": (0, 1.000001), "default_rate": (0, 1.000001)})


@TASKS.register("discogan", examples=(
    "pixforge train discogan --data digits2mnist --out runs/discogan-digits",
    "pixforge train discogan --data ~/handbags2shoes --out runs/discogan",
    "pixforge translate digit.png -o mnist.png --model runs/discogan-digits --direction AtoB",
))
class DiscoGANTask(UnpairedTask):
    """Train DiscoGAN: two conv encoder-decoder generators (sigmoid, images in [0, 1]) and two discriminators;
    reconstruction (MSE) + GAN (BCE) + feature matching, mixed with the reference's curriculum rate; D and G
    updates alternate (D every 3rd step). Adam 2e-4, β1 0.5, weight decay 1e-5, batch 64, 64 px."""

    Config = DiscoGANConfig
    task_name = "discogan"

    def __init__(self, cfg: DiscoGANConfig, train, val, device: torch.device):
        super().__init__(cfg, train, val, device)
        from ..models.discogan import DiscoGANDiscriminator

        if cfg.in_channels != cfg.out_channels:
            raise ConfigError(f"discogan maps images of equal channels; the data has {cfg.in_channels} -> "
                              f"{cfg.out_channels}")
        self.generator_A, self.generator_B = self.build_generators(cfg)  # B -> A, A -> B (the reference's names)
        self.discriminator_A, self.discriminator_B = (DiscoGANDiscriminator(cfg.in_channels, cfg.ndf) for _ in "AB")
        nets = {"generator_A": self.generator_A, "generator_B": self.generator_B,
                "discriminator_A": self.discriminator_A, "discriminator_B": self.discriminator_B}
        self.place(*nets.values())
        self.modules = nets
        self.optimizers = {"gen": adam([self.generator_A, self.generator_B], cfg.lr_g, cfg.betas, cfg.weight_decay),
                           "dis": adam([self.discriminator_A, self.discriminator_B], cfg.lr_d, cfg.betas,
                                       cfg.weight_decay)}
        self.gan = reference_loss(cfg.gan_mode)
        # step 0 updates the discriminators only, so the generators' schedule steps first: expected, not a misuse
        warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`")

    @staticmethod
    def build_generators(cfg: DiscoGANConfig) -> tuple[nn.Module, nn.Module]:
        from ..models.discogan import DiscoGANGenerator

        nets = tuple(DiscoGANGenerator(cfg.in_channels, cfg.ngf, cfg.extra_layers) for _ in "AB")
        if cfg.size % nets[0].size_multiple:
            raise ConfigError(f"discogan's generator needs sizes that are multiples of {nets[0].size_multiple}, "
                              f"got size={cfg.size}")
        return nets

    @classmethod
    def load_generator(cls, cfg: DiscoGANConfig, modules: dict[str, dict[str, Tensor]], direction: str) -> nn.Module:
        name = "generator_B" if direction == "AtoB" else "generator_A"
        g = cls.build_generators(cfg)[name == "generator_B"]
        g.load_state_dict(modules[name])
        return UnitRange(g, cfg.in_channels)

    def translators(self):
        ab, ba = UnitRange(self.generator_B, self.cfg.in_channels), UnitRange(self.generator_A, self.cfg.in_channels)
        return {"AtoB": (ab, ba), "BtoA": (ba, ab)}

    def rate(self, step: int) -> float:
        cfg = self.cfg
        return cfg.starting_rate if step < cfg.gan_curriculum else cfg.default_rate

    def train_step(self, step: int) -> dict[str, Tensor]:
        cfg = self.cfg
        A, B = ((x + 1) / 2 for x in self.batch(step))  # the reference's images are in [0, 1]
        update_d = step % cfg.update_interval == 0
        with self._amp():
            with torch.set_grad_enabled(not update_d):
                AB, BA = self.generator_B(A), self.generator_A(B)
            if update_d:
                (*_, a_real), (*_, a_fake) = self.discriminator_A(A)[0], self.discriminator_A(BA)[0]
                (*_, b_real), (*_, b_fake) = self.discriminator_B(B)[0], self.discriminator_B(AB)[0]
                logs = {"dis_A": self.gan.d_loss(a_real.float(), a_fake.float()),
                        "dis_B": self.gan.d_loss(b_real.float(), b_fake.float())}
                step_on(self.optimizers["dis"], logs["dis_A"] + logs["dis_B"])
                return {k: v.detach() for k, v in logs.items()}
            with frozen(self.discriminator_A, self.discriminator_B):
                (*fa_real, _), (*fa_fake, a_fake) = self.discriminator_A(A)[0], self.discriminator_A(BA)[0]
                (*fb_real, _), (*fb_fake, b_fake) = self.discriminator_B(B)[0], self.discriminator_B(AB)[0]
                logs = {"recon_A": F.mse_loss(self.generator_A(AB), A), "recon_B": F.mse_loss(self.generator_B(BA), B),
                        "gen_A": self.gan.g_loss(a_fake.float()), "gen_B": self.gan.g_loss(b_fake.float()),
                        "fm_A": discogan_feature_matching(fa_real, fa_fake),
                        "fm_B": discogan_feature_matching(fb_real, fb_fake)}
        rate = self.rate(step)
        total = ((logs["gen_B"] * 0.1 + logs["fm_B"] * 0.9) * (1 - rate) + logs["recon_A"] * rate
                 + (logs["gen_A"] * 0.1 + logs["fm_A"] * 0.9) * (1 - rate) + logs["recon_B"] * rate)
        step_on(self.optimizers["gen"], total.float())
        return {k: v.detach() for k, v in logs.items()}


# ------------------------------------------------------------------------------------------------------------
# DTN
# ------------------------------------------------------------------------------------------------------------

class DTNTranslator(nn.Module):
    """G = g∘f as a translator: any size in, resized to the networks' ``size`` (32 px) and back."""

    def __init__(self, f: nn.Module, g: nn.Module, size: int):
        super().__init__()
        self.f, self.g, self.size = f, g, size
        self.in_channels, self.size_multiple = f.conv1.in_channels, 1

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        y = self.g(self.f(F.interpolate(x, (self.size, self.size), mode="bilinear", align_corners=False)
                          if (h, w) != (self.size, self.size) else x))
        return y if (h, w) == (self.size, self.size) else F.interpolate(y, (h, w), mode="bilinear",
                                                                        align_corners=False)


def f_constancy(f: nn.Module, code: Tensor, translated: Tensor) -> Tensor:
    """DTN's L_CONST: ``MSE(f(G(x)), f(x))`` over source-domain inputs x, given ``code`` = f(x) (f is fixed; the
    gradient reaches G through f(G(x)))."""
    return F.mse_loss(f(translated), code)


@dataclass
class DTNConfig(UnpairedConfig):
    """DTN (Taigman et al. 2017); the paper's digits settings (SVHN -> MNIST), the layer sizes of
    yunjey/domain-transfer-network."""

    task: str = "dtn"
    size: int = 32  # f and D end in 4x4 valid convs: 32 px networks
    load_size: int = 32
    augment: bool = False
    batch_size: int = 100
    features: int = 128  # f's output width
    nf: int = 64  # f's first width (64, 128, 256 as the reference)
    ngf: int = 128  # g's last hidden width (512, 256, 128)
    ndf: int = 128  # D's first width (128, 256, 512)
    alpha: float = 15.0  # weight of L_CONST (f-constancy)
    beta: float = 15.0  # weight of L_TID (identity on target-domain inputs)
    f_steps: int = 2000  # steps pre-training f to classify the source domain (its labels) before the GAN
    f_lr: float = 3e-4
    lr_g: float = 3e-4
    lr_d: float = 3e-4
    gan_mode: str = "vanilla"  # (the ternary D's cross-entropy; no other mode)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("features", "nf", "ngf", "ndf", "f_lr"), non_negative=("alpha", "beta", "f_steps"),
              choices={"task": ("dtn",), "gan_mode": ("vanilla",), "size": (32,)})


#: the ternary D's classes
FAKE_SOURCE, FAKE_TARGET, REAL_TARGET = 0, 1, 2


@TASKS.register("dtn", examples=(
    "pixforge train dtn --data digits2mnist --out runs/dtn",
    "pixforge translate digit.png -o mnist.png --model runs/dtn",
))
class DTNTask(UnpairedTask):
    """Train DTN (domain transfer network): f (pre-trained on the source domain's labels, then fixed), g on f's
    128-d code, a ternary D (fake from source / fake from target / real target); G = g∘f minimises L_GANG +
    15·L_CONST (f-constancy) + 15·L_TID (target identity). Needs a labelled source domain (digits2mnist: the
    scikit-learn digits); translates A -> B only."""

    Config = DTNConfig
    task_name = "dtn"

    def __init__(self, cfg: DTNConfig, train, val, device: torch.device):
        super().__init__(cfg, train, val, device)
        self.f, self.g, self.D = self.build_networks(cfg)
        self.place(self.f, self.g, self.D)
        self.modules = {"f": self.f, "g": self.g, "D": self.D}
        self.optimizers = {"g": adam([self.g], cfg.lr_g, cfg.betas, 0.0), "D": adam([self.D], cfg.lr_d, cfg.betas, 0.0)}
        if not cfg.loop.resume:  # a resumed run restores the trained f
            self.pretrain_f(train)
        self.f.eval().requires_grad_(False)

    @staticmethod
    def build_networks(cfg: DTNConfig) -> tuple[nn.Module, nn.Module, nn.Module]:
        from ..models.discogan import DTNDiscriminator, DTNEncoder, DTNGenerator

        return (DTNEncoder(cfg.in_channels, cfg.features, width=cfg.nf),
                DTNGenerator(cfg.features, cfg.out_channels, cfg.ngf), DTNDiscriminator(cfg.out_channels, 3, cfg.ndf))

    def pretrain_f(self, train) -> None:
        """f's classification pre-training on the labelled source images (cross-entropy, Adam, batch_size)."""
        cfg = self.cfg
        side = "A" if cfg.direction == "AtoB" else "B"
        images, labels = getattr(train, side.lower(), None), getattr(train, f"{side.lower()}_labels", None)
        if images is None or labels is None:
            raise ConfigError(f"dtn pre-trains f on the source domain's class labels; {cfg.data} has none for "
                              f"{side} (use digits2mnist)")
        opt = adam([self.f], cfg.f_lr, cfg.betas, 0.0)
        order = torch.Generator().manual_seed(cfg.loop.seed)
        self.f.train()
        for _ in range(cfg.f_steps):
            idx = torch.randint(0, len(images), (cfg.batch_size,), generator=order)
            x, y = images[idx].to(self.device), labels[idx].to(self.device)
            step_on(opt, F.cross_entropy(self.f.classify(x), y))
        opt.zero_grad(set_to_none=True)

    @classmethod
    def load_generator(cls, cfg: DTNConfig, modules: dict[str, dict[str, Tensor]], direction: str) -> nn.Module:
        if direction != "AtoB":
            raise ConfigError("a dtn run translates from its source domain only (AtoB)")
        f, g, _ = cls.build_networks(cfg)
        f.load_state_dict(modules["f"])
        g.load_state_dict(modules["g"])
        return DTNTranslator(f, g, cfg.size)

    def translators(self):
        net = DTNTranslator(self.f, self.g, self.cfg.size)
        return {"AtoB": (net, None), "BtoA": (net, None)}  # B rows: the target-identity G(b)

    def sample(self, path: Path, step: int) -> None:
        with evaluating(self.g):  # (f stays in eval mode)
            super().sample(path, step)

    def train_step(self, step: int) -> dict[str, Tensor]:
        cfg = self.cfg
        source, target = self.batch(step)
        ce = F.cross_entropy
        with self._amp():
            with torch.no_grad():
                f_source, f_target = self.f(source), self.f(target)
            fake_s, fake_t = self.g(f_source), self.g(f_target)
            n, m = len(source), len(target)
            label = lambda k, size: torch.full((size,), k, dtype=torch.long, device=self.device)  # noqa: E731
            loss_d = (ce(self.D(fake_s.detach()).float(), label(FAKE_SOURCE, n))
                      + ce(self.D(fake_t.detach()).float(), label(FAKE_TARGET, m))
                      + ce(self.D(target).float(), label(REAL_TARGET, m)))
        step_on(self.optimizers["D"], loss_d)
        with self._amp(), frozen(self.D):
            logs = {"gan": ce(self.D(fake_s).float(), label(REAL_TARGET, n)) + ce(self.D(fake_t).float(),
                                                                                   label(REAL_TARGET, m)),
                    "const": f_constancy(self.f, f_source, fake_s), "tid": F.mse_loss(fake_t, target)}
        step_on(self.optimizers["g"], (logs["gan"] + cfg.alpha * logs["const"] + cfg.beta * logs["tid"]).float())
        return {"d_loss": loss_d.detach(), **{k: v.detach() for k, v in logs.items()}}
