"""Patch-based MRF style loss (Li & Wand 2016, CNNMRF) and its semantic version (Champandard 2016).

Instead of matching global statistics (Gram matrices), every k x k patch of the generated image's VGG
features is pulled toward its nearest style feature patch, which keeps local structure (strokes, textures,
object parts) intact. "Nearest" is normalised cross-correlation, computed for all patches at once as a
convolution of the target features with the unit-norm style patches (chunked over the style patches, so
memory stays bounded however large the style).

Semantic version: annotation maps (one channel per class, values in [0, 1]) are concatenated to the
features before matching, scaled so that ``semantic_weight=1`` gives a patch's annotation as much energy as
its features. A target patch then matches a style patch of the same annotation; the loss itself compares
features only (the annotation part is constant).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

#: Upper bound on the elements of one chunk of the matching convolution's output (about 64 MB of float32).
CHUNK_ELEMENTS = 16_000_000


@dataclass
class StylePatches:
    """The style side of an MRF loss at one layer, computed once and reused every step.

    ``patches``: (P, C, k, k) feature patches the loss pulls toward. ``kernels``: (P, C + G, k, k) unit-norm
    patches of [features, scaled annotation] the matching convolves with (G = 0 without annotations).
    ``guide_scale``: the factor applied to annotation channels (same for the target's annotation).
    """

    patches: torch.Tensor
    kernels: torch.Tensor
    guide_scale: float = 0.0

    @property
    def patch_size(self) -> int:
        return self.patches.shape[-1]

    @property
    def guide_channels(self) -> int:
        return self.kernels.shape[1] - self.patches.shape[1]


def extract_patches(features: torch.Tensor, patch_size: int = 3, stride: int = 1) -> torch.Tensor:
    """All k x k patches (P, C, k, k) of features (1, C, H, W), row-major, no padding."""
    if features.dim() != 4 or features.shape[0] != 1:
        raise ValueError(f"expected features of shape (1, C, H, W), got {tuple(features.shape)}")
    c, h, w = features.shape[1:]
    if min(h, w) < patch_size:
        raise ValueError(f"a {h}x{w} feature map is smaller than the {patch_size}x{patch_size} patch")
    cols = F.unfold(features, patch_size, stride=stride)  # (1, C*k*k, P)
    return cols[0].t().reshape(-1, c, patch_size, patch_size)


def _unit(patches: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    norms = patches.flatten(1).norm(dim=1).clamp_min(eps)
    return patches / norms.view(-1, 1, 1, 1)


def feature_norm(features: torch.Tensor) -> float:
    """Root mean squared L2 norm of the feature vectors (the typical length of one position's features)."""
    return float(features.detach().pow(2).sum(1).mean().sqrt())


def style_patches(features: torch.Tensor, patch_size: int = 3, stride: int = 1,
                  guide: Optional[torch.Tensor] = None, semantic_weight: float = 1.0) -> StylePatches:
    """Precompute the style side of :func:`mrf_loss` from style features (1, C, H, W).

    ``guide``: the style's annotation (1, G, H, W) at this layer's resolution (class probabilities).
    """
    features = features.detach()
    patches = extract_patches(features, patch_size, stride)
    if guide is None:
        return StylePatches(patches, _unit(patches))
    _check_guide(features, guide)
    scale = semantic_weight * feature_norm(features)
    augmented = torch.cat([features, guide.to(features) * scale], dim=1)
    return StylePatches(patches, _unit(extract_patches(augmented, patch_size, stride)), scale)


def _check_guide(features: torch.Tensor, guide: torch.Tensor) -> None:
    if guide.dim() != 4 or guide.shape[0] != 1 or guide.shape[-2:] != features.shape[-2:]:
        raise ValueError(f"annotation {tuple(guide.shape)} does not fit features {tuple(features.shape)}")


def _as_style(style: StylePatches | torch.Tensor) -> StylePatches:
    if isinstance(style, StylePatches):
        return style
    if style.dim() != 4:
        raise ValueError(f"expected style patches (P, C, k, k), got {tuple(style.shape)}")
    return StylePatches(style.detach(), _unit(style.detach()))


@torch.no_grad()
def match_patches(features: torch.Tensor, style: StylePatches | torch.Tensor,
                  guide: Optional[torch.Tensor] = None, chunk_elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
    """Index (L,) of the best style patch for each of the L target patches (row-major, stride 1).

    The target patch's own norm is the same for every candidate, so the argmax of the convolution with
    unit-norm style patches is the argmax of the normalised cross-correlation.
    """
    style = _as_style(style)
    x = features.detach()
    if style.guide_channels:
        if guide is None or guide.shape[1] != style.guide_channels:
            raise ValueError(f"these style patches need an annotation with {style.guide_channels} channels")
        _check_guide(x, guide)
        x = torch.cat([x, guide.to(x) * style.guide_scale], dim=1)
    kernels = style.kernels.to(x)
    k = style.patch_size
    positions = (x.shape[-2] - k + 1) * (x.shape[-1] - k + 1)
    chunk = max(1, chunk_elements // max(1, positions))
    best_score = best_index = None
    for start in range(0, kernels.shape[0], chunk):
        response = F.conv2d(x, kernels[start:start + chunk])[0].flatten(1)  # (chunk, L)
        score, index = response.max(dim=0)
        index = index + start
        if best_score is None:
            best_score, best_index = score, index
        else:
            better = score > best_score
            best_score = torch.where(better, score, best_score)
            best_index = torch.where(better, index, best_index)
    return best_index


def mrf_loss(features: torch.Tensor, style: StylePatches | torch.Tensor, guide: Optional[torch.Tensor] = None,
             chunk_elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
    """Mean squared distance of every k x k patch of ``features`` (1, C, H, W) to its nearest style patch.

    ``style`` is a :class:`StylePatches` from :func:`style_patches`, or plain patches (P, C, k, k) from
    :func:`extract_patches` (plain CNNMRF). ``guide`` is the target's annotation (1, G, H, W) when the style
    patches carry one. Matching runs without gradient; the gradient pulls each patch toward its match.
    """
    style = _as_style(style)
    index = match_patches(features, style, guide, chunk_elements)
    k = style.patch_size
    target = F.unfold(features, k)[0].t()  # (L, C*k*k), same order as match_patches
    matched = style.patches.to(features).flatten(1)[index]
    return F.mse_loss(target, matched)
