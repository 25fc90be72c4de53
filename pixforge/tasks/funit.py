"""FUNIT training (``pixforge train funit``): the reference's ``FUNITModel`` updates on the shared loop.

Every domain of the data is a training class. Each step draws a content batch (x_a, its classes) and an
independent class batch (x_b, its classes), as the reference's two loaders, and translates x_a into x_b's classes
with one example image each:

* D (RMSprop): hinge loss on real x_b and on the translations, at the patch maps of the target classes, plus R1
  on the real images (weight 10: ``sum(grad^2) / batch`` of the mean output);
* G (RMSprop): the hinge generator loss of the translation and of the reconstruction (x_a with its own class
  code), averaged; image reconstruction (0.1); feature matching (1): the spatially averaged D features of the
  translation against those of x_b, and of the reconstruction against those of x_a. Then the EMA (0.999) of G,
  ``gen_test``, which translation uses; unlike the reference its decay warms up (``min(0.999, (1 + step) /
  (10 + step))``, :class:`~pixforge.train.ema.EMA`), so a short run's ``gen_test`` is not mostly its initial G.

Few-shot translation at test time averages the class codes of K example images (``pixforge translate --model
RUN --style-image A.png --style-image B.png ...``). Batches are functions of the step, so resuming is
bit-identical. The reference trains on 119 animal classes; the built-in mnist-domains has four, so this is a
many-shot setting at small scale, not a test of generalising to unseen classes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import check
from ..data.domains import Domains
from ..errors import ConfigError
from ..models import funit
from ..registry import TASKS
from ..train import LoopConfig, TensorBatches
from ..train.ema import EMA
from .gan import save_samples
from .multidomain import DomainConfig, MultiDomainTask, evaluating, frozen

Tensor = torch.Tensor


@dataclass
class FunitConfig(DomainConfig):
    data: str = "mnist-domains"
    batch_size: int = 64
    lr: float = 1e-4  # RMSprop, G and D (betas are not used)
    weight_decay: float = 1e-4
    nf: int = 64  # generator width
    n_res_blks: int = 2
    nf_mlp: int = 256
    latent_dim: int = 64  # class code
    n_mlp_blks: int = 3
    n_downs_content: int = 3
    n_downs_class: int = 4
    dis_nf: int = 64
    dis_res_blks: int = 10  # residual blocks of D (two per stage)
    gan_w: float = 1.0
    fm_w: float = 1.0  # feature matching
    r_w: float = 0.1  # image reconstruction
    reg_w: float = 10.0  # R1 on real images
    ema: float = 0.999  # gen_test (the decay warms up to it)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(
        steps=100_000, out="runs/funit", log_every=100, sample_every=2500, ckpt_every=5000))

    two_domains = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, positive=("nf", "nf_mlp", "latent_dim", "n_mlp_blks", "n_downs_class", "dis_nf", "dis_res_blks"),
              non_negative=("n_res_blks", "n_downs_content", "gan_w", "fm_w", "r_w", "reg_w"),
              ranges={"ema": (0, 1)})
        if self.dis_res_blks % 2 or self.n_mlp_blks < 2 or self.n_downs_class < 2:
            raise ConfigError("dis_res_blks must be even, n_mlp_blks and n_downs_class at least 2")


def spatial_mean(features: Tensor) -> Tensor:
    return features.mean(3).mean(2)


def r1(outputs: Tensor, images: Tensor) -> Tensor:
    """FUNIT's ``calc_grad2``: ``sum(grad of mean(outputs) wrt images, squared) / batch``."""
    grad = torch.autograd.grad(outputs.mean(), images, create_graph=True)[0]
    return grad.pow(2).sum() / len(images)


