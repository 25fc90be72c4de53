"""Adversarial losses: what D minimises and what G minimises, on raw discriminator outputs.

Every loss takes logits / critic values and returns a scalar: ``d_loss(real, fake)`` is what D minimises,
``g_loss(fake, real=None)`` what G minimises (``real`` = D(real), needed only by the relativistic losses).
Log-sigmoid terms use softplus (``-log sigmoid(x) = softplus(-x)``, ``-log(1 - sigmoid(x)) = softplus(x)``), so
they stay finite for any logit. The optimiser each paper used is not here: it is a YAML recipe,
``pixforge/configs/gan/recipes/<loss>.yaml``, read by :func:`pixforge.config.recipe`.

Outputs may be one tensor, or a list with one entry per scale of a multi-scale discriminator (pix2pixHD,
SPADE), each a tensor or a list of D's intermediate features whose last element is the output; the loss is
the mean over scales.

* ``minimax``: D: -log D(x) - log(1-D(G(z))); G: log(1-D(G(z))) (saturating). Goodfellow et al. 2014.
* ``nonsaturating``: same D; G: -log D(G(z)). Goodfellow et al. 2014; DCGAN.
* ``lsgan``: D: ½(D(x)-1)² + ½D(G(z))²; G: ½(D(G(z))-1)² (a=0, b=c=1). Mao et al. 2017.
* ``wgan``: D: D(G(z)) - D(x); G: -D(G(z)) (plus weight clipping). Arjovsky et al. 2017.
* ``wgan-gp``: the WGAN losses (plus a gradient penalty). Gulrajani et al. 2017.
* ``hinge``: D: relu(1-D(x)) + relu(1+D(G(z))); G: -D(G(z)). Lim & Ye 2017; SAGAN.
* ``ragan``, ``ralsgan``, ``rahinge``: relativistic average (Jolicoeur-Martineau 2018), on
  D_Ra(a, b) = D(a) - mean D(b): D minimises ½[f₁(D_Ra(x, G(z))) + f₀(D_Ra(G(z), x))], G the same with real
  and fake swapped, where (f₁, f₀) = (-log σ, -log(1-σ)) (RaSGAN, as in ESRGAN), ((·-1)², (·+1)²) (RaLSGAN)
  or (relu(1-·), relu(1+·)) (RaHinge). The means run through both sides (the paper's code; BasicSR detaches
  the other side's mean in D's loss to save memory, which changes the gradient, not the value).
* ``feature_matching_loss``: pix2pixHD's L1 between D's intermediate features of real and fake images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..registry import LOSSES

Tensor = torch.Tensor
#: D's outputs: a tensor, or one entry per scale (a tensor, or a list of features ending with the output).
Outputs = Union[Tensor, Sequence[Union[Tensor, Sequence[Tensor]]]]


def per_scale(outputs: Outputs) -> list[Tensor]:
    """D's final outputs, one per scale (a single tensor is one scale)."""
    if torch.is_tensor(outputs):
        return [outputs]
    return [o if torch.is_tensor(o) else o[-1] for o in outputs]


def _mean_over_scales(loss: Callable[..., Tensor], *outputs: Outputs) -> Tensor:
    scales = [per_scale(o) for o in outputs]
    if len({len(s) for s in scales}) != 1:
        raise ValueError(f"real and fake outputs have different numbers of scales: {[len(s) for s in scales]}")
    values = [loss(*one_scale) for one_scale in zip(*scales)]
    return values[0] if len(values) == 1 else sum(values) / len(values)


@dataclass(frozen=True)
class AdversarialLoss:
    """A GAN objective: ``d(real, fake)`` and ``g(fake)`` on one discriminator's outputs (relativistic:
    ``g(fake, real)``); :meth:`d_loss` and :meth:`g_loss` apply them to one or several scales."""

    name: str
    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[..., Tensor]
    relativistic: bool = False  # g needs D(real) too
    paper: str = ""

    def d_loss(self, real: Outputs, fake: Outputs) -> Tensor:
        """What D minimises, from D(real) and D(fake)."""
        return _mean_over_scales(self.d, real, fake)

    def g_loss(self, fake: Outputs, real: Outputs | None = None) -> Tensor:
        """What G minimises, from D(fake) (and D(real) for a relativistic loss; its gradient is not needed)."""
        if not self.relativistic:
            return _mean_over_scales(self.g, fake)
        if real is None:
            raise ValueError(f"{self.name} is relativistic: its generator loss needs D(real) too, g_loss(fake, real)")
        return _mean_over_scales(self.g, fake, real)


