"""BicycleGAN training (``pixforge train bicyclegan``): the reference's ``BiCycleGANModel.optimize_parameters``
on the shared loop.

Each step takes a batch of (A, B) pairs and splits it in two halves. With the first half's A:

* cVAE-GAN: ``z = E(B)`` (reparameterised), ``G(A, z)`` should match ``B`` (L1, weight 10) and fool ``D``; the KL
  of ``E(B)`` to N(0, I) (summed, weight 0.01) keeps the codes samplable;
* cLR-GAN: ``G(A, z)`` for ``z`` ~ N(0, I) should fool ``D2`` (whose real images are the second half's B), and the
  encoder should give ``z`` back: ``|E(G(A, z)).mu - z|`` (weight 0.5), a loss that updates G only.

G and E take one Adam step on these; then D and D2 on the same (detached) outputs (``use_same_D``: one D takes
both terms in one step; ``conditional_D``: the Ds judge (A, B) pairs). LSGAN, summed over the discriminators'
scales. Data: the built-in paired sets (``edges2photos``, ``grey2colour``: A -> B) generated once as tensors,
or a folder of pairs in pix2pix's layouts (A|B images, ``A/`` + ``B/``, ``trainA/`` + ``trainB/`` matched by
name; :func:`~pixforge.tasks.translation.open_pairs`) streamed with random crops and flips; batches are
functions of the step and codes come from the global RNG that ``fit`` checkpoints, so resuming is bit-identical.
Module names in the checkpoint are the reference's (``G``, ``E``, ``D``, ``D2``), and
``pixforge translate --model RUN --seed S --n K`` (or ``--style-image B``) reads it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..config import check
from ..errors import ConfigError
from ..models import bicyclegan as bg
from ..models.pix2pix import NORMS
from ..registry import DATASETS, TASKS
from ..train import LoopConfig, Task, TensorBatches, make_batches, step_on
from .gan import save_samples
from .multidomain import evaluating, frozen, lsgan_d, lsgan_g, recipe
from .translation import PairItems, data_root, open_pairs

Tensor = torch.Tensor
PAIRED = ("edges2photos", "grey2colour")


@dataclass
class BicycleGanConfig:
    data: str = "edges2photos"  # built-in pairs (A -> B: edges2photos, grey2colour) or a folder of pairs
    image_size: int = 64  # square px; a power of two, at least 32 (the encoder pools an 8x8 map)
    items: int = 1000  # built-in pairs: generated once
    load_size: int = 0  # folders: resize to this, then crop image_size (0: 286/256 of it, the reference default)
    augment: bool = True  # folders: random crop and left-right flip
    direction: str = "AtoB"  # AtoB or BtoA
    batch_size: int = 2  # even: the first half trains G and E, the second half's B are D2's real images
    nz: int = 8  # latent code length
    where_add: str = "all"  # where G takes z: at every U-Net level (all) or only with the input image (input)
    ngf: int = 64
    nef: int = 64  # encoder width
    ndf: int = 64
    num_ds: int = 2  # scales per discriminator
    d_layers: int = 3  # PatchGAN layers (basic_256_multi: 3)
    conditional_D: bool = False  # the Ds judge (A, B) pairs rather than B alone
    use_same_D: bool = False  # one D for both halves (G(A, E(B)) and G(A, z)) instead of D and D2
    norm: str = "instance"  # instance (no affine parameters), batch, none
    use_dropout: bool = True  # in G's 8·ngf blocks (the reference's edges2shoes script sets it)
    lr: float = 2e-4
    beta1: float = 0.5
    lambda_l1: float = 10.0  # |G(A, E(B)) - B|
    lambda_gan: float = 1.0  # D on G(A, E(B))
    lambda_gan2: float = 1.0  # D2 on G(A, z)
    lambda_z: float = 0.5  # |E(G(A, z)) - z|, G only
    lambda_kl: float = 0.01
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=1_500_000, out="runs/bicyclegan", lr_schedule="linear", lr_decay_start=750_000, log_every=100,
        sample_every=5000, ckpt_every=10_000))

    resume_may_change: ClassVar[tuple[str, ...]] = ("lr", "beta1")

    def __post_init__(self) -> None:
        check(self, positive=("items", "batch_size", "nz", "ngf", "nef", "ndf", "num_ds", "d_layers", "lr"),
              non_negative=("lambda_l1", "lambda_gan", "lambda_gan2", "lambda_z", "lambda_kl", "load_size"),
              choices={"direction": ("AtoB", "BtoA"), "norm": NORMS, "where_add": bg.WHERE_ADD},
              ranges={"beta1": (0, 1)})
        if self.data in DATASETS and DATASETS.meta(self.data).get("kind") not in ("paired", "download"):
            raise ConfigError(f"data: {self.data} is not paired; BicycleGAN trains on {', '.join(PAIRED)} or a "
                              "folder of pairs (A|B images, A/ + B/, trainA/ + trainB/)")
        if self.batch_size % 2:
            raise ConfigError(f"batch_size must be even (two halves), got {self.batch_size}")
        if self.image_size < 32 or self.image_size & (self.image_size - 1):
            raise ConfigError(f"image_size must be a power of two >= 32, got {self.image_size}")


@TASKS.register("bicyclegan", examples=(
    "pixforge train bicyclegan -o runs/bicyclegan",
    "pixforge translate edges.png -o grid.png --model runs/bicyclegan --seed 0 --n 8",
    "pixforge translate edges.png -o out.png --model runs/bicyclegan --style-image photo.png",
))
class BicycleGanTask(Task):
    """BicycleGAN (Zhu et al. 2017): cVAE-GAN + cLR-GAN with a U-Net G that adds z at every level, a residual
    encoder E and two 2-scale PatchGAN Ds; L1 10, KL 0.01, latent regression 0.5, LSGAN. Defaults are the
    reference's edges2shoes settings (Adam 2e-4, beta1 0.5, batch 2, dropout, linear decay over the second half).
    Without --config, the data's shipped recipe (pixforge/configs/translate/bicyclegan_<data>.yaml) is used.
    """

    Config = BicycleGanConfig
    name = "bicyclegan"

    @classmethod
    def default_config(cls, values: dict) -> Path | None:
        return recipe(cls.name, values.get("data", cls.Config.data))

    def __init__(self, cfg: BicycleGanConfig, device: torch.device, a: Tensor | PairItems, b: Tensor | None = None):
        """``a`` and ``b``: the pairs as tensors (N, C, H, W) in [-1, 1]; or ``a``: a folder's streamed pairs."""
        super().__init__()
        self.cfg, self.device = cfg, device
        if isinstance(a, PairItems):
            self.pairs = make_batches(a, None, cfg.batch_size, cfg.loop.seed, device, cfg.loop.workers)
            first = a.first(4)
            a, b = first["A"], first["B"]
        else:
            self.pairs = TensorBatches(a, b, cfg.batch_size, cfg.loop.seed, device)
        self.preview = (a[:4], b[:4])
        size, downs = a.shape[-1], bg.num_downs_for(a.shape[-1])
        self.G = bg.UnetGenerator(a.shape[1], b.shape[1], cfg.nz, downs, cfg.ngf, cfg.norm, cfg.use_dropout,
                                  cfg.where_add).to(device)
        self.E = bg.ResNetEncoder(b.shape[1], cfg.nz, cfg.nef, int(math.log2(size)) - 3, cfg.norm).to(device)
        dis = dict(input_nc=b.shape[1] + (a.shape[1] if cfg.conditional_D else 0), ndf=cfg.ndf,
                   n_layers=cfg.d_layers, norm=cfg.norm, num_D=cfg.num_ds)
        self.D = bg.MultiscaleDiscriminator(**dis).to(device)
        self.D2 = self.D if cfg.use_same_D else bg.MultiscaleDiscriminator(**dis).to(device)
        self.modules = {"G": self.G, "E": self.E, "D": self.D}
        if not cfg.use_same_D:
            self.modules["D2"] = self.D2
        self.optimizers = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
                           for k, m in self.modules.items()}
        self.fixed_z = torch.randn(4, cfg.nz, generator=torch.Generator().manual_seed(cfg.loop.seed))

    @classmethod
    def from_config(cls, cfg: BicycleGanConfig, device: torch.device, a: Tensor | None = None,
                    b: Tensor | None = None) -> "BicycleGanTask":
        if a is not None:
            return cls(cfg, device, *((b, a) if cfg.direction == "BtoA" else (a, b)))
        pairs = PairItems(open_pairs(cfg.data, cfg.image_size, "train", cfg.loop.seed, cfg.load_size or None,
                                     cfg.augment, cfg.items), cfg.direction)
        if data_root(cfg.data) is not None:  # a folder: streamed
            return cls(cfg, device, pairs)
        both = pairs.first(len(pairs))  # built-in pairs: generated once
        return cls(cfg, device, both["A"], both["B"])

    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        """(A, B) of step ``step``, on the device."""
        a, b = self.pairs.batch(step)
        return (a["A"], a["B"]) if b is None else (a, b)

    def train_step(self, step: int) -> dict[str, Tensor]:
        cfg = self.cfg
        a, b = self.batch(step)
        half = len(a) // 2
        a_enc, b_enc, b_random = a[:half], b[:half], b[half:]

        def judged(a: Tensor, x: Tensor) -> Tensor:  # what the Ds see: (A, B) pairs with conditional_D
            return torch.cat([a, x], 1) if cfg.conditional_D else x

        mu, logvar = self.E(b_enc)
        z_encoded = bg.reparameterize(mu, logvar)
        z_random = torch.randn(half, cfg.nz, device=self.device)
        fake_encoded, fake_random = self.G(a_enc, z_encoded), self.G(a_enc, z_random)
        # G and E
        with frozen(self.D, self.D2):
            logs = {"g_gan": lsgan_g(bg.as_list(self.D(judged(a_enc, fake_encoded)))),
                    "g_gan2": lsgan_g(bg.as_list(self.D2(judged(a_enc, fake_random))))}
        logs.update(kl=bg.kl_divergence(mu, logvar), l1=F.l1_loss(fake_encoded, b_enc))
        loss = (cfg.lambda_gan * logs["g_gan"] + cfg.lambda_gan2 * logs["g_gan2"] + cfg.lambda_l1 * logs["l1"]
                + cfg.lambda_kl * logs["kl"])
        for name in ("G", "E"):
            self.optimizers[name].zero_grad(set_to_none=True)
        loss.backward(retain_graph=cfg.lambda_z > 0)
        if cfg.lambda_z > 0:  # latent regression: G alone (the reference freezes E for it)
            logs["z_l1"] = F.l1_loss(self.E(fake_random)[0], z_random)
            torch.autograd.backward(cfg.lambda_z * logs["z_l1"], inputs=list(self.G.parameters()))
        self.optimizers["E"].step()
        self.optimizers["G"].step()
        # D on (B, G(A, E(B))), D2 on (the other half's B, G(A, z)); with use_same_D one step of D on both
        logs["d"] = lsgan_d(bg.as_list(self.D(judged(a_enc, b_enc))),
                            bg.as_list(self.D(judged(a_enc, fake_encoded.detach()))))
        logs["d2"] = lsgan_d(bg.as_list(self.D2(judged(a[half:], b_random))),
                             bg.as_list(self.D2(judged(a_enc, fake_random.detach()))))
        if cfg.use_same_D:
            step_on(self.optimizers["D"], logs["d"] + logs["d2"])
        else:
            for name in ("d", "d2"):
                step_on(self.optimizers[name.upper()], logs[name])
        return {k: v.detach() for k, v in logs.items()}

    def sample(self, path: Path, step: int) -> None:
        """Rows: A, B, G(A, E(B)), then G(A, z) for four fixed codes."""
        a, b = (t.to(self.device) for t in self.preview)
        with evaluating(self.G, self.E):
            outs = [self.G(a, self.E(b)[0])] + [self.G(a, z.expand(len(a), -1)) for z in self.fixed_z.to(self.device)]
        a = a.expand(-1, b.shape[1], -1, -1)
        save_samples(torch.stack([a, b, *outs], 1).flatten(0, 1).cpu(), path, nrow=2 + len(outs))

    def extra_state(self) -> dict:
        return {"task": self.name}
