"""Metrics for image-to-image translation, for any translation benchmark: diversity among the K outputs a
multimodal model gives for one input, label preservation and target-domain accuracy with a classifier, and FID /
KID per (source, target) domain pair in that classifier's feature space.

* Diversity: the mean, over inputs and over the K(K-1)/2 pairs of their outputs, of a **VGG feature distance
  (LPIPS-style, no learned heads)**: VGG16 activations at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (LPIPS's
  layers), each position's feature vector divided by its L2 norm over the channels, squared differences summed
  over channels, averaged over positions, summed over layers. That is LPIPS (Zhang et al. 2018) with every
  learned channel weight set to 1 (their ``lpips=False``), on the one VGG of :mod:`pixforge.nn.vgg` (the first
  VGG16 weights present: torchvision's ImageNet VGG16, else the HED VGG16 of ``vgg16-hed``), at the images' own
  size. It is not LPIPS: numbers are comparable only with each other. StarGAN v2 and MUNIT report LPIPS this
  way (all pairs of 10 outputs per input; MUNIT: 19 pairs).
* Label preservation: the share of translations that a classifier assigns the source image's label (the digit);
  target-domain accuracy: the share it assigns the target domain. A *joint* classifier, trained on classes
  ``domain * num_labels + label``, gives both from its summed probabilities (:func:`joint_marginals`).
* FID / KID per domain pair: translations from domain s to t against real images of t, in the classifier's
  penultimate features (:mod:`pixforge.metrics.fid`), StarGAN v2's protocol with a domain classifier instead of
  Inception; summarised as the mean over pairs.

Images everywhere are tensors (N, C, H, W) in [-1, 1]; multimodal outputs are (N, K, C, H, W).
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import BadInputError
from ..registry import METRICS
from . import fid as fid_mod
from .evaluate import compute_features

Tensor = torch.Tensor
LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
DIVERSITY_NAME = "VGG feature distance (LPIPS-style, no learned heads)"


def unit_channels(f: Tensor, eps: float = 1e-10) -> Tensor:
    """Each position's feature vector divided by its L2 norm over the channels (LPIPS's ``normalize_tensor``)."""
    return f / (f.pow(2).sum(1, keepdim=True).sqrt() + eps)


def feature_distance(a: Sequence[Tensor], b: Sequence[Tensor]) -> Tensor:
    """``sum over layers of mean over positions of ||unit(a_l) - unit(b_l)||^2``, one value per image: (N,)."""
    return sum((unit_channels(x) - unit_channels(y)).pow(2).sum(1).flatten(1).mean(1) for x, y in zip(a, b))


class VGGDistance(nn.Module):
    """The VGG feature distance (LPIPS-style, no learned heads) between image batches in [-1, 1] (grey is
    repeated to RGB): ``forward(a, b) -> (N,)``; ``backbone`` names the VGG weights used."""

    name = DIVERSITY_NAME

    def __init__(self, vgg: nn.Module | None = None, weights: str | None = "auto",
                 device: str | torch.device | None = None):
        super().__init__()
        from ..nn.vgg import create_vgg

        self.vgg = vgg if vgg is not None else create_vgg(LPIPS_LAYERS, arch="vgg16", weights=weights, device=device)
        self.backbone = getattr(self.vgg, "backbone", "")

    def features(self, x: Tensor) -> list[Tensor]:
        x = (x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x) + 1
        feats = self.vgg(x / 2, LPIPS_LAYERS)
        return [feats[name] for name in LPIPS_LAYERS]

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return feature_distance(self.features(a), self.features(b))


@torch.no_grad()
def pairwise_diversity(outputs: Tensor, features: Callable[[Tensor], Sequence[Tensor]]) -> float:
    """The mean of :func:`feature_distance` over every input and every unordered pair of its K outputs;
    ``outputs`` (N, K, C, H, W), ``features`` maps an image batch to a list of (B, C_l, H_l, W_l) activations."""
    if outputs.ndim != 5 or outputs.shape[1] < 2:
        raise BadInputError(f"diversity needs K >= 2 outputs per input, (N, K, C, H, W); got {tuple(outputs.shape)}")
    k = outputs.shape[1]
    first, second = torch.triu_indices(k, k, 1)
    total = 0.0
    for group in outputs:  # one input's K outputs at a time: pairs of feature maps stay small
        feats = features(group)
        total += float(feature_distance([f[first] for f in feats], [f[second] for f in feats]).mean())
    return total / len(outputs)


@functools.lru_cache(maxsize=2)
def _vgg_distance(weights: str | None, device: str | None) -> VGGDistance:
    return VGGDistance(weights=weights, device=device)


@METRICS.register("diversity", inputs=1, summary=f"{DIVERSITY_NAME} among K outputs per input (N, K, C, H, W)")
def compute_diversity(outputs: Tensor, weights: str | None = "auto", device: str | None = None) -> float:
    """Diversity of multimodal outputs (N, K, C, H, W) in [-1, 1]: the mean pairwise VGG feature distance."""
    distance = _vgg_distance(weights, device)
    dev = next(distance.vgg.parameters()).device
    return pairwise_diversity(outputs, lambda x: distance.features(x.to(dev)))


def joint_marginals(probs: np.ndarray, num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """A joint classifier's probabilities (N, domains * num_labels), class ``domain * num_labels + label`` ->
    (p(domain) (N, domains), p(label) (N, num_labels))."""
    p = np.asarray(probs)
    if p.ndim != 2 or num_labels < 1 or p.shape[1] % num_labels:
        raise BadInputError(f"a joint classifier's {p.shape[-1]} classes are not domains x {num_labels} labels")
    joint = p.reshape(len(p), -1, num_labels)
    return joint.sum(2), joint.sum(1)


def accuracy(probs: np.ndarray, labels) -> float:
    """The share of rows whose most probable class is the label."""
    labels = np.asarray(labels)
    if len(probs) != len(labels) or len(labels) == 0:
        raise BadInputError(f"{len(probs)} predictions for {len(labels)} labels")
    return float((np.asarray(probs).argmax(1) == labels).mean())


@METRICS.register("label-accuracy", inputs=1, summary="share of images a classifier gives the expected label "
                  "(label preservation of translations; a joint domain x label classifier with num_labels)")
def compute_label_accuracy(images, labels, features: str, num_labels: int = 0, part: str = "label",
                           **kw) -> float:
    """Accuracy of the classifier ``features`` ('classifier:PATH') on ``images`` against ``labels``; with a joint
    classifier (``num_labels`` > 0), of its ``part``: 'label' or 'domain'."""
    probs = compute_features(images, features, **kw).probs
    if num_labels:
        if part not in ("label", "domain"):
            raise BadInputError(f"part must be 'label' or 'domain', not {part!r}")
        probs = joint_marginals(probs, num_labels)[part == "label"]
    return accuracy(probs, labels)


def fid_kid(fake: np.ndarray, real: np.ndarray, kid_subsets: int = 100, seed: int = 0) -> dict[str, float]:
    """FID and KID (subsets of min(1000, both sizes)) between two (N, D) feature arrays."""
    kid, kid_std = fid_mod.kernel_inception_distance(fake, real, kid_subsets, min(1000, len(fake), len(real)), seed)
    return {"fid": fid_mod.fid_from_features(fake, real), "kid": kid, "kid_std": kid_std}


def pair_distances(fake: np.ndarray, sources, targets, real: np.ndarray, real_domains, names: Sequence[str] = (),
                   kid_subsets: int = 100) -> dict[str, dict[str, float]]:
    """FID/KID for every (source, target) pair present: translations ``fake`` (features (N, D)) of images of
    domains ``sources`` into ``targets``, against the real features of each target domain. Keys ``"s->t"`` (domain
    names when given), plus ``"mean"`` over the pairs."""
    sources, targets, real_domains = (np.asarray(v) for v in (sources, targets, real_domains))
    if not len(fake) == len(sources) == len(targets) or len(real) != len(real_domains):
        raise BadInputError("features and domain labels differ in length")
    out: dict[str, dict[str, float]] = {}
    for s, t in sorted({(int(s), int(t)) for s, t in zip(sources, targets)}):
        ref = real[real_domains == t]
        if len(ref) < 2:
            raise BadInputError(f"domain {t} has {len(ref)} real images; FID needs at least 2")
        key = f"{names[s]}->{names[t]}" if names else f"{s}->{t}"
        out[key] = fid_kid(fake[(sources == s) & (targets == t)], ref, kid_subsets)
    out["mean"] = {k: float(np.mean([v[k] for v in out.values()])) for k in ("fid", "kid", "kid_std")}
    return out


@METRICS.register("domain-fid", inputs=2, summary="FID/KID per (source, target) domain pair of translations, "
                  "in a classifier's features (StarGAN v2's protocol)")
def compute_domain_fid(fake, sources, targets, real, real_domains, features: str, names: Sequence[str] = (),
                       kid_subsets: int = 100, **kw) -> dict[str, dict[str, float]]:
    """:func:`pair_distances` on the features of ``fake`` and ``real`` image sets (see the module docstring)."""
    return pair_distances(compute_features(fake, features, **kw).features, sources, targets,
                          compute_features(real, features, **kw).features, real_domains, names, kid_subsets)