def _bce_d(real: Tensor, fake: Tensor) -> Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean() - real.mean()


def _wasserstein_g(fake: Tensor) -> Tensor:
    return -fake.mean()


def _relativistic(looks_real: Callable[[Tensor], Tensor], looks_fake: Callable[[Tensor], Tensor]):
    """The relativistic-average D loss for per-sample terms ``looks_real`` (f₁) and ``looks_fake`` (f₀).

    G's loss is the same function with the roles swapped: ``g(fake, real) = d(fake, real)``.
    """
    def loss(real: Tensor, fake: Tensor) -> Tensor:
        return (looks_real(real - fake.mean()).mean() + looks_fake(fake - real.mean()).mean()) / 2

    return loss


_ragan = _relativistic(lambda x: F.softplus(-x), F.softplus)
_ralsgan = _relativistic(lambda x: (x - 1) ** 2, lambda x: (x + 1) ** 2)
_rahinge = _relativistic(lambda x: F.relu(1 - x), lambda x: F.relu(1 + x))

for _loss in (
    AdversarialLoss("minimax", _bce_d, lambda fake: -F.softplus(fake).mean(),  # = E log(1 - D(G(z))), saturating
                    paper="Goodfellow et al. 2014"),
    AdversarialLoss("nonsaturating", _bce_d, lambda fake: F.softplus(-fake).mean(),
                    paper="Goodfellow et al. 2014; DCGAN"),
    AdversarialLoss("lsgan", lambda real, fake: 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean(),
                    lambda fake: 0.5 * ((fake - 1) ** 2).mean(), paper="Mao et al. 2017"),
    AdversarialLoss("wgan", _wasserstein_d, _wasserstein_g, paper="Arjovsky et al. 2017"),
    AdversarialLoss("wgan-gp", _wasserstein_d, _wasserstein_g, paper="Gulrajani et al. 2017"),
    AdversarialLoss("hinge", lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(), _wasserstein_g,
                    paper="Lim & Ye 2017; SAGAN (Zhang et al. 2019)"),
    AdversarialLoss("ragan", _ragan, _ragan, relativistic=True, paper="Jolicoeur-Martineau 2018 (RaSGAN); ESRGAN"),
    AdversarialLoss("ralsgan", _ralsgan, _ralsgan, relativistic=True, paper="Jolicoeur-Martineau 2018"),
    AdversarialLoss("rahinge", _rahinge, _rahinge, relativistic=True, paper="Jolicoeur-Martineau 2018"),
):
    LOSSES.register(_loss.name, _loss, family="adversarial", relativistic=_loss.relativistic)


def gan_losses() -> list[str]:
    """The names of the adversarial objectives (what ``train gan loss=...`` accepts)."""
    return [n for n in LOSSES.list(family="adversarial") if isinstance(LOSSES.get(n), AdversarialLoss)]


def get_loss(name: str) -> AdversarialLoss:
    """The adversarial objective ``name``; an unknown name is a ConfigError listing the GAN losses."""
    known = gan_losses()
    if name not in known:
        raise ConfigError(f"unknown GAN loss {name!r}; known: {', '.join(known)}")
    return LOSSES.get(name)


@LOSSES.register("feature-matching", family="adversarial")
def feature_matching_loss(real: Outputs, fake: Outputs) -> Tensor:
    """pix2pixHD's feature-matching loss: mean L1 between D's intermediate features of real and fake images.

    ``real``/``fake``: per scale, the list of D's features whose last element (the output) is left out; one
    list of tensors is one discriminator. Averaged over layers, then over scales; real features are detached.
    pix2pixHD's term is 4/(n_layers_D+1) per layer, i.e. 4·λ_feat times this for its default D.
    """
    real, fake = ([x] if torch.is_tensor(x[0]) else x for x in (real, fake))
    if len(real) != len(fake):
        raise ValueError(f"real and fake features have different numbers of scales: {len(real)}, {len(fake)}")
    per_scale_loss = []
    for r, f in zip(real, fake):
        if len(r) != len(f) or len(r) < 2:
            raise ValueError("feature matching needs the same >= 2 outputs (features, then D's output) per scale")
        per_scale_loss.append(sum(F.l1_loss(fi, ri.detach()) for ri, fi in zip(r[:-1], f[:-1])) / (len(r) - 1))
    return sum(per_scale_loss) / len(per_scale_loss)
