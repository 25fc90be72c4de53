"""CoGAN training (``pixforge train cogan``): the authors' PyTorch trainer (``MNISTEdgeCoGanTrainer``) on the
shared loop. Each step: D on a batch of each domain (real, label 1) and a coupled pair from random codes (fake,
label 0), cross-entropy on its two logits; then G on a new pair, labelled real. The two domains' images are never
paired: the shared layers are what makes a code's two images correspond. Images enter the networks in [0, 1] as
in the reference (the data's [-1, 1] mapped; the sigmoid outputs mapped back for samples).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import check
from ..data.domains import Domains
from ..errors import ConfigError
from ..models.cogan import CoupledDiscriminator, CoupledGenerator
from ..registry import TASKS
from ..train import LoopConfig
from .gan import save_samples
from .multidomain import DomainConfig, DomainTask, adam, evaluating, frozen

Tensor = torch.Tensor


@dataclass
class CoGanConfig(DomainConfig):
    data: str = "mnist-domains"
    domains: str = "red,bold"  # the two domains (the reference: MNIST digits and their edges)
    image_size: int = 28  # the reference's networks make and judge 28 px images
    batch_size: int = 64  # per domain
    lr: float = 2e-4
    weight_decay: float = 5e-4
    latent_dims: int = 100
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=5000, out="runs/cogan", log_every=10, sample_every=500, ckpt_every=500))

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("latent_dims",))
        if self.image_size != 28:
            raise ConfigError(f"image_size: CoGAN's 28x28 networks need 28, got {self.image_size}")


@TASKS.register("cogan", examples=(
    "pixforge train cogan -o runs/cogan",
    "pixforge train cogan --data digits2mnist --domains '' -o runs/cogan-digits",
))
class CoGanTask(DomainTask):
    """CoGAN (Liu & Tuzel 2016): two GANs with shared generator layers (all but the last) and shared
    discriminator layers (all but the first) learn the joint distribution of two domains from unpaired images.
    Defaults are the reference's MNIST/edge-MNIST settings (z 100, batch 64, Adam 2e-4, betas 0.5/0.999, weight
    decay 5e-4, 5000 steps), here on the red and bold domains of mnist-domains.
    """

    Config = CoGanConfig
    name = "cogan"

    def __init__(self, cfg: CoGanConfig, device: torch.device, data: Domains):
        super().__init__(cfg, device, data)
        self.gen = CoupledGenerator(cfg.latent_dims, self.channels).to(device)
        self.dis = CoupledDiscriminator(self.channels).to(device)
        self.modules = {"gen": self.gen, "dis": self.dis}
        self.optimizers = {name: adam([net], cfg.lr, cfg.betas, cfg.weight_decay) for name, net in self.modules.items()}
        self.fixed_z = torch.randn(8, cfg.latent_dims, generator=torch.Generator().manual_seed(cfg.loop.seed))

    def train_step(self, step: int) -> dict[str, Tensor]:
        x_a, x_b = ((self.batch(d, step) + 1) / 2 for d in (0, 1))
        real = torch.ones(2 * len(x_a), dtype=torch.int64, device=self.device)
        # discriminator
        out_real = self.dis(x_a, x_b)
        with torch.no_grad():
            fake_a, fake_b = self.gen(torch.randn(len(x_a), self.cfg.latent_dims, device=self.device))
        out_fake = self.dis(fake_a, fake_b)
        d_loss = F.cross_entropy(out_real, real) + F.cross_entropy(out_fake, 1 - real)
        self.optimizers["dis"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["dis"].step()
        accuracy = ((out_real.argmax(1) == 1).float().mean() + (out_fake.argmax(1) == 0).float().mean()) / 2
        # generator
        fake_a, fake_b = self.gen(torch.randn(len(x_a), self.cfg.latent_dims, device=self.device))
        with frozen(self.dis):
            g_loss = F.cross_entropy(self.dis(fake_a, fake_b), real)
        self.optimizers["gen"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizers["gen"].step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_accuracy": accuracy.detach()}

    def pairs(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """The coupled images of codes ``z`` in [-1, 1]: (A's, B's)."""
        return tuple(coupled_pairs(self.gen, z).unbind(1))

    def sample(self, path: Path, step: int) -> None:
        """Eight fixed codes: domain A's images on the first row, B's below."""
        save_samples(coupled_pairs(self.gen, self.fixed_z), path)


def coupled_pairs(gen: CoupledGenerator, z: Tensor) -> Tensor:
    """The pairs of codes ``z`` (N, latent_dims): (N, 2, C, 28, 28) in [-1, 1], A then B, on the CPU (eval mode:
    batch norm with its running statistics, as the reference's samples)."""
    device = next(gen.parameters()).device
    with evaluating(gen):
        return torch.stack(gen(z.to(device)), 1).mul(2).sub(1).float().cpu()


def pair_generator(state: dict, what: str, device: str | torch.device = "cpu") -> CoupledGenerator:
    """The generator of a ``cogan`` run's checkpoint (sized from its weights), in eval mode on ``device``."""
    from ..errors import BadInputError

    weights = state["task"]["modules"].get("gen")
    if not isinstance(weights, dict) or "dconv0.weight" not in weights:
        raise BadInputError(f"{what}: a cogan checkpoint without its generator")
    gen = CoupledGenerator(weights["dconv0.weight"].shape[0], weights["dconv4_a.weight"].shape[1])
    gen.load_state_dict(weights)
    return gen.to(device).eval()
