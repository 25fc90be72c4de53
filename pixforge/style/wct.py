"""WCT (Li et al. 2017): universal style transfer by whitening and colouring VGG features, coarse to fine.

At each level (relu5_1, relu4_1, ..., relu1_1) the content features are whitened (their covariance becomes
the identity), coloured with the style's covariance and mean, blended with the content by alpha, and decoded
to an image by that level's decoder, which is the input to the next, finer level. Decoders are trained to
invert the encoder (``pixforge train wct-decoders``, :mod:`pixforge.tasks.wct`).
"""
from __future__ import annotations

import torch

from . import methods
from .arbitrary import color_wrap, load_decoder, prepare, transfer

LEVELS = ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1")


def _centred(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (C, 1), centred features) of features (C, n), in float64."""
    f = f.double()
    mean = f.mean(1, keepdim=True)
    return mean, f - mean


def _cov_power_apply(d: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    """``(cov + eps I)^power @ d`` for centred features d (C, n), cov = d d^T / (n - 1).

    With fewer positions than channels (deep layers of small images) the thin SVD d = U S V^T gives the same
    result far cheaper than a C x C eigendecomposition: d lies in span(U), where cov has eigenvalues S^2/(n-1).
    """
    c, n = d.shape
    if n < c:
        u, s, vh = torch.linalg.svd(d, full_matrices=False)
        return (u * ((s * s / max(n - 1, 1) + eps).pow(power) * s)) @ vh
    vals, vecs = torch.linalg.eigh(d @ d.T / max(n - 1, 1) + eps * torch.eye(c, dtype=d.dtype, device=d.device))
    return (vecs * vals.clamp_min(1e-12).pow(power)) @ (vecs.T @ d)


def whiten(f: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Features (C, n) with zero mean and (nearly) identity covariance: E D^-1/2 E^T (f - mean)."""
    return _cov_power_apply(_centred(f)[1], -0.5, eps).to(f.dtype)


def colouring(fs: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """A style's (mean (C, 1), covariance^1/2 (C, C)) from its features (C, m), computed once per style."""
    ms, ds = _centred(fs)
    c, m = ds.shape
    vals, vecs = torch.linalg.eigh(ds @ ds.T / max(m - 1, 1) + eps * torch.eye(c, dtype=ds.dtype, device=ds.device))
    return ms, (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def wct_flat(fc: torch.Tensor, style: torch.Tensor | tuple[torch.Tensor, torch.Tensor], eps: float = 1e-5) -> torch.Tensor:
    """Whitening-colouring transform of content features (C, n) towards style features (C, m) (or their
    precomputed :func:`colouring`)."""
    ms, root = colouring(style, eps) if torch.is_tensor(style) else style
    return (root @ whiten(fc, eps).double() + ms).to(fc.dtype)


def wct(content_feat: torch.Tensor, style_feat: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """WCT of features (N, C, H, W) towards style features (1, C, h, w), blended with the content by alpha."""
    return transfer(content_feat, [colouring(style_feat.reshape(style_feat.shape[1], -1))], wct_flat, alpha)


def how_to_train(unpool: bool = False, levels: str = "") -> str:
    """What to do when the WCT-family decoders are missing (none are published)."""
    return (f"train with `pixforge train wct-decoders{' --unpool' if unpool else ''}{levels} --out runs/wct` "
            f"and pass --decoder runs/wct/wct_decoders.safetensors")


@methods.register("wct", options=methods.DECODER_OPTIONS,
                  summary="whitening-colouring transforms at five VGG levels, decoded level by level (Li et al. 2017)")
def build_wct(styles: list[torch.Tensor], opts, unpool: bool = False, levels=LEVELS):
    """Method "wct": multi-level WCT with a decoder per level (``opts.decoder``: a file from
    ``pixforge train wct-decoders``; random decoders only with ``opts.random_weights``)."""
    prep = prepare(styles, opts, levels[0])
    enc = prep.encoder
    source = methods.require_trained(opts, opts.decoder, "decoders", how_to_train(unpool))
    decoders = {lv: load_decoder(enc, lv, source, unpool, prefix=f"{lv}.").to(prep.device) for lv in levels}

    def style_stats(imgs: list[torch.Tensor]) -> list[dict]:
        feats = [enc(s, levels) for s in imgs]
        return [{lv: colouring(f[lv].reshape(f[lv].shape[1], -1)) for lv in levels} for f in feats]

    cached = style_stats(prep.styles)

    def run(content: torch.Tensor, style_imgs: list[torch.Tensor]) -> torch.Tensor:
        stats = cached if style_imgs is prep.styles else style_stats(style_imgs)
        x = content
        for lv in levels:
            fc, pools = enc.encode(x, [lv], pool_indices=unpool)
            t = transfer(fc[lv], [st[lv] for st in stats], wct_flat, opts.alpha, opts.style_blend, opts.masks)
            x = decoders[lv](t, pools)
        return x

    return color_wrap(run, prep.styles, opts)