@TASKS.register("funit", examples=(
    "pixforge train funit -o runs/funit",
    "pixforge translate digit.png -o out.png --model runs/funit --style-image red1.png --style-image red2.png",
))
class FunitTask(MultiDomainTask):
    """FUNIT (Liu et al. 2019): content encoder + class encoder (codes of K examples averaged) + AdaIN decoder; a
    multi-class residual PatchGAN with hinge loss and R1 (10); reconstruction (0.1) and feature matching (1);
    RMSprop 1e-4 with weight decay 1e-4; EMA 0.999 of G (warming up). Defaults are the reference's animal-faces
    config (batch 64, 100k steps). Without --config, the data's shipped recipe
    (pixforge/configs/translate/funit_<data>.yaml).
    """

    Config = FunitConfig
    name = "funit"

    def __init__(self, cfg: FunitConfig, device: torch.device, data: Domains):
        super().__init__(cfg, device, data)
        self.gen = funit.FewShotGen(self.channels, cfg.nf, cfg.n_res_blks, cfg.nf_mlp, cfg.latent_dim, cfg.n_mlp_blks,
                                    cfg.n_downs_content, cfg.n_downs_class).to(device)
        self.dis = funit.GPPatchMcResDis(self.channels, cfg.dis_nf, cfg.dis_res_blks, self.num_domains).to(device)
        self.ema = EMA(self.gen, cfg.ema, warmup=True)
        self.modules = {"gen": self.gen, "dis": self.dis, "gen_test": self.ema.module}
        self.optimizers = {name: torch.optim.RMSprop(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
                           for name, net in (("gen", self.gen), ("dis", self.dis))}
        self.class_batches = TensorBatches(data.images, data.domains, cfg.batch_size, cfg.loop.seed * 1000 + 1, device)

    def train_step(self, step: int) -> dict[str, Tensor]:
        cfg, gen, dis = self.cfg, self.gen, self.dis
        (xa, la), (xb, lb) = self.real.batch(step), self.class_batches.batch(step)
        # D: hinge on real class images (with R1) and on translations into their classes
        xb_in = xb.detach().requires_grad_()
        resp_real = dis(xb_in, lb)[0]
        logs = {"d_real": F.relu(1 - resp_real).mean(), "d_reg": r1(resp_real, xb_in)}
        with torch.no_grad():
            xt = gen.decode(gen.enc_content(xa), gen.enc_class_model(xb))
        logs["d_fake"] = F.relu(1 + dis(xt, lb)[0]).mean()
        loss_d = cfg.gan_w * (logs["d_real"] + logs["d_fake"]) + cfg.reg_w * logs["d_reg"]
        self.optimizers["dis"].zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizers["dis"].step()
        # G: translation and reconstruction
        c_xa = gen.enc_content(xa)
        xt = gen.decode(c_xa, gen.enc_class_model(xb))
        xr = gen.decode(c_xa, gen.enc_class_model(xa))
        with frozen(dis):
            (resp_t, feat_t), (resp_r, feat_r) = dis(xt, lb), dis(xr, la)
            feat_b, feat_a = dis(xb, lb)[1], dis(xa, la)[1]
        logs.update(g_adv=0.5 * (-resp_t.mean() - resp_r.mean()), x_rec=F.l1_loss(xr, xa),
                    c_rec=F.l1_loss(spatial_mean(feat_r), spatial_mean(feat_a)),
                    m_rec=F.l1_loss(spatial_mean(feat_t), spatial_mean(feat_b)))
        loss_g = cfg.gan_w * logs["g_adv"] + cfg.r_w * logs["x_rec"] + cfg.fm_w * (logs["c_rec"] + logs["m_rec"])
        self.optimizers["gen"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizers["gen"].step()
        self.ema.update(gen, step)
        return {k: v.detach() for k, v in logs.items()}

    def sample(self, path: Path, step: int) -> None:
        """Rows: an input of each domain (two each), then its translation into every domain with the class code
        of five example images of that domain (EMA generator)."""
        g = self.ema.module
        with evaluating(g):
            codes = [g.class_code(self.data.images[self.data.index(d)][:5].to(self.device))
                     for d in range(self.num_domains)]
            rows = self.preview_rows(lambda x, y: g.decode(g.enc_content(x), torch.cat([codes[int(d)] for d in y])))
        save_samples(rows, path, nrow=1 + self.num_domains)
